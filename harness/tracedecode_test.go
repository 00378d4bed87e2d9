package harness

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// peer wraps a raft message as the node sends it.
func peer(m raft.Message) []byte { return api.WrapPeer(m.Marshal()) }

// clientCmd frames a request as the node's log command (node/command.go:
// version 1, kind 1, proposer, client, stamp, request payload).
func clientCmd(proposer, client uint64, body api.RequestBody) []byte {
	b := []byte{1, 1}
	b = binary.AppendUvarint(b, proposer)
	b = binary.AppendUvarint(b, client)
	b = binary.AppendVarint(b, 1234)
	return append(b, api.MustEncode(&api.Request{ID: 9, Body: body})...)
}

// expireCmd frames a lease expiry command (kind 2).
func expireCmd(ids ...int64) []byte {
	b := []byte{1, 2}
	b = binary.AppendVarint(b, 1234)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendVarint(b, id)
	}
	return b
}

// snapChunk frames a snapshot chunk control message (node/snapstream.go).
func snapChunk(index, term, size, unit, off uint64, header, data []byte) []byte {
	b := []byte{byte(api.EnvelopeControl), 2}
	for _, v := range []uint64{index, term, size, unit} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, 0xdeadbeef)
	b = binary.AppendUvarint(b, off)
	b = binary.AppendUvarint(b, uint64(len(header)))
	return append(append(b, header...), data...)
}

// record frames a call/return record's payload as seedRun.record does.
func record(op api.Op, hid, digest int64) []byte {
	b := []byte{byte(op)}
	b = binary.AppendVarint(b, hid)
	return binary.AppendVarint(b, digest)
}

func resp(op api.Op, code api.ErrorCode, body api.ResponseBody) []byte {
	return api.MustEncode(&api.Response{ID: 7, Op: op, Err: code, Body: body,
		Header: api.Header{Revision: 42, Member: 3, RaftTerm: 5}})
}

func req(body api.RequestBody) []byte { return api.MustEncode(&api.Request{ID: 7, Body: body}) }

