package harness

import (
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// checkAckMatches fails the run if replica from acknowledges index to
// leader `to` of term while its own log holds another entry there.
//
// An acknowledgement vouches for the leader's log up to index: the leader
// counts it toward committing its entries. The durability-order check
// compares only the index with what the replica synced, so an ack for
// entries the replica no longer holds (dropped from its unstable log as
// if written, replaced without a truncation, never appended) passes it
// as long as an older entry sits at that index. Log Matching says more:
// the replica's entry at index must be the leader's. Checked while the
// recipient still leads in the ack's term (its log has not changed at
// that index since it sent the entries; a deposed leader's may have), and
// only where both logs still hold the index (a compacted one is covered
// by a snapshot).
func (s *safetyChecker) checkAckMatches(from, to host.NodeID, term, index uint64) {
	if index == 0 {
		return
	}
	f, l := s.nodeOf(from), s.nodeOf(to)
	if f == nil || l == nil {
		return
	}
	l.RaftStatusInto(&s.ackLeader)
	if s.ackLeader.Role != raft.RoleLeader || s.ackLeader.Term != term {
		return
	}
	lt, lok, _ := l.LogTerm(index)
	ft, fok, compacted := f.LogTerm(index)
	if why := ackMismatch(lt, lok, ft, fok, compacted); why != "" {
		s.fail("log matching: replica %d acknowledged index %d to leader %d of term %d at %v, but %s",
			from, index, to, term, s.now(), why)
	}
}

// ackMismatch says how an acknowledger's entry at an index (term ft, held:
// fok, compacted) fails to be the leader's (term lt, held: lok); "" if it
// is, or if either log no longer holds the index.
func ackMismatch(lt uint64, lok bool, ft uint64, fok, compacted bool) string {
	switch {
	case !lok || compacted:
		return ""
	case !fok:
		return fmt.Sprintf("its log does not hold that index (the leader's entry there is of term %d)", lt)
	case ft != lt:
		return fmt.Sprintf("its entry there is of term %d, the leader's of term %d", ft, lt)
	}
	return ""
}
