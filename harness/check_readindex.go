package harness

import (
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// checkReadIndexTerm fails the run if leader `from` answers a ReadIndex
// request of replica `to` in term with an index whose entry in its own log
// is of another term.
//
// A leader takes a request's read index as its commit index when the
// request arrives, and only once an entry of its own term is committed
// (before that its commit index may lag the previous leader's); it
// answers once a heartbeat quorum of that same term confirmed that it
// still led. Its commit index is then at or past its term's first entry,
// and every entry there is of its term: the index it answers with in term
// T is an entry of term T. An index of an earlier term was taken when it
// did not lead T: a request kept across a change of term or role (etcd
// raft drops them on reset) and confirmed by a later term's heartbeats is
// answered with a commit index that may miss every write another leader
// committed in between. Linearizability sees that only if the replica
// also serves the read before it applied those writes; this sees the
// index itself, on every forwarded read.
//
// Checked while the sender still leads that term (its log has not changed
// since it answered) and where its log still holds the index (a compacted
// index is not checked).
func (s *safetyChecker) checkReadIndexTerm(from, to host.NodeID, term, index uint64) {
	if index == 0 {
		return
	}
	l := s.leaderView(from)
	if l == nil {
		return
	}
	if st := s.statusOf(l); st.Role != raft.RoleLeader || st.Term != term {
		return
	}
	if t, ok, _ := l.LogTerm(index); ok && t != term {
		s.fail("read index: leader %d of term %d answered a ReadIndex request of replica %d at %v with index %d, an entry of term %d: a read index is the commit index of the answering leader's own term (a request kept across a change of term was confirmed by the new term's heartbeats)",
			from, term, to, s.now(), index, t)
	}
}

// statusOf is l.RaftStatus() read into s.readStatus (without Progress)
// when l is a node: the ReadIndex checks read it for every answer and
// every linearizable read, and RaftStatus copies the configuration each
// time. Valid until the next call.
func (s *safetyChecker) statusOf(l leaderLog) *raft.Status {
	if n, ok := l.(interface{ RaftStatusInto(*raft.Status) }); ok {
		n.RaftStatusInto(&s.readStatus)
	} else {
		s.readStatus = l.RaftStatus()
	}
	return &s.readStatus
}