// traceMessageCases are payloads of every kind with their decoded text.
var traceMessageCases = []struct {
	name    string
	payload []byte
	want    string
}{
	{"MsgApp with commands", peer(raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 5, LogTerm: 5, Index: 120, Commit: 119,
		Entries: []raft.Entry{
			{Term: 5, Index: 121, Data: clientCmd(1, 1001, &api.PutRequest{Key: []byte("/k/3"), Value: []byte("c3.16")})},
			{Term: 5, Index: 122},
			{Term: 5, Index: 123, Data: expireCmd(7, 8)},
			{Term: 5, Index: 124, Type: raft.EntryConfChange, Data: (&raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 6}).Marshal()},
			{Term: 5, Index: 125},
		}}),
		`MsgApp term=5 index=120 logterm=5 commit=119 entries=5 [121@5 Put key=/k/3 value="c3.16", 122@5 empty, 123@5 expire leases=7,8, 124@5 AddLearner 6, +1]`},
	{"MsgApp bad command", peer(raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 5, Entries: []raft.Entry{{Term: 5, Index: 3, Data: []byte{9}}}}),
		`MsgApp term=5 index=0 logterm=0 commit=0 entries=1 [3@5 bad-command]`},
	{"MsgAppResp reject", peer(raft.Message{Type: raft.MsgAppResp, From: 2, To: 1, Term: 5, Index: 120, Reject: true, RejectHint: 100}),
		`MsgAppResp term=5 index=120 logterm=0 commit=0 reject hint=100`},
	{"MsgVote", peer(raft.Message{Type: raft.MsgVote, From: 2, To: 1, Term: 6, LogTerm: 5, Index: 130}),
		`MsgVote term=6 index=130 logterm=5 commit=0`},
	{"MsgPreVoteResp", peer(raft.Message{Type: raft.MsgPreVoteResp, From: 2, To: 1, Term: 6}),
		`MsgPreVoteResp term=6 index=0 logterm=0 commit=0`},
	{"MsgHeartbeat with context", peer(raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 5, Commit: 119, Context: []byte("rid1")}),
		`MsgHeartbeat term=5 index=0 logterm=0 commit=119 ctx=4B`},
	{"MsgSnap", peer(raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Term: 5, Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 100, Term: 4}, Data: make([]byte, 300)}}),
		`MsgSnap term=5 index=0 logterm=0 commit=0 snapshot=100@4 data=300B`},
	{"MsgTimeoutNow", peer(raft.Message{Type: raft.MsgTimeoutNow, From: 1, To: 2, Term: 5}),
		`MsgTimeoutNow term=5 index=0 logterm=0 commit=0`},
	{"raft garbage", api.WrapPeer([]byte{1, 2, 3}), `undecodable raft len=3`},
	{"snapshot chunk", snapChunk(100, 4, 10, 4, 0, []byte("hdr"), []byte("abcd")),
		`snap-chunk snapshot=100@4 bytes=[0,4) of=10 header`},
	{"last snapshot chunk", snapChunk(100, 4, 10, 4, 8, nil, []byte("ij")),
		`snap-chunk snapshot=100@4 bytes=[8,10) of=10`},
	{"bad control", []byte{byte(api.EnvelopeControl), 9}, `undecodable control len=1`},
	{"empty payload", nil, `undecodable envelope len=0`},
	{"unknown envelope", []byte{0x7f, 1}, `undecodable envelope len=2`},
	{"put request", req(&api.PutRequest{Key: []byte("/k/1"), Value: []byte("v"), Lease: 77, PrevKV: true}),
		`request id=7 Put key=/k/1 value="v" lease=77 prev_kv`},
	{"long binary value", req(&api.PutRequest{Key: []byte("a b"), Value: bytes.Repeat([]byte{0}, 50)}),
		`request id=7 Put key="a b" value="` + strings.Repeat(`\x00`, 40) + `"...(50B)`},
	{"range request", req(&api.RangeRequest{Key: []byte("/k/"), End: []byte("/k0"), Revision: 12, Limit: 3, CountOnly: true, KeysOnly: true, Serializable: true}),
		`request id=7 Range key=/k/ end=/k0 rev=12 limit=3 count_only keys_only serializable`},
	{"delete request", req(&api.DeleteRangeRequest{Key: []byte("/k/1"), PrevKV: true}),
		`request id=7 DeleteRange key=/k/1 prev_kv`},
	{"txn request", req(&api.TxnRequest{
		Compares: []api.Compare{
			{Target: api.TargetMod, Result: api.CompareEqual, Key: []byte("/k/1"), ModRevision: 12},
			{Target: api.TargetValue, Result: api.CompareNotEqual, Key: []byte("/k/2"), Value: []byte("x")},
			{Target: api.TargetVersion, Result: api.CompareGreater, Key: []byte("/a"), End: []byte("/b"), Version: 1},
			{Target: api.TargetCreate, Result: api.CompareLess, Key: []byte("/c"), CreateRevision: 4},
			{Target: api.TargetLease, Result: api.CompareEqual, Key: []byte("/d"), Lease: 5},
		},
		Success: []api.TxnOp{{Put: &api.PutRequest{Key: []byte("/k/1"), Value: []byte("y")}}, {DeleteRange: &api.DeleteRangeRequest{Key: []byte("/k/2")}}},
		Failure: []api.TxnOp{{Range: &api.RangeRequest{Key: []byte("/k/1")}}},
	}), `request id=7 Txn if [mod(/k/1)=12, value(/k/2)!="x", version(/a../b)>1, create(/c)<4, +1] then [Put key=/k/1 value="y", DeleteRange key=/k/2] else [Range key=/k/1]`},
	{"compact request", req(&api.CompactRequest{Revision: 30}), `request id=7 Compact rev=30`},
	{"lease grant request", req(&api.LeaseGrantRequest{TTL: 5, ID: 3}), `request id=7 LeaseGrant ttl=5 lease=3`},
	{"lease revoke request", req(&api.LeaseRevokeRequest{ID: 3}), `request id=7 LeaseRevoke lease=3`},
	{"keep-alive request", req(&api.LeaseKeepAliveRequest{ID: 3}), `request id=7 LeaseKeepAlive lease=3`},
	{"watch create request", req(&api.WatchCreateRequest{WatchID: 2, Key: []byte("/k/"), End: []byte("/k0"), StartRevision: 10, PrevKV: true}),
		`request id=7 WatchCreate watch=2 key=/k/ end=/k0 start=10 prev_kv`},
	{"watch cancel request", req(&api.WatchCancelRequest{WatchID: 2}), `request id=7 WatchCancel watch=2`},
	{"member add request", req(&api.MemberAddRequest{ID: 6, Learner: true}), `request id=7 MemberAdd member=6 learner`},
	{"member remove request", req(&api.MemberRemoveRequest{ID: 6}), `request id=7 MemberRemove member=6`},
	{"member list request", req(&api.MemberListRequest{}), `request id=7 MemberList`},
	{"move leader request", req(&api.MoveLeaderRequest{Target: 2}), `request id=7 MoveLeader target=2`},
	{"put response", resp(api.OpPut, api.CodeOK, &api.PutResponse{PrevKV: &api.KeyValue{Key: []byte("/k/1"), Value: []byte("old"), ModRevision: 40}}),
		`response id=7 Put status=OK rev=42 member=3 term=5 prev=[/k/1="old"@40]`},
	{"range response", resp(api.OpRange, api.CodeOK, &api.RangeResponse{Count: 6, More: true, KVs: []api.KeyValue{
		{Key: []byte("/k/1"), Value: []byte("a"), ModRevision: 3}, {Key: []byte("/k/2"), Value: []byte("b"), ModRevision: 4},
		{Key: []byte("/k/3"), Value: []byte("c"), ModRevision: 5}, {Key: []byte("/k/4"), Value: []byte("d"), ModRevision: 6},
		{Key: []byte("/k/5"), Value: []byte("e"), ModRevision: 7}}}),
		`response id=7 Range status=OK rev=42 member=3 term=5 count=6 more kvs=[/k/1="a"@3 /k/2="b"@4 /k/3="c"@5 /k/4="d"@6 +1]`},
	{"delete response", resp(api.OpDeleteRange, api.CodeOK, &api.DeleteRangeResponse{Deleted: 2}),
		`response id=7 DeleteRange status=OK rev=42 member=3 term=5 deleted=2`},
	{"txn response", resp(api.OpTxn, api.CodeOK, &api.TxnResponse{Succeeded: true, Responses: []api.TxnOpResponse{{Put: &api.PutResponse{}}}}),
		`response id=7 Txn status=OK rev=42 member=3 term=5 succeeded results=1`},
	{"lease grant response", resp(api.OpLeaseGrant, api.CodeOK, &api.LeaseGrantResponse{ID: 3, TTL: 5}),
		`response id=7 LeaseGrant status=OK rev=42 member=3 term=5 lease=3 ttl=5`},
	{"keep-alive response", resp(api.OpLeaseKeepAlive, api.CodeOK, &api.LeaseKeepAliveResponse{ID: 3, TTL: 5}),
		`response id=7 LeaseKeepAlive status=OK rev=42 member=3 term=5 lease=3 ttl=5`},
	{"watch create response", resp(api.OpWatchCreate, api.CodeOK, &api.WatchCreateResponse{WatchID: 2}),
		`response id=7 WatchCreate status=OK rev=42 member=3 term=5 watch=2`},
	{"member response", resp(api.OpMemberList, api.CodeOK, &api.MemberResponse{ForOp: api.OpMemberList, Members: []api.Member{{ID: 1}, {ID: 6, Learner: true}}}),
		`response id=7 MemberList status=OK rev=42 member=3 term=5 members=[1 6(learner)]`},
	{"not leader", api.MustEncode(&api.Response{ID: 7, Op: api.OpPut, Err: api.CodeNotLeader, Leader: 2, Detail: "try 2",
		Header: api.Header{Revision: 1, Member: 3, RaftTerm: 5}}),
		`response id=7 Put status=NotLeader rev=1 member=3 term=5 leader=2 detail="try 2"`},
	{"watch events", api.MustEncode(&api.WatchEvents{ID: 9, WatchID: 2, Seq: 4, Header: api.Header{Revision: 50, Member: 1}, Events: []api.Event{
		{Type: api.EventPut, KV: api.KeyValue{Key: []byte("/k/1"), Value: []byte("v"), ModRevision: 49}},
		{Type: api.EventDelete, KV: api.KeyValue{Key: []byte("/k/2"), ModRevision: 50}}}}),
		`watch-events id=9 watch=2 seq=4 rev=50 member=1 events=2 [put /k/1="v"@49, delete /k/2@50]`},
	{"watch canceled", api.MustEncode(&api.WatchEvents{ID: 9, WatchID: 2, Seq: 5, Canceled: true, Err: api.CodeCompacted, CompactRevision: 30, Header: api.Header{Revision: 50, Member: 1}}),
		`watch-events id=9 watch=2 seq=5 rev=50 member=1 canceled status=Compacted compact=30 events=0`},
	{"client garbage", []byte{byte(api.EnvelopeClient), 1, 1}, `undecodable client len=3`},
}

