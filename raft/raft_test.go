package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestElectionAndReplication(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.Equal(t, RoleLeader, c.status(1).Role)
	for _, id := range []uint64{2, 3} {
		require.Equal(t, RoleFollower, c.status(id).Role)
		require.Equal(t, uint64(1), c.status(id).Lead)
	}
	require.NoError(t, c.propose(1, "a"))
	require.NoError(t, c.propose(2, "b")) // forwarded to the leader
	for _, id := range c.ids {
		require.Equal(t, []string{"a", "b"}, c.appliedData(id))
	}
}

func TestElectionByTimeout(t *testing.T) {
	c := newCluster(t, 5, nil)
	c.tickAll(40)
	lead := c.leader()
	require.NotZero(t, lead)
	require.NoError(t, c.propose(lead, "x"))
	for _, id := range c.ids {
		require.Equal(t, []string{"x"}, c.appliedData(id))
	}
}

func TestSingleNode(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.campaign(1)
	require.Equal(t, RoleLeader, c.status(1).Role)
	require.NoError(t, c.propose(1, "solo"))
	require.Equal(t, []string{"solo"}, c.appliedData(1))
}

// The up-to-date restriction: a node whose log is behind cannot win.
func TestVoteRequiresUpToDateLog(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.heal()
	c.isolate(1)
	// 3 lacks "a": 2 must refuse its vote, so 3 cannot win.
	c.campaign(3)
	require.NotEqual(t, RoleLeader, c.status(3).Role)
	c.campaign(2)
	require.Equal(t, RoleLeader, c.status(2).Role)
}

// A leader only commits entries of its own term by counting replicas:
// the scenario of Figure 8 in the Raft paper.
func TestFigure8(t *testing.T) {
	c := newCluster(t, 5, func(cfg *Config) { cfg.MaxSizePerMsg = 1 })
	c.campaign(1) // term 2, empty entry at index 2 committed everywhere
	require.Equal(t, uint64(2), c.status(1).Commit)

	// (a) 1 replicates "a" (index 3, term 2) to 2 only.
	c.isolate(3)
	c.isolate(4)
	c.isolate(5)
	require.NoError(t, c.propose(1, "a"))
	require.Equal(t, uint64(2), c.status(1).Commit)

	// (b) 1 crashes; 5 wins term 3 with 3 and 4 and appends index 3 of
	// term 3, which reaches nobody.
	c.heal()
	c.isolate(1)
	c.isolate(2)
	c.drop = func(m Message) bool { return m.Type == MsgApp && m.From == 5 }
	c.campaign(5)
	require.Equal(t, RoleLeader, c.status(5).Role)
	require.Equal(t, uint64(3), c.status(5).Term)

	// (c) 5 crashes; 1 comes back and wins term 4 (needs two tries: 3
	// and 4 already voted in term 3).
	c.heal()
	c.restart(1)
	c.isolate(5)
	// 1 may send its old entry (index 3, term 2) but not the new one of
	// term 4 to 3 and 4: strip it from the appends in flight.
	c.rewrite = func(m *Message) {
		if m.Type != MsgApp || m.From != 1 || (m.To != 3 && m.To != 4) {
			return
		}
		for i, e := range m.Entries {
			if e.Index >= 4 {
				m.Entries = m.Entries[:i]
				return
			}
		}
	}
	for c.status(1).Role != RoleLeader {
		c.campaign(1)
	}
	require.Equal(t, uint64(4), c.status(1).Term)
	c.stabilize()
	// Index 3 (term 2) is now on 1, 2, 3 and 4: a majority. It must still
	// not be committed: it is not of the leader's term, and 5 (whose index
	// 3 has term 3) could still win and overwrite it.
	for _, id := range []uint64{3, 4} {
		term, err := c.nodes[id].storage.Term(3)
		require.NoError(t, err)
		require.Equal(t, uint64(2), term)
	}
	require.Equal(t, uint64(2), c.status(1).Commit, "leader committed an entry of an older term by counting")

	// (d) Show why: 1 crashes, 5 wins with 3 and 4 and overwrites index 3.
	c.heal()
	c.restart(1)
	c.restart(5)
	c.isolate(1)
	c.isolate(2)
	for c.status(5).Role != RoleLeader {
		c.campaign(5)
	}
	require.NoError(t, c.propose(5, "b"))
	c.heal()
	c.tickAll(30)
	c.stabilize()
	c.checkApplied()
	require.Equal(t, []string{"b"}, c.appliedData(1))
}

