package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// Checks on the wire and on the leaders' live commit index (see
// safetyChecker): they need no crash to land in a narrow window, so they
// name a durability-ordering or quorum bug in the first seed that runs the
// code path, not only in the rare seed whose crash exposes it.
//
//   - Durable promises: a vote (MsgVote, a granted MsgVoteResp) goes out
//     only after the term and vote it carries are durable on its sender,
//     and an append acknowledgement (MsgAppResp) only once the entries it
//     acknowledges are durable. A vote is checked as it is sent (the node
//     reports the sync first); an acknowledgement must be reported durable
//     by the end of the event that sent it (the node reports the durable
//     log right after the Ready's messages), else the run fails.
//   - Commit quorum: whenever a leader's commit index moves (after an
//     acknowledgement reached it), a majority of its voters hold the entry
//     at that index durably (index-wise; replicas that found their storage
//     damaged are given the benefit of the doubt). Counting an unsynced
//     copy, or a quorum of half the voters, fails here at once.
//   - Commit rule: the entry at a leader's new commit index is of the
//     leader's term (Raft Figure 8), and a leader's log holds at most one
//     membership change it has not applied (one change at a time).
//   - Leader completeness: a new leader of term T is a voter of its own
//     configuration and holds, with its term, the highest entry applied
//     anywhere so far that was committed in a term below T (bounded by the
//     newest leader term when it was first applied).

// promise is an acknowledgement sent before the check saw it durable.
type promise struct {
	from, to host.NodeID
	index    uint64
	at       time.Duration
}

// leaderView is what the commit check last saw of one leader.
type leaderView struct {
	term, commit uint64
	voters       []uint64 // the voters at the previous check
}

// watchNet hooks the checker to the world's network (votes and acks on
// the wire, acks reaching leaders) and names the replicas' processes. The
// term, vote and quorum checks read every message as seedkv's raft
// message, so they watch the wire only when raftWire says the system
// under test speaks it (the primary-backup example's bytes were misread
// as a MsgHup of term 54).
func (s *safetyChecker) watchNet(w *sim.World, raftWire bool) {
	s.world = w
	s.running = w.Alive
	s.wireOff = !raftWire
	if !raftWire {
		w.Net().OnSend(s.onSend)
		w.Net().OnDeliver(s.onDeliver)
		return
	}
	// One hook a side, calling the checks in the same order as a hook
	// each would: every message sent and delivered reaches them.
	w.Net().OnSend(func(from, to host.NodeID, p []byte) {
		s.onSend(from, to, p)
		s.onSendTerm(from, to, p)
	})
	w.Net().OnDeliver(func(from, to host.NodeID, p []byte) {
		s.onDeliver(from, to, p)
		s.onDeliverTerm(from, to, p)
	})
}

// nodeOf is the running replica id as a *node.Node, or nil.
func (s *safetyChecker) nodeOf(id host.NodeID) *node.Node {
	if s.world == nil {
		return nil
	}
	n, _ := unwrapProcess(s.world.Process(id)).(*node.Node)
	return n
}

// peerType reads the raft message type of a peer payload without decoding
// the rest; ok is false for anything else.
func peerType(p []byte) (raft.MessageType, bool) {
	if len(p) < 3 || api.Envelope(p[0]) != api.EnvelopePeer {
		return 0, false
	}
	return raft.MessageType(p[2]), true
}

// onSend checks a vote or acknowledgement as it leaves its replica.
func (s *safetyChecker) onSend(from, to host.NodeID, p []byte) {
	t, ok := peerType(p)
	if !ok || (t != raft.MsgVote && t != raft.MsgVoteResp && t != raft.MsgAppResp) {
		return
	}
	// The message must decode; its type, flags, term and index are the
	// header's.
	in := s.peers.read(p).peek(p)
	if !in.msgOK || in.hdr.reject {
		return
	}
	m := in.hdr
	s.promises++
	d := s.replica(from)

	switch t {
	case raft.MsgVote, raft.MsgVoteResp:
		if s.skipVotes {
			return
		}
		cand := from
		if t == raft.MsgVoteResp {
			cand = to
		}
		// A durable later term covers the vote too: the replica never
		// goes back to vote in term m.term again (one Ready may carry
		// votes of two terms and only the last hard state).
		if d.term < m.term || (d.term == m.term && d.vote != uint64(cand)) {
			what := map[raft.MessageType]string{raft.MsgVote: "asked for votes", raft.MsgVoteResp: "granted its vote"}[t]
			s.fail("durability order: replica %d %s in term %d (to %d) at %v before its vote for %d in that term was durable (durable: term %d, vote %d)",
				from, what, m.term, to, s.now(), cand, d.term, d.vote)
		}
	case raft.MsgAppResp:
		// Every ack is checked, of any term: raft drops the acks of an
		// older term still waiting for a Ready's sync when its term moves
		// on (one Ready could otherwise carry an old leader's ack for
		// entries a newer leader's append replaced in that same Ready:
		// seed 730, raft's TestNoAckForReplacedEntries).
		if d.logIndex < m.index {
			s.pending = append(s.pending, promise{from: from, to: to, index: m.index, at: s.now()})
		}
		s.checkAckMatches(from, to, m.term, m.index)
	}
}

