package bugbench

// raftBugs2 are the second set of planted raft bugs: classic mistakes in
// shapes the first set lacks (terms and votes, pre-vote, CheckQuorum,
// stale responses, ReadIndex rounds, snapshots and membership, leadership
// transfer, flow of elections).
var raftBugs2 = []Bug{
	{
		Name: "raft-vote-reset-same-term", Group: GroupTiming, File: "raft/raft.go",
		Old: `
if r.term != term {
    r.term = term
    r.vote = None
    r.dropStaleAcks()
}
`,
		New: `
r.term = term
r.vote = None
r.dropStaleAcks()
`,
		Description: "Every role change clears the vote, even when the term stays the same: a candidate that lost, or a leader that stepped down, votes again in a term it already voted in (two leaders in one term).",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-candidate-no-self-vote", Group: GroupTiming, File: "raft/raft.go",
		Old:         `r.vote = r.id`,
		New:         `r.lead = None`,
		Description: "A candidate counts its own vote but does not record it in its hard state: it can grant its vote to another candidate of the same term, and a restart forgets it voted.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-ignore-higher-term-resp", Group: GroupTiming, File: "raft/raft.go",
		Old: `
default:
    if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
`,
		New: `
case m.Type == MsgAppResp || m.Type == MsgHeartbeatResp:
    // An answer to our own append: the role below handles it.
default:
    if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
`,
		Description: "A leader does not step down when an append or heartbeat response carries a higher term (Raft §5.1): a deposed leader keeps leading, and the responses keep its CheckQuorum satisfied.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-prevote-no-log-check", Group: GroupTiming, File: "raft/raft.go",
		Old:         `if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {`,
		New:         `if canVote && (m.Type == MsgPreVote || r.log.isUpToDate(m.Index, m.LogTerm)) {`,
		Description: "Pre-votes are granted on the term alone, without the election restriction: a node with a stale log passes pre-vote and disrupts the cluster with real elections it cannot win (what pre-vote exists to prevent).",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-prevote-bumps-term", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case m.Type == MsgPreVote:`,
		New:         `case m.Type == MsgPreVote && r.state == RolePreCandidate:`,
		Description: "A follower that receives a pre-vote request adopts its (future) term: pre-vote then disrupts like a real election, and a cut-off node raises the terms of everyone it reaches.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-checkquorum-sticky", Group: GroupTiming, File: "raft/progress.go",
		Old:         `t.get(id).RecentActive = id == self`,
		New:         `t.get(id).RecentActive = t.get(id).RecentActive || id == self`,
		Description: "CheckQuorum never clears the followers' activity flags: a leader that heard from a quorum once never steps down when cut off, and keeps taking (and stalling) clients' requests.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-readindex-any-round-ack", Group: GroupTiming, File: "raft/readonly.go",
		Old: `
rs := ro.pending[string(m.Context)]
if rs == nil {
    return
}
`,
		New: `
if len(ro.queue) == 0 {
    return
}
// Any heartbeat answer confirms our leadership: count it for the newest read.
rs := ro.pending[ro.queue[len(ro.queue)-1]]
`,
		Description: "A heartbeat response of an earlier ReadIndex round is counted for the newest read: acknowledgements sent before the read arrived confirm a leadership that may have ended since.",
		Flags:       []string{"-faults", "partition"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-snapshot-forgets-conf", Group: GroupPath, File: "raft/raft.go",
		Old:         `r.trk.reset(s.Meta.ConfState, r.log.lastIndex()+1)`,
		New:         `_ = s.Meta.ConfState`,
		Description: "A follower that installs a snapshot keeps its old configuration instead of the snapshot's: membership changes the snapshot covers are lost to raft, which then counts votes and quorums over the wrong voters.",
		Flags:       []string{"-faults", "membership,partition,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-snapshot-keeps-unstable", Group: GroupPath, File: "raft/log.go",
		Old:         `l.unstable.entries = nil`,
		New:         `l.unstable.entries = l.unstable.entries[:len(l.unstable.entries):len(l.unstable.entries)]`,
		Description: "Restoring a snapshot moves the unstable offset past it but keeps the unstable entries: entries received before the snapshot reappear at the indexes after it.",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-learner-in-commit-quorum", Group: GroupPath, File: "raft/progress.go",
		Old: `
n := len(t.voters)
if n == 0 {
    return 0
}
buf := t.matchBuf[:0]
for _, id := range t.voters {
`,
		New: `
n := len(t.ids)
if n == 0 {
    return 0
}
buf := t.matchBuf[:0]
for _, id := range t.ids {
`,
		Description: "The commit index is the median match over every member, learners included: a learner's acknowledgement stands in for a voter's, and an entry commits without a majority of voters.",
		Flags:       []string{"-faults", "membership,crash"},
		Unit:        UnitCaught,
	},
	{
		Name: "raft-stale-vote-counted", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case m.Term < r.term:`,
		New:         `case m.Term < r.term && m.Type != MsgVoteResp:`,
		Description: "Vote responses of an earlier term are not dropped: a candidate counts grants of its previous, failed election (delayed or duplicated on the wire) toward the new one, whose voters may have voted for someone else.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-stale-term-ack", Group: GroupTiming, File: "raft/raft.go",
		Old:         `case m.Term < r.term:`,
		New:         `case m.Term < r.term && m.Type != MsgAppResp:`,
		Description: "Append acknowledgements of an earlier term are not dropped: a leader re-elected in a later term counts an old ack for entries a leader in between replaced on that follower, and commits (and tells the follower to commit) entries it does not hold.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-transfer-vote-skips-log", Group: GroupTiming, File: "raft/raft.go",
		Old:         `if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {`,
		New:         `if canVote && (bytes.Equal(m.Context, campaignTransfer) || r.log.isUpToDate(m.Index, m.LogTerm)) {`,
		Description: "A vote request of a leadership transfer is granted without the election restriction, as if forcing through the voters' lease also meant trusting the log: a late MsgTimeoutNow makes a target that fell behind leader.",
		Flags:       []string{"-faults", "partition,packet"},
		Unit:        UnitMissed,
	},
	{
		Name: "raft-election-timeout-fixed", Group: GroupSymptom, File: "raft/raft.go",
		Old:         `r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)`,
		New:         `r.randomizedElectionTimeout = r.electionTimeout`,
		Description: "The election timeout is not randomised: followers that lost their leader at the same moment campaign together, split the vote and do it again (livelock, Raft §5.2).",
		Flags:       []string{"-faults", "partition,crash"},
		Unit:        UnitCaught,
	},
}
