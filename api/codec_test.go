package api

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/internal/varint"
)

func kvGen() *rapid.Generator[KeyValue] {
	return rapid.Custom(func(t *rapid.T) KeyValue {
		return KeyValue{
			Key:            nilIfEmpty(rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "key")),
			CreateRevision: rapid.Int64().Draw(t, "create"),
			ModRevision:    rapid.Int64().Draw(t, "mod"),
			Version:        rapid.Int64().Draw(t, "version"),
			Value:          nilIfEmpty(rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "value")),
			Lease:          rapid.Int64().Draw(t, "lease"),
		}
	})
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func bs(t *rapid.T, label string) []byte {
	return nilIfEmpty(rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, label))
}

func optKV(t *rapid.T, label string) *KeyValue {
	if rapid.Bool().Draw(t, label+"?") {
		kv := kvGen().Draw(t, label)
		return &kv
	}
	return nil
}

func kvList(t *rapid.T, label string) []KeyValue {
	l := rapid.SliceOfN(kvGen(), 0, 4).Draw(t, label)
	if len(l) == 0 {
		return nil
	}
	return l
}

func putReq(t *rapid.T) *PutRequest {
	return &PutRequest{Key: bs(t, "k"), Value: bs(t, "v"), Lease: rapid.Int64().Draw(t, "l"),
		PrevKV: rapid.Bool().Draw(t, "p")}
}

func rangeReq(t *rapid.T) *RangeRequest {
	return &RangeRequest{Key: bs(t, "k"), End: bs(t, "e"), Revision: rapid.Int64().Draw(t, "r"),
		Limit: rapid.Int64().Draw(t, "lim"), CountOnly: rapid.Bool().Draw(t, "c"),
		KeysOnly: rapid.Bool().Draw(t, "ko"), Serializable: rapid.Bool().Draw(t, "s")}
}

func delReq(t *rapid.T) *DeleteRangeRequest {
	return &DeleteRangeRequest{Key: bs(t, "k"), End: bs(t, "e"), PrevKV: rapid.Bool().Draw(t, "p")}
}

func txnOps(t *rapid.T, label string) []TxnOp {
	n := rapid.IntRange(0, 3).Draw(t, label)
	var ops []TxnOp
	for range n {
		switch rapid.IntRange(0, 2).Draw(t, "which") {
		case 0:
			ops = append(ops, TxnOp{Range: rangeReq(t)})
		case 1:
			ops = append(ops, TxnOp{Put: putReq(t)})
		default:
			ops = append(ops, TxnOp{DeleteRange: delReq(t)})
		}
	}
	return ops
}

func rangeResp(t *rapid.T) *RangeResponse {
	return &RangeResponse{KVs: kvList(t, "kvs"), More: rapid.Bool().Draw(t, "more"),
		Count: rapid.Int64().Draw(t, "count")}
}