func TestTraceDecoderMessages(t *testing.T) {
	for _, tc := range traceMessageCases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(TraceDecoder{}.AppendMessage([]byte("x "), 1, 2, tc.payload))
			require.Equal(t, "x "+tc.want, got)
		})
	}
}

func TestTraceDecoderRecords(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		payload    []byte
		want       string
	}{
		{"call", "call", record(api.OpPut, 17, 0), "Put op=17"},
		{"return ok", "return", record(api.OpPut, 17, 258<<8), "Put op=17 rev=258 status=OK"},
		{"return error", "return", record(api.OpRange, 18, 1<<8|int64(api.CodeCompacted)), "Range op=18 rev=1 status=Compacted"},
		{"timeout", "timeout", record(api.OpTxn, 19, 0), "Txn op=19"},
		{"keep-alive call", "call", record(api.OpLeaseKeepAlive, -1, 55), "LeaseKeepAlive lease=55"},
		{"compact call", "call", record(api.OpCompact, -1, 30), "Compact rev=30"},
		{"compact return", "return", record(api.OpCompact, -1, 30), "Compact rev=30"},
		{"move leader call", "call", record(api.OpMoveLeader, -1, 2), "MoveLeader target=2"},
		{"fault text", "fault/partition", []byte("split 1,2|3,4,5"), "split 1,2|3,4,5"},
		{"no payload", "heal/all", nil, ""},
		{"binary fault payload", "fault/x", []byte{0, 1}, "undecodable record len=2"},
		{"truncated call", "call", []byte{byte(api.OpPut), 0x80}, "undecodable record len=2"},
		{"call with trailing bytes", "call", append(record(api.OpPut, 1, 0), 0), "undecodable record len=4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, string(TraceDecoder{}.AppendRecord(nil, tc.kind, 1001, tc.payload)))
		})
	}
}

