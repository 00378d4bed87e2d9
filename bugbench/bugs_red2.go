package bugbench

// redBugs2 is the second red team set (session 6): mistakes in classes the
// rest of the catalogue does not plant, each in the shape of an etcd or
// etcd-raft historical bug: leader state kept across terms (progress,
// pending reads), a new member's progress taken on trust, a state machine
// installed from a snapshot that leaves the watchers on the old one, a
// watch from "now" that includes the current revision, a range limit off
// by one, a key recreated after a delete that continues the old
// generation, a lease expiry that ignores a renewal committed before it,
// a WAL whose snapshot marker moves its last index back, a resumed client
// watch that starts over from its first revision, a restarted replica
// that serves serializable reads before it has caught up, a snapshot
// release that removes a save in progress, and a new leader that renews
// only the leases not yet expired.
//
// They are registered with the catalogue by init (All lists the sets of
// the other files; this file only appends to the red team's).
var redBugs2 = []Bug{
	{
		Name: "raft-leader-keeps-stale-match", Group: GroupTiming, File: "raft/raft.go",
		Old:         `pr.Match, pr.Next = 0, next`,
		New:         `pr.Next = next`,
		Description: "A change of term resets each follower's Next but keeps its Match: a node that led before and leads again counts the followers' old acknowledgements, although a leader in between may have truncated their logs below them; it commits entries a quorum does not hold, and rejections at or below the stale Match are dropped as stale (etcd raft resets every Progress with Match 0 in becomeLeader).",
		Flags:       []string{"-faults", "partition,crash"},
	},
	{
		Name: "raft-readonly-survives-term-change", Group: GroupTiming, File: "raft/raft.go",
		Old:         `r.readOnly.reset()`,
		New:         ``,
		Description: "A change of role or term keeps the ReadIndex requests the node had pending as leader: if it leads again while one is still waiting, the new term's heartbeats confirm it and it is answered with the commit index of its arrival in the old term, which may miss writes another leader committed meanwhile (etcd raft drops readOnly on reset).",
		Flags:       []string{"-faults", "partition,packet"},
	},
	{
		Name: "raft-new-member-match-assumed", Group: GroupPath, File: "raft/progress.go",
		Old: `
t.progress[id] = &progress{Next: next, IsLearner: learner,
    RecentActive: true, inflights: inflights{size: t.maxInflight}}
`,
		New: `
t.progress[id] = &progress{Match: next - 1, Next: next, IsLearner: learner,
    RecentActive: true, inflights: inflights{size: t.maxInflight}}
`,
		Description: "A member added to the configuration gets the leader's last index as its Match, as if it held the log: the leader counts it toward the commit quorum before it has acknowledged anything, and commits entries only a minority holds (etcd raft starts a new Progress at Match 0).",
		Flags:       []string{"-faults", "membership,crash"},
	},
	{
		Name: "node-install-keeps-old-watchers", Group: GroupPath, File: "node/storage.go",
		Old: `
n.alarm = false
n.rebindWatches()
`,
		New: `
n.alarm = false
`,
		Description: "Installing a state machine from a leader's snapshot leaves every open watch stream on the old store, which never changes again: the streams stay open, report progress at the old revision, and never deliver another event (etcd's watchable store must restore its watchers onto the new backend).",
		Flags:       []string{"-faults", "partition,crash"},
	},
	{
		Name: "node-expire-ignores-renewal", Group: GroupTiming, File: "node/apply.go",
		Old:         `if !ok || dl > c.stamp {`,
		New:         `if _ = dl; !ok {`,
		Description: "Applying the leader's lease expiry revokes every lease it names without checking the replicated deadline: a keep-alive committed between the leader's decision and the expiry's entry is ignored, and a lease the client was just told has its whole TTL left is revoked with its keys (etcd's lease revoke racing a keep-alive).",
		Flags:       []string{"-faults", "partition,pause"},
	},
	{
		Name: "mvcc-watch-now-includes-current", Group: GroupSymptom, File: "mvcc/watch.go",
		Old:         `startRev = s.rev + 1`,
		New:         `startRev = s.rev`,
		Description: "A watch from 'now' (start revision 0) starts at the current revision instead of the next one: its first event is a change made before the watch was created, at a revision its creation answer already covered.",
	},
	{
		Name: "mvcc-range-limit-off-by-one", Group: GroupSymptom, File: "mvcc/read.go",
		Old:         `if o.Limit > 0 && int64(len(res.KVs)) >= o.Limit {`,
		New:         `if o.Limit > 0 && int64(len(res.KVs)) > o.Limit {`,
		Description: "A range with a limit returns one key more than the limit (and says More only past that): a paginating client that continues after the last key it got skips nothing, but one that trusts the limit overruns its page.",
	},
	{
		Name: "mvcc-put-after-delete-continues-generation", Group: GroupSymptom, File: "mvcc/write.go",
		Old:         `if last := s.latest(ki); !last.tombstone() {`,
		New:         `if last := s.latest(ki); last != nil {`,
		Description: "A put of a deleted key continues the deleted generation instead of starting a new one: its create revision is taken from the tombstone (0) and its version counts on, so a compare on create revision or version = 0 of a recreated key goes wrong (etcd's keyIndex starts a new generation after a tombstone).",
	},
	{
		Name: "wal-marker-resets-last", Group: GroupPath, File: "wal/wal.go",
		Old:         `w.last = max(w.last, m.Index)`,
		New:         `w.last = m.Index`,
		Description: "Saving a snapshot marker sets the WAL's last index to the snapshot's, also when the log already runs past it (a replica's own snapshot at its applied index): the next append is refused as leaving a gap, and a segment rolled before it is named with a first index below entries it holds.",
		Flags:       []string{"-faults", "crash"},
	},
	{
		Name: "client-watch-resume-from-start", Group: GroupTiming, File: "client/watch.go",
		Old:         `WatchID: w.watchID, Key: w.key, End: w.opts.End, StartRevision: w.next, PrevKV: w.opts.PrevKV}}`,
		New:         `WatchID: w.watchID, Key: w.key, End: w.opts.End, StartRevision: w.opts.StartRevision, PrevKV: w.opts.PrevKV}}`,
		Description: "A resumed watch asks the new stream for the revision the watch first started from instead of the next one it has not delivered: a watch from 'now' resumes from 'now' and skips the events in between, and one from a revision since compacted is ended as compacted (etcd clientv3 resumes from the last received revision + 1).",
		Flags:       []string{"-faults", "partition,packet"},
	},
	{
		Name: "node-boot-serves-before-catch-up", Group: GroupTiming, File: "node/storage.go",
		Old:         `n.reads.needCatchUp = true`,
		New:         ``,
		Description: "A restarted replica serves serializable reads at once from the state it rebuilt (its snapshot), before it has applied what it had applied before the crash: a client that read from it before the restart can read an older state after it (etcd serves serializable reads only after the restarted member has applied its WAL).",
		Flags:       []string{"-faults", "crash"},
	},
	{
		Name: "snap-release-removes-inflight-tmp", Group: GroupTiming, File: "snap/snap.go",
		Old:         `name = base + suffix`,
		New:         `return 0, base != ""`,
		Description: "Releasing old snapshots also removes every temporary file, as a leftover of a crashed save, including the one a save in progress is writing at a newer index: its rename then fails, and a replica saving a leader's snapshot (or its own) when another snapshot's release runs fails the save (etcd's snapshotter cleans only *.broken and old files).",
		Flags:       []string{"-faults", "crash-snapshot,partition"},
	},
	{
		Name: "mvcc-promote-skips-expired", Group: GroupPath, File: "mvcc/lease.go",
		Old: `
for _, l := range s.leases {
    l.expiry = expiryAt(now, l.ttl)
}
`,
		New: `
for _, l := range s.leases {
    if l.expiry > now.UnixNano() {
        l.expiry = expiryAt(now, l.ttl)
    }
}
`,
		Description: "A new leader renews only the leases that have not expired by its clock: a lease whose deadline passed while the cluster had no leader (its keep-alives had nowhere to go) is revoked at once instead of getting its TTL again (etcd's lessor Promote renews every lease; etcd's lease checkpoint bugs in the same place).",
		Flags:       []string{"-faults", "partition,pause"},
	},
	{
		Name: "node-read-joins-inflight-round", Group: GroupTiming, File: "node/server.go",
		Old:         `n.reads.queue = append(n.reads.queue, readReq{key: key, req: r})`,
		New:         `if n.reads.inflight != nil { n.reads.inflight.reqs = append(n.reads.inflight.reqs, readReq{key: key, req: r}) } else { n.reads.queue = append(n.reads.queue, readReq{key: key, req: r}) }`,
		Description: "A linearizable read that arrives while a ReadIndex round is in flight joins that round instead of waiting for the next: the round's read index was fixed when the leader received it, possibly before this read was even called, so the read can miss a write acknowledged in between (etcd batches reads that arrive during a round into the next one).",
		Flags:       []string{"-faults", "partition,packet"},
	},
	{
		Name: "node-keepalive-ttl-rounds-up", Group: GroupSymptom, File: "node/apply.go",
		Old:         `body = &api.LeaseKeepAliveResponse{ID: r.ID, TTL: int64(ttl / time.Second)}`,
		New:         `body = &api.LeaseKeepAliveResponse{ID: r.ID, TTL: int64(ttl/time.Second) + 1}`,
		Description: "A keep-alive answer reports one second more TTL than the lease was renewed by: a client session that measures its lease's life from the answer believes it holds the lease (and the lock or leadership on it) for a second after the servers may have expired it (etcd: the keep-alive response's TTL is the lease's granted TTL).",
	},
}

func init() { redBugs = append(redBugs, redBugs2...) }