func requestBody(t *rapid.T) RequestBody {
	switch op := Op(rapid.IntRange(1, int(opEnd)-1).Draw(t, "op")); op {
	case OpPut:
		return putReq(t)
	case OpRange:
		return rangeReq(t)
	case OpDeleteRange:
		return delReq(t)
	case OpTxn:
		r := &TxnRequest{}
		for range rapid.IntRange(0, 3).Draw(t, "ncmp") {
			r.Compares = append(r.Compares, Compare{
				Result: CompareResult(rapid.IntRange(0, int(compareEnd)-1).Draw(t, "res")),
				Target: CompareTarget(rapid.IntRange(0, int(targetEnd)-1).Draw(t, "tgt")),
				Key:    bs(t, "k"), End: bs(t, "e"), Version: rapid.Int64().Draw(t, "v"),
				CreateRevision: rapid.Int64().Draw(t, "c"), ModRevision: rapid.Int64().Draw(t, "m"),
				Value: bs(t, "val"), Lease: rapid.Int64().Draw(t, "l"),
			})
		}
		r.Success, r.Failure = txnOps(t, "succ"), txnOps(t, "fail")
		return r
	case OpCompact:
		return &CompactRequest{Revision: rapid.Int64().Draw(t, "rev")}
	case OpLeaseGrant:
		return &LeaseGrantRequest{TTL: rapid.Int64().Draw(t, "ttl"), ID: rapid.Int64().Draw(t, "id")}
	case OpLeaseRevoke:
		return &LeaseRevokeRequest{ID: rapid.Int64().Draw(t, "id")}
	case OpLeaseKeepAlive:
		return &LeaseKeepAliveRequest{ID: rapid.Int64().Draw(t, "id")}
	case OpWatchCreate:
		return &WatchCreateRequest{WatchID: rapid.Int64().Draw(t, "w"), Key: bs(t, "k"), End: bs(t, "e"),
			StartRevision: rapid.Int64().Draw(t, "s"), PrevKV: rapid.Bool().Draw(t, "p")}
	case OpWatchCancel:
		return &WatchCancelRequest{WatchID: rapid.Int64().Draw(t, "w")}
	case OpMemberAdd:
		return &MemberAddRequest{ID: host.NodeID(rapid.Uint64().Draw(t, "id")), Learner: rapid.Bool().Draw(t, "l")}
	case OpMemberRemove:
		return &MemberRemoveRequest{ID: host.NodeID(rapid.Uint64().Draw(t, "id"))}
	case OpMoveLeader:
		return &MoveLeaderRequest{Target: host.NodeID(rapid.Uint64().Draw(t, "target"))}
	default:
		return &MemberListRequest{}
	}
}

func responseBody(t *rapid.T, op Op) ResponseBody {
	switch op {
	case OpPut:
		return &PutResponse{PrevKV: optKV(t, "prev")}
	case OpRange:
		return rangeResp(t)
	case OpDeleteRange:
		return &DeleteRangeResponse{Deleted: rapid.Int64().Draw(t, "d"), PrevKVs: kvList(t, "prevs")}
	case OpTxn:
		r := &TxnResponse{Succeeded: rapid.Bool().Draw(t, "ok")}
		for range rapid.IntRange(0, 3).Draw(t, "n") {
			switch rapid.IntRange(0, 2).Draw(t, "which") {
			case 0:
				r.Responses = append(r.Responses, TxnOpResponse{Range: rangeResp(t)})
			case 1:
				r.Responses = append(r.Responses, TxnOpResponse{Put: &PutResponse{PrevKV: optKV(t, "p")}})
			default:
				r.Responses = append(r.Responses, TxnOpResponse{DeleteRange: &DeleteRangeResponse{
					Deleted: rapid.Int64().Draw(t, "d"), PrevKVs: kvList(t, "prevs")}})
			}
		}
		return r
	case OpCompact:
		return &CompactResponse{}
	case OpLeaseGrant:
		return &LeaseGrantResponse{ID: rapid.Int64().Draw(t, "id"), TTL: rapid.Int64().Draw(t, "ttl")}
	case OpLeaseRevoke:
		return &LeaseRevokeResponse{}
	case OpLeaseKeepAlive:
		return &LeaseKeepAliveResponse{ID: rapid.Int64().Draw(t, "id"), TTL: rapid.Int64().Draw(t, "ttl")}
	case OpWatchCreate:
		return &WatchCreateResponse{WatchID: rapid.Int64().Draw(t, "w"), CompactRevision: rapid.Int64().Draw(t, "c")}
	case OpWatchCancel:
		return &WatchCancelResponse{WatchID: rapid.Int64().Draw(t, "w")}
	case OpMoveLeader:
		return &MoveLeaderResponse{}
	default:
		r := &MemberResponse{ForOp: op}
		for range rapid.IntRange(0, 3).Draw(t, "n") {
			r.Members = append(r.Members, Member{ID: host.NodeID(rapid.Uint64().Draw(t, "id")),
				Learner: rapid.Bool().Draw(t, "l")})
		}
		return r
	}
}