// TestTraceDecoderCodeNames fails when the api grows an error code the
// decoder cannot name.
func TestTraceDecoderCodeNames(t *testing.T) {
	require.Equal(t, "ErrorCode(14)", api.ErrorCode(14).String(), "a new api error code: add it to codeNames")
	for c := range api.ErrorCode(14) {
		require.NotContains(t, codeName(c), "code", "code %d", c)
	}
}

// FuzzTraceDecoder feeds the decoder untrusted bytes as a message and as
// every kind of record: it must never panic, and must never break a line.
func FuzzTraceDecoder(f *testing.F) {
	for _, tc := range traceMessageCases {
		f.Add(tc.payload)
	}
	f.Add(record(api.OpPut, 3, 1<<8))
	f.Fuzz(func(t *testing.T, p []byte) {
		var d TraceDecoder
		out := d.AppendMessage(nil, 1, 2, p)
		for _, kind := range []string{"call", "return", "timeout", "fault/x"} {
			out = d.AppendRecord(out, kind, 1, p)
		}
		if bytes.IndexByte(out, '\n') >= 0 {
			t.Fatalf("decoded text breaks the line: %q", out)
		}
	})
}

// traceLine is what the filter test reads back from a line of trace text.
type traceLine struct {
	at         time.Duration
	node, peer uint64
	kind       string
}

