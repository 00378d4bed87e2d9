package linearizability

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomOp draws an operation that sets every field of Op, with nil,
// empty and filled slices, empty and long strings, and extreme numbers.
func randomOp(rng *rand.Rand) Op {
	str := func() string {
		switch rng.IntN(6) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("x", 200+rng.IntN(300))
		}
		return "/k/" + string(rune('a'+rng.IntN(26)))
	}
	num := func() int64 {
		switch rng.IntN(5) {
		case 0:
			return math.MaxInt64
		case 1:
			return math.MinInt64
		case 2:
			return -rng.Int64N(1000)
		}
		return rng.Int64N(1 << 40)
	}
	// length is a slice's length and whether it is nil.
	length := func() (int, bool) {
		switch rng.IntN(3) {
		case 0:
			return 0, true
		case 1:
			return 0, false
		}
		return 1 + rng.IntN(3), false
	}
	kvs := func() []KV {
		n, isNil := length()
		if isNil {
			return nil
		}
		out := make([]KV, n)
		for i := range out {
			out[i] = KV{Key: str(), Value: str(), ModRevision: num(), CreateRevision: num(), Version: num()}
		}
		return out
	}
	txnOps := func() []TxnOp {
		n, isNil := length()
		if isNil {
			return nil
		}
		out := make([]TxnOp, n)
		for i := range out {
			out[i] = TxnOp{Kind: Kind(rng.IntN(7)), Key: str(), Value: str()}
		}
		return out
	}
	op := Op{ClientID: int(num()), Call: num(), Return: num(), Unknown: rng.IntN(2) == 0, Failed: rng.IntN(2) == 0}
	if rng.IntN(3) == 0 {
		op.Return = UnknownReturn
	}
	op.Input = Input{Kind: Kind(rng.IntN(7)), Key: str(), Value: str(), Then: txnOps(), Else: txnOps()}
	if n, isNil := length(); !isNil {
		op.Input.Compares = make([]Compare, n)
		for i := range op.Input.Compares {
			op.Input.Compares[i] = Compare{Key: str(), Target: Target(rng.IntN(6)), Op: CmpOp(rng.IntN(6)), Value: str(), Num: num()}
		}
	}
	op.Output = Output{KVs: kvs(), Revision: num(), Succeeded: rng.IntN(2) == 0, DeletedKnown: rng.IntN(2) == 0,
		Deleted: num(), Err: str(), Digest: rng.Uint64()}
	if n, isNil := length(); !isNil {
		op.Output.TxnKVs = make([][]KV, n)
		for i := range op.Output.TxnKVs {
			op.Output.TxnKVs[i] = kvs()
		}
	}
	return op
}

// TestOpEncodingRoundTrips: every operation a history may keep encoded
// decodes to an equal one, nil and empty slices told apart, one after
// another in a shared buffer.
func TestOpEncodingRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var ops []Op
	var buf []byte
	var offs []int
	for range 5000 {
		op := randomOp(rng)
		ops = append(ops, op)
		offs = append(offs, len(buf))
		buf = appendOp(buf, &op)
	}
	for i := range ops {
		end := len(buf)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		d := opDecoder{b: buf[offs[i]:end]}
		require.Equal(t, ops[i], d.op(), "op %d", i)
		require.Empty(t, d.b, "op %d: bytes left", i)
	}
}

// TestHistoryKeepsSqueezedOpsExactly: the operations of squeezed chunks,
// of every shape, come back from Op and Take as they were recorded.
func TestHistoryKeepsSqueezedOpsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	var h History
	var want []Op
	for i := range 3 * historyChunkLen {
		op := randomOp(rng)
		id := h.Call(op.ClientID, op.Call, op.Input)
		require.Equal(t, i, id)
		h.chunks[id/historyChunkLen].ops[id%historyChunkLen] = op // as if it finished so
		_, err := h.finish(id)
		require.NoError(t, err)
		want = append(want, op)
	}
	h.Squeeze()
	require.Equal(t, 2, h.squeezed)
	for id := range want {
		got, ok := h.Op(id)
		require.True(t, ok)
		require.Equal(t, want[id], got, "op %d", id)
	}
	for id := 0; id < len(want); id += 3 {
		h.Drop(id)
	}
	h.Squeeze() // compacts: a third is dropped
	ops, ids := h.TakeWithIDs()
	k := 0
	for id := range want {
		if id%3 == 0 {
			continue
		}
		require.Equal(t, id, ids[k])
		require.Equal(t, want[id], ops[k], "op %d", id)
		k++
	}
	require.Len(t, ops, k)
}
