package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// wipe makes node id of the test cluster lose its durable state: it
// restarts on an empty log in recovery, its vote floor at its last durable
// term (what the node keeps in a second copy of its hard state), in its
// next incarnation (Config.Epoch).
func (c *cluster) wipe(id uint64) {
	old := c.nodes[id]
	hs, _, err := old.storage.InitialState()
	require.NoError(c.t, err)
	s := NewMemoryStorage()
	cfg := c.config(id, s)
	cfg.Recovering, cfg.VoteFloor, cfg.Epoch = true, hs.Term, old.cfg.Epoch+1
	rn, err := NewRawNode(cfg)
	require.NoError(c.t, err)
	c.nodes[id] = &testNode{id: id, rn: rn, storage: s, cfg: cfg}
}

// restartWith restarts node id from its storage with cfg's recovery
// settings (the durable recovery mark).
// healAndWrite heals the cluster, waits for a leader, commits a write
// "after" through it, and requires that replica recovered has left
// recovery by then.
func (c *cluster) healAndWrite(recovered uint64) {
	c.heal()
	c.tickAll(50)
	lead := c.leader()
	require.NotZero(c.t, lead)
	require.NoError(c.t, c.propose(lead, "after"))
	c.tickAll(5)
	require.False(c.t, c.nodes[recovered].rn.Recovering(), "%d did not leave recovery", recovered)
}

func (c *cluster) restartWith(id uint64, recovering bool, floor uint64) {
	n := c.nodes[id]
	cfg := c.config(id, n.storage)
	snap, _ := n.storage.Snapshot()
	cfg.Applied = snap.Meta.Index
	cfg.Recovering, cfg.VoteFloor, cfg.Epoch = recovering, floor, n.cfg.Epoch
	rn, err := NewRawNode(cfg)
	require.NoError(c.t, err)
	c.nodes[id] = &testNode{id: id, rn: rn, storage: n.storage, cfg: cfg, lastApp: snap.Meta.Index,
		applied: decodeSM(snap.Data), cs: snap.Meta.ConfState}
}

// A replica that lost entries it acknowledged grants no vote until it has
// caught up with a leader: otherwise a candidate lacking an entry
// committed with the lost acknowledgement could win with its vote. Here
// "e" is committed by 1 and 3; 3 loses it, gets only the leader's
// bootstrap snapshot back (its appends are lost), and 1 dies: 2, which
// lacks "e", must not be elected. Once 1 is back, 3 catches up (1 sends
// what 3 lost, told by 3's heartbeat answers) and leaves recovery.
func TestRecoveringNodeVotesOnlyOnceCaughtUp(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	c.isolate(2)
	require.NoError(t, c.propose(1, "e"))
	require.Equal(t, []string{"a", "e"}, c.appliedData(1))

	c.wipe(3)
	require.True(t, c.nodes[3].rn.Recovering())
	c.drop = func(m Message) bool { return m.From == 1 && m.To == 3 && m.Type == MsgApp }
	c.tickAll(3) // heartbeats: 3 says its log is empty, 1 sends its snapshot
	require.Equal(t, uint64(1), c.nodes[3].storage.lastIndex(), "3 holds the bootstrap snapshot only")
	require.True(t, c.nodes[3].rn.Recovering())

	c.heal()
	c.isolate(1)
	c.tickOnly(100, 2, 3)
	for _, id := range []uint64{2, 3} {
		require.NotEqual(t, RoleLeader, c.status(id).Role, "elected with the vote of a replica that lost committed entries")
	}

	c.healAndWrite(3)
	require.Equal(t, []string{"e", "after"}, c.appliedData(3)[len(c.appliedData(3))-2:])
	c.checkApplied()
}

// After recovery the vote floor stays: a replica that voted in term 2,
// lost its state, recovered in term 2 and restarted (so it knows no
// leader and no vote in term 2) must not grant a second vote in term 2.
func TestVoteFloorHoldsAfterRecovery(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1) // 3 votes for 1 in term 2
	require.NoError(t, c.propose(1, "a"))
	c.wipe(3)
	c.tickAll(5)
	require.False(t, c.nodes[3].rn.Recovering(), "3 did not leave recovery")
	require.Equal(t, uint64(2), c.status(3).Term)

	c.restartWith(3, false, 2)
	require.Equal(t, None, c.status(3).Vote)
	n3 := c.nodes[3]
	require.NoError(t, n3.rn.Step(Message{Type: MsgVote, From: 2, To: 3, Term: 2, Index: 100, LogTerm: 2}))
	require.NoError(t, n3.rn.Step(Message{Type: MsgPreVote, From: 2, To: 3, Term: 2, Index: 100, LogTerm: 2}))
	for n3.rn.HasReady() {
		rd := n3.rn.Ready()
		for _, m := range append(rd.Messages, rd.MessagesAfterPersist...) {
			require.False(t, (m.Type == MsgVoteResp || m.Type == MsgPreVoteResp) && !m.Reject,
				"a second vote in term 2: %+v", m)
		}
		c.persist(n3, rd)
		n3.rn.Advance()
	}
	// Above the floor it votes as usual.
	require.NoError(t, n3.rn.Step(Message{Type: MsgVote, From: 2, To: 3, Term: 3, Index: 100, LogTerm: 2}))
	rd := n3.rn.Ready()
	require.Contains(t, rd.MessagesAfterPersist, Message{Type: MsgVoteResp, From: 3, To: 2, Term: 3})
}

