package harness

import (
	"sort"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// Reads served by a deposed leadership. A linearizable read confirms, after
// it arrives, that its leader still leads (ReadIndex: a heartbeat quorum in
// the leader's term). If a leader of a later term was elected before the
// read was even called, that quorum cannot exist: the replicas that elected
// the later leader intersect it and refuse the older term. So a
// linearizable read answered in term T must not have been called after a
// leader of a term above T was elected. This names a stale read at once,
// even when no write landed in between (which linearizability alone needs).

// election is one leadership, in the order they began, with the highest
// term any leadership so far had.
type election struct {
	at      time.Duration
	maxTerm uint64
	by      host.NodeID // the leader of maxTerm
}

// noteElection records a leadership for the read check.
func (s *safetyChecker) noteElection(id host.NodeID, term uint64) {
	e := election{at: s.now(), maxTerm: term, by: id}
	if n := len(s.elections); n > 0 && s.elections[n-1].maxTerm >= term {
		e.maxTerm, e.by = s.elections[n-1].maxTerm, s.elections[n-1].by
	}
	s.elections = append(s.elections, e)
}

// checkRead holds a linearizable read (client, called at call) that
// replica member answered in term to the leaderships begun before the
// call.
func (s *safetyChecker) checkRead(client int, call time.Duration, hdr api.Header) {
	s.checkReadQuorum(client, call, hdr)
	i := sort.Search(len(s.elections), func(i int) bool { return s.elections[i].at >= call })
	if i == 0 {
		return
	}
	s.reads++
	if e := s.elections[i-1]; e.maxTerm > hdr.RaftTerm {
		s.fail("stale read: client %d's linearizable read called at %v was answered by replica %d in term %d, but replica %d had become leader of term %d before the call",
			client, call, hdr.Member, hdr.RaftTerm, e.by, e.maxTerm)
	}
}

// durationOf is a history time (virtual nanoseconds) as a duration.
func durationOf(ns int64) time.Duration { return time.Duration(ns) }

// linearizableRead reports whether body is a read that must reflect every
// write acknowledged before it was called.
func linearizableRead(body api.RequestBody) bool {
	r, ok := body.(*api.RangeRequest)
	return ok && !r.Serializable && r.Revision == 0
}
