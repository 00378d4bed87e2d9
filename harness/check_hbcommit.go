package harness

import (
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// A follower whose log ends below the commit index a leader's heartbeat
// carries must say so: it answers with a rejection naming its last index,
// and the leader probes from there. The leader sends a follower the commit
// index only up to what it counts the follower as holding (its match), so
// a commit index past the follower's log means the leader counts on
// entries the follower no longer holds: it lost entries it had
// acknowledged (damaged storage, recovered from its peers), and a late
// copy of an old acknowledgement told the leader otherwise. Without the
// rejection the leader, which takes the follower's append rejections at
// or below its match for stale ones, never sends the lost entries again,
// and the follower stays behind for as long as that leader leads (seed
// 193 of the default swarm once; raft/flow_test.go,
// TestFollowerThatLostAckedEntriesIsNotStormed). This holds whether or not
// the follower is still recovering: it is the leader's view that is wrong.
//
// The check reads each heartbeat as it is delivered (its commit index,
// and the follower's last index just before it steps it: stepping a
// heartbeat never changes the log) and the follower's answers as they
// leave, in order: a node answers the heartbeats it stepped in the order
// it stepped them, in its next Ready.

// heartbeatSeen is a heartbeat a replica stepped and has not answered
// yet.
type heartbeatSeen struct {
	leader       host.NodeID
	term         uint64
	commit, last uint64
	inc          any // the replica's process then: a restart forgets it
}

// followerLog is replica id's last log index and its running process (an
// incarnation: it changes with a restart); ok is false while it cannot
// step a message (down, booting, stopped).
func (s *safetyChecker) followerLog(id host.NodeID) (last uint64, inc any, ok bool) {
	if s.hbView != nil {
		return s.hbView(id)
	}
	n := s.nodeOf(id)
	if n == nil || n.Booting() {
		return 0, nil, false // a booting replica drops what it receives
	}
	if stopped, _ := n.Stopped(); stopped {
		return 0, nil, false
	}
	n.RaftStatusInto(&s.hbStatus)
	return s.hbStatus.LastIndex, n, true
}

// noteHeartbeat records a heartbeat from leader `from` as it reaches
// replica `to`.
func (s *safetyChecker) noteHeartbeat(from, to host.NodeID, term uint64, p []byte) {
	last, inc, ok := s.followerLog(to)
	if !ok || len(p) < 2 {
		return
	}
	var m raft.Message
	if m.UnmarshalShared(p[1:]) != nil {
		return
	}
	if s.heartbeats == nil {
		s.heartbeats = map[host.NodeID][]heartbeatSeen{}
	}
	q := s.heartbeats[to]
	if len(q) > 0 && q[0].inc != inc {
		q = q[:0] // restarted since: those were never answered
	}
	s.heartbeats[to] = append(q, heartbeatSeen{leader: from, term: term, commit: m.Commit, last: last, inc: inc})
}

// checkHeartbeatAnswer holds replica from's answer to leader `to`'s
// heartbeat of term: if that heartbeat's commit index was past the
// replica's log, the answer must be a rejection.
func (s *safetyChecker) checkHeartbeatAnswer(from, to host.NodeID, term uint64, reject bool) {
	all := s.heartbeats[from]
	q := all
	if len(q) == 0 {
		return // none delivered (or all answered)
	}
	_, inc, _ := s.followerLog(from)
	for len(q) > 0 {
		hb := q[0]
		q = q[1:]
		if hb.inc != inc || hb.leader != to || hb.term != term {
			continue // a heartbeat not answered so (a stale term), or before a restart
		}
		if hb.commit > hb.last && !reject {
			s.fail("lost entries: replica %d answered leader %d's heartbeat of term %d at %v, whose commit index %d is past its last index %d, without a rejection naming its last index: the leader counts on entries the replica does not hold (it lost entries it had acknowledged), and never sends them again",
				from, to, term, s.now(), hb.commit, hb.last)
		}
		break
	}
	// Move the unanswered ones (rarely any) to the front rather than keep
	// q, a tail of the queue: noteHeartbeat's next append would otherwise
	// outgrow it and allocate, once per heartbeat.
	k := copy(all, q)
	clear(all[k:]) // drop the processes the answered ones hold
	s.heartbeats[from] = all[:k]
}