// onDeliver marks a leader whose commit index may move: an
// acknowledgement reached it (it steps it right after this hook).
func (s *safetyChecker) onDeliver(from, to host.NodeID, p []byte) {
	s.settle()
	if t, ok := peerType(p); ok && t == raft.MsgAppResp && !slices.Contains(s.dirty, to) {
		s.dirty = append(s.dirty, to)
	}
}

// settle runs the checks that wait for the events before to finish: acks
// still not durable, and leaders whose commit index may have moved. It
// runs as a delivery begins, so no event is half done (within one, the
// node sends a Ready's messages before it reports their sync, and a
// leader's own match moves before the node reports its durable log).
func (s *safetyChecker) settle() {
	for len(s.pending) > 0 {
		p := s.pending[0]
		s.pending = s.pending[1:]
		if s.running != nil && !s.running(p.from) {
			// Crashed since: Booted checks what it kept.
			s.lostAcks = append(s.lostAcks, p)
			continue
		}
		if n := s.nodeOf(p.from); n != nil {
			if stopped, _ := n.Stopped(); stopped {
				continue
			}
		}
		s.fail("durability order: replica %d acknowledged index %d to %d at %v before it was durable (its durable log ends at %d)",
			p.from, p.index, p.to, p.at, s.replica(p.from).logIndex)
		return
	}
	for _, id := range s.dirty {
		s.checkCommit(id)
	}
	s.dirty = s.dirty[:0]
}

// ackDurable drops the pending acks of id that index makes durable.
func (s *safetyChecker) ackDurable(id host.NodeID, index uint64) {
	for i := 0; i < len(s.pending); i++ {
		if p := s.pending[i]; p.from == id && p.index <= index {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			i--
		}
	}
}

// bootedAcks checks that a restarted replica kept the entries it
// acknowledged in the instant it crashed.
func (s *safetyChecker) bootedAcks(id host.NodeID, r node.Recovered) {
	for i := 0; i < len(s.lostAcks); i++ {
		p := s.lostAcks[i]
		if p.from != id {
			continue
		}
		s.lostAcks = append(s.lostAcks[:i], s.lostAcks[i+1:]...)
		i--
		if p.index > r.LastIndex && p.index > r.SnapIndex {
			s.fail("durability order: replica %d acknowledged index %d to %d at %v before it was durable, and restarted at %v with its log ending at %d",
				id, p.index, p.to, p.at, s.now(), r.LastIndex)
			return
		}
	}
}

// checkCommit holds leader id's commit index to a durable quorum, when it
// moved since the last check.
func (s *safetyChecker) checkCommit(id host.NodeID) {
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	st := &s.status // every ack reaches this: reuse its slices
	n.RaftStatusInto(st)
	if st.Role != raft.RoleLeader {
		return
	}
	if !slices.Contains(st.ConfState.Voters, uint64(id)) {
		// Raft steps a leader down as it applies its own removal (etcd
		// too): one that goes on leading counts a quorum it is not part
		// of, yet appends, answers reads and renews leases.
		s.fail("leader completeness: leader %d of term %d still leads at %v, but its configuration's voters %v no longer include it (a leader that applies its own removal steps down)",
			id, st.Term, s.now(), st.ConfState.Voters)
		return
	}
	v := s.views.get(id)
	if v == nil || v.term != st.Term {
		v = &leaderView{term: st.Term, commit: st.Commit}
		s.views.set(id, v)
	}
	voters := st.ConfState.Voters
	s.progress = s.progress[:0]
	n.RaftProgress(func(m uint64, pr raft.ProgressStatus) {
		s.progress = append(s.progress, memberProgress{m, pr})
	})
	s.checkMatch(id, st.Term, s.progress)
	if st.Commit > v.commit {
		s.commitChecks++
		held, total := s.holders(voters, st.Commit)
		if 2*held <= total && !s.heldByMajority(v.voters, st.Commit) {
			s.fail("commit quorum: leader %d of term %d advanced its commit index to %d at %v, but only %d of its %d voters %v hold that index durably (%s)",
				id, st.Term, st.Commit, s.now(), held, total, voters, s.holdList(voters))
			return
		}
		// Raft 5.4.2 (Figure 8): a leader commits by counting replicas
		// only an entry of its own term; older ones commit with it.
		if t, ok, _ := n.LogTerm(st.Commit); ok && t != st.Term {
			s.fail("commit rule: leader %d of term %d advanced its commit index to %d at %v, an entry of term %d: a leader may count replicas only for an entry of its own term (Raft Figure 8)",
				id, st.Term, st.Commit, s.now(), t)
			return
		}
	}
	v.commit = max(v.commit, st.Commit)
	if !slices.Equal(v.voters, voters) {
		v.voters = slices.Clone(voters) // voters is reused by the next call
	}
	// One membership change at a time: a leader proposes a change only
	// when every earlier one in its log is applied.
	if cc := n.ConfChangesAfter(n.AppliedIndex()); len(cc) > 1 {
		s.fail("membership: leader %d of term %d holds %d membership changes it has not applied at %v (indexes %v, applied %d): it proposed one while another was pending",
			id, st.Term, len(cc), s.now(), cc, n.AppliedIndex())
	}
}

