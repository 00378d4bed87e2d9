package bugbench

// storeBugs3 are the third set of store-side planted bugs, in the two
// classes the simulator could not see before the HashKV and lease-liveness
// checks (harness/hashkv.go, harness/leaselive.go): history that clients
// do not read directly (what compaction keeps, what a restore brings back,
// the HashKV maintenance hash itself), and leases that expire late or
// never (a lessor that loses revocations, or stops expiring after a leader
// change or a restart). Each is one small change that compiles; the Unit
// field records `bugbench -unit` on the mutant.
var storeBugs3 = []Bug{
	{
		Name: "mvcc-compact-keeps-superseded", Group: GroupPath, File: "mvcc/compact.go",
		Old: `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {
    from = i - 1
}`,
		New: `if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {
    from = max(i-2, 0)
}`,
		Description: "Compaction keeps each live key's previous version as well as the one visible at the compaction revision (an off-by-one in the keep index): reads below the compaction are refused, so no client sees the extra history, but every replica holds (and snapshots, and counts against its quota) revisions etcd would have dropped.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-hashkv-range-off-by-one", Group: GroupSymptom, File: "mvcc/hash.go",
		Old:         `if r.main > rev {`,
		New:         `if r.main >= rev {`,
		Description: "HashKV at revision R hashes the history below R instead of up to R (the shape of etcd's HashKV range fixes): members hashed at the same revision by a corruption checker agree with each other but not with the revision they claim, so a member that lost the writes of revision R passes the check.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-restore-compacts-history", Group: GroupTiming, File: "node/state.go",
		Old:         `sm.store = store`,
		New:         `_ = store.Compact(store.CurrentRevision()); sm.store = store`,
		Description: "A replica restored from a snapshot (a restart, or a snapshot from the leader) compacts its store at the snapshot's revision, to give memory back: the history since the last requested compaction is gone on that replica only, so reads of the past and watches served by it fail with ErrCompacted at revisions nobody compacted, and its history differs from its peers'.",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-promote-ttl-unit", Group: GroupPath, File: "mvcc/lease.go",
		Old: `for _, l := range s.leases {
    l.expiry = expiryAt(now, l.ttl)
}`,
		New: `for _, l := range s.leases {
    l.expiry = expiryAt(now, l.ttl*time.Second)
}`,
		Description: "A new leader renews every lease by its TTL taken as seconds once more (the TTL is already a duration): after a leader change, every lease that is not kept alive again lives practically forever, and its keys with it (etcd's lease-never-expires-after-leader-change shape). Nothing expires early, so only a check that leases do end can see it.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-expire-drop-not-retried", Group: GroupTiming, File: "node/node.go",
		Old:         `n.retryExpire(p.data)`,
		New:         `// a dropped expiry is proposed again after PendingTimeout`,
		Description: "A lease expiry whose proposal raft dropped (a leader handing leadership over, or one whose uncommitted log is full behind a full disk) is proposed again only after the pending-proposal timeout (10 s), as for client writes: the lease and its keys outlive the TTL by seconds (the node's behaviour before 8f2cd0c, which the lease-liveness check found).",
		Unit:        UnitMissed,
	},
	{
		Name: "node-promote-keeps-revoking", Group: GroupTiming, File: "node/node.go",
		Old: `n.sm.store.LeasePromote(n.h.Now())
clear(n.revoking)`,
		New:         `n.sm.store.LeasePromote(n.h.Now())`,
		Description: "A replica that becomes leader again keeps its memory of the expiries it proposed in an earlier term: one that was lost with that term (overwritten by another leader) is taken as still in flight, and the lease outlives its TTL by the retry timeout.",
		Unit:        UnitMissed,
	},
	{
		Name: "node-expire-leader-only", Group: GroupSymptom, File: "node/apply.go",
		Old:         `if !ok || dl > c.stamp {`,
		New:         `if !ok || dl > c.stamp || n.role != raft.RoleLeader {`,
		Description: "A lease expiry entry is applied only on the replica that leads when it applies it, as if expiry were the leader's local business: followers keep the lease and its keys, so the replicas diverge, and a follower that becomes leader serves keys that expired.",
		Unit:        UnitCaught,
	},
	{
		Name: "node-restore-drops-lease-deadlines", Group: GroupTiming, File: "node/state.go",
		Old:         `sm.leaseDeadline[id] = sv()`,
		New:         `_, _ = id, sv()`,
		Description: "Restoring the state machine from a snapshot reads the leases' replicated deadlines but does not keep them: after a restart or a snapshot install, that replica takes every expiry entry for an older lease as overruled by a keep-alive and keeps the lease and its keys (etcd's lease-revoke-lost-after-restart shape).",
		Unit:        UnitCaught,
	},
	{
		Name: "mvcc-revoke-keeps-lease", Group: GroupPath, File: "mvcc/lease.go",
		Old:         `delete(s.leases, id)`,
		New:         `_ = id`,
		Description: "Revoking a lease deletes its keys but leaves the lease itself in the store: keep-alives of a revoked or expired lease still succeed, keys can be put under it again, and the leader proposes its expiry again and again.",
		Unit:        UnitCaught,
	},
}