func header(t *rapid.T) Header {
	return Header{Revision: rapid.Int64().Draw(t, "rev"), Member: host.NodeID(rapid.Uint64().Draw(t, "m")),
		RaftTerm: rapid.Uint64().Draw(t, "term")}
}

func messageGen() *rapid.Generator[Message] {
	return rapid.Custom(func(t *rapid.T) Message {
		id := RequestID(rapid.Uint64().Draw(t, "id"))
		switch rapid.IntRange(0, 2).Draw(t, "class") {
		case 0:
			return &Request{ID: id, FinishedBelow: RequestID(rapid.Uint64().Draw(t, "fb")), Body: requestBody(t)}
		case 1:
			op := Op(rapid.IntRange(1, int(opEnd)-1).Draw(t, "op"))
			r := &Response{ID: id, Op: op, Header: header(t),
				Err:    ErrorCode(rapid.IntRange(0, int(codeEnd)-1).Draw(t, "code")),
				Leader: host.NodeID(rapid.Uint64().Draw(t, "leader")),
				Detail: rapid.StringN(0, 10, 40).Draw(t, "detail")}
			if rapid.Bool().Draw(t, "hasBody") {
				r.Body = responseBody(t, op)
			}
			return r
		default:
			w := &WatchEvents{ID: id, Header: header(t), WatchID: rapid.Int64().Draw(t, "w"),
				Seq: rapid.Uint64().Draw(t, "seq"), Canceled: rapid.Bool().Draw(t, "cancel"),
				Err:             ErrorCode(rapid.IntRange(0, int(codeEnd)-1).Draw(t, "code")),
				CompactRevision: rapid.Int64().Draw(t, "compact")}
			for range rapid.IntRange(0, 3).Draw(t, "n") {
				w.Events = append(w.Events, Event{Type: EventType(rapid.IntRange(0, 1).Draw(t, "type")),
					KV: kvGen().Draw(t, "kv"), PrevKV: optKV(t, "prev")})
			}
			return w
		}
	})
}

// TestRoundTrip: every valid message decodes to itself.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := messageGen().Draw(t, "msg")
		b, err := Encode(m)
		require.NoError(t, err)
		env, _, err := SplitEnvelope(b)
		require.NoError(t, err)
		require.Equal(t, EnvelopeClient, env)
		got, err := Decode(b)
		require.NoError(t, err)
		require.Equal(t, m, got)
	})
}

// TestTruncationAlwaysFails: every strict prefix of a valid message fails
// with a typed error, never a panic.
func TestTruncationAlwaysFails(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := MustEncode(messageGen().Draw(t, "msg"))
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		_, err := Decode(b[:cut])
		var de *DecodeError
		require.ErrorAs(t, err, &de)
	})
}

