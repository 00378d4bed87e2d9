package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/wal"
)

// boot rebuilds the replica from disk, or bootstraps a new one.
//
// Restart: the WAL's latest snapshot marker names a snapshot file, which
// restores the state machine (mvcc + sessions + lease deadlines) as of the
// marker's index; raft's MemoryStorage gets that snapshot, the WAL's hard
// state and the entries after it. raft is told Applied = the snapshot
// index, so it hands back, in order, exactly the committed entries after
// it: the in-memory state machine is rebuilt with nothing applied twice or
// skipped.
func (n *Node) boot() error {
	fs := n.h.FS()
	// No wal.Options.Preallocate: tornTail relies on a torn write leaving
	// a short final record at the end of the file, which zero-filled
	// preallocation would hide.
	hsc, err := openHSCopy(fs)
	if err != nil {
		return fmt.Errorf("hard state copy: %w", err)
	}
	n.hs = hsc
	if hsc.epoch < n.epoch { // the copy's slots lag the mark: write them again
		hsc.epoch, hsc.whole = n.epoch, false
	}
	n.epoch = hsc.epoch
	w, rep, err := wal.Open(fs, wal.Options{SegmentSize: n.cfg.SegmentSize})
	if errors.Is(err, wal.ErrNoWAL) {
		if n.recovering { // crashed while wiping: start the empty log
			return n.wipeAndJoin(n.voteFloor)
		}
		return n.bootstrap()
	}
	if err != nil {
		return fmt.Errorf("wal open: %w", err)
	}
	n.wal = w
	if r := rep.Repaired; r != nil && !n.tornTail(r) {
		return fmt.Errorf("wal: damaged final record is not a torn write (%s at %d: %s): "+
			"it may hold acknowledged state", r.File, r.Offset, r.Reason)
	}
	n.repaired = rep.Repaired
	n.probes.If(rep.Repaired != nil, probeTornTail)
	if rep.Snapshot == nil && !n.cfg.Join && !n.recovering {
		if !rep.HardState.IsEmpty() || len(rep.Entries) > 0 {
			return fmt.Errorf("wal: raft state without the bootstrap snapshot marker")
		}
		// A crash tore the bootstrap write before it was durable: nothing
		// was sent before it was, so bootstrapping again is safe.
		return n.bootstrapOn(w)
	}
	n.ms = raft.NewMemoryStorage()
	n.sm = newStateMachine(n.cfg.QuotaBytes)
	hs := raft.HardState{Term: rep.HardState.Term, Vote: rep.HardState.Vote, Commit: rep.HardState.Commit}
	var snapIndex, snapTerm uint64
	if m := rep.Snapshot; m != nil {
		snapIndex, snapTerm = m.Index, m.Term
		snap, err := n.snaps.load(m.Term, m.Index)
		if err != nil {
			return err
		}
		var cs raft.ConfState
		if err := cs.Unmarshal(m.ConfState); err != nil || !cs.Equal(snap.Meta.ConfState) {
			return fmt.Errorf("%w: snapshot %d: configuration differs from the WAL marker", ErrSnapCorrupt, m.Index)
		}
		sm, err := decodeState(snap.Data, n.cfg.QuotaBytes)
		if err != nil {
			return fmt.Errorf("snapshot %d: %w", m.Index, err)
		}
		if err := n.ms.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("snapshot %d: %w", m.Index, err)
		}
		n.sm, n.applied, n.snapIndex, n.confState = sm, m.Index, m.Index, snap.Meta.ConfState
		hs.Commit = max(hs.Commit, m.Index)
		hs.Term = max(hs.Term, m.Term)
	}
	_ = n.ms.SetHardState(hs)
	n.term, n.commit = hs.Term, hs.Commit
	replayed := withoutReplacedSuffix(rep.Snapshot, rep.Entries)
	n.probes.If(len(replayed) < len(rep.Entries), probeReplacedSuffix)
	ents := make([]raft.Entry, len(replayed))
	for i, e := range replayed {
		ents[i] = raft.Entry{Index: e.Index, Term: e.Term, Type: raft.EntryType(e.Type), Data: e.Data}
	}
	if err := n.ms.Append(ents); err != nil {
		return fmt.Errorf("wal replay: %w", err)
	}
	// Until one ReadIndex round shows this replica caught up with the
	// cluster, its state may be older than what it served before the
	// crash: serializable reads wait for that.
	n.reads.needCatchUp = true
	if err := n.startRaft(); err != nil {
		return err
	}
	n.observeRecovered(hs, snapIndex, snapTerm)
	if n.hs.needs(hs.Term, hs.Vote) {
		// Bring the copy up to date (a slot may be damaged, or it may be
		// older) before raft says anything.
		n.booting = true
		n.writeHSCopy(hs.Term, hs.Vote, n.booted)
	}
	return nil
}

