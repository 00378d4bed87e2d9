package harness

import (
	"slices"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// The CheckQuorum check. With CheckQuorum on (the node's default), a
// leader counts, every election timeout, the voters it heard an append or
// heartbeat answer from in that period, and steps down unless they and it
// make a quorum. Any stretch of two election timeouts holds one whole
// period, so a leader that for a window of two election timeouts
// (stretched by the slowest clock rate the scenario's clock-drift fault
// may set, plus two ticks) heard such answers from fewer voters than make
// a quorum with it must have stepped down. A leadership transfer restarts
// the count; after the leader was seen with a transfer pending, the window
// is three election timeouts, which hold a whole period on one side of
// the restart. A cut-off leader that keeps leading takes clients' requests
// it can never commit, and its followers' leases keep them from electing
// anyone else.
//
// A leader whose heartbeats stop for longer than its ticks allow (a paused
// process, or one that could not send while its sync hung) starts the
// window again when they resume.
//
// The check runs on the leader's heartbeats: at each instant it sends
// them it reads whether a transfer is pending (a pending transfer lasts
// an election timeout unless it ends the leadership, and heartbeats go
// out at least twice per timeout, so none is missed); at most every
// quarter window it reads the leader's voters; a leader found short of a quorum is
// confirmed at the next delivery at a later virtual time (after any
// backlog of ticks a paused process runs at one instant) and fails the
// run if it still leads that term and is not paused. Voters that joined
// after the election and were never heard from count as heard (a new
// member starts as recently active).

// quorumWatch is the CheckQuorum check's state.
type quorumWatch struct {
	window time.Duration // 0: off; two election timeouts
	// transferWindow is the window after a transfer: three timeouts.
	transferWindow time.Duration
	// stall is a gap between a leader's heartbeats that its ticks alone
	// never leave: it was paused (or could not send), and its count of
	// the window starts again.
	stall time.Duration
	heard pairTable[heardAt]
	lead  idTable[*leadership]
	// suspect is a leader found short of a quorum, to confirm.
	suspect     *leadership
	suspectID   host.NodeID
	suspectAt   time.Duration
	suspectSeen int
	// suspectWindow is the window the suspect was found short in.
	suspectWindow time.Duration
	checks        int
	st            raft.Status // reused by the transfer reads
}

// heardAt is when a leader last stepped an answer from a voter, and the
// answer's term.
type heardAt struct {
	at   time.Duration
	term uint64
}

// leadership is one replica's current leadership as the check knows it.
type leadership struct {
	term      uint64
	since     time.Duration
	voters    []uint64 // at the election
	lastCheck time.Duration
	lastBeat  time.Duration
	// transferSeen is the last instant the leader had a transfer
	// pending (-1: never).
	transferSeen time.Duration
}

// windowOf is the window a leader's count is checked over at now.
func (q *quorumWatch) windowOf(l *leadership, now time.Duration) time.Duration {
	if l.transferSeen >= 0 && now-l.transferSeen <= q.transferWindow {
		return q.transferWindow
	}
	return q.window
}

// setQuorumWindow turns the CheckQuorum check on for a run with raft
// parameters p and the fault specs of the scenario.
func (s *safetyChecker) setQuorumWindow(p RaftParams, specs []faults.Spec) {
	drift := 1.0
	for _, f := range specs {
		if f.Name == faults.ClockDrift {
			drift = max(drift, f.Param("max_drift"))
		}
	}
	tick := p.Tick.D()
	s.quorum.window = time.Duration(float64(2*p.ElectionTicks)*drift*float64(tick)) + 2*tick
	s.quorum.transferWindow = time.Duration(float64(3*p.ElectionTicks)*drift*float64(tick)) + 2*tick
	s.quorum.stall = time.Duration(float64(2*p.HeartbeatTicks+2) * drift * float64(tick))
}

// quorumLeader notes a new leadership.
func (s *safetyChecker) quorumLeader(id host.NodeID, term uint64) {
	if s.quorum.window == 0 {
		return
	}
	l := &leadership{term: term, since: s.now(), transferSeen: -1}
	if n := s.nodeOf(id); n != nil {
		l.voters = slices.Clone(n.RaftStatus().ConfState.Voters)
	}
	s.quorum.lead.set(id, l)
}

// quorumDelivered notes an answer reaching a leader, and confirms a
// suspect once virtual time moved on.
func (s *safetyChecker) quorumDelivered(from, to host.NodeID, h peerHeader) {
	q := &s.quorum
	if q.window == 0 {
		return
	}
	if q.suspect != nil && s.now() > q.suspectAt {
		s.confirmSuspect()
	}
	if h.typ == raft.MsgAppResp || h.typ == raft.MsgHeartbeatResp {
		// A late answer of an older term (a duplicate, a replay) is one
		// the leader ignores: it must not erase the newer answer it
		// heard (default seed 3037 failed on that).
		k := [2]host.NodeID{to, from}
		if prev, ok := q.heard.get(k); !ok || h.term >= prev.term {
			q.heard.set(k, heardAt{at: s.now(), term: h.term})
		}
	}
}

// quorumHeartbeat checks a leader as it sends a heartbeat of term.
func (s *safetyChecker) quorumHeartbeat(id host.NodeID, term uint64) {
	q := &s.quorum
	l := q.lead.get(id)
	now := s.now()
	if l != nil && l.term == term {
		if now-max(l.lastBeat, l.since) > q.stall {
			l.since = now // paused or stalled: its ticks stopped too
		}
		if l.lastBeat != now {
			s.noteTransfer(id, l, now)
		}
		l.lastBeat = now
	}
	if q.window == 0 || q.suspect != nil || l == nil || l.term != term {
		return
	}
	w := q.windowOf(l, now)
	if now-l.since < w || now-l.lastCheck < w/4 {
		return
	}
	l.lastCheck = now
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	st := n.RaftStatus()
	if st.Role != raft.RoleLeader || st.Term != term || !slices.Contains(st.ConfState.Voters, uint64(id)) {
		return
	}
	q.checks++
	if heard := s.heardVoters(id, l, st.ConfState.Voters, w); 2*heard <= len(st.ConfState.Voters) {
		q.suspect, q.suspectID, q.suspectAt, q.suspectSeen, q.suspectWindow = l, id, now, heard, w
	}
}

// noteTransfer notes whether leader id has a leadership transfer pending.
func (s *safetyChecker) noteTransfer(id host.NodeID, l *leadership, now time.Duration) {
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	n.RaftStatusInto(&s.quorum.st)
	if s.quorum.st.LeadTransferee != 0 && s.quorum.st.Term == l.term {
		l.transferSeen = now
	}
}

// heardVoters counts the voters (the leader included) the leader heard an
// answer of its term from within window w.
func (s *safetyChecker) heardVoters(id host.NodeID, l *leadership, voters []uint64, w time.Duration) int {
	heard := 0
	for _, v := range voters {
		h, ok := s.quorum.heard.get([2]host.NodeID{id, host.NodeID(v)})
		switch {
		case host.NodeID(v) == id:
			heard++
		case ok && h.term == l.term && s.now()-h.at <= w:
			heard++
		case (!ok || h.term != l.term) && !slices.Contains(l.voters, v):
			heard++ // joined since the election and never heard: active
		}
	}
	return heard
}

// confirmSuspect fails the run if the suspect still leads its term.
func (s *safetyChecker) confirmSuspect() {
	q := &s.quorum
	l, id := q.suspect, q.suspectID
	q.suspect = nil
	if s.world != nil && s.world.Paused(id) {
		return
	}
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	st := n.RaftStatus()
	if st.Role != raft.RoleLeader || st.Term != l.term {
		return
	}
	// A transfer seen since the suspicion widens the window.
	w := max(q.suspectWindow, q.windowOf(l, s.now()))
	if heard := s.heardVoters(id, l, st.ConfState.Voters, w); 2*heard > len(st.ConfState.Voters) {
		return
	}
	s.fail("check quorum: leader %d of term %d still leads at %v, but in the last %v it heard from only %d of its %d voters %v (itself included): it must step down after an election timeout without a quorum",
		id, l.term, s.now(), w, q.suspectSeen, len(st.ConfState.Voters), st.ConfState.Voters)
}