// Once the leader's entry of its term is replicated, the older one
// commits with it.
func TestCommitOlderEntriesWithCurrentTerm(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(2)
	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.heal()
	c.isolate(1)
	c.campaign(2) // 2 and 3 elect 2; "a" is lost (never committed)
	c.heal()
	c.tickAll(2)
	require.NoError(t, c.propose(2, "b"))
	for _, id := range c.ids {
		require.Equal(t, []string{"b"}, c.appliedData(id))
	}
}

// A node cut off from the others keeps campaigning; with PreVote its term
// does not grow, so when it rejoins it does not depose the leader.
func TestPreVoteDisruptiveRejoin(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		c := newCluster(t, 3, func(cfg *Config) { cfg.PreVote = preVote })
		c.campaign(1)
		term := c.status(1).Term
		c.isolate(3)
		c.tick(3, 100)
		c.heal()
		c.tickAll(1)
		c.stabilize()
		if preVote {
			require.Equal(t, term, c.status(3).Term, "pre-vote must not bump the term")
			require.Equal(t, uint64(1), c.leader())
			require.Equal(t, term, c.status(1).Term)
		} else {
			// Without pre-vote the rejoining node's higher term forces
			// the leader down: the disruption PreVote prevents.
			require.Greater(t, c.status(1).Term, term)
		}
	}
}

// A leader that cannot reach a quorum steps down after an election timeout.
func TestCheckQuorumStepDown(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = true })
	c.campaign(1)
	c.isolate(1)
	c.tick(1, 9)
	require.Equal(t, RoleLeader, c.status(1).Role)
	c.tick(1, 11)
	require.Equal(t, RoleFollower, c.status(1).Role)
}

// Followers that heard from a live leader ignore vote requests (the
// leader lease of CheckQuorum), so a node without PreVote that timed out
// alone cannot depose the leader.
func TestCheckQuorumLeaseRejectsVotes(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = true })
	c.campaign(1)
	c.isolate(3)
	c.tick(3, 30) // 3 campaigns alone, its term grows
	c.heal()
	require.NoError(t, c.nodes[3].rn.Campaign())
	c.stabilize()
	// 2 ignored 3's request: 1 remains the leader of its term for 2 ...
	require.Equal(t, uint64(1), c.status(2).Lead)
	require.NotEqual(t, RoleLeader, c.status(3).Role)
	// ... though 1 eventually learns of the higher term and an election
	// follows; either way there is again exactly one leader.
	c.tickAll(40)
	require.NotZero(t, c.leader())
}

func TestReadIndex(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	c.nodes[1].rn.ReadIndex([]byte("r1"))
	c.stabilize()
	require.Equal(t, []ReadState{{Index: 3, RequestCtx: []byte("r1")}}, c.nodes[1].reads)
	// From a follower: forwarded to the leader.
	c.nodes[2].rn.ReadIndex([]byte("r2"))
	c.stabilize()
	require.Equal(t, []ReadState{{Index: 3, RequestCtx: []byte("r2")}}, c.nodes[2].reads)
}

// A leader cut off from the majority (and unaware of it) must never answer
// a ReadIndex: a new leader may have committed writes it has not seen.
func TestStaleLeaderCannotServeReadIndex(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(1)
	c.campaign(2)
	require.NoError(t, c.propose(2, "new"))
	require.Equal(t, RoleLeader, c.status(1).Role) // stale, does not know
	c.nodes[1].rn.ReadIndex([]byte("stale"))
	c.tick(1, 50)
	c.stabilize()
	require.Empty(t, c.nodes[1].reads)
	// After healing it learns the new term and the request is dropped.
	c.heal()
	c.tickAll(5)
	require.Empty(t, c.nodes[1].reads)
	require.Equal(t, uint64(2), c.leader())
}

