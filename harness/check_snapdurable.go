package harness

import (
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/snap"
	"github.com/seedkv/seedkv/wal"
)

// shadowSnapshot fails the run if the snapshot a shadow boot's durable
// WAL marker names is not durably on the replica's disk: missing from its
// synced directory, torn, or holding another snapshot. A restart boots
// from exactly that file (node: snapshot at the marker's index and term),
// so a crash now would leave the replica unable to boot, or booting from
// damaged state. Correct code saves the file, syncs it, renames it and
// syncs the directory before the WAL records the marker; a snapshotter
// that skips one of those steps fails here in any seed with a snapshot,
// not only in the rare one whose crash lands in the window (or that runs
// the opt-in lose-dirent fault).
func (s *safetyChecker) shadowSnapshot(id host.NodeID, rep wal.Replay, snaps map[string][]byte) {
	m := rep.Snapshot
	if m == nil {
		return
	}
	why := snapshotDurable(m, snaps)
	if why == "" {
		return
	}
	s.fail("durable storage: replica %d's durable WAL at %v names snapshot (index %d, term %d), but in its synced directory that snapshot %s: a crash now would leave it unable to boot",
		id, s.now(), m.Index, m.Term, why)
}

// snapshotDurable says what is wrong with the durable copy of the snapshot
// marker m names ("" if nothing): snaps holds the durable bytes of the
// snapshot files the synced directory names.
func snapshotDurable(m *wal.SnapshotMarker, snaps map[string][]byte) string {
	name := snap.Name(m.Index, m.Term)
	if _, ok := snaps[name]; !ok {
		return "file " + name + " is missing"
	}
	f, err := snap.Load(&memFS{files: snaps}, m.Index, m.Term)
	if err != nil {
		return "does not load: " + err.Error()
	}
	var rs raft.Snapshot
	if err := rs.Unmarshal(f.Data); err != nil {
		return "does not decode: " + err.Error()
	}
	if rs.Meta.Index != m.Index || rs.Meta.Term != m.Term {
		return "holds another snapshot"
	}
	return ""
}

// shadowRemoved shadow-boots replica id right after it removed one of its
// WAL segments or snapshot files. A release is the moment durable state
// can go for good: a segment removed while the next one's head (which
// restates the hard state and the snapshot marker) is not yet durable, or
// the snapshot the durable marker names, leaves a crash right now with
// nothing to boot from. The window closes as soon as the next sync
// completes, so a check at votes, first acknowledgements and the end of
// the run almost never sees it open.
//
// Only while a sync is in flight on the replica's disk: with none, what
// the disk holds durably is what the replica last synced, which the
// other shadow boots and the restart checks already compare.
func (s *safetyChecker) shadowRemoved(id host.NodeID, name string) {
	if s.world == nil {
		return
	}
	if d := s.world.Disk(id); d == nil || d.SyncsInFlight() == 0 {
		return
	}
	rep, ok, err := s.shadowBoot(id)
	switch {
	case !ok:
	case err != nil:
		s.shadowFail(id, "as it removed "+name, err)
	default:
		s.shadowCompare(id, rep, "as it removed "+name)
	}
}