// holders counts the voters that hold index durably (or lost their
// storage knowingly).
func (s *safetyChecker) holders(voters []uint64, index uint64) (held, total int) {
	for _, v := range voters {
		d := s.replica(host.NodeID(v))
		if d.hold >= index || d.wasDamaged {
			held++
		}
	}
	return held, len(voters)
}

func (s *safetyChecker) heldByMajority(voters []uint64, index uint64) bool {
	held, total := s.holders(voters, index)
	return total > 0 && 2*held > total
}

// holdList names each voter's durable last index, for a failure.
func (s *safetyChecker) holdList(voters []uint64) string {
	out := ""
	for i, v := range voters {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d: %d", v, s.replica(host.NodeID(v)).hold)
	}
	return "durable last index " + out
}

// leaderLog is what the completeness check reads of a new leader.
type leaderLog interface {
	RaftStatus() raft.Status
	LogTerm(i uint64) (term uint64, ok, compacted bool)
}

// leaderView is the replica's node, or the test's stand-in for it.
func (s *safetyChecker) leaderView(id host.NodeID) leaderLog {
	if s.viewOf != nil {
		return s.viewOf(id)
	}
	if n := s.nodeOf(id); n != nil {
		return n
	}
	return nil
}

// committedBy bounds the term e was committed in from above: the newest
// leader term when it was first applied, and never below its own term.
func (e *appliedEntry) committedBy() uint64 { return max(e.within, e.term) }

// checkCompleteness holds a new leader of term to the highest entry
// applied so far that was committed in a lower term: every leader of a
// later term than its commit holds it (or a snapshot past it), and by Log Matching every
// entry before it.
func (s *safetyChecker) checkCompleteness(id host.NodeID, term uint64) {
	n := s.leaderView(id)
	if n == nil || s.skipCompleteness {
		return
	}
	// Only a voter may lead: a learner (or a removed replica) that wins
	// an election was counted where it must not be.
	if st := n.RaftStatus(); !slices.Contains(st.ConfState.Voters, uint64(id)) {
		s.fail("election: replica %d became leader of term %d at %v but is not a voter of its configuration (voters %v, learners %v)",
			id, term, s.now(), st.ConfState.Voters, st.ConfState.Learners)
		return
	}
	if len(s.applied) == 0 {
		return
	}
	base := s.appliedBase
	// The highest entry applied so far that was committed in a term
	// below term. Raft promises a leader of term T only the entries
	// committed in terms before T: a leader of a stale term (a candidate
	// paused or partitioned with its votes in flight) owes nothing to an
	// entry of an old term that a leader of a later term committed
	// (seed 4813 on 54198bb: a term-4 entry committed in term 6, then a
	// leader of term 5 elected from votes granted before).
	idx := s.lastApplied()
	for idx > base && (!s.applied[idx-base].set || s.applied[idx-base].committedBy() >= term) {
		idx--
	}
	if idx == 0 || !s.applied[idx-base].set || s.applied[idx-base].committedBy() >= term {
		return // none, or only among the records dropped (see prune)
	}
	e := &s.applied[idx-base]
	s.completeness++
	t, ok, compacted := n.LogTerm(idx)
	switch {
	case compacted:
	case !ok:
		s.fail("leader completeness: replica %d became leader of term %d at %v without index %d (term %d), which replica %d applied at %v",
			id, term, s.now(), idx, e.term, e.by, e.at)
	case t != e.term:
		s.fail("leader completeness: replica %d became leader of term %d at %v holding index %d with term %d, but replica %d applied it with term %d at %v",
			id, term, s.now(), idx, t, e.by, e.term, e.at)
	}
}