// A new leader answers reads only after committing an entry of its term.
func TestReadIndexWaitsForCurrentTermCommit(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	// Elect 2 but hold back its appends so its empty entry does not commit.
	c.drop = func(m Message) bool { return m.Type == MsgApp && m.From == 2 }
	c.campaign(2)
	require.Equal(t, RoleLeader, c.status(2).Role)
	c.nodes[2].rn.ReadIndex([]byte("r"))
	c.stabilize()
	require.Empty(t, c.nodes[2].reads)
	c.drop = nil
	c.tickAll(2)
	require.Len(t, c.nodes[2].reads, 1)
	require.Equal(t, c.status(2).Commit, c.nodes[2].reads[0].Index)
}

func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	for i := range 20 {
		require.NoError(t, c.propose(1, string(rune('a'+i))))
	}
	// The leader (and 2) compact their logs behind a snapshot.
	for _, id := range []uint64{1, 2} {
		n := c.nodes[id]
		_, err := n.storage.CreateSnapshot(n.lastApp, n.cs, encodeSM(n.applied))
		require.NoError(t, err)
		require.NoError(t, n.storage.Compact(n.lastApp))
	}
	c.heal()
	c.tickAll(3)
	require.Equal(t, 1, c.snaps[3], "3 must be caught up by a snapshot")
	require.NoError(t, c.propose(1, "after"))
	require.Equal(t, c.appliedData(1), c.appliedData(3))
	require.Equal(t, "after", c.appliedData(3)[20])
	// And 3 restarts from its storage (snapshot + later entries).
	c.addNode(3, c.nodes[3].storage)
	c.tickAll(3)
	require.Equal(t, c.appliedData(1), c.appliedData(3))
}

func TestLeaderTransfer(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.nodes[1].rn.TransferLeadership(2)
	c.stabilize()
	require.Equal(t, RoleLeader, c.status(2).Role)
	require.Equal(t, uint64(2), c.status(1).Lead)
	require.NoError(t, c.propose(2, "x"))
}

// A transfer to a lagging target first catches it up.
func TestLeaderTransferCatchesUpTarget(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.heal()
	c.nodes[1].rn.TransferLeadership(3)
	c.stabilize()
	require.Equal(t, RoleLeader, c.status(3).Role)
}

func TestLeaderTransferAbort(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.nodes[1].rn.TransferLeadership(3) // 3 is unreachable: cannot complete
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	require.ErrorIs(t, c.nodes[1].rn.Propose([]byte("b")), ErrProposalDropped)
	// Timeout: after an election timeout the transfer is abandoned.
	c.tick(1, 10)
	require.Zero(t, c.status(1).LeadTransferee)
	require.Equal(t, RoleLeader, c.status(1).Role)
	require.NoError(t, c.propose(1, "b"))

	// Explicit abort.
	c.nodes[1].rn.TransferLeadership(3)
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	c.nodes[1].rn.TransferLeadership(None)
	require.Zero(t, c.status(1).LeadTransferee)
	require.NoError(t, c.propose(1, "c"))
	c.heal()
	c.tickAll(3)
	require.Equal(t, uint64(1), c.leader())
	require.Equal(t, []string{"a", "b", "c"}, c.appliedData(3))
}

func (c *cluster) confChange(lead uint64, typ ConfChangeType, id uint64) error {
	err := c.nodes[lead].rn.ProposeConfChange(ConfChange{Type: typ, NodeID: id})
	c.stabilize()
	return err
}

