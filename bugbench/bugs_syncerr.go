package bugbench

// syncErrBugs are planted bugs on the storage error paths that the
// disk-sync-error fault opened (faults/syncerr.go): what a WAL, a snapshot
// store or a node does when an fsync fails. Before that fault no fsync of
// the simulated disk ever failed, so every one of them was invisible. They
// follow known shapes: PostgreSQL's "fsyncgate" (retry a failed fsync and
// trust the retry, although the kernel dropped the pages), storage code
// that logs an I/O error and carries on, and error handling that knows
// only the errors its author tested (a full disk). Each is one small
// change that compiles; Unit records `bugbench -unit` on the mutant.
var syncErrBugs = []Bug{
	{
		Name: "wal-sync-error-acks", Group: GroupPath, File: "wal/wal.go",
		Old: `for _, d := range fl.dones {
    d(err)
}`,
		New: `for _, d := range fl.dones {
    d(nil) // the error is sticky in w.err: the next call reports it
}`,
		Description: "A failed fsync makes the WAL unusable (its error sticks), but the Syncs that waited on that very fsync are told it succeeded: the node acknowledges entries (and votes) whose records were never durable, and fails only at its next Save. A crash then loses acknowledged entries.",
		Unit:        UnitCaught,
	},
	{
		Name: "wal-fsync-retry-trusted", Group: GroupPath, File: "wal/wal.go",
		Old: `if err != nil && w.err == nil {
    w.probes.Hit(probeSyncFailed)
    w.err = fmt.Errorf("wal: sync %s: %w", fl.f.Name(), err)
}`,
		New: `if err != nil {
    // Transient: fsync again for the same waiters.
    w.probes.Hit(probeSyncFailed)
    w.waiting = append(fl.dones, w.waiting...)
    w.next()
    return
}`,
		Description: "PostgreSQL's fsyncgate: the WAL retries a failed fsync for the same waiters and trusts the retry. The retry succeeds, since the kernel already dropped the pages whose writeback failed, so the records it covered are acknowledged without ever being durable: a crash loses them.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-wal-sync-error-continues", Group: GroupPath, File: "node/node.go",
		Old: `if err != nil {
    n.diskError("wal sync", err, func() { n.syncWAL(n.persistDone) })
    return
}
n.persistDone()`,
		New: `if errors.Is(err, host.ErrNoSpace) {
    n.diskError("wal sync", err, func() { n.syncWAL(n.persistDone) })
    return
}
n.persistDone()`,
		Description: "The node handles the WAL sync error it was tested with, a full disk, and takes any other error as done: after a failed fsync it acknowledges the Ready's entries and sends its votes as if they were durable (it halts only when the next Save finds the WAL broken). A restart loses what it acknowledged.",
		Unit:        UnitCaught,
	},
	{
		Name: "snap-save-ignores-sync-error", Group: GroupPath, File: "snap/snap.go",
		Old: `f.Sync(func(err error) {
    if err != nil {
        fail(err)
        return
    }
    if err := f.Close(); err != nil {`,
		New: `f.Sync(func(err error) {
    if err := f.Close(); err != nil {`,
		Description: "Saving a snapshot ignores the error of the snapshot file's fsync and renames it into place: the WAL then records a marker for a snapshot whose bytes were never durable and the log below it is released. After a crash the replica finds its snapshot empty or damaged although no fault touched its durable data.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-snapshot-sync-error-continues", Group: GroupPath, File: "node/node.go",
		Old: `if err != nil {
    n.diskError("save snapshot", err, func() { n.persistSnapshotFile(rd) })
    return
}
n.persistWAL(rd)`,
		New: `if errors.Is(err, host.ErrNoSpace) {
    n.diskError("save snapshot", err, func() { n.persistSnapshotFile(rd) })
    return
}
n.persistWAL(rd)`,
		Description: "A follower that received a snapshot retries its save on a full disk but goes on after any other error: the WAL records a marker for a snapshot file the failed save removed, and the follower acknowledges the snapshot. At its next restart the snapshot its WAL names is missing.",
		Unit:        UnitCaught,
	},
}

// snapStatusBugs are planted bugs on the path by which a leader learns
// that a snapshot stream failed (node.awaitSnapshot, raft's
// MsgSnapStatus): before the node timed out unacknowledged streams it
// reported every snapshot as delivered, so the reject path never ran.
var snapStatusBugs = []Bug{
	{
		Name: "raft-snapshot-reject-stays", Group: GroupTiming, File: "raft/raft.go",
		Old: `if m.Reject {
    r.probes.Hit(probeSnapRejected)
    pr.PendingSnapshot = 0
}
pr.becomeProbe()`,
		New: `if m.Reject {
    r.probes.Hit(probeSnapRejected)
    return nil // the follower asks again when it needs a snapshot
}
pr.becomeProbe()`,
		Unit:        UnitCaught,
		Description: "On a failed snapshot send the leader keeps the follower in snapshot state, waiting for it to ask again, but a follower in snapshot state gets no appends to reject: the follower whose stream was lost (a chunk dropped, a crash mid-stream) never catches up while that leader leads (etcd raft's stuck-in-StateSnapshot shape).",
	},
	{
		Name: "node-snapshot-stream-unreported", Group: GroupTiming, File: "node/snapstream.go",
		Old: `delete(n.snapOut, to)
n.rn.ReportSnapshot(to, false)
n.process()`,
		New:         `delete(n.snapOut, to)`,
		Unit:        UnitCaught,
		Description: "The node forgets to tell raft that a snapshot stream went unacknowledged: raft waits in snapshot state for an answer that never comes, and a follower whose stream was lost is left behind for as long as that leader leads.",
	},
}