// withoutReplacedSuffix drops, from the entries the WAL replayed after a
// snapshot marker, every one from the first of an older term than the
// snapshot on. A snapshot received from the leader replaces a log that
// conflicts with it (raft discards the whole log), but the WAL only
// truncates where a newer entry is saved: until then it still holds the
// old suffix after the marker. Terms never decrease along a log and every
// entry after a committed snapshot of term T has a term of T or more, so
// those entries are exactly that stale suffix; a replica that brought them
// back would hold a log no leader ever had.
func withoutReplacedSuffix(m *wal.SnapshotMarker, ents []wal.Entry) []wal.Entry {
	if m == nil {
		return ents
	}
	for i := range ents {
		if ents[i].Term < m.Term {
			return ents[:i]
		}
	}
	return ents
}

// booted ends booting once the bootstrap state is durable.
func (n *Node) booted() {
	n.booting = false
	n.process()
}

// tornTail tells a torn write (benign: the lost bytes were never synced,
// so never acknowledged) from damage to a complete record. A crash tears
// only the last unsynced write, on a sector boundary, so a torn tail is a
// record cut short at a sector-aligned end of file. A complete final
// record with a bad checksum, or a short one ending off a sector boundary,
// is corruption of synced data.
func (n *Node) tornTail(r *wal.RepairReport) bool {
	short := strings.Contains(r.Reason, "extends past the end")
	return short && (r.Offset+r.Dropped)%n.cfg.SectorSize == 0
}

// bootstrap initialises a new member: an empty WAL and, for a founding
// member, the bootstrap snapshot of the initial membership, made durable
// before raft starts (so a restart finds the same cluster).
func (n *Node) bootstrap() error {
	w, err := wal.Create(n.h.FS(), wal.Metadata{NodeID: uint64(n.id), ClusterID: n.cfg.ClusterID},
		wal.Options{SegmentSize: n.cfg.SegmentSize})
	if err != nil {
		return fmt.Errorf("wal create: %w", err)
	}
	return n.bootstrapOn(w)
}

// bootstrapOn bootstraps on a WAL that holds nothing yet.
func (n *Node) bootstrapOn(w *wal.WAL) error {
	n.wal = w
	n.ms = raft.NewMemoryStorage()
	n.sm = newStateMachine(n.cfg.QuotaBytes)
	if n.cfg.Join {
		if err := n.startRaft(); err != nil {
			return err
		}
		// Seed the hard state copy before anything can be promised, so
		// that a torn first write of it can only damage one slot.
		n.booting = true
		n.writeHSCopy(0, 0, n.booted)
		return nil
	}
	if len(n.cfg.Members) == 0 {
		return errors.New("config: no members to bootstrap")
	}
	n.restoreInitialStore()
	voters := make([]uint64, len(n.cfg.Members))
	for i, m := range n.cfg.Members {
		voters[i] = uint64(m)
	}
	snap := raft.BootstrapSnapshot(voters, nil)
	snap.Data = n.sm.encode()
	if err := n.ms.ApplySnapshot(snap); err != nil {
		return err
	}
	n.applied, n.snapIndex, n.confState = snap.Meta.Index, snap.Meta.Index, snap.Meta.ConfState
	if err := n.startRaft(); err != nil {
		return err
	}
	n.booting = true
	// Seed the hard state copy before the bootstrap marker: once the WAL
	// holds it, a whole copy exists, so damage found later (even before
	// the first election) can be recovered from.
	n.writeHSCopy(snap.Meta.Term, 0, func() { n.saveBootstrap(snap) })
	return nil
}

func (n *Node) saveBootstrap(snap raft.Snapshot) {
	n.snaps.save(snap, func(err error) {
		if n.stopped {
			return
		}
		if err != nil {
			n.diskError("bootstrap snapshot", err, func() { n.saveBootstrap(snap) })
			return
		}
		if err := n.wal.SaveSnapshot(walMarker(snap.Meta)); err != nil {
			n.fail("wal: bootstrap marker", err)
			return
		}
		n.syncWAL(n.booted)
	})
}