// A brand-new node joins as a learner, is promoted to voter, and a voter
// (the leader itself) is removed.
func TestMembershipChanges(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))

	// Add 4 as a learner: it starts empty and catches up.
	c.addNode(4, NewMemoryStorage())
	require.NoError(t, c.confChange(1, ConfChangeAddLearner, 4))
	c.tickAll(2)
	require.Equal(t, []uint64{4}, c.status(1).ConfState.Learners)
	require.Equal(t, []uint64{4}, c.nodes[4].cs.Learners)
	require.NoError(t, c.propose(1, "b"))
	require.Equal(t, []string{"a", "b"}, c.appliedData(4))

	// Promote it.
	require.NoError(t, c.confChange(1, ConfChangeAddVoter, 4))
	require.Equal(t, []uint64{1, 2, 3, 4}, c.status(1).ConfState.Voters)
	require.Empty(t, c.status(1).ConfState.Learners)
	// Four voters need three for a quorum.
	c.isolate(2)
	c.isolate(3)
	require.NoError(t, c.propose(1, "c"))
	require.Equal(t, []string{"a", "b"}, c.appliedData(1))
	c.heal()
	c.tickAll(2)
	require.Equal(t, []string{"a", "b", "c"}, c.appliedData(4))

	// Remove the leader: it steps down and the others elect a new one.
	require.NoError(t, c.confChange(1, ConfChangeRemoveNode, 1))
	require.NotEqual(t, RoleLeader, c.status(1).Role)
	c.isolate(1)
	c.tickAll(40)
	lead := c.leader()
	require.Contains(t, []uint64{2, 3, 4}, lead)
	require.Equal(t, []uint64{2, 3, 4}, c.status(lead).ConfState.Voters)
	require.NoError(t, c.propose(lead, "d"))
	require.Equal(t, []string{"a", "b", "c", "d"}, c.appliedData(4))
	c.checkApplied()
}

// Single-server changes: one at a time, and not before the leader has
// an entry of its own term applied; invalid changes are refused.
func TestConfChangeRules(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.drop = func(m Message) bool { return m.Type == MsgApp }
	c.campaign(1)
	// Leader, but its empty entry is not yet committed/applied.
	require.Equal(t, RoleLeader, c.status(1).Role)
	err := c.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4})
	require.ErrorIs(t, err, ErrProposalDropped)
	c.drop = nil
	c.tickAll(2)

	// Hold back replication so the first change stays pending.
	c.isolate(2)
	c.isolate(3)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	err = c.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5})
	require.ErrorIs(t, err, ErrProposalDropped)
	c.heal()
	c.stabilize()
	require.Equal(t, []uint64{4}, c.status(1).ConfState.Learners)

	require.ErrorIs(t, c.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 2}),
		ErrInvalidConfChange, "demotion")
	require.ErrorIs(t, c.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 9}),
		ErrInvalidConfChange, "non-member")
}

// Learners receive the log but neither vote, campaign nor count toward
// a quorum.
func TestLearners(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.addNode(4, NewMemoryStorage())
	require.NoError(t, c.confChange(1, ConfChangeAddLearner, 4))
	c.tickAll(2)
	require.NoError(t, c.propose(1, "a"))
	require.Equal(t, []string{"a"}, c.appliedData(4))

	// Leader + learner are not a quorum of {1,2,3}.
	c.isolate(2)
	c.isolate(3)
	require.NoError(t, c.propose(1, "b"))
	require.Equal(t, []string{"a"}, c.appliedData(1))
	// The learner never campaigns.
	c.tick(4, 100)
	require.Equal(t, RoleFollower, c.status(4).Role)
	c.heal()
	c.tickAll(2)
	require.Equal(t, []string{"a", "b"}, c.appliedData(4))
	// A learner cannot be a transfer target.
	c.nodes[1].rn.TransferLeadership(4)
	require.Zero(t, c.status(1).LeadTransferee)
}

// Persisted state survives a restart: term, vote and log.
func TestRestartKeepsState(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	before := c.status(2)
	c.addNode(2, c.nodes[2].storage) // restart 2 from its storage
	after := c.status(2)
	require.Equal(t, before.Term, after.Term)
	require.Equal(t, before.Vote, after.Vote)
	require.Equal(t, before.Commit, after.Commit)
	c.stabilize()
	require.Equal(t, []string{"a"}, c.appliedData(2))
}

