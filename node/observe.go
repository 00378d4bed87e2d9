package node

import (
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// Observer receives a replica's safety-relevant events as they happen, so
// that a checker can hold the cluster to Raft's guarantees during a run
// instead of inferring them from the end state: election safety (one
// leader per term), state-machine safety (the same entry at an index on
// every replica, checked as it is applied) and durability (a restart
// recovers at least what the replica had synced).
//
// Its methods run on the replica's event loop, synchronously, in the
// order the events happen; they must not call back into the replica and
// must not retain the slices they are given. A nil Observer costs one
// comparison per event.
type Observer interface {
	// BecameLeader: replica id became leader of term, before it sent
	// anything as leader.
	BecameLeader(id host.NodeID, term uint64)
	// Applied: replica id applied the committed entry (index, term,
	// data), in log order.
	Applied(id host.NodeID, index, term uint64, data []byte)
	// AppliedSnapshot: replica id replaced its state machine by the
	// snapshot of the log up to (index, term), received from the leader
	// or loaded from its disk at boot.
	AppliedSnapshot(id host.NodeID, index, term uint64)
	// Synced: replica id made its raft term and vote durable (each change
	// is synced before any message that depends on it goes out).
	Synced(id host.NodeID, term, vote uint64)
	// DurableLog: from now on a restart of replica id must find the
	// entry (index, term) in its log, or under its snapshot. Reported
	// after each sync that made new entries durable (the last one), and
	// lowered before a write that replaces entries after index (a crash
	// may keep part of that write), or to 0 before a received snapshot
	// replaces the log.
	DurableLog(id host.NodeID, index, term uint64)
	// Booted: replica id restarted from its disk and recovered r. It is
	// not called for a brand-new replica, nor when the replica finds its
	// storage damaged (Damaged).
	Booted(id host.NodeID, r Recovered)
	// Damaged: replica id found its storage damaged (cause): it drops it
	// and recovers from its peers, or stops for good. What it held
	// before is gone, knowingly.
	Damaged(id host.NodeID, cause string)
	// Stopped: replica id stopped for good (reason, as Node.Stopped
	// gives it). A halt on an I/O error is not a stop.
	Stopped(id host.NodeID, reason string)
}

// Recovered is what a replica recovered from its disk when it restarted.
type Recovered struct {
	// Term and Vote are raft's hard state from the WAL.
	Term, Vote uint64
	// SnapIndex and SnapTerm name the snapshot the state was restored
	// from (0 if none).
	SnapIndex, SnapTerm uint64
	// LastIndex is the last log index held (SnapIndex if no entries).
	LastIndex uint64
	// TermAt returns the term of the recovered entry at index i, and
	// false if the log does not hold it (compacted, or past LastIndex).
	// Valid during the Booted call only.
	TermAt func(i uint64) (uint64, bool)
}

// observeRecovered reports what boot recovered from the disk.
func (n *Node) observeRecovered(hs raft.HardState, snapIndex, snapTerm uint64) {
	if n.cfg.Observer == nil {
		return
	}
	last, _ := n.ms.LastIndex()
	first, _ := n.ms.FirstIndex()
	ms := n.ms
	n.cfg.Observer.Booted(n.id, Recovered{Term: hs.Term, Vote: hs.Vote, SnapIndex: snapIndex, SnapTerm: snapTerm,
		LastIndex: last, TermAt: func(i uint64) (uint64, bool) {
			if i < first || i > last {
				return 0, false
			}
			t, err := ms.Term(i)
			return t, err == nil
		}})
	if snapIndex > 0 {
		n.cfg.Observer.AppliedSnapshot(n.id, snapIndex, snapTerm)
	}
}

// observeSynced reports a durable change of term or vote.
func (n *Node) observeSynced(hs raft.HardState) {
	if n.cfg.Observer == nil || hs.IsEmpty() || (hs.Term == n.obsTerm && hs.Vote == n.obsVote) {
		return
	}
	n.obsTerm, n.obsVote = hs.Term, hs.Vote
	n.cfg.Observer.Synced(n.id, hs.Term, hs.Vote)
}

// observeOverwrite lowers the durable log floor before rd is written, if
// rd replaces entries the log holds: a crash may keep part of the write.
func (n *Node) observeOverwrite(rd *raft.Ready) {
	if n.cfg.Observer == nil {
		return
	}
	if !rd.Snapshot.IsEmpty() {
		n.cfg.Observer.DurableLog(n.id, 0, 0)
		return
	}
	if len(rd.Entries) == 0 {
		return
	}
	last, _ := n.ms.LastIndex()
	if k := rd.Entries[0].Index; k <= last {
		t, err := n.ms.Term(k - 1)
		if err != nil {
			k, t = 1, 0 // below the snapshot: raft never replaces committed entries
		}
		n.cfg.Observer.DurableLog(n.id, k-1, t)
	}
}

// observeDurableLog reports the log a completed sync made durable.
func (n *Node) observeDurableLog(rd *raft.Ready) {
	if n.cfg.Observer == nil || n.stopped || (len(rd.Entries) == 0 && rd.Snapshot.IsEmpty()) {
		return
	}
	last, _ := n.ms.LastIndex()
	if t, err := n.ms.Term(last); err == nil {
		n.cfg.Observer.DurableLog(n.id, last, t)
	}
}

// onLeader is raft's Config.OnLeader.
func (n *Node) onLeader(term uint64) {
	if n.cfg.Observer != nil {
		n.cfg.Observer.BecameLeader(n.id, term)
	}
}

// Log returns every entry the replica holds in its raft log, committed or
// not (entries older than its snapshot are gone), and its commit index.
// Replicas must agree wherever their logs share an index and a term (Log
// Matching), and on every index both have committed.
func (n *Node) Log() (ents []raft.Entry, commit uint64) {
	if n.rn == nil {
		return nil, 0
	}
	commit = n.rn.Status().Commit
	first, _ := n.ms.FirstIndex()
	last, _ := n.ms.LastIndex()
	if last < first {
		return nil, commit
	}
	ents, err := n.ms.Entries(first, last+1, 1<<62)
	if err != nil {
		return nil, commit
	}
	return ents, commit
}
