package api

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/internal/varint"
)

// headerSize is envelope, version, class and op.
const headerSize = 4

// Encode encodes a client message as a complete network payload
// (envelope included). It fails with an error wrapping ErrInvalid if the
// message is incomplete (a nil body, a TxnOp with no op) or breaks a limit,
// so that what Encode produces always decodes.
func Encode(m Message) ([]byte, error) {
	b, err := AppendEncode(make([]byte, 0, 64), m)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendEncode is Encode appending the payload to b: it returns b
// extended by the payload (or, with an error, b unchanged as far as
// len(b)); the caller takes the payload as the extended slice from
// len(b) on.
func AppendEncode(b []byte, m Message) ([]byte, error) {
	start := len(b)
	e := &encoder{b: b}
	e.b = append(e.b, byte(EnvelopeClient), Version, byte(m.class()))
	switch m := m.(type) {
	case *Request:
		if m.Body == nil {
			return nil, fmt.Errorf("%w: request %d has no body", ErrInvalid, m.ID)
		}
		e.b = append(e.b, byte(m.Body.Op()))
		e.uvarint(uint64(m.ID))
		e.uvarint(uint64(m.FinishedBelow))
		e.requestBody(m.Body)
	case *Response:
		e.b = append(e.b, byte(m.Op))
		e.uvarint(uint64(m.ID))
		e.response(m)
	case *WatchEvents:
		e.b = append(e.b, byte(OpWatchCreate))
		e.uvarint(uint64(m.ID))
		e.watchEvents(m)
	default:
		return nil, fmt.Errorf("%w: unknown message type %T", ErrInvalid, m)
	}
	if limit := maxSize(m); e.err == nil && len(e.b)-start > limit {
		e.fail("message", limit)
	}
	if e.err != nil {
		return b[:start], e.err
	}
	return e.b, nil
}

// Chunks encodes payloads into shared chunks of memory instead of one
// allocation each: a node's answers and a client's requests are small
// and many. A payload is carved from the free tail of the current chunk
// and never written again, as a payload handed to host.Send must not be;
// a chunk lives as long as any payload in it. The zero value is ready.
type Chunks struct {
	c []byte // the current chunk: its length is what payloads took
}

// chunkSize is the size of a Chunks chunk; chunkMinFree the free tail
// below which a payload starts a new chunk.
const (
	chunkSize    = 16 << 10
	chunkMinFree = 512
)

// Encode is Encode into c's current chunk (a payload too large for the
// chunk's tail gets an array of its own).
func (c *Chunks) Encode(m Message) ([]byte, error) {
	if cap(c.c)-len(c.c) < chunkMinFree {
		c.c = make([]byte, 0, chunkSize)
	}
	used := len(c.c)
	b, err := AppendEncode(c.c[used:used:cap(c.c)], m)
	if err != nil {
		return nil, err
	}
	if &b[0] == &c.c[used : used+1][0] {
		c.c = c.c[:used+len(b)] // in the chunk: taken
	}
	return b[:len(b):len(b)], nil
}

// MustEncode is MustEncode into c's current chunk.
func (c *Chunks) MustEncode(m Message) []byte {
	b, err := c.Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

// maxSize is the size limit of a message: a request's, or a response's.
func maxSize(m Message) int {
	if _, ok := m.(*Request); ok {
		return MaxMessageSize
	}
	return MaxResponseSize
}

// MustEncode is Encode for messages the caller built itself and knows to
// be valid; it panics otherwise (a programming error, not bad input).
func MustEncode(m Message) []byte {
	b, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

// WrapPeer prefixes a raft message with EnvelopePeer.
func WrapPeer(raftMsg []byte) []byte {
	b := make([]byte, 0, len(raftMsg)+1)
	b = append(b, byte(EnvelopePeer))
	return append(b, raftMsg...)
}

// Wrap prefixes a message body with an envelope byte.
func Wrap(env Envelope, body []byte) []byte {
	b := make([]byte, 0, len(body)+1)
	b = append(b, byte(env))
	return append(b, body...)
}

// SplitEnvelope returns a payload's envelope and the bytes after it (for
// EnvelopeClient: the whole payload, which Decode takes).
func SplitEnvelope(payload []byte) (Envelope, []byte, error) {
	if len(payload) == 0 {
		return 0, nil, &DecodeError{Field: "envelope", Reason: ErrTruncated}
	}
	switch env := Envelope(payload[0]); env {
	case EnvelopePeer, EnvelopeControl:
		return env, payload[1:], nil
	case EnvelopeClient:
		return env, payload, nil
	}
	return 0, nil, &DecodeError{Field: "envelope", Reason: ErrEnvelope}
}

// Decode decodes a client payload (starting with EnvelopeClient) into a
// *Request, *Response or *WatchEvents. Bad input gets a *DecodeError.
func Decode(payload []byte) (Message, error) { return decode(payload, false) }

// DecodeShared is Decode for a payload that no one writes while the
// message is in use (the bytes of a committed log entry): its byte fields
// alias payload instead of a private copy of it.
func DecodeShared(payload []byte) (Message, error) { return decode(payload, true) }

func decode(payload []byte, shared bool) (Message, error) {
	d := &decoder{b: payload}
	if shared {
		d.private = payload
	}
	if len(payload) > MaxResponseSize || (len(payload) > 2 && Class(payload[2]) == ClassRequest && len(payload) > MaxMessageSize) {
		return nil, d.failAt("message", ErrTooLarge)
	}
	if len(payload) < headerSize {
		return nil, d.failAt("header", ErrTruncated)
	}
	if Envelope(payload[0]) != EnvelopeClient {
		return nil, d.failAt("envelope", ErrEnvelope)
	}
	if payload[1] != Version {
		d.off = 1
		return nil, d.failAt("version", ErrVersion)
	}
	class, op := Class(payload[2]), Op(payload[3])
	d.off = headerSize
	if op == 0 || op >= opEnd {
		d.off = 3
		return nil, d.failAt("op", ErrUnknownKind)
	}
	id := RequestID(d.uvarint("id"))
	var m Message
	switch class {
	case ClassRequest:
		m = d.request(id, op)
	case ClassResponse:
		r, body := newResponse(op)
		r.ID, r.Op = id, op
		d.response(r, body)
		m = r
	case ClassWatchEvents:
		if op != OpWatchCreate {
			d.off = 3
			return nil, d.failAt("op", ErrUnknownKind)
		}
		w := &WatchEvents{ID: id}
		d.watchEvents(w)
		m = w
	default:
		d.off = 2
		return nil, d.failAt("class", ErrUnknownKind)
	}
	if d.err == nil && d.off != len(d.b) {
		d.failAt("end", ErrTrailing)
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// ---- encoder ----

type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(field string, limit int) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s past its limit %d", ErrInvalid, field, limit)
	}
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) bytes(field string, p []byte, limit int) {
	if len(p) > limit {
		e.fail(field, limit)
		return
	}
	e.uvarint(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) count(field string, n, limit int) {
	if n > limit {
		e.fail(field, limit)
	}
	e.uvarint(uint64(n))
}

func (e *encoder) flags(bits ...bool) {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	e.b = append(e.b, f)
}

func (e *encoder) header(h Header) {
	e.varint(h.Revision)
	e.uvarint(uint64(h.Member))
	e.uvarint(h.RaftTerm)
}

func (e *encoder) kv(kv *KeyValue) {
	e.bytes("key", kv.Key, MaxKeySize)
	e.varint(kv.CreateRevision)
	e.varint(kv.ModRevision)
	e.varint(kv.Version)
	e.bytes("value", kv.Value, MaxValueSize)
	e.varint(kv.Lease)
}

func (e *encoder) optKV(kv *KeyValue) {
	if kv == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.kv(kv)
}

func (e *encoder) kvs(kvs []KeyValue) {
	e.count("kvs", len(kvs), MaxResponseSize)
	for i := range kvs {
		e.kv(&kvs[i])
	}
}

func (e *encoder) requestBody(body RequestBody) {
	switch r := body.(type) {
	case *PutRequest:
		e.put(r)
	case *RangeRequest:
		e.rangeReq(r)
	case *DeleteRangeRequest:
		e.deleteRange(r)
	case *TxnRequest:
		e.txn(r)
	case *CompactRequest:
		e.varint(r.Revision)
	case *LeaseGrantRequest:
		e.varint(r.TTL)
		e.varint(r.ID)
	case *LeaseRevokeRequest:
		e.varint(r.ID)
	case *LeaseKeepAliveRequest:
		e.varint(r.ID)
	case *WatchCreateRequest:
		e.varint(r.WatchID)
		e.bytes("key", r.Key, MaxKeySize)
		e.bytes("end", r.End, MaxKeySize)
		e.varint(r.StartRevision)
		e.flags(r.PrevKV)
	case *WatchCancelRequest:
		e.varint(r.WatchID)
	case *MemberAddRequest:
		e.uvarint(uint64(r.ID))
		e.flags(r.Learner)
	case *MemberRemoveRequest:
		e.uvarint(uint64(r.ID))
	case *MoveLeaderRequest:
		e.uvarint(uint64(r.Target))
	case *MemberListRequest:
	default:
		e.err = fmt.Errorf("%w: unknown request body %T", ErrInvalid, body)
	}
}

func (e *encoder) put(r *PutRequest) {
	e.bytes("key", r.Key, MaxKeySize)
	e.bytes("value", r.Value, MaxValueSize)
	e.varint(r.Lease)
	e.flags(r.PrevKV)
}

func (e *encoder) rangeReq(r *RangeRequest) {
	e.bytes("key", r.Key, MaxKeySize)
	e.bytes("end", r.End, MaxKeySize)
	e.varint(r.Revision)
	e.varint(r.Limit)
	e.flags(r.CountOnly, r.KeysOnly, r.Serializable)
}

func (e *encoder) deleteRange(r *DeleteRangeRequest) {
	e.bytes("key", r.Key, MaxKeySize)
	e.bytes("end", r.End, MaxKeySize)
	e.flags(r.PrevKV)
}

func (e *encoder) txn(r *TxnRequest) {
	e.count("compares", len(r.Compares), MaxTxnOps)
	for i := range r.Compares {
		c := &r.Compares[i]
		e.b = append(e.b, byte(c.Result), byte(c.Target))
		e.bytes("key", c.Key, MaxKeySize)
		e.bytes("end", c.End, MaxKeySize)
		e.varint(c.Version)
		e.varint(c.CreateRevision)
		e.varint(c.ModRevision)
		e.bytes("value", c.Value, MaxValueSize)
		e.varint(c.Lease)
		if c.Result >= compareEnd || c.Target >= targetEnd {
			e.fail("compare enum", 0)
		}
	}
	e.txnOps(r.Success)
	e.txnOps(r.Failure)
	if r.PutThenDelete {
		// A trailing flag byte, present only when set: the encoding of
		// every other transaction is unchanged. A TxnRequest is always the
		// last field of its message.
		e.flags(true)
	}
}

func (e *encoder) txnOps(ops []TxnOp) {
	e.count("txn ops", len(ops), MaxTxnOps)
	for _, op := range ops {
		switch {
		case op.Range != nil && op.Put == nil && op.DeleteRange == nil:
			e.b = append(e.b, byte(OpRange))
			e.rangeReq(op.Range)
		case op.Put != nil && op.Range == nil && op.DeleteRange == nil:
			e.b = append(e.b, byte(OpPut))
			e.put(op.Put)
		case op.DeleteRange != nil && op.Range == nil && op.Put == nil:
			e.b = append(e.b, byte(OpDeleteRange))
			e.deleteRange(op.DeleteRange)
		default:
			e.fail("txn op (exactly one of Range/Put/DeleteRange)", 1)
		}
	}
}

func (e *encoder) response(r *Response) {
	e.header(r.Header)
	e.b = append(e.b, byte(r.Err))
	e.uvarint(uint64(r.Leader))
	e.bytes("detail", []byte(r.Detail), MaxDetailSize)
	if r.Err >= codeEnd {
		e.fail("error code", int(codeEnd)-1)
	}
	if r.Body == nil {
		e.b = append(e.b, 0)
		return
	}
	if r.Body.Op() != r.Op {
		e.err = fmt.Errorf("%w: response op %v with body %T", ErrInvalid, r.Op, r.Body)
		return
	}
	e.b = append(e.b, 1)
	e.responseBody(r.Body)
}

func (e *encoder) responseBody(body ResponseBody) {
	switch r := body.(type) {
	case *PutResponse:
		e.optKV(r.PrevKV)
	case *RangeResponse:
		e.rangeResp(r)
	case *DeleteRangeResponse:
		e.varint(r.Deleted)
		e.kvs(r.PrevKVs)
	case *TxnResponse:
		e.txnResp(r)
	case *CompactResponse, *LeaseRevokeResponse, *MoveLeaderResponse:
	case *LeaseGrantResponse:
		e.varint(r.ID)
		e.varint(r.TTL)
	case *LeaseKeepAliveResponse:
		e.varint(r.ID)
		e.varint(r.TTL)
	case *WatchCreateResponse:
		e.varint(r.WatchID)
		e.varint(r.CompactRevision)
	case *WatchCancelResponse:
		e.varint(r.WatchID)
	case *MemberResponse:
		e.count("members", len(r.Members), MaxMembers)
		for _, m := range r.Members {
			e.uvarint(uint64(m.ID))
			e.flags(m.Learner)
		}
	default:
		e.err = fmt.Errorf("%w: unknown response body %T", ErrInvalid, body)
	}
}

func (e *encoder) rangeResp(r *RangeResponse) {
	e.kvs(r.KVs)
	e.flags(r.More)
	e.varint(r.Count)
}

func (e *encoder) txnResp(r *TxnResponse) {
	e.flags(r.Succeeded)
	e.count("txn responses", len(r.Responses), MaxTxnOps)
	for _, op := range r.Responses {
		switch {
		case op.Range != nil && op.Put == nil && op.DeleteRange == nil:
			e.b = append(e.b, byte(OpRange))
			e.rangeResp(op.Range)
		case op.Put != nil && op.Range == nil && op.DeleteRange == nil:
			e.b = append(e.b, byte(OpPut))
			e.optKV(op.Put.PrevKV)
		case op.DeleteRange != nil && op.Range == nil && op.Put == nil:
			e.b = append(e.b, byte(OpDeleteRange))
			e.varint(op.DeleteRange.Deleted)
			e.kvs(op.DeleteRange.PrevKVs)
		default:
			e.fail("txn response (exactly one of Range/Put/DeleteRange)", 1)
		}
	}
}

func (e *encoder) watchEvents(w *WatchEvents) {
	e.header(w.Header)
	e.varint(w.WatchID)
	e.uvarint(w.Seq)
	e.flags(w.Canceled)
	e.b = append(e.b, byte(w.Err))
	e.varint(w.CompactRevision)
	if w.Err >= codeEnd {
		e.fail("error code", int(codeEnd)-1)
	}
	e.count("events", len(w.Events), MaxResponseSize)
	for i := range w.Events {
		ev := &w.Events[i]
		if ev.Type >= eventEnd {
			e.fail("event type", int(eventEnd)-1)
		}
		e.b = append(e.b, byte(ev.Type))
		e.kv(&ev.KV)
		e.optKV(ev.PrevKV)
	}
}

// ---- decoder ----

type decoder struct {
	b   []byte
	off int
	err *DecodeError
	// private is a copy of b made at the first non-empty byte field (b
	// itself for DecodeShared); every byte field is a capped slice of
	// it: one allocation per message instead of one per field.
	private []byte
}

// failAt records the first failure and returns it.
func (d *decoder) failAt(field string, reason error) error {
	if d.err == nil {
		d.err = &DecodeError{Offset: d.off, Field: field, Reason: reason}
	}
	return d.err
}

// oneByte reads a one-byte varint if one is next and nothing failed so
// far; ok is false, and nothing is read, otherwise. Small enough to be
// inlined, it lets bytes and count take the usual one-byte length
// without a call; uvarint reads the rest.
func (d *decoder) oneByte() (v uint64, ok bool) {
	if off := d.off; d.err == nil && off < len(d.b) {
		if c := d.b[off]; c < 0x80 {
			d.off = off + 1
			return uint64(c), true
		}
	}
	return 0, false
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	if v, n := varint.Short(d.b[d.off:]); n > 0 {
		d.off += n
		return v
	}
	v, n, err := varint.Uvarint(d.b[d.off:])
	if !d.advance(field, n, err) {
		return 0
	}
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	if u, n := varint.Short(d.b[d.off:]); n > 0 { // most are: inlined
		d.off += n
		return int64(u>>1) ^ -int64(u&1) // zig-zag, as varint.Varint
	}
	v, n, err := varint.Varint(d.b[d.off:])
	if !d.advance(field, n, err) {
		return 0
	}
	return v
}

// advance moves past a varint of n bytes, or records why it could not be
// decoded (the input ended inside it, or it is not a minimal 64-bit one).
func (d *decoder) advance(field string, n int, err error) bool {
	if err != nil {
		d.varintFailed(field, err)
		return false
	}
	d.off += n
	return true
}

// varintFailed records why a varint could not be decoded (errors.Is is
// called only on this path: it is not cheap enough for every varint).
func (d *decoder) varintFailed(field string, err error) {
	if errors.Is(err, varint.ErrTruncated) {
		d.failAt(field, ErrTruncated)
		return
	}
	d.failAt(field, ErrMalformed)
}

func (d *decoder) byte1(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.failAt(field, ErrTruncated)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

// flags reads a flag byte with n defined bits; any other bit is malformed.
// Bit i is flag i (see flag); a byte, not a []bool, so that decoding a
// request allocates nothing for its flags.
func (d *decoder) flags(field string, n int) uint8 {
	f := d.byte1(field)
	if f>>n != 0 {
		d.off--
		d.failAt(field, ErrMalformed)
	}
	return f
}

// flag is bit i of a flag byte read by decoder.flags.
func flag(f uint8, i int) bool { return f&(1<<i) != 0 }

// bytes reads a length-prefixed byte string; empty decodes as nil. The
// result is a copy, so the message does not pin the payload.
func (d *decoder) bytes(field string, limit int) []byte {
	n, ok := d.oneByte()
	if !ok {
		n = d.uvarint(field)
	}
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) {
		d.failAt(field, ErrTooLarge)
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.failAt(field, ErrTruncated)
		return nil
	}
	if n == 0 {
		return nil
	}
	if d.private == nil {
		d.private = append([]byte(nil), d.b...)
	}
	p := d.private[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return p
}

// count reads a list length. Every element takes at least one byte, so a
// count past the remaining bytes is truncated input (and is refused before
// anything is allocated for it).
func (d *decoder) count(field string, limit int) int {
	n, ok := d.oneByte()
	if !ok {
		n = d.uvarint(field)
	}
	if d.err != nil {
		return 0
	}
	if n > uint64(limit) {
		d.failAt(field, ErrTooLarge)
		return 0
	}
	if n > uint64(len(d.b)-d.off) {
		d.failAt(field, ErrTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) header() Header {
	return Header{
		Revision: d.varint("header.revision"),
		Member:   d.nodeID("header.member"),
		RaftTerm: d.uvarint("header.term"),
	}
}

func (d *decoder) nodeID(field string) host.NodeID {
	return host.NodeID(d.uvarint(field))
}

func (d *decoder) kv() KeyValue {
	return KeyValue{
		Key:            d.bytes("kv.key", MaxKeySize),
		CreateRevision: d.varint("kv.create"),
		ModRevision:    d.varint("kv.mod"),
		Version:        d.varint("kv.version"),
		Value:          d.bytes("kv.value", MaxValueSize),
		Lease:          d.varint("kv.lease"),
	}
}

func (d *decoder) optKV() *KeyValue {
	switch d.byte1("optkv") {
	case 0:
		return nil
	case 1:
		kv := d.kv()
		return &kv
	}
	d.off--
	d.failAt("optkv", ErrMalformed)
	return nil
}

func (d *decoder) kvs() []KeyValue {
	n := d.count("kvs", MaxResponseSize)
	if n == 0 {
		return nil
	}
	out := make([]KeyValue, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.kv())
	}
	return out
}

// request decodes a request after its ID. The usual bodies (put, range,
// delete, transaction) are allocated with their Request, one allocation
// instead of two: every replica decodes every request it applies, and
// the leader each one it receives.
func (d *decoder) request(id RequestID, op Op) *Request {
	fb := RequestID(d.uvarint("finished below"))
	var r *Request
	switch op {
	case OpPut:
		x := &struct {
			Request
			b PutRequest
		}{}
		d.putInto(&x.b)
		x.Body = &x.b
		r = &x.Request
	case OpRange:
		x := &struct {
			Request
			b RangeRequest
		}{}
		d.rangeReqInto(&x.b)
		x.Body = &x.b
		r = &x.Request
	case OpDeleteRange:
		x := &struct {
			Request
			b DeleteRangeRequest
		}{}
		d.deleteRangeInto(&x.b)
		x.Body = &x.b
		r = &x.Request
	case OpTxn:
		x := &struct {
			Request
			b TxnRequest
		}{}
		d.txnInto(&x.b)
		x.Body = &x.b
		r = &x.Request
	default:
		r = &Request{Body: d.requestBody(op)}
	}
	r.ID, r.FinishedBelow = id, fb
	return r
}

func (d *decoder) requestBody(op Op) RequestBody {
	switch op {
	case OpPut:
		return d.put()
	case OpRange:
		return d.rangeReq()
	case OpDeleteRange:
		return d.deleteRange()
	case OpTxn:
		return d.txn()
	case OpCompact:
		return &CompactRequest{Revision: d.varint("revision")}
	case OpLeaseGrant:
		return &LeaseGrantRequest{TTL: d.varint("ttl"), ID: d.varint("lease")}
	case OpLeaseRevoke:
		return &LeaseRevokeRequest{ID: d.varint("lease")}
	case OpLeaseKeepAlive:
		return &LeaseKeepAliveRequest{ID: d.varint("lease")}
	case OpWatchCreate:
		r := &WatchCreateRequest{WatchID: d.varint("watch")}
		r.Key = d.bytes("key", MaxKeySize)
		r.End = d.bytes("end", MaxKeySize)
		r.StartRevision = d.varint("start")
		r.PrevKV = flag(d.flags("flags", 1), 0)
		return r
	case OpWatchCancel:
		return &WatchCancelRequest{WatchID: d.varint("watch")}
	case OpMemberAdd:
		r := &MemberAddRequest{ID: d.nodeID("member")}
		r.Learner = flag(d.flags("flags", 1), 0)
		return r
	case OpMemberRemove:
		return &MemberRemoveRequest{ID: d.nodeID("member")}
	case OpMemberList:
		return &MemberListRequest{}
	case OpMoveLeader:
		return &MoveLeaderRequest{Target: d.nodeID("target")}
	}
	d.failAt("op", ErrUnknownKind)
	return nil
}

func (d *decoder) put() *PutRequest {
	r := &PutRequest{}
	d.putInto(r)
	return r
}

func (d *decoder) putInto(r *PutRequest) {
	r.Key = d.bytes("key", MaxKeySize)
	r.Value = d.bytes("value", MaxValueSize)
	r.Lease = d.varint("lease")
	r.PrevKV = flag(d.flags("flags", 1), 0)
}

func (d *decoder) rangeReq() *RangeRequest {
	r := &RangeRequest{}
	d.rangeReqInto(r)
	return r
}

func (d *decoder) rangeReqInto(r *RangeRequest) {
	r.Key = d.bytes("key", MaxKeySize)
	r.End = d.bytes("end", MaxKeySize)
	r.Revision = d.varint("revision")
	r.Limit = d.varint("limit")
	f := d.flags("flags", 3)
	r.CountOnly, r.KeysOnly, r.Serializable = flag(f, 0), flag(f, 1), flag(f, 2)
}

func (d *decoder) deleteRange() *DeleteRangeRequest {
	r := &DeleteRangeRequest{}
	d.deleteRangeInto(r)
	return r
}

func (d *decoder) deleteRangeInto(r *DeleteRangeRequest) {
	r.Key = d.bytes("key", MaxKeySize)
	r.End = d.bytes("end", MaxKeySize)
	r.PrevKV = flag(d.flags("flags", 1), 0)
}

func (d *decoder) txn() *TxnRequest {
	r := &TxnRequest{}
	d.txnInto(r)
	return r
}

func (d *decoder) txnInto(r *TxnRequest) {
	n := d.count("compares", MaxTxnOps)
	if n > 0 {
		r.Compares = make([]Compare, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var c Compare
		c.Result = CompareResult(d.byte1("compare.result"))
		c.Target = CompareTarget(d.byte1("compare.target"))
		if d.err == nil && (c.Result >= compareEnd || c.Target >= targetEnd) {
			d.off -= 2
			d.failAt("compare enum", ErrUnknownKind)
		}
		c.Key = d.bytes("compare.key", MaxKeySize)
		c.End = d.bytes("compare.end", MaxKeySize)
		c.Version = d.varint("compare.version")
		c.CreateRevision = d.varint("compare.create")
		c.ModRevision = d.varint("compare.mod")
		c.Value = d.bytes("compare.value", MaxValueSize)
		c.Lease = d.varint("compare.lease")
		r.Compares = append(r.Compares, c)
	}
	r.Success = d.txnOps()
	r.Failure = d.txnOps()
	if d.err == nil && d.off < len(d.b) {
		// The optional flag byte (see encoder.txn): only ever 1, so that
		// every encoding is canonical.
		if f := d.flags("txn flags", 1); d.err == nil && f == 0 {
			d.off--
			d.failAt("txn flags", ErrMalformed)
		}
		r.PutThenDelete = d.err == nil
	}
}

func (d *decoder) txnOps() []TxnOp {
	n := d.count("txn ops", MaxTxnOps)
	var ops []TxnOp
	if n > 0 {
		ops = make([]TxnOp, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		switch Op(d.byte1("txn op")) {
		case OpRange:
			ops = append(ops, TxnOp{Range: d.rangeReq()})
		case OpPut:
			ops = append(ops, TxnOp{Put: d.put()})
		case OpDeleteRange:
			ops = append(ops, TxnOp{DeleteRange: d.deleteRange()})
		default:
			if d.err == nil {
				d.off--
				d.failAt("txn op", ErrUnknownKind)
			}
		}
	}
	return ops
}

// newResponse allocates a Response of op together with room for its
// usual body (put, range, transaction), one allocation instead of two
// for every answer a client decodes; body is nil for other ops.
func newResponse(op Op) (*Response, ResponseBody) {
	switch op {
	case OpPut:
		x := &struct {
			Response
			b PutResponse
		}{}
		return &x.Response, &x.b
	case OpRange:
		x := &struct {
			Response
			b RangeResponse
		}{}
		return &x.Response, &x.b
	case OpTxn:
		x := &struct {
			Response
			b TxnResponse
		}{}
		return &x.Response, &x.b
	}
	return &Response{}, nil
}

// response decodes a response after its ID into r; body, if not nil, is
// where its body goes (from newResponse).
func (d *decoder) response(r *Response, body ResponseBody) {
	r.Header = d.header()
	r.Err = ErrorCode(d.byte1("code"))
	if d.err == nil && r.Err >= codeEnd {
		d.off--
		d.failAt("code", ErrUnknownKind)
	}
	r.Leader = d.nodeID("leader")
	r.Detail = string(d.bytes("detail", MaxDetailSize))
	switch d.byte1("has body") {
	case 0:
		return
	case 1:
		r.Body = d.responseBodyInto(r.Op, body)
	default:
		if d.err == nil {
			d.off--
			d.failAt("has body", ErrMalformed)
		}
	}
}

// responseBodyInto decodes a body of op into body if it is one of
// newResponse's, else into a new one.
func (d *decoder) responseBodyInto(op Op, body ResponseBody) ResponseBody {
	switch b := body.(type) {
	case *PutResponse:
		b.PrevKV = d.optKV()
		return b
	case *RangeResponse:
		d.rangeRespInto(b)
		return b
	case *TxnResponse:
		d.txnRespInto(b)
		return b
	}
	return d.responseBody(op)
}

func (d *decoder) responseBody(op Op) ResponseBody {
	switch op {
	case OpPut:
		return &PutResponse{PrevKV: d.optKV()}
	case OpRange:
		return d.rangeResp()
	case OpDeleteRange:
		return &DeleteRangeResponse{Deleted: d.varint("deleted"), PrevKVs: d.kvs()}
	case OpTxn:
		return d.txnResp()
	case OpCompact:
		return &CompactResponse{}
	case OpMoveLeader:
		return &MoveLeaderResponse{}
	case OpLeaseGrant:
		return &LeaseGrantResponse{ID: d.varint("lease"), TTL: d.varint("ttl")}
	case OpLeaseRevoke:
		return &LeaseRevokeResponse{}
	case OpLeaseKeepAlive:
		return &LeaseKeepAliveResponse{ID: d.varint("lease"), TTL: d.varint("ttl")}
	case OpWatchCreate:
		return &WatchCreateResponse{WatchID: d.varint("watch"), CompactRevision: d.varint("compact")}
	case OpWatchCancel:
		return &WatchCancelResponse{WatchID: d.varint("watch")}
	case OpMemberAdd, OpMemberRemove, OpMemberList:
		r := &MemberResponse{ForOp: op}
		n := d.count("members", MaxMembers)
		for i := 0; i < n && d.err == nil; i++ {
			m := Member{ID: d.nodeID("member")}
			m.Learner = flag(d.flags("flags", 1), 0)
			r.Members = append(r.Members, m)
		}
		return r
	}
	d.failAt("op", ErrUnknownKind)
	return nil
}

func (d *decoder) rangeResp() *RangeResponse {
	r := &RangeResponse{}
	d.rangeRespInto(r)
	return r
}

func (d *decoder) rangeRespInto(r *RangeResponse) {
	r.KVs = d.kvs()
	r.More = flag(d.flags("flags", 1), 0)
	r.Count = d.varint("count")
}

func (d *decoder) txnResp() *TxnResponse {
	r := &TxnResponse{}
	d.txnRespInto(r)
	return r
}

func (d *decoder) txnRespInto(r *TxnResponse) {
	r.Succeeded = flag(d.flags("flags", 1), 0)
	n := d.count("txn responses", MaxTxnOps)
	for i := 0; i < n && d.err == nil; i++ {
		switch Op(d.byte1("txn response")) {
		case OpRange:
			r.Responses = append(r.Responses, TxnOpResponse{Range: d.rangeResp()})
		case OpPut:
			r.Responses = append(r.Responses, TxnOpResponse{Put: &PutResponse{PrevKV: d.optKV()}})
		case OpDeleteRange:
			r.Responses = append(r.Responses, TxnOpResponse{DeleteRange: &DeleteRangeResponse{
				Deleted: d.varint("deleted"), PrevKVs: d.kvs()}})
		default:
			if d.err == nil {
				d.off--
				d.failAt("txn response", ErrUnknownKind)
			}
		}
	}
}

func (d *decoder) watchEvents(w *WatchEvents) {
	w.Header = d.header()
	w.WatchID = d.varint("watch")
	w.Seq = d.uvarint("seq")
	w.Canceled = flag(d.flags("flags", 1), 0)
	w.Err = ErrorCode(d.byte1("code"))
	if d.err == nil && w.Err >= codeEnd {
		d.off--
		d.failAt("code", ErrUnknownKind)
	}
	w.CompactRevision = d.varint("compact")
	n := d.count("events", MaxResponseSize)
	if n > 0 {
		w.Events = make([]Event, 0, min(n, 1024))
	}
	for i := 0; i < n && d.err == nil; i++ {
		t := EventType(d.byte1("event type"))
		if d.err == nil && t >= eventEnd {
			d.off--
			d.failAt("event type", ErrUnknownKind)
		}
		ev := Event{Type: t, KV: d.kv()}
		ev.PrevKV = d.optKV()
		w.Events = append(w.Events, ev)
	}
}