// The leader counts its own log only after Advance reports it durable.
func TestLeaderCountsOwnEntriesOnlyWhenPersisted(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	n1 := c.nodes[1]
	require.NoError(t, n1.rn.Propose([]byte("a")))
	rd := n1.rn.Ready()
	c.queue = append(c.queue, rd.Messages...)
	// Deliver the appends and the followers' acks before 1 persists.
	for c.deliverOne() {
	}
	require.Equal(t, uint64(2), n1.rn.Status().Commit,
		"one follower's ack plus the leader's unpersisted copy is not a quorum")
	c.persist(n1, rd)
	c.apply(n1, rd)
	n1.rn.Advance()
	c.stabilize()
	require.Equal(t, []string{"a"}, c.appliedData(1))
}

// A leader that removes itself tells the others the removal is committed
// before it steps down: otherwise they keep the old configuration, which
// counts the departed leader, and one more fault leaves them without a
// quorum for good. Regression for `simrun -nodes 3 -seed 40398` (swarm):
// voters {1,2,3,4}, 3 recovering from corruption, leader 1 applied its own
// removal and was shut down; 2 and 4 never learned the removal was
// committed (the commit broadcast was an append they rejected) and stayed
// pre-candidates needing 3 of {1,2,3,4} forever.
func TestRemovedLeaderTellsCommitBeforeSteppingDown(t *testing.T) {
	c := newCluster(t, 4, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	ccIndex := c.nodes[1].storage.lastIndex() + 1
	// Appends that would carry the commit of the removal are lost.
	c.drop = func(m Message) bool {
		return m.From == 1 && m.Type == MsgApp && m.Commit >= ccIndex
	}
	require.NoError(t, c.confChange(1, ConfChangeRemoveNode, 1))
	require.NotEqual(t, RoleLeader, c.status(1).Role)
	// The removed leader shuts down; 3 is down too. 2 and 4 are a quorum
	// of the new configuration {2,3,4}, not of the old one.
	c.heal()
	c.isolate(1)
	c.isolate(3)
	c.tickAll(60)
	lead := c.leader()
	require.Contains(t, []uint64{2, 4}, lead)
	require.Equal(t, []uint64{2, 3, 4}, c.status(lead).ConfState.Voters)
	require.NoError(t, c.propose(lead, "b"))
	require.Equal(t, []string{"a", "b"}, c.appliedData(lead))
}

// A Ready whose committed entries hold a configuration change must be
// synced even when only the commit index changed: the replica applies the
// change (and acts on it) right after, so after a restart it must not fall
// back to the configuration before. Regression for `simrun -nodes 3
// -faults all -seed 728`: 1, 2 and 4 applied the removal of 3 (and 3 was
// shut down), restarted with the unsynced commit index lost, so with the
// old voters {1,2,3,4}; 1 then recovered from corruption (it grants no
// vote) and 2 and 4 stayed pre-candidates for good. A commit index
// covering normal entries only still needs no sync.
func TestCommittingConfChangeMustSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		cc   bool
	}{{"conf change", true}, {"normal entry", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, nil)
			c.campaign(1)
			next := c.nodes[1].storage.lastIndex() + 1
			// 2 gets the entry but not (yet) word that it committed.
			c.drop = func(m Message) bool { return m.To == 2 && m.Commit >= next }
			if tc.cc {
				require.NoError(t, c.confChange(1, ConfChangeAddLearner, 4))
			} else {
				require.NoError(t, c.propose(1, "a"))
			}
			require.Equal(t, next, c.nodes[2].storage.lastIndex())
			require.Less(t, c.status(2).Commit, next)
			c.drop = nil

			c.nodes[1].rn.Tick() // a heartbeat carries the commit index
			c.handle(1)
			n2 := c.nodes[2]
			for _, m := range c.queue {
				if m.To == 2 && m.Type == MsgHeartbeat {
					require.NoError(t, n2.rn.Step(m))
				}
			}
			c.queue = nil
			require.True(t, n2.rn.HasReady())
			rd := n2.rn.Ready()
			require.Empty(t, rd.Entries)
			require.Equal(t, next, rd.HardState.Commit)
			require.NotEmpty(t, rd.CommittedEntries)
			require.Equal(t, tc.cc, rd.MustSync)
		})
	}
}
