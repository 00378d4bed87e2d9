package linearizability

import (
	"encoding/binary"
	"math"
)

// The operations a long run's history keeps after their chunk is
// squeezed (writes of unknown outcome, lease writes: tens of thousands
// in a virtual hour) are held encoded, a few dozen bytes each instead of
// an Op's 240 and its strings and slices. The encoding is exact: every
// field, and whether each slice is nil or empty, comes back as it was.

// appendOp appends the encoding of op to b.
func appendOp(b []byte, op *Op) []byte {
	var flags uint64
	for i, f := range []bool{op.Unknown, op.Failed, op.Output.Succeeded, op.Output.DeletedKnown, op.Return == UnknownReturn} {
		if f {
			flags |= 1 << i
		}
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendVarint(b, int64(op.ClientID))
	b = binary.AppendVarint(b, op.Call)
	if op.Return != UnknownReturn {
		b = binary.AppendVarint(b, op.Return-op.Call)
	}
	in := &op.Input
	b = append(b, byte(in.Kind))
	b = appendString(b, in.Key)
	b = appendString(b, in.Value)
	b = appendLen(b, in.Compares == nil, len(in.Compares))
	for _, c := range in.Compares {
		b = appendString(b, c.Key)
		b = append(b, byte(c.Target), byte(c.Op))
		b = appendString(b, c.Value)
		b = binary.AppendVarint(b, c.Num)
	}
	for _, br := range [][]TxnOp{in.Then, in.Else} {
		b = appendLen(b, br == nil, len(br))
		for _, t := range br {
			b = append(b, byte(t.Kind))
			b = appendString(b, t.Key)
			b = appendString(b, t.Value)
		}
	}
	out := &op.Output
	b = appendKVs(b, out.KVs)
	b = appendLen(b, out.TxnKVs == nil, len(out.TxnKVs))
	for _, kvs := range out.TxnKVs {
		b = appendKVs(b, kvs)
	}
	b = binary.AppendVarint(b, out.Revision)
	b = binary.AppendVarint(b, out.Deleted)
	b = appendString(b, out.Err)
	return binary.AppendUvarint(b, out.Digest)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendLen encodes a slice's length, 0 standing for nil.
func appendLen(b []byte, isNil bool, n int) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendKVs(b []byte, kvs []KV) []byte {
	b = appendLen(b, kvs == nil, len(kvs))
	for _, kv := range kvs {
		b = appendString(b, kv.Key)
		b = appendString(b, kv.Value)
		b = binary.AppendVarint(b, kv.ModRevision)
		b = binary.AppendVarint(b, kv.CreateRevision)
		b = binary.AppendVarint(b, kv.Version)
	}
	return b
}

// opDecoder reads what appendOp wrote (its own encoding: malformed input
// is a bug and panics).
type opDecoder struct {
	b []byte
}

func (d *opDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		panic("linearizability: malformed kept operation")
	}
	d.b = d.b[n:]
	return v
}

func (d *opDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		panic("linearizability: malformed kept operation")
	}
	d.b = d.b[n:]
	return v
}

func (d *opDecoder) byte() byte {
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *opDecoder) string() string {
	n := d.uvarint()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// length is the length of a slice and whether it is nil.
func (d *opDecoder) length() (int, bool) {
	n := d.uvarint()
	if n == 0 {
		return 0, true
	}
	if n-1 > math.MaxInt32 {
		panic("linearizability: malformed kept operation")
	}
	return int(n - 1), false
}

func (d *opDecoder) kvs() []KV {
	n, isNil := d.length()
	if isNil {
		return nil
	}
	kvs := make([]KV, n)
	for i := range kvs {
		kvs[i] = KV{Key: d.string(), Value: d.string(), ModRevision: d.varint(), CreateRevision: d.varint(), Version: d.varint()}
	}
	return kvs
}

// op decodes one operation.
func (d *opDecoder) op() Op {
	flags := d.uvarint()
	op := Op{Unknown: flags&1 != 0, Failed: flags&2 != 0}
	op.Output.Succeeded, op.Output.DeletedKnown = flags&4 != 0, flags&8 != 0
	op.ClientID = int(d.varint())
	op.Call = d.varint()
	op.Return = UnknownReturn
	if flags&16 == 0 {
		op.Return = op.Call + d.varint()
	}
	in := &op.Input
	in.Kind = Kind(d.byte())
	in.Key, in.Value = d.string(), d.string()
	if n, isNil := d.length(); !isNil {
		in.Compares = make([]Compare, n)
		for i := range in.Compares {
			c := &in.Compares[i]
			c.Key = d.string()
			c.Target, c.Op = Target(d.byte()), CmpOp(d.byte())
			c.Value, c.Num = d.string(), d.varint()
		}
	}
	for _, br := range []*[]TxnOp{&in.Then, &in.Else} {
		if n, isNil := d.length(); !isNil {
			*br = make([]TxnOp, n)
			for i := range *br {
				(*br)[i] = TxnOp{Kind: Kind(d.byte()), Key: d.string(), Value: d.string()}
			}
		}
	}
	out := &op.Output
	out.KVs = d.kvs()
	if n, isNil := d.length(); !isNil {
		out.TxnKVs = make([][]KV, n)
		for i := range out.TxnKVs {
			out.TxnKVs[i] = d.kvs()
		}
	}
	out.Revision, out.Deleted = d.varint(), d.varint()
	out.Err = d.string()
	out.Digest = d.uvarint()
	return op
}
