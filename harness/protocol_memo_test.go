package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/raft"
)

// Classify with the memo gives what decoding gives, for a payload seen
// for the first time, seen again (a delivery), a different payload at
// the same address (a shorter slice of it), one evicted from its slot,
// and payloads the memo does not keep.
func TestClassifyMemoAgreesWithDecoding(t *testing.T) {
	ent := func(typ raft.EntryType) raft.Entry {
		return raft.Entry{Term: 2, Index: 7, Type: typ, Data: []byte("x")}
	}
	msgs := []raft.Message{
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2, Entries: []raft.Entry{ent(raft.EntryNormal)}},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2, Entries: []raft.Entry{ent(raft.EntryNormal), ent(raft.EntryConfChange)}},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2},
		{Type: raft.MsgAppResp, To: 1, From: 2, Term: 2, Index: 7},
		{Type: raft.MsgVoteResp, To: 1, From: 2, Term: 3},
		{Type: raft.MsgHeartbeat, To: 2, From: 1, Term: 2},
		{Type: raft.MsgHeartbeatResp, To: 1, From: 2, Term: 2},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2, Entries: []raft.Entry{{Term: 2, Index: 8, Data: make([]byte, classMemoMax)}}},
	}
	with := nodeProtocol{memo: &classMemo{}}
	without := nodeProtocol{}
	var payloads [][]byte
	for _, m := range msgs {
		payloads = append(payloads, peerMsg(m))
	}
	// A truncated copy shares the first byte's address but not the
	// message: it must not get the whole payload's moment.
	payloads = append(payloads, payloads[1][:len(payloads[1])-2], []byte{byte(api.EnvelopePeer)})
	seen := map[faults.Moment]bool{}
	for round := range 3 {
		for i, p := range payloads {
			want := without.Classify(p)
			require.Equal(t, want, with.Classify(p), "round %d, payload %d", round, i)
			seen[want] = true
		}
	}
	require.Len(t, seen, 6, "the payloads cover six moments: %v", seen)

	// Evicted: another payload took the slot; the answer is decoded again.
	p := payloads[0]
	ack := peerMsg(msgs[3])
	buf := make([]byte, 8*classMemoSlots+len(ack))
	var other []byte
	for off := 0; off < 8*classMemoSlots; off++ {
		if c := buf[off : off+len(ack)]; with.memo.slot(c) == with.memo.slot(p) {
			other = c
			break
		}
	}
	require.NotNil(t, other, "some offset falls in p's slot")
	copy(other, ack)
	require.Equal(t, faults.MomentAppendResponse, with.Classify(other))
	require.Equal(t, faults.MomentAppend, with.Classify(p))
}

// BenchmarkClassify classifies an append when it is sent and when it is
// delivered (a new payload each time, as each send is), with and without
// the memo, in ns/payload.
func BenchmarkClassify(b *testing.B) {
	m := raft.Message{Type: raft.MsgApp, To: 2, From: 1, Term: 2, Index: 1000, LogTerm: 2, Commit: 999,
		Entries: []raft.Entry{{Term: 2, Index: 1001, Data: make([]byte, 60)}, {Term: 2, Index: 1002, Data: make([]byte, 60)}}}
	p := peerMsg(m)
	for _, c := range []struct {
		name string
		np   nodeProtocol
	}{{"decode", nodeProtocol{}}, {"memo", nodeProtocol{memo: &classMemo{}}}} {
		b.Run(c.name, func(b *testing.B) {
			sent := make([][]byte, 64)
			for i := range sent {
				sent[i] = append([]byte(nil), p...)
			}
			i := 0
			for b.Loop() {
				q := sent[i%len(sent)]
				i++
				if c.np.memo != nil {
					c.np.memo.p[c.np.memo.slot(q)] = nil // a fresh send
				}
				// Classified twice, as the nemesis does: once at the send and
				// once at the delivery.
				for range 2 {
					if c.np.Classify(q) != faults.MomentAppend {
						b.Fatal("not an append")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/payload")
		})
	}
}