// TestRecoveryRaisesTermToFloor: a recovering node caught up with a leader
// of a term below its vote floor raises its term to the floor (and stays
// in recovery) instead of waiting for good for an election the stable
// leader never needs; its next answer deposes that leader. (simrun seed
// 76: the floor was 6, the cluster stayed at term 5.)
func TestRecoveryRaisesTermToFloor(t *testing.T) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(Config{ID: 3, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Rand: newTestRand(),
		PreVote: true, CheckQuorum: true, Recovering: true, VoteFloor: 6})
	require.NoError(t, err)
	require.NoError(t, rn.Step(Message{Type: MsgApp, From: 2, To: 3, Term: 5, Index: 0, LogTerm: 0,
		Entries: []Entry{{Index: 1, Term: 5}}, Commit: 1}))
	rd := rn.Ready()
	require.NoError(t, s.Append(rd.Entries))
	require.NoError(t, s.SetHardState(rd.HardState))
	require.Len(t, rd.CommittedEntries, 1)
	rn.Advance()
	require.Equal(t, uint64(6), rn.Status().Term, "caught up with a leader below the floor")
	require.True(t, rn.Recovering(), "recovery ends only with a leader at or above the floor")
	require.NoError(t, rn.Step(Message{Type: MsgHeartbeat, From: 2, To: 3, Term: 5, Commit: 1}))
	rd = rn.Ready()
	var told bool
	for _, m := range append(rd.Messages, rd.MessagesAfterPersist...) {
		told = told || (m.To == 2 && m.Term == 6)
	}
	require.True(t, told, "the leader of term 5 hears of term 6: %+v", rd)
}

// A follower's acknowledgement sent before it lost its durable state must
// not count once it lost the entries: here 3 acknowledges "e" (index 4)
// to leader 1, the acknowledgement is held up in the network, 3 loses its
// storage and catches up with 1 up to index 3 only (the MsgApps that
// reach it end at 3, as one sent before "e" was proposed would), which
// without incarnations ends its recovery: the late acknowledgement then
// made 1 commit "e" with 3's help, and once 1 died, 3 voted for 2, which
// lacks "e": an acknowledged write lost. The acknowledgement is of 3's
// epoch 0; 3 runs in epoch 1. Variants: 1 hears 3's new acknowledgements
// first; or it hears none of them (3 catches up on 1's answers to its
// heartbeat answers), where only the echo of 3's epoch, which 3 waits
// for before it leaves recovery, saves "e".
func TestStaleAckOfEarlierIncarnationNotCounted(t *testing.T) {
	for _, variant := range []string{"new-acks-heard", "new-acks-lost"} {
		t.Run(variant, func(t *testing.T) {
			c := newCluster(t, 3, nil)
			c.campaign(1)
			require.NoError(t, c.propose(1, "a")) // index 3
			c.isolate(2)
			var stale *Message
			c.drop = func(m Message) bool {
				if m.From == 3 && m.To == 1 && m.Type == MsgAppResp && m.Index == 4 && !m.Reject && stale == nil {
					stale = &m // held up in the network
					return true
				}
				return false
			}
			require.NoError(t, c.propose(1, "e")) // index 4: 3 acknowledges it
			require.NotNil(t, stale)
			require.Equal(t, uint64(3), c.status(1).Commit, "only 1 and 3 hold e, and 1 did not hear 3")

			c.wipe(3)
			c.rewrite = func(m *Message) {
				if m.Type == MsgApp && m.To == 3 {
					m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e Entry) bool { return e.Index >= 4 })
					m.Commit = min(m.Commit, 3)
				}
			}
			c.drop = func(m Message) bool {
				return variant == "new-acks-lost" && m.From == 3 && m.Type == MsgAppResp
			}
			for range 3 {
				c.tickAll(1)
				// The node reports each snapshot it sent (here: delivered).
				c.nodes[1].rn.ReportSnapshot(3, true)
				c.stabilize()
			}
			if !c.nodes[3].rn.Recovering() {
				require.Equal(t, uint64(3), c.nodes[3].storage.lastIndex(), "3 caught up to 3 and left recovery")
			}
			// The late acknowledgement arrives.
			require.NoError(t, c.nodes[1].rn.Step(*stale))
			c.stabilize()
			c.tickAll(3)

			// 1 dies; 2 and 3 must not elect a leader without e if e
			// was committed.
			eCommitted := c.status(1).Commit >= 4
			c.heal()
			c.isolate(1)
			c.tickOnly(100, 2, 3)
			for _, id := range []uint64{2, 3} {
				if eCommitted && c.status(id).Role == RoleLeader {
					term, err := c.nodes[id].storage.Term(4)
					require.True(t, err == nil && term == 2,
						"%d elected without e, which 1 committed with 3's acknowledgement of an earlier incarnation", id)
				}
			}
			c.healAndWrite(3)
			c.checkApplied()
			if eCommitted {
				require.Contains(t, c.appliedData(2), "e")
			}
		})
	}
}
