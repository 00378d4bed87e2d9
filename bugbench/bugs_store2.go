package bugbench

// storeBugs2 are the second set of store-side planted bugs (node, wal,
// mvcc), in shapes the first set lacks: compare semantics on deleted keys,
// watch catch-up in batches, compaction boundaries, what a snapshot restore
// must carry over (the compaction revision, lease attachments), WAL record
// checksums per type, segment naming and release, and the session
// watermark that makes writes idempotent. Each is one small change that
// compiles; the Unit field records `bugbench -unit` on the mutant.
var storeBugs2 = []Bug{
	{
		Name: "mvcc-compare-sees-tombstone", Group: GroupSymptom, File: "mvcc/write.go",
		Old: `r := s.latest(ki)
if r.tombstone() {
    return true
}
found = true`,
		New: `r := s.latest(ki)
found = true`,
		Description: "A txn compare evaluates a deleted key's tombstone instead of treating the key as absent: mod_revision = 0 (\"key absent\") fails after a delete, and value != x holds for a key that does not exist (etcd: a compare on a missing key fails for values, compares zero otherwise).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-watch-batch-skips-revision-rest", Group: GroupPath, File: "mvcc/watch.go",
		Old:         `w.nextMain, w.nextSub = r.main, r.sub+1`,
		New:         `w.nextMain, w.nextSub = r.main+1, 0`,
		Description: "A watcher catching up from history in batches resumes after the revision of the batch's last event instead of after the event itself: when a batch fills in the middle of a multi-key revision, the rest of that revision is never delivered (etcd's unsynced-watcher batching shape).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-prevkv-at-current-revision", Group: GroupSymptom, File: "mvcc/watch.go",
		Old:         `p := s.liveAt(r.ki, r.main-1)`,
		New:         `p := s.liveAt(r.ki, s.rev)`,
		Description: "A watch event's prev_kv is read at the store's current revision instead of just before the event: right only by accident, for a watcher catching up it is a later version of the key (or the event itself), for a synced one the event itself.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-range-limit-stops-count", Group: GroupSymptom, File: "mvcc/read.go",
		Old: `res.More = true
return true`,
		New: `res.More = true
return false`,
		Description: "A range with a limit stops scanning at the first key past the limit: More is right but Count is limit+1 instead of the number of keys in the range (etcd returns the full count whatever the limit).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-restore-drops-compact-rev", Group: GroupPath, File: "mvcc/snapshot.go",
		Old:         `s.rev, s.compactRev = d.varint(), decodeCompactRev(d.varint())`,
		New:         `s.rev, _ = d.varint(), decodeCompactRev(d.varint())`,
		Description: "Restoring a snapshot reads the compaction revision but does not keep it: after a restart or a snapshot install, reads and watches below it are served from the partial history that compaction left (missing keys) instead of failing with ErrCompacted.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-restore-no-lease-attach", Group: GroupPath, File: "mvcc/snapshot.go",
		Old: `d.fail("live key attached to a missing lease")
return false
}
l.keys[ki] = struct{}{}`,
		New: `d.fail("live key attached to a missing lease")
return false
}`,
		Description: "Restoring a snapshot checks that a live key's lease exists but does not re-attach the key to it: after a restart or a snapshot install, revoking or expiring the lease leaves its keys in place on that replica (etcd's lease-revoke-after-restart shape).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-read-compacted-boundary", Group: GroupPath, File: "mvcc/store.go",
		Old:         `case rev < s.compactRev:`,
		New:         `case rev <= s.compactRev:`,
		Description: "Reads at exactly the compaction revision are refused with ErrCompacted, although compaction keeps everything visible at it (etcd serves them): a client that lists at the compaction revision, as Kubernetes' reflector does after a compaction, fails.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-watch-compacted-boundary", Group: GroupPath, File: "mvcc/watch.go",
		Old:         `case startRev < s.compactRev:`,
		New:         `case startRev <= s.compactRev:`,
		Description: "A watch from exactly the compaction revision is refused with ErrCompacted, although its events are all still in history: a client that restarts its watch from the reported compact_revision (etcd's documented recovery) can never resume.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-session-watermark-drops-pending", Group: GroupTiming, File: "node/state.go",
		Old:         `i, _ := slices.BinarySearch(s.applied, fb)`,
		New:         `i, _ := slices.BinarySearch(s.applied, fb+1)`,
		Description: "Advancing a client's finished-below watermark forgets the applied request at the watermark itself, which the client has not finished: a duplicate of it delivered late, or a retry, takes effect a second time.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-watch-cancel-compact-rev", Group: GroupSymptom, File: "node/watch.go",
		Old: `if errors.Is(err, mvcc.ErrCompacted) {
    msg.CompactRevision = n.sm.store.CompactRevision()
}`,
		New: `if errors.Is(err, mvcc.ErrCompacted) {
    msg.CompactRevision = st.w.NextRevision()
}`,
		Description: "A watch canceled because compaction overtook it reports the watcher's own position as the compaction revision: a client that restarts from the reported compact_revision asks for a compacted revision again, or, resuming above it, misses events.",
		Unit:        UnitMissed,
	},
	{
		Name: "wal-crc-skips-entries", Group: GroupSymptom, File: "wal/record.go",
		Old:         `if crc32.Checksum(b[4:end], castagnoli) != want {`,
		New:         `if b[8] != byte(TypeEntry) && crc32.Checksum(b[4:end], castagnoli) != want {`,
		Description: "Replay checks the checksum of every record type except entries (raft \"verifies\" them by index and term): a rotted entry is replayed, and applied, with the wrong data.",
		Unit:        UnitCaught,
	},
	{
		Name: "wal-release-by-own-first", Group: GroupPath, File: "wal/wal.go",
		Old:         `for n < keep && w.segs[n+1].first <= limit+1 {`,
		New:         `for n < keep && w.segs[n].first <= limit {`,
		Description: "Releasing segments below a snapshot removes every segment that begins at or below the snapshot index, judged by its own first index instead of the next segment's: a segment that also holds entries after the snapshot is removed, and the next boot finds a hole no marker covers.",
		Unit:        UnitCaught,
	},
	{
		Name: "wal-roll-names-buffered-index", Group: GroupPath, File: "wal/wal.go",
		Old:         `s := segment{seq: seq, first: w.writtenLast + 1}`,
		New:         `s := segment{seq: seq, first: w.last + 1}`,
		Description: "A new segment is named after the last index saved instead of the last index written: the entries still buffered for it are in a segment whose name says it starts after them, so boot finds the segments out of sequence and release removes the wrong one.",
		Unit:        UnitCaught,
	},
	{
		Name: "wal-marker-keeps-snapshot-entry", Group: GroupPath, File: "wal/replay.go",
		Old:         `for i < len(ents) && ents[i].Index <= m.Index {`,
		New:         `for i < len(ents) && ents[i].Index < m.Index {`,
		Description: "Replaying a snapshot marker drops the entries before the snapshot index but keeps the entry at it: the log replayed after a snapshot starts with an entry the snapshot already covers.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-delete-keeps-lease", Group: GroupPath, File: "mvcc/write.go",
		Old: `prev := s.kv(last, false)
s.detach(last.lease, ki)`,
		New:         `prev := s.kv(last, false)`,
		Description: "Deleting a key does not detach it from its lease: when the lease later expires or is revoked, it deletes the key again (a delete of an absent key at a new revision), or a re-created key that belongs to no lease.",
		Unit:        UnitCaught,
	},
	{
		Name: "wal-append-after-torn-tail", Group: GroupTiming, File: "wal/wal.go",
		Old:         `w.f, w.off, w.alloc = f, res.end, res.size`,
		New:         `w.f, w.off, w.alloc = f, res.size, res.size`,
		Description: "After cutting off a torn final record, the WAL appends at the old end of the file instead of the end of the last valid record: new records follow a hole, and the next boot finds valid records after damage and refuses the log.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-snapshot-index-from-commit", Group: GroupTiming, File: "node/storage.go",
		Old:         `snap, err := n.ms.CreateSnapshot(n.applied, n.confState, n.sm.encode())`,
		New:         `snap, err := n.ms.CreateSnapshot(n.commit, n.confState, n.sm.encode())`,
		Description: "A replica's own snapshot is labelled with its commit index instead of its applied index: when commit is ahead of apply, the snapshot claims entries its state does not hold, and a restart from it (or a follower sent it) never applies them (etcd's consistent-index shape).",
		Unit:        UnitMissed,
	},
	{
		Name: "mvcc-compact-keeps-tombstone", Group: GroupPath, File: "mvcc/compact.go",
		Old:         `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {`,
		New:         `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main <= rev {`,
		Description: "Compaction keeps a key's newest record at or before the compaction revision even when it is a delete from before it: keys deleted before the compaction stay in the index as tombstones for good, and a snapshot of the store then holds history before its compaction revision, which a restore refuses.",
		Unit:        UnitCaught,
	},
}