func (n *Node) startRaft() error {
	if n.sm != nil {
		n.sm.store.SetProbes(n.probes)
	}
	rn, err := raft.NewRawNode(raft.Config{
		ID:                        uint64(n.id),
		ElectionTick:              n.cfg.ElectionTicks,
		HeartbeatTick:             n.cfg.HeartbeatTicks,
		MaxSizePerMsg:             n.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           n.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: n.cfg.MaxUncommittedBytes,
		MaxCommittedSizePerReady:  n.cfg.MaxApplyBytes,
		Storage:                   n.ms,
		Applied:                   n.applied,
		PreVote:                   !n.cfg.DisablePreVote,
		CheckQuorum:               !n.cfg.DisableCheckQuorum,
		DisableProposalForwarding: true,
		Rand:                      n.h.Rand(),
		Probes:                    n.probes,
		OnLeader:                  n.onLeader,
		VoteFloor:                 n.voteFloor,
		Recovering:                n.recovering,
		Epoch:                     n.epoch,
	})
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	n.rn = rn
	return nil
}

// installSnapshot replaces the state machine with a snapshot received from
// the leader (already durable).
func (n *Node) installSnapshot(snap raft.Snapshot) error {
	sm, err := decodeState(snap.Data, n.cfg.QuotaBytes)
	if err != nil {
		return err
	}
	if err := n.ms.ApplySnapshot(snap); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return err
	}
	n.sm = sm
	n.sm.store.SetProbes(n.probes)
	n.probes.Hit(probeSnapInstalled)
	n.applied = snap.Meta.Index
	if n.cfg.Observer != nil {
		n.cfg.Observer.AppliedSnapshot(n.id, snap.Meta.Index, snap.Meta.Term)
	}
	n.confState = snap.Meta.ConfState
	n.snapIndex = max(n.snapIndex, snap.Meta.Index)
	n.alarm = false
	n.rebindWatches()
	_ = n.wal.ReleaseTo(snap.Meta.Index)
	n.snaps.releaseBelow(snap.Meta.Index)
	return nil
}

// maybeSnapshot takes a snapshot once enough entries were applied since the
// last one: the state is encoded now (at the applied index), written
// durably, then recorded in the WAL; only then is the in-memory log
// compacted and are old WAL segments and snapshot files released.
func (n *Node) maybeSnapshot() {
	if n.snapshotting || n.applied < n.snapIndex+n.cfg.SnapshotEntries {
		return
	}
	snap, err := n.ms.CreateSnapshot(n.applied, n.confState, n.sm.encode())
	if err != nil {
		return // a newer snapshot arrived from the leader meanwhile
	}
	n.snapshotting = true
	n.saveOwnSnapshot(snap)
}

func (n *Node) saveOwnSnapshot(snap raft.Snapshot) {
	n.snaps.save(snap, func(err error) {
		if n.stopped {
			return
		}
		if err != nil && n.snapIndex >= snap.Meta.Index {
			n.probes.Hit(probeSnapSuperseded)
			n.snapshotting = false // superseded by a snapshot from the leader
			return
		}
		if err != nil {
			n.diskError("save snapshot", err, func() { n.saveOwnSnapshot(snap) })
			return
		}
		if err := n.wal.SaveSnapshot(walMarker(snap.Meta)); err != nil {
			// A newer snapshot from the leader was recorded meanwhile.
			n.snapshotting = false
			return
		}
		n.syncWAL(func() {
			n.probes.Hit(probeSnapTaken)
			n.snapshotting = false
			idx := snap.Meta.Index
			n.snapIndex = max(n.snapIndex, idx)
			if idx > n.cfg.CatchUpEntries {
				_ = n.ms.Compact(idx - n.cfg.CatchUpEntries)
			}
			_ = n.wal.ReleaseTo(idx)
			n.snaps.releaseBelow(idx)
		})
	})
}

// restoreInitialStore starts a new cluster's state machine from
// Config.InitialStore (decoded by Start). Its leases get deadline 0 on
// every replica alike, so a lease lives one TTL from the first leader's
// promotion (which renews every lease) unless kept alive, as after
// etcd's restore.
func (n *Node) restoreInitialStore() {
	st := n.initialStore
	if st == nil {
		return
	}
	n.initialStore = nil
	n.sm.store = st
	for _, id := range st.Leases() {
		n.sm.leaseDeadline[id] = 0
	}
}