func parseTraceLine(t *testing.T, line string) traceLine {
	f := strings.Fields(line)
	require.GreaterOrEqual(t, len(f), 3, line)
	at, err := time.ParseDuration(f[0])
	require.NoError(t, err, line)
	node, err := strconv.ParseUint(strings.TrimPrefix(f[1], "node="), 10, 64)
	require.NoError(t, err, line)
	l := traceLine{at: at, node: node, kind: f[2]}
	if len(f) > 3 && (strings.HasPrefix(f[3], "to=") || strings.HasPrefix(f[3], "from=")) {
		_, v, _ := strings.Cut(f[3], "=")
		l.peer, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, line)
	}
	return l
}

// runTrace runs seed with a decoded trace under filter and returns the
// text and the trace hash.
func runTrace(t *testing.T, seed uint64, filter sim.TraceFilter) (string, uint64) {
	var buf bytes.Buffer
	cfg := DefaultConfig()
	cfg.TraceWriter, cfg.TraceFilter = &buf, filter
	res := Run(cfg, seed)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	return buf.String(), res.TraceHash
}

// TestDecodedTraceOfSeeds runs whole seeds: the decoded trace is the same
// text twice over, decodes every message the cluster sends, leaves the
// trace hash what it is without a trace, and the filters keep exactly the
// lines the documented rule selects.
func TestDecodedTraceOfSeeds(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		full, hash := runTrace(t, seed, sim.TraceFilter{})
		again, hash2 := runTrace(t, seed, sim.TraceFilter{})
		require.Equal(t, full, again, "seed %d: same seed, same decoded trace", seed)
		require.Equal(t, hash, hash2)
		require.Equal(t, hash, Run(DefaultConfig(), seed).TraceHash, "a trace must not change the hash")
		require.NotContains(t, full, "undecodable", "seed %d: the decoder knows everything the cluster sends", seed)
		for _, kind := range []string{" MsgApp term=", " request id=", " response id=", " write file=", " sync file=", " episode "} {
			require.Contains(t, full, kind, "seed %d", seed)
		}

		filter := sim.TraceFilter{From: 2 * time.Second, To: 5 * time.Second, Nodes: []host.NodeID{2, firstClient + 3}}
		got, fhash := runTrace(t, seed, filter)
		require.Equal(t, hash, fhash, "a filter must not change the hash")
		var want strings.Builder
		for _, line := range strings.SplitAfter(full, "\n") {
			if line == "" {
				continue
			}
			l := parseTraceLine(t, line)
			in := func(id uint64) bool { return id == 2 || id == uint64(firstClient+3) }
			keep := l.at >= filter.From && l.at < filter.To &&
				(in(l.node) || in(l.peer) || l.node == 0 && l.kind != "timer")
			if keep {
				want.WriteString(line)
			}
		}
		require.NotEmpty(t, want.String())
		require.Equal(t, want.String(), got, "seed %d: filtered lines", seed)
	}
}