func TestDecodeErrors(t *testing.T) {
	good := MustEncode(&Request{ID: 7, Body: &PutRequest{Key: []byte("k"), Value: []byte("v")}})
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", good[:3], ErrTruncated},
		{"peer envelope", mod(func(b []byte) []byte { b[0] = byte(EnvelopePeer); return b }), ErrEnvelope},
		{"bad envelope", mod(func(b []byte) []byte { b[0] = 0xff; return b }), ErrEnvelope},
		{"bad version", mod(func(b []byte) []byte { b[1] = 2; return b }), ErrVersion},
		{"bad class", mod(func(b []byte) []byte { b[2] = 9; return b }), ErrUnknownKind},
		{"op zero", mod(func(b []byte) []byte { b[3] = 0; return b }), ErrUnknownKind},
		{"op past end", mod(func(b []byte) []byte { b[3] = byte(opEnd); return b }), ErrUnknownKind},
		{"trailing", mod(func(b []byte) []byte { return append(b, 0) }), ErrTrailing},
		{"bad flags", mod(func(b []byte) []byte { b[len(b)-1] = 0x80; return b }), ErrMalformed},
		{"huge key length", mod(func(b []byte) []byte {
			return append(b[:6], 0xff, 0xff, 0xff, 0x01) // 4 MiB - 1, past MaxKeySize
		}), ErrTooLarge},
		{"varint overflow", mod(func(b []byte) []byte {
			return append(b[:4], bytes.Repeat([]byte{0xff}, 11)...)
		}), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.payload)
			require.ErrorIs(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	cases := []struct {
		name string
		m    Message
	}{
		{"nil body", &Request{ID: 1}},
		{"key too large", &Request{Body: &PutRequest{Key: make([]byte, MaxKeySize+1)}}},
		{"value too large", &Request{Body: &PutRequest{Value: make([]byte, MaxValueSize+1)}}},
		{"empty txn op", &Request{Body: &TxnRequest{Success: []TxnOp{{}}}}},
		{"two-op txn op", &Request{Body: &TxnRequest{Success: []TxnOp{{Put: &PutRequest{}, Range: &RangeRequest{}}}}}},
		{"too many txn ops", &Request{Body: &TxnRequest{Failure: make([]TxnOp, MaxTxnOps+1)}}},
		{"bad compare", &Request{Body: &TxnRequest{Compares: []Compare{{Target: targetEnd}}}}},
		{"body op mismatch", &Response{Op: OpRange, Body: &PutResponse{}}},
		{"bad code", &Response{Op: OpPut, Err: codeEnd}},
		{"bad event type", &WatchEvents{Events: []Event{{Type: eventEnd}}}},
		{"too many members", &Response{Op: OpMemberList, Body: &MemberResponse{ForOp: OpMemberList,
			Members: make([]Member, MaxMembers+1)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.m)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestEnvelope(t *testing.T) {
	p := WrapPeer([]byte("raft"))
	env, rest, err := SplitEnvelope(p)
	require.NoError(t, err)
	require.Equal(t, EnvelopePeer, env)
	require.Equal(t, []byte("raft"), rest)
	env, rest, err = SplitEnvelope(Wrap(EnvelopeControl, []byte{7}))
	require.NoError(t, err)
	require.Equal(t, EnvelopeControl, env)
	require.Equal(t, []byte{7}, rest)
	_, _, err = SplitEnvelope(nil)
	require.ErrorIs(t, err, ErrTruncated)
	_, _, err = SplitEnvelope([]byte{0x7f})
	require.ErrorIs(t, err, ErrEnvelope)
}

func TestErrorCodes(t *testing.T) {
	require.Nil(t, CodeOK.Err())
	for c := CodeNotLeader; c < codeEnd; c++ {
		require.Equal(t, c, CodeOf(c.Err()), c.String())
		require.Equal(t, c, CodeOf(errors.Join(errors.New("ctx"), c.Err())))
	}
	require.Equal(t, CodeInternal, CodeOf(errors.New("other")))
	require.Equal(t, CodeOK, CodeOf(nil))
}

// FuzzDecode: no input panics; whatever decodes re-encodes and decodes to
// the same message.
func FuzzDecode(f *testing.F) {
	seeds := []Message{
		&Request{ID: 1, Body: &PutRequest{Key: []byte("a"), Value: []byte("b"), PrevKV: true}},
		&Request{ID: 2, Body: &TxnRequest{Compares: []Compare{{Key: []byte("a"), Target: TargetValue, Value: []byte("x")}},
			Success: []TxnOp{{Put: &PutRequest{Key: []byte("a")}}}, Failure: []TxnOp{{Range: &RangeRequest{Key: []byte("a")}}}}},
		&Response{ID: 3, Op: OpRange, Header: Header{Revision: 5, Member: 1, RaftTerm: 2},
			Body: &RangeResponse{KVs: []KeyValue{{Key: []byte("a"), Value: []byte("b"), ModRevision: 5}}, Count: 1}},
		&Response{ID: 4, Op: OpPut, Err: CodeNotLeader, Leader: 3},
		&WatchEvents{ID: 5, WatchID: 1, Seq: 2, Events: []Event{{Type: EventDelete, KV: KeyValue{Key: []byte("a")},
			PrevKV: &KeyValue{Key: []byte("a")}}}},
	}
	for _, m := range seeds {
		f.Add(MustEncode(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			return
		}
		b2, err := Encode(m)
		require.NoError(t, err)
		m2, err := Decode(b2)
		require.NoError(t, err)
		require.Equal(t, m, m2)
	})
}

func BenchmarkEncodeDecodePut(b *testing.B) {
	m := &Request{ID: 12345, Body: &PutRequest{Key: []byte("/registry/pods/default/nginx"), Value: make([]byte, 100)}}
	b.ReportAllocs()
	for b.Loop() {
		p := MustEncode(m)
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequests decodes the requests a replica decodes as it
// applies a write (a put, a range with flags, a three-compare txn), as
// allocs/request and ns/request.
func BenchmarkDecodeRequests(b *testing.B) {
	key := []byte("/registry/pods/default/nginx")
	reqs := []Message{
		&Request{ID: 1, Body: &PutRequest{Key: key, Value: make([]byte, 100), PrevKV: true}},
		&Request{ID: 2, Body: &RangeRequest{Key: key, End: []byte("/registry/pods/z"), Serializable: true}},
		&Request{ID: 3, Body: &TxnRequest{
			Compares: []Compare{{Key: key, Target: TargetMod, ModRevision: 7}, {Key: key, Target: TargetVersion},
				{Key: key, Target: TargetValue, Value: []byte("v")}},
			Success: []TxnOp{{Put: &PutRequest{Key: key, Value: []byte("v2")}}, {DeleteRange: &DeleteRangeRequest{Key: key}}},
			Failure: []TxnOp{{Range: &RangeRequest{Key: key}}}}},
	}
	payloads := make([][]byte, len(reqs))
	for i, m := range reqs {
		payloads[i] = MustEncode(m)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, p := range payloads {
			if _, err := Decode(p); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() {
		for _, p := range payloads {
			_, _ = Decode(p)
		}
	}))/float64(len(payloads)), "allocs/request")
}

// The decoder's signed varints read as varint.Varint reads them (value,
// length, failure) for every one- and two-byte input, the inlined
// zig-zag path included, and for a few longer ones.
func TestDecoderVarintAgreesWithVarint(t *testing.T) {
	check := func(b []byte) {
		d := decoder{b: b}
		got := d.varint("v")
		want, n, err := varint.Varint(b)
		if err != nil {
			require.Error(t, d.err, "input %x", b)
			return
		}
		require.Nil(t, d.err, "input %x", b)
		require.Equal(t, want, got, "input %x", b)
		require.Equal(t, n, d.off, "input %x", b)
	}
	for i := range 256 {
		check([]byte{byte(i)})
		for j := range 256 {
			check([]byte{byte(i), byte(j)})
		}
	}
	for _, v := range []int64{-1 << 63, -1 << 40, -8193, 8192, 1 << 40, 1<<63 - 1} {
		check(binary.AppendVarint(nil, v))
	}
}

// TestChunksEncodeAsEncode checks that Chunks gives Encode's bytes and
// never writes into a payload it handed out: later payloads, small and
// larger than a chunk's free tail, leave earlier ones as they were.
func TestChunksEncodeAsEncode(t *testing.T) {
	var c Chunks
	var got, want [][]byte
	for i := range 300 {
		val := make([]byte, (i*37)%900)
		for j := range val {
			val[j] = byte(i + j)
		}
		m := &Request{ID: RequestID(i + 1), Body: &PutRequest{Key: []byte("k"), Value: val}}
		w, err := Encode(m)
		require.NoError(t, err)
		b, err := c.Encode(m)
		require.NoError(t, err)
		require.Equal(t, w, b)
		require.Equal(t, len(b), cap(b), "a payload is capped")
		got, want = append(got, b), append(want, w)
	}
	for i := range got {
		require.Equal(t, want[i], got[i], "payload %d changed after it was handed out", i)
	}
	_, err := c.Encode(&Request{ID: 1})
	require.Error(t, err, "a request with no body")
}
