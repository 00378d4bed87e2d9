package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/raft"
)

// Classify and the safety checker's reading with the memo give what
// decoding gives, for a payload seen
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
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2, Entries: []raft.Entry{{Term: 2, Index: 8, Data: make([]byte, peerMemoMax)}}},
	}
	with := nodeProtocol{memo: &peerMemo{}}
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
			require.Equal(t, readPeerInfo(p), *with.memo.read(p).peek(p), "round %d, payload %d", round, i)
			h := with.memo.read(p)
			wantH, wantOK := readPeerHeader(p)
			require.Equal(t, wantH, h.hdr)
			require.Equal(t, wantOK, h.hdrOK)
			seen[want] = true
		}
	}
	require.Len(t, seen, 6, "the payloads cover six moments: %v", seen)

	// Evicted: another payload took the slot; the answer is decoded again.
	p := payloads[0]
	ack := peerMsg(msgs[3])
	buf := make([]byte, 8*peerMemoSlots+len(ack))
	var other []byte
	for off := 0; off < 8*peerMemoSlots; off++ {
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
	}{{"decode", nodeProtocol{}}, {"memo", nodeProtocol{memo: &peerMemo{}}}} {
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

// classifyDecoded is classifyPeer as it was before raft.Peek: a full
// decode of the message, then its entries' types.
func classifyDecoded(payload []byte) faults.Moment {
	var m raft.Message
	if m.UnmarshalShared(payload[1:]) != nil {
		return faults.MomentOther
	}
	switch m.Type {
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		return faults.MomentVoteResponse
	case raft.MsgAppResp:
		return faults.MomentAppendResponse
	case raft.MsgApp:
		for i := range m.Entries {
			if m.Entries[i].Type == raft.EntryConfChange {
				return faults.MomentConfAppend
			}
		}
		if len(m.Entries) > 0 {
			return faults.MomentAppend
		}
	case raft.MsgSnap:
		return faults.MomentSnapshot
	case raft.MsgHeartbeatResp:
		return faults.MomentHeartbeatResponse
	case raft.MsgTimeoutNow:
		return faults.MomentTimeoutNow
	case raft.MsgVote:
		return faults.MomentVoteRequest
	}
	return faults.MomentOther
}

// readPeerInfo agrees with decoding the message: the moment is the one a
// full decode gives, the header is readPeerHeader's, and msgOK says
// whether UnmarshalShared succeeds, for well-formed payloads and for
// every truncation and single-byte change of them.
func TestReadPeerInfoAgreesWithDecoding(t *testing.T) {
	snap := raft.BootstrapSnapshot([]uint64{1, 2, 3}, nil)
	msgs := []raft.Message{
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2, LogTerm: 2, Index: 6, Commit: 5, Entries: []raft.Entry{
			{Term: 2, Index: 7, Data: []byte("x")}, {Term: 2, Index: 8, Type: raft.EntryConfChange, Data: []byte("cc")}}},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 300, Index: 70000, Entries: []raft.Entry{{Term: 300, Index: 70001, Data: []byte("y")}}},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 2},
		{Type: raft.MsgAppResp, To: 1, From: 2, Term: 2, Index: 7},
		{Type: raft.MsgAppResp, To: 1, From: 2, Term: 2, Index: 7, Reject: true, RejectHint: 3},
		{Type: raft.MsgVote, To: 1, From: 2, Term: 3, LogTerm: 2, Index: 9},
		{Type: raft.MsgVoteResp, To: 1, From: 2, Term: 3},
		{Type: raft.MsgPreVoteResp, To: 1, From: 2, Term: 4, Reject: true},
		{Type: raft.MsgHeartbeat, To: 2, From: 1, Term: 2, Commit: 9, Context: []byte("ctx")},
		{Type: raft.MsgHeartbeatResp, To: 1, From: 2, Term: 2},
		{Type: raft.MsgTimeoutNow, To: 2, From: 1, Term: 2},
		{Type: raft.MsgSnap, To: 2, From: 1, Term: 2, Snapshot: &snap},
	}
	check := func(p []byte) {
		in := readPeerInfo(p)
		var m raft.Message
		require.Equal(t, m.UnmarshalShared(p[1:]) == nil, in.msgOK, "payload %x", p)
		require.Equal(t, classifyDecoded(p), in.moment, "payload %x", p)
		hdr, ok := readPeerHeader(p)
		require.Equal(t, ok, in.hdrOK, "payload %x", p)
		require.Equal(t, hdr, in.hdr, "payload %x", p)
		if in.msgOK {
			require.True(t, in.hdrOK)
			require.Equal(t, peerHeader{typ: m.Type, reject: m.Reject, to: m.To, from: m.From, term: m.Term,
				logTerm: m.LogTerm, index: m.Index}, in.hdr)
		}
	}
	moments := map[faults.Moment]bool{}
	for _, m := range msgs {
		p := peerMsg(m)
		require.True(t, readPeerInfo(p).msgOK, "%v", m.Type)
		moments[readPeerInfo(p).moment] = true
		for n := 1; n <= len(p); n++ {
			check(p[:n])
		}
		for i := 1; i < len(p); i++ {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				q := append([]byte(nil), p...)
				q[i] ^= x
				check(q)
			}
		}
	}
	require.Len(t, moments, 9, "the messages cover nine moments: %v", moments)
}
