package node

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/raft"
)

// Read-only views of the local state machine for a server in the same
// process (package server: etcd's LeaseTimeToLive, LeaseLeases and Status
// are answered from the member's own state, as etcd does). Like every
// method of Node they must be called on the node's event loop.

// LeaseTimeToLive describes lease id as this replica has applied it; the
// remaining time is counted from the replicated deadline (the leader's
// clock stamped in the log), not this replica's own lease clock.
func (n *Node) LeaseTimeToLive(id int64) (mvcc.LeaseInfo, error) {
	if n.sm == nil {
		return mvcc.LeaseInfo{}, fmt.Errorf("node %d: no state", n.id)
	}
	now := n.h.Now()
	info, err := n.sm.store.LeaseTimeToLive(id, now)
	if err != nil {
		return info, err
	}
	if dl, ok := n.sm.leaseDeadline[id]; ok {
		info.Remaining = time.Duration(dl - now.UnixNano())
	}
	return info, nil
}

// Leases returns the IDs of the leases this replica has applied, sorted.
func (n *Node) Leases() []int64 {
	if n.sm == nil {
		return nil
	}
	return n.sm.store.Leases()
}

// StoreSize is the mvcc store's size in its quota units, and the quota.
func (n *Node) StoreSize() (size, quota int64) {
	if n.sm == nil {
		return 0, 0
	}
	return n.sm.store.Size(), n.sm.store.Quota()
}

// RaftStatus is raft's live status (term, role, commit index, voters),
// for the harness's safety checks: the commit index may run ahead of what
// the replica has reported in a Ready.
func (n *Node) RaftStatus() raft.Status {
	if n.rn == nil {
		return raft.Status{}
	}
	return n.rn.Status()
}

// RaftStatusInto sets *st to RaftStatus without its Progress, reusing the
// slices st holds (raft.RawNode.StatusInto): for a check that reads it on
// every message.
func (n *Node) RaftStatusInto(st *raft.Status) {
	if n.rn == nil {
		*st = raft.Status{}
		return
	}
	n.rn.StatusInto(st)
}

// RaftProgress visits a leader's view of each member in ID order
// (raft.RawNode.WithProgress), RaftStatus's Progress without the map.
func (n *Node) RaftProgress(visit func(id uint64, pr raft.ProgressStatus)) {
	if n.rn != nil {
		n.rn.WithProgress(visit)
	}
}

// LogTerm is the term of the entry at index i in the replica's durable
// log: ok is false if the log does not reach i; compacted is true if i is
// covered by the snapshot (its term is gone, and it was committed).
func (n *Node) LogTerm(i uint64) (term uint64, ok, compacted bool) {
	if n.ms == nil {
		return 0, false, false
	}
	first, _ := n.ms.FirstIndex()
	if i < first {
		return 0, false, true
	}
	t, err := n.ms.Term(i)
	return t, err == nil, false
}

// ConfChangesAfter lists the indexes of the membership-change entries in
// the replica's durable log after index (a leader may hold at most one
// that it has not applied: raft's one-change-at-a-time rule).
func (n *Node) ConfChangesAfter(index uint64) []uint64 {
	if n.ms == nil {
		return nil
	}
	first, _ := n.ms.FirstIndex()
	last, _ := n.ms.LastIndex()
	lo := max(index+1, first)
	if lo > last {
		return nil
	}
	ents, err := n.ms.Entries(lo, last+1, 1<<62)
	if err != nil {
		return nil
	}
	var out []uint64
	for i := range ents {
		if ents[i].Type == raft.EntryConfChange {
			out = append(out, ents[i].Index)
		}
	}
	return out
}

// StoreSnapshot is the mvcc store's snapshot (mvcc.Restore reads it) with
// the revision it holds, for a client's backup (etcd's Maintenance.Snapshot).
func (n *Node) StoreSnapshot() (data []byte, rev int64) {
	if n.sm == nil {
		return nil, 0
	}
	return n.sm.store.Snapshot(), n.sm.store.CurrentRevision()
}

// CompactRevision is the mvcc store's compaction revision.
func (n *Node) CompactRevision() int64 {
	if n.sm == nil {
		return 0
	}
	return n.sm.store.CompactRevision()
}

// ClearAlarm clears the quota alarm if the store is under its quota (a
// client's disarm; the alarm also clears by itself with the next write
// that succeeds). It reports whether the alarm is now clear.
func (n *Node) ClearAlarm() bool {
	if n.sm != nil {
		n.checkAlarm()
	}
	return !n.alarm
}

// Booting reports whether the replica is still making its start state
// durable; until then it drops every message (a real member waits for
// this before it serves clients).
func (n *Node) Booting() bool { return n.booting }

// HashKV returns the hash of the history the replica's store holds up to
// rev (0: its current revision) and its compaction revision
// (mvcc.Store.HashKV). Replicas at the same (rev, compaction revision)
// must agree.
func (n *Node) HashKV(rev int64) (hash uint64, compactRev int64, err error) {
	if n.sm == nil {
		return 0, 0, fmt.Errorf("node %d: no state", n.id)
	}
	return n.sm.store.HashKV(rev)
}
