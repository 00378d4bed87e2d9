package bugbench

// All returns the catalogue of planted bugs, grouped by package. Each is a
// mistake someone could plausibly make, modelled on the classic Raft
// mistakes and on the shapes of etcd's historical bugs; none is a
// deliberately obvious break. Unit records what `bugbench -unit` measured
// for the package's own tests (README: the bugbench table).
func All() []Bug {
	var all []Bug
	for _, part := range [][]Bug{raftBugs, raftBugs2, raftBugs3, nodeBugs, walSnapBugs, mvccBugs, clientBugs, concurrencyBugs, storeBugs2, storeBugs3, redBugs, syncErrBugs, snapStatusBugs} {
		all = append(all, part...)
	}
	return all
}

var raftBugs = []Bug{
	{
		Name: "raft-vote-ignores-log", Group: GroupTiming, File: "raft/raft.go",
		Old:         `if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {`,
		New:         `if canVote {`,
		Description: "A vote is granted without the election restriction (Raft §5.4.1): a candidate whose log lacks committed entries can win and overwrite them.",
		Flags:       []string{"-faults", "crash,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-uptodate-index-only", Group: GroupTiming, File: "raft/log.go",
		Old:         `return term > lt || (term == lt && lasti >= l.lastIndex())`,
		New:         `_ = lt; return lasti >= l.lastIndex()`,
		Description: "The up-to-date check compares log length only, not the last term first: a long log of stale-term entries beats a shorter one that holds committed entries.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-commit-prior-term", Group: GroupTiming, File: "raft/log.go",
		Old:         `if i > l.committed && l.matchTerm(i, t) {`,
		New:         `if i > l.committed {`,
		Description: "A leader commits by counting replicas for an entry of an earlier term (Raft Figure 8): that entry can still be overwritten by a later leader.",
		Flags:       []string{"-faults", "partition,crash", "-nodes", "5"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-double-vote", Group: GroupTiming, File: "raft/raft.go",
		Old:         `(r.vote == None && r.lead == None) ||`,
		New:         `r.lead == None ||`,
		Description: "A follower with no leader votes again in a term in which it already voted for another candidate: two leaders in one term.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-append-no-prev-check", Group: GroupTiming, File: "raft/log.go",
		Old:         `if !l.matchTerm(index, logTerm) {`,
		New:         `if index > l.lastIndex() {`,
		Description: "A follower accepts an append whose previous entry it holds at the same index but with another term (log matching not checked, only length).",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-stale-append-truncates", Group: GroupPath, File: "raft/log.go",
		Old: `if ci := l.findConflict(ents); ci != 0 {`,
		New: `if ci := func() uint64 {
    if len(ents) > 0 {
        return ents[0].Index
    }
    return 0
}(); ci != 0 {`,
		Description: "A follower truncates its log at the first entry of every append instead of at the first conflict: a delayed or duplicated older append cuts away entries it already acknowledged (etcd's out-of-order MsgApp bug shape).",
		Flags:       []string{"-faults", "packet"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-heartbeat-commit-unbounded", Group: GroupPath, File: "raft/raft.go",
		Old:         `commit := min(r.trk.get(to).Match, r.log.committed)`,
		New:         `commit := r.log.committed`,
		Description: "Heartbeats carry the leader's commit index instead of min(match, commit): a follower with a stale divergent suffix commits entries the leader never had.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-commit-past-last-new", Group: GroupPath, File: "raft/log.go",
		Old:         `l.commitTo(min(committed, lastNew))`,
		New:         `l.commitTo(min(committed, l.lastIndex()))`,
		Description: "A follower advances its commit index to the leader's commit bounded by its own last index, not by the last entry this append verified: stale entries past it get committed.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitMissed,
		Equivalent:  "this raft's probing makes the first accepted append of a term start at the follower's first divergent entry, so a follower never keeps a divergent suffix past an accepted append (RESULTS.md; raft TestAppendsStartAtTheFirstConflict)",
	},
	{
		Name: "raft-readindex-no-quorum", Group: GroupTiming, File: "raft/readonly.go",
		Old:         `if len(r.trk.voters) == 1 && r.trk.isVoter(r.id) {`,
		New:         `if r.trk.isVoter(r.id) {`,
		Description: "ReadIndex answers at once, as if the leader were the sole voter, without a heartbeat quorum confirming it still leads: a deposed leader serves stale reads.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-readindex-before-term-commit", Group: GroupTiming, File: "raft/readonly.go",
		Old: `
if !r.committedEntryInCurrentTerm() {
    // Our commit index may lag the previous leader's: wait until the
`,
		New: `
if r.log.committed == 0 {
    // Our commit index may lag the previous leader's: wait until the
`,
		Description: "A new leader serves ReadIndex before it has committed an entry of its term: its commit index may lag the previous leader's, so reads miss acknowledged writes.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-readindex-ack-count", Group: GroupTiming, File: "raft/readonly.go",
		Old:         `if !r.trk.hasQuorum(rs.acks) {`,
		New:         `if len(rs.acks) < 2 {`,
		Description: "A read is released after a single follower's heartbeat acknowledgement instead of a quorum's: in a cluster of more than three a deposed leader can still serve.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-commit-quorum-even", Group: GroupPath, File: "raft/progress.go",
		Old:         `return buf[n/2]`,
		New:         `return buf[(n-1)/2]`,
		Description: "The commit index is the median of the match indexes rounded the wrong way: right for odd voter counts, one short of a majority for even ones (after a membership change).",
		Flags:       []string{"-faults", "membership,crash,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-vote-quorum-even", Group: GroupPath, File: "raft/progress.go",
		Old:         `q := len(t.voters)/2 + 1`,
		New:         `q := (len(t.voters) + 1) / 2`,
		Description: "The vote quorum is half the voters rounded up: a majority for odd counts, but half of an even configuration elects a leader, so two can win one term.",
		Flags:       []string{"-faults", "membership,partition", "-nodes", "4"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-leader-counts-unsynced", Group: GroupTiming, File: "raft/raft.go",
		Old: `
r.log.append(es...)
}
`,
		New: `
r.log.append(es...)
if pr := r.trk.progress[r.id]; pr != nil {
    pr.maybeUpdate(r.log.lastIndex())
}
}
`,
		Description: "The leader counts its own entries toward the commit quorum as soon as it appends them, before its fsync: a crash of the leader and one follower loses a committed, acknowledged write.",
		Flags:       []string{"-faults", "crash,disk-slow"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-ack-before-persist", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case MsgAppResp, MsgVoteResp, MsgVote:`,
		New:         `case MsgVoteResp, MsgVote:`,
		Description: "Append acknowledgements are sent with the Ready instead of after it is persisted: a follower acknowledges entries it then loses in a crash (fsync ordering).",
		Flags:       []string{"-faults", "crash,disk-slow"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-vote-before-persist", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case MsgAppResp, MsgVoteResp, MsgVote:`,
		New:         `case MsgAppResp:`,
		Description: "Votes are sent before the term and vote are durable: a voter that crashes before its fsync forgets its vote and votes again in the same term.",
		Flags:       []string{"-faults", "crash,partition"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-stale-term-append", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case m.Term < r.term:`,
		New:         `case m.Term < r.term && m.Type != MsgApp:`,
		Description: "Appends from a lower term are not rejected: a deposed leader that was partitioned overwrites a newer leader's entries on its followers.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-conf-pending-ignored", Group: GroupPath, File: "raft/raft.go",
		Old:         `if r.pendingConfIndex > r.log.applied {`,
		New:         `if r.pendingConfIndex > r.log.lastIndex() {`,
		Description: "The one-change-at-a-time check compares the pending conf change with the last index instead of the applied index, so it never refuses: two single-server changes overlap and their quorums need not intersect.",
		Flags:       []string{"-faults", "membership,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-conf-before-term-commit", Group: GroupPath, File: "raft/raft.go",
		Old:         `r.pendingConfIndex = r.log.lastIndex() + 1`,
		New:         `r.pendingConfIndex = 0`,
		Description: "A new leader may propose a membership change before it has committed an entry of its term (the single-server change bug Ongaro reported): a change of the previous leader may still be uncommitted.",
		Flags:       []string{"-faults", "membership,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-snapshot-conflicting-commit", Group: GroupPath, File: "raft/raft.go",
		Old:         `if r.log.matchTerm(s.Meta.Index, s.Meta.Term) {`,
		New:         `if s.Meta.Index <= r.log.lastIndex() {`,
		Description: "A follower that holds the snapshot's index treats the snapshot as known without comparing terms, and commits its own conflicting entry there instead of installing the snapshot.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
}

var nodeBugs = []Bug{
	{
		Name: "node-dedup-missing", Group: GroupSymptom, File: "node/state.go",
		Old: `
if dup {
    return false
}
`,
		New:         `_ = dup`,
		Description: "The apply-time session check forgets the request IDs it applied: a write the network duplicated, or a client retried at a new leader, takes effect twice.",
		Flags:       []string{"-faults", "packet,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "node-lease-expiry-local-clock", Group: GroupPath, File: "node/apply.go",
		Old:         `if !ok || dl > c.stamp {`,
		New:         `if !ok || dl > n.h.Now().UnixNano() {`,
		Description: "An expire command is judged against each replica's own clock instead of the leader's replicated stamp: replicas disagree on which leases are revoked and diverge.",
		Flags:       []string{"-faults", "clock-drift,pause"},
	},
	{
		Name: "node-lease-no-promote", Group: GroupPath, File: "node/node.go",
		Old:         `n.sm.store.LeasePromote(n.h.Now())`,
		New:         `_ = n.h.Now()`,
		Description: "A new leader does not renew the leases it inherits (etcd's lessor Promote): leases whose keep-alives could not reach anyone during the election expire at once.",
		Flags:       []string{"-faults", "partition,crash"},
	},
	{
		Name: "node-keepalive-deadline-stale", Group: GroupPath, File: "node/apply.go",
		Old:         `n.sm.leaseDeadline[r.ID] = c.stamp + int64(ttl)`,
		New:         `_ = ttl`,
		Description: "A keep-alive renews mvcc's lease but not the replicated deadline the expire command is checked against: a kept-alive lease is revoked after its first TTL.",
	},
	{
		Name: "node-read-applied-off-by-one", Group: GroupSymptom, File: "node/reads.go",
		Old:         `if b.index > n.applied {`,
		New:         `if b.index > n.applied+1 {`,
		Description: "A linearizable read is served once the replica has applied up to one entry short of its read index: it can miss the write acknowledged just before it.",
	},
	{
		Name: "node-read-stale-round", Group: GroupTiming, File: "node/reads.go",
		Old:         `binary.BigEndian.Uint64(rs.RequestCtx) != r.inflight.ctx {`,
		New:         `binary.BigEndian.Uint64(rs.RequestCtx) == 0 {`,
		Description: "A ReadIndex answer is matched to the round in flight without comparing contexts: the late answer of a round given up on serves newer reads at an older index.",
		Flags:       []string{"-faults", "partition,packet"},
	},
	{
		Name: "node-watch-rebind-skip", Group: GroupPath, File: "node/watch.go",
		Old:         `mw, err := n.sm.store.Watch(st.wkey, st.end, next, st.prevKV)`,
		New:         `mw, err := n.sm.store.Watch(st.wkey, st.end, next+1, st.prevKV)`,
		Description: "After installing a snapshot from the leader, watch streams are re-created one revision past where they were: a follower's streams silently skip a revision.",
		Flags:       []string{"-faults", "partition,crash"},
	},
	{
		Name: "node-watch-split-revision", Group: GroupPath, File: "node/watch.go",
		Old:         `for err == nil && len(evs) > 0 && st.w.NextRevision() == evs[len(evs)-1].KV.ModRevision {`,
		New:         `for err == nil && len(evs) > MaxWatchBatch && st.w.NextRevision() == evs[len(evs)-1].KV.ModRevision {`,
		Description: "A watch message may end in the middle of a revision (more events than one batch): a client that resumes from last revision + 1 loses the rest of that revision.",
	},
	{
		Name: "node-boot-applied-from-commit", Group: GroupTiming, File: "node/storage.go",
		Old:         `n.term, n.commit = hs.Term, hs.Commit`,
		New:         `n.term, n.commit, n.applied = hs.Term, hs.Commit, hs.Commit`,
		Description: "On restart the replica takes the WAL's commit index as its applied index although only the snapshot is applied: entries between the snapshot and the commit are never re-applied.",
		Flags:       []string{"-faults", "crash"},
	},
	{
		Name: "node-torn-tail-lenient", Group: GroupSymptom, File: "node/storage.go",
		Old:         `return short && (r.Offset+r.Dropped)%n.cfg.SectorSize == 0`,
		New:         `return short`,
		Description: "A final WAL record that looks cut short is taken for a torn write without checking that the cut ends on a sector boundary: bit rot in the length field of a synced record silently drops an acknowledged entry or vote instead of starting recovery.",
		Flags:       []string{"-faults", "disk-corrupt,crash"},
	},
	{
		Name: "raft-recovering-votes", Group: GroupSymptom, File: "raft/raft.go",
		Old:         `ignore := r.recovering || m.Term <= r.voteFloor`,
		New:         `ignore := m.Term <= r.voteFloor`,
		Description: "A replica that lost its log to corruption and is rebuilding grants votes: with its empty log it helps elect a candidate that lacks committed entries.",
		Flags:       []string{"-faults", "disk-corrupt,crash,partition"},
	},
	{
		Name: "node-snapshot-not-durable", Group: GroupTiming, File: "node/node.go",
		Old: `
n.persistSnapshotFile(rd)
return
`,
		New: `
n.persistWAL(rd)
n.snaps.save(rd.Snapshot, func(error) {})
return
`,
		Description: "A snapshot received from the leader is recorded in the WAL before its file is durable: a crash in between leaves a WAL marker naming a snapshot that is not on disk.",
		Flags:       []string{"-faults", "crash,disk-slow"},
	},
}

var walSnapBugs = []Bug{
	{
		Name: "wal-vote-not-saved", Group: GroupTiming, File: "wal/wal.go",
		Old:         `if !hs.IsEmpty() && hs != w.hs {`,
		New:         `if !hs.IsEmpty() && (hs.Term != w.hs.Term || hs.Commit != w.hs.Commit) {`,
		Description: "The WAL writes a hard state record only when the term or commit changed, so a vote cast in the current term is not saved: after a crash the replica can vote again in that term.",
		Flags:       []string{"-faults", "crash,partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "wal-sync-early", Group: GroupTiming, File: "wal/wal.go",
		Old:         `f.Sync(w.onSynced)`,
		New:         `f.Sync(func(error) {}); w.onSynced(nil)`,
		Description: "Sync reports the records durable as soon as they are written, without waiting for the fsync (a trusted write-back cache): a crash loses acknowledged entries and votes.",
		Flags:       []string{"-faults", "crash,disk-slow"},
		Unit:        UnitCaught,
	},
	{
		Name: "wal-release-unsynced-marker", Group: GroupPath, File: "wal/wal.go",
		Old:         `limit := min(index, w.syncedSnap)`,
		New:         `limit := index`,
		Description: "Segments are released on the strength of a snapshot marker that is written but not yet synced: a crash leaves a WAL with a hole and no marker covering it.",
		Flags:       []string{"-faults", "crash"},
		Unit:        UnitCaught,
		Equivalent:  "the node calls ReleaseTo only after a sync that covered the marker, so min(index, syncedSnap) is index at every call (RESULTS.md); the wal unit tests guard the contract",
	},
	{
		Name: "wal-replay-keeps-stale-suffix", Group: GroupPath, File: "wal/replay.go",
		Old:         `ents = ents[:e.Index-first] // Raft log truncation`,
		New:         `if i := e.Index - first; i < uint64(len(ents)) { ents[i] = e; r.rep.Entries = ents; return nil }`,
		Description: "Replay overwrites an entry saved again at a lower index in place instead of truncating the log there: entries of a deposed leader after it come back after a restart.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "snap-rename-before-sync", Group: GroupTiming, File: "snap/snap.go",
		Old:         `f.Sync(func(err error) {`,
		New:         `func(then func(error)) { f.Sync(func(error) {}); then(nil) }(func(err error) {`,
		Description: "A snapshot file is renamed into place before its fsync completes (the ext4 delayed-allocation mistake): after a crash the WAL names a snapshot whose data never reached the disk.",
		Flags:       []string{"-faults", "crash,disk-slow"},
		Unit:        UnitCaught,
	},
	{
		Name: "snap-release-current", Group: GroupSymptom, File: "snap/snap.go",
		Old:         `if !ok || index >= keepIndex {`,
		New:         `if !ok || index > keepIndex {`,
		Description: "Releasing snapshots below an index also removes the snapshot at that index (off by one): the newest snapshot is deleted right after it is taken, which only a restart notices.",
		Flags:       []string{"-faults", "crash"},
		Unit:        UnitCaught,
	},
}

var mvccBugs = []Bug{
	{
		Name: "mvcc-create-rev-on-update", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `r.create, r.version = last.create, last.version+1`,
		New:         `r.create, r.version = main, last.version+1`,
		Description: "An update of a live key sets its create_revision to the update's revision (create and mod revision confused): compares on create_revision and readers see a fresh key.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-txn-delete-no-rev", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `*sub += uint32(len(kis))`,
		New:         `_ = kis`,
		Description: "A transaction whose only writes are deletes does not count them as writes, so the revision is not bumped: the next write reuses the deletes' revision.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-compare-missing-key", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `return compareInt(c.Result, 0, c.Number)`,
		New:         `return false`,
		Description: "A compare on a missing key always fails instead of comparing a zero version/revision: create-if-absent transactions (version = 0) never succeed.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-prevkv-self", Group: GroupSymptom, File: "mvcc/watch.go",
		Old:         `p := s.liveAt(r.ki, r.main-1)`,
		New:         `p := s.liveAt(r.ki, r.main)`,
		Description: "The previous key-value of a watch event is found one position too far: prev_kv holds the event's own key-value instead of the one before it.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-lease-not-detached", Group: GroupPath, File: "mvcc/write.go",
		Old: `
if last.lease != lease {
    s.detach(last.lease, ki)
}
`,
		New:         ``,
		Description: "Overwriting a key with another lease (or none) leaves it attached to its old lease: revoking or expiring that lease deletes the key's newer value.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-compact-drops-live-key", Group: GroupPath, File: "mvcc/compact.go",
		Old:         `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {`,
		New:         `if last := s.log.at(revs[i-1]); last.main == rev {`,
		Description: "Compaction keeps a key's newest older put only when the key also changed at the compaction revision, the wrong way round: keys unchanged since before it vanish.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-compact-boundary-tombstone", Group: GroupPath, File: "mvcc/compact.go",
		Old:         `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {`,
		New:         `if last := s.log.at(revs[i-1]); !last.tombstone() {`,
		Description: "Compaction treats the compaction revision itself as history: a delete at exactly that revision is dropped, so a watch from the compaction revision misses it.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-compact-read-off-by-one", Group: GroupPath, File: "mvcc/store.go",
		Old:         `case rev < s.compactRev:`,
		New:         `case rev < s.compactRev-1:`,
		Description: "A read one revision below the compaction revision is allowed and answered from compacted history, where newer versions replaced what it should see.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-watch-past-compaction", Group: GroupPath, File: "mvcc/watch.go",
		Old: `
case w.nextMain < s.compactRev:
    return nil, ErrCompacted
`,
		New:         ``,
		Description: "A watcher that fell behind a compaction is not canceled with ErrCompacted: it silently skips the compacted events (a watch gap).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-range-rev-off-by-one", Group: GroupSymptom, File: "mvcc/store.go",
		Old:         `if r.main <= rev {`,
		New:         `if r.main < rev {`,
		Description: "Reads on the range path (key ranges, and reads at an older revision) see the versions before the read revision instead of at it: a key changed at exactly that revision shows its previous value.",
		Unit:        UnitCaught,
	},
}

var clientBugs = []Bug{
	{
		Name: "client-timeout-as-failure", Group: GroupSymptom, File: "client/client.go",
		Old: `
c.rotate(cl.target)
c.finish(cl, nil, ErrTimeout)
`,
		New: `
c.rotate(cl.target)
r := &api.Response{ID: cl.req.ID, Op: cl.req.Body.Op(), Err: api.CodeUnavailable, Detail: "request timed out"}
c.finish(cl, r, &ServerError{Response: r})
`,
		Description: "A request that timed out is reported as refused (unavailable) instead of unknown: a write that did take effect is recorded as one that did not.",
		Unit:        UnitCaught,
	},
	{
		Name: "client-watch-resume-duplicate", Group: GroupTiming, File: "client/watch.go",
		Old:         `w.next = max(w.next, evs[len(evs)-1].Revision()+1)`,
		New:         `w.next = max(w.next, evs[len(evs)-1].Revision())`,
		Description: "The watch remembers the last delivered revision instead of the next one: after a stream break it resumes at that revision and delivers its events again.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitCaught,
	},
	{
		Name: "client-watch-ignores-gap", Group: GroupTiming, File: "client/watch.go",
		Old:         `if m.Seq != w.seq+1 {`,
		New:         `if m.Seq <= w.seq {`,
		Description: "A watch stream message with a sequence gap (one was lost) is taken instead of resuming the stream: the lost message's events are never delivered.",
		Flags:       []string{"-faults", "packet"},
		Unit:        UnitCaught,
	},
}
