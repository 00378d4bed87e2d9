package bugbench

// raftBugs3 are the third set of raft and WAL bugs, in classes the first
// two lack: durability of the WAL's directory and of a term raised
// without a vote, a replica that lost acknowledged entries and is never
// given them back, a leader that removes itself and goes on leading.
var raftBugs3 = []Bug{
	{
		Name: "wal-roll-no-dir-sync", Group: GroupTiming, File: "wal/wal.go",
		Old:         `w.dirDirty = true // the new segment's name is durable only with its directory`,
		New:         `w.dirDirty = false // the new segment's name is durable only with its directory`,
		Description: "A new WAL segment is fsynced but its directory is not: on a real file system a crash can lose the segment's name, and with it every entry and vote acknowledged since the roll (etcd fsyncs the WAL directory after a cut).",
		Flags:       []string{"-faults", "crash,lose-dirent"},
	},
	{
		Name: "wal-term-not-saved", Group: GroupTiming, File: "wal/wal.go",
		Old:         `if !hs.IsEmpty() && hs != w.hs {`,
		New:         `if !hs.IsEmpty() && (hs.Vote != w.hs.Vote || hs.Commit != w.hs.Commit) {`,
		Description: "The WAL writes a hard state record only when the vote or the commit index changed: a term raised by a message of a newer leader, without a vote, is not saved, and after a crash the replica is back in an older term it had left (and may vote in it).",
		Flags:       []string{"-faults", "crash,partition"},
	},
	{
		Name: "raft-lost-entries-not-reprobed", Group: GroupTiming, File: "raft/raft.go",
		Old:         `if m.Commit > r.log.lastIndex() {`,
		New:         `if r.recovering && m.Commit > r.log.lastIndex() {`,
		Description: "A follower tells the leader that its log ends below the commit index of a heartbeat only while it is recovering from damaged storage: a replica that finished recovering below what it had acknowledged is never sent the lost entries (the leader takes its append rejections at Match for stale ones) and stays behind for good.",
		Flags:       []string{"-faults", "disk-corrupt,crash"},
		Equivalent:  "since the epochs on acknowledgements (b635b0a) a leader forgets what a follower acknowledged before it lost its storage, and the follower leaves recovery only after that leader echoed its new epoch, so no leader's match for a non-recovering follower passes the follower's log (RESULTS.md)",
	},
	{
		Name: "raft-removed-leader-keeps-leading", Group: GroupPath, File: "raft/raft.go",
		Old:         `if !r.trk.isVoter(r.id) {`,
		New:         `if !r.trk.isVoter(r.id) && r.recovering {`,
		Description: "A leader that applies its own removal goes on leading a configuration it is not a voter of: it counts a quorum without itself but still appends, answers reads and renews leases (etcd's leader stepping down on removal).",
		Flags:       []string{"-faults", "membership"},
	},
}
