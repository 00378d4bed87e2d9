package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

func peerMsg(m raft.Message) []byte { return api.WrapPeer(m.Marshal()) }

// A vote goes out only once the term and vote it carries are durable on
// its sender; a later durable term covers it too.
func TestDurableVoteCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		term, vote uint64 // synced before the message, if term > 0
		msg        raft.Message
		want       string
	}{
		{"grant after sync", 3, 1, raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3}, ""},
		{"grant before sync", 2, 0, raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3},
			"durability order: replica 2 granted its vote in term 3 (to 1)"},
		{"grant for another candidate", 3, 4, raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3},
			"before its vote for 1 in that term was durable (durable: term 3, vote 4)"},
		{"a later durable term covers it", 4, 5, raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3}, ""},
		{"rejection", 0, 0, raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3, Reject: true}, ""},
		{"pre-vote is not durable", 0, 0, raft.Message{Type: raft.MsgPreVoteResp, From: 2, To: 1, Term: 3}, ""},
		{"campaign after sync", 3, 2, raft.Message{Type: raft.MsgVote, From: 2, To: 1, Term: 3}, ""},
		{"campaign before sync", 2, 2, raft.Message{Type: raft.MsgVote, From: 2, To: 1, Term: 3},
			"durability order: replica 2 asked for votes in term 3 (to 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			if tc.term > 0 {
				s.Synced(2, tc.term, tc.vote)
			}
			s.onSend(host.NodeID(tc.msg.From), host.NodeID(tc.msg.To), peerMsg(tc.msg))
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

// An acknowledgement must be reported durable by the end of the event
// that sent it; if its replica crashed first, its restart must find the
// entry.
func TestDurableAckCheck(t *testing.T) {
	ack := peerMsg(raft.Message{Type: raft.MsgAppResp, From: 2, To: 1, Term: 3, Index: 7})
	other := peerMsg(raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 3, Term: 3})
	t.Run("durable in the same event", func(t *testing.T) {
		s, rec := newTestChecker()
		s.DurableLog(2, 5, 3)
		s.onSend(2, 1, ack)
		s.DurableLog(2, 7, 3)
		s.onDeliver(1, 3, other)
		require.Empty(t, rec.fails)
	})
	t.Run("durable before", func(t *testing.T) {
		s, rec := newTestChecker()
		s.DurableLog(2, 9, 3)
		s.onSend(2, 1, ack)
		s.onDeliver(1, 3, other)
		require.Empty(t, rec.fails)
	})
	t.Run("not durable when the next event begins", func(t *testing.T) {
		s, rec := newTestChecker()
		s.DurableLog(2, 5, 3)
		s.onSend(2, 1, ack)
		s.onDeliver(1, 3, other)
		require.Len(t, rec.fails, 1)
		require.Contains(t, rec.fails[0], "durability order: replica 2 acknowledged index 7 to 1 at 1s before it was durable (its durable log ends at 5)")
	})
	for _, tc := range []struct {
		name string
		last uint64
		want bool
	}{{"crashed and kept it", 7, false}, {"crashed and lost it", 6, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			s.running = func(id host.NodeID) bool { return id != 2 }
			s.onSend(2, 1, ack)
			s.onDeliver(1, 3, other)
			require.Empty(t, rec.fails)
			s.Booted(2, recovered(3, 1, 0, 1, make([]uint64, tc.last)...))
			if !tc.want {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], "acknowledged index 7 to 1 at 1s before it was durable, and restarted at 1s with its log ending at 6")
		})
	}
	t.Run("an ack of a term the replica durably left", func(t *testing.T) {
		// Raft drops such acks (TestNoAckForReplacedEntries); one that
		// still goes out vouches for entries the replica does not hold.
		s, rec := newTestChecker()
		s.DurableLog(2, 5, 3)
		s.Synced(2, 4, 0)
		s.onSend(2, 1, ack) // of term 3, for entries a term-4 append replaced
		s.onDeliver(1, 3, other)
		require.Len(t, rec.fails, 1)
		require.Contains(t, rec.fails[0], "acknowledged index 7 to 1 at 1s before it was durable")
	})
	t.Run("damaged storage forgets it", func(t *testing.T) {
		s, rec := newTestChecker()
		s.onSend(2, 1, ack)
		s.Damaged(2, "corrupt")
		s.onDeliver(1, 3, other)
		require.Empty(t, rec.fails)
	})
}

// hasty is a replica that acknowledges every append as it arrives, before
// its node has even written the entries.
type hasty struct {
	*node.Node
	h host.Host
}

func (p *hasty) Receive(from host.NodeID, b []byte) {
	if env, body, err := api.SplitEnvelope(b); err == nil && env == api.EnvelopePeer {
		var m raft.Message
		if m.Unmarshal(body) == nil && m.Type == raft.MsgApp && len(m.Entries) > 0 {
			ack := raft.Message{Type: raft.MsgAppResp, From: m.To, To: m.From, Term: m.Term,
				Index: m.Index + uint64(len(m.Entries))}
			p.h.Send(from, peerMsg(ack))
		}
	}
	p.Node.Receive(from, b)
}

// A replica that acknowledges appends before they are durable is named by
// the wire check in a fault-free run, without any crash landing in the
// window.
func TestDurabilityOrderCatchesHastyAcks(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Nodes, cfg.Faults = 3, "none"
	cfg.ObservedCluster = func(obs node.Observer) ReplicaFunc {
		honest := nodeReplica(DefaultScenario().Raft, obs)
		return func(h host.Host, peers []host.NodeID) host.Process {
			n := honest(h, peers).(*node.Node)
			if h.ID() == 3 {
				return &hasty{Node: n, h: h}
			}
			return n
		}
	}
	r := firstFailure(t, cfg, 5, "durability order:")
	require.Regexp(t, `^durability order: replica 3 acknowledged index \d+ to \d at .* before it was durable \(its durable log ends at \d+\)$`, r.Reason)
}
