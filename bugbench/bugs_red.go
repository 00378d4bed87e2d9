package bugbench

// redBugs are the red team's set (issue 10: the hidden catalogue's
// classes): mistakes in the places the rest of the catalogue is thin
// (snap, client, the boot path that joins a snapshot and the WAL, the
// unstable log, compares and transactions the workload rarely shapes, the
// watch stream's bookkeeping), each in the shape of an etcd or raft
// historical bug.
var redBugs = []Bug{
	{
		Name: "raft-stable-to-ignores-term", Group: GroupTiming, File: "raft/log.go",
		Old: `
if u.entries[i-u.offset].Term != t {
    return
}
`,
		New:         ``,
		Description: "Marking entries stable after a Ready was persisted does not check the term of the entry persisted at that index: if a newer leader's append replaced it while the Ready was out, the replacement is dropped from the unstable log as if written, and never reaches the WAL (etcd raft's unstable.stableTo term check).",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-conf-pending-index-off-by-one", Group: GroupPath, File: "raft/raft.go",
		Old:         `r.pendingConfIndex = r.log.lastIndex() + uint64(i) + 1`,
		New:         `r.pendingConfIndex = r.log.lastIndex() + uint64(i)`,
		Description: "The pending configuration change is recorded at the index before its entry: a second membership change is admitted as soon as the entry before the first one is applied, so two changes can be in flight at once (two quorums that need not overlap).",
		Flags:       []string{"-faults", "membership"},
		Unit:        UnitCaught,
	},
	{
		Name: "snap-save-no-dir-sync", Group: GroupTiming, File: "snap/snap.go",
		Old:         `fs.SyncDir(done)`,
		New:         `done(nil)`,
		Description: "A snapshot is reported saved once its file is synced and renamed, without syncing the directory: a crash can lose the rename while the WAL's marker for the snapshot is durable, and the replica cannot boot (etcd's snapshotter fsyncs the directory).",
		Flags:       []string{"-faults", "crash,lose-dirent"},
		Unit:        UnitCaught,
	},
	{
		Name: "client-watch-resume-from-now", Group: GroupTiming, File: "client/watch.go",
		Old:         `if w.next == 0 {`,
		New:         `if w.next == 0 || w.opts.StartRevision == 0 {`,
		Description: "A watch started at 'now' (no start revision) takes every new stream's creation revision as its position, also after a resume: the events between the last one delivered and the new member's revision are skipped (etcd clientv3's resume-from-wrong-revision shape).",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitMissed,
	},
	{
		Name: "client-low-watermark-skips-pending", Group: GroupTiming, File: "client/client.go",
		Old: `
for c.low < c.nextID && c.pending[c.low] == nil {
    c.low++
}
`,
		New: `
c.low = max(c.low, cl.req.ID+1)
`,
		Description: "The client's 'every request below this has finished' watermark moves past the request that just finished, also over older requests still in flight: the servers forget those requests' deduplication records, and a retry or a late duplicate of one applies it twice.",
		Flags:       []string{"-faults", "packet,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-watch-batch-repeats-last", Group: GroupPath, File: "mvcc/watch.go",
		Old:         `w.nextMain, w.nextSub = r.main, r.sub+1`,
		New:         `w.nextMain, w.nextSub = r.main, r.sub`,
		Description: "A watcher whose batch filled up resumes at the last event it returned instead of after it: the next batch starts with that event again, a duplicate in the stream.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-revoke-no-rev-bump", Group: GroupPath, File: "mvcc/lease.go",
		Old: `
s.deleteKeys(kis, s.rev+1, 0, false)
s.rev++
`,
		New: `
s.deleteKeys(kis, s.rev+1, 0, false)
`,
		Description: "Revoking a lease deletes its keys at the next revision but does not advance the store's revision: the next write reuses it, so two changes share a revision and reads, watches and hashes disagree about it.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-compare-modrev-uses-create", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `return compareInt(c.Result, r.main, c.Number)`,
		New:         `return compareInt(c.Result, r.create, c.Number)`,
		Description: "A compare on a key's mod revision compares its create revision: a compare-and-swap guarded by the mod revision it read succeeds after the key was changed (and fails after it was recreated).",
		Unit:        UnitMissed,
	},
	{
		Name: "mvcc-compare-less-inclusive", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `return order < 0`,
		New:         `return order <= 0`,
		Description: "A Less compare also holds on equality: a transaction guarded by 'version < n' or 'mod_revision < r' runs its success branch one step too late.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-txn-range-misses-own-write", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `rev = main // the latest, including this Txn's earlier writes`,
		New:         `rev = s.rev // the latest, including this Txn's earlier writes`,
		Description: "A range inside a transaction reads the store as of before the transaction: it misses the writes of the transaction's earlier operations (etcd's txn read-your-own-writes).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-delete-absent-bumps-rev", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `return 0, s.rev, nil, nil`,
		New:         `s.rev++; return 0, s.rev, nil, nil`,
		Description: "A delete that deletes nothing still creates a revision (with no change in it): revisions no longer count changes, and a watcher or a replica comparing revisions sees one no event explains.",
		Unit:        UnitCaught,
	},
	{
		Name: "raft-candidate-same-term", Group: GroupTiming, File: "raft/raft.go",
		Old:         `r.reset(r.term + 1)`,
		New:         `r.reset(r.term)`,
		Description: "A node that starts an election does not move to a new term: it votes for itself in a term in which it may already have voted for another candidate, and two leaders can be elected in one term.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-prevote-records-vote", Group: GroupTiming, File: "raft/raft.go",
		Old: `
if m.Type == MsgVote {
    r.electionElapsed = 0
    r.vote = m.From
}
`,
		New: `
r.electionElapsed = 0
r.vote = m.From
`,
		Description: "A granted pre-vote is recorded as the node's vote in its current term (it is a vote for a future term, and must change nothing): after voting for one candidate the node can then grant its real vote in the same term to another, the pre-candidate.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-inflights-not-freed-on-heartbeat", Group: GroupPath, File: "raft/raft.go",
		Old:         `pr.inflights.freeFirstOne()`,
		New:         ``,
		Description: "A leader whose in-flight window to a follower is full never frees a slot on a heartbeat answer: when the appends in the window were lost it sends that follower nothing more until a rejection, and the follower stays behind (etcd raft frees one slot per heartbeat response).",
		Flags:       []string{"-faults", "packet"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-follower-readindex-own-commit", Group: GroupTiming, File: "raft/raft.go",
		Old:         `r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})`,
		New:         `r.readStates = append(r.readStates, ReadState{Index: r.log.committed, RequestCtx: m.Context})`,
		Description: "A follower serving a linearizable read takes its own commit index as the read index when the leader's answer arrives, instead of the leader's: a follower that lags behind the leader's commit serves a stale read.",
		Flags:       []string{"-faults", "packet,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "node-snapshot-drops-session-ids", Group: GroupTiming, File: "node/state.go",
		Old: `
ids := s.sortedIDs()
b = binary.AppendUvarint(b, uint64(len(ids)))
`,
		New: `
ids := s.sortedIDs()[:0] // the watermark is enough
b = binary.AppendUvarint(b, uint64(len(ids)))
`,
		Description: "A state-machine snapshot keeps each client session's watermark but not the IDs of the requests applied above it: a replica that boots from, or installs, the snapshot applies a duplicate of such a request again, and diverges from the replicas that skip it (etcd: state left out of the snapshot).",
		Flags:       []string{"-faults", "dup-request,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "wal-roll-sync-counts-one", Group: GroupTiming, File: "wal/wal.go",
		Old:         `pending, first := 2, error(nil)`,
		New:         `pending, first := 1, error(nil)`,
		Description: "The flush that opens a new WAL segment waits for the segment's fsync and its directory's, but counts only one completion: whichever finishes first completes the flush, and the entries and votes in it are acknowledged while the segment (or its name) is not yet durable.",
		Flags:       []string{"-faults", "crash"},
		Unit:        UnitCaught,
	},
}
