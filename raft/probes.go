package raft

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the consensus rules (see package probe). They are hit
// into Config.Probes; with none, a hit costs one compare.
var (
	probeConflictTruncated   = probe.New("raft/conflict-truncated", "raft: a follower truncated a conflicting suffix of its log")
	probeAppendRejected      = probe.New("raft/append-rejected", "raft: a follower rejected an append whose previous entry it lacks")
	probeStaleAppendAnswered = probe.New("raft/stale-leader-told", "raft: an append or heartbeat of a lower term was answered with our term")
	probeCheckQuorumDown     = probe.New("raft/checkquorum-stepdown", "raft: a leader stepped down by CheckQuorum")
	probeVoteInLease         = probe.New("raft/vote-ignored-in-lease", "raft: a vote request was ignored because a leader was heard within an election timeout")
	probeVoteLongerLog       = probe.New("raft/vote-granted-longer-log", "raft: a vote was granted to a candidate whose log is longer")
	probeVoteLogBehind       = probe.New("raft/vote-rejected-log-behind", "raft: a vote was refused because the candidate's log is behind")
	probePreVoteLost         = probe.New("raft/precandidate-lost", "raft: a pre-candidate lost its pre-vote")
	probeCandidateLost       = probe.New("raft/candidate-lost", "raft: a candidate lost its election")
	probeBecameLeader        = probe.New("raft/became-leader", "raft: a node became leader")
	probeConfPending         = probe.New("raft/conf-change-refused-pending", "raft: a conf change was refused because another is pending")
	probeCampaignBlocked     = probe.New("raft/campaign-blocked-unapplied-conf", "raft: a node did not campaign because a committed conf change is unapplied")
	probeSnapSent            = probe.New("raft/snapshot-sent", "raft: a leader sent a snapshot to a follower")
	probeSnapConflicting     = probe.New("raft/snapshot-over-conflicting-log", "raft: a snapshot was installed over a log holding a conflicting entry at its index")
	probeSnapRestored        = probe.New("raft/snapshot-restored", "raft: a follower installed a snapshot")
	probeSnapStale           = probe.New("raft/snapshot-stale", "raft: a snapshot at or below the commit index was ignored")
	probeSnapRejected        = probe.New("raft/snapshot-status-reject", "raft: a follower reported a failed snapshot")
	probeInflightFull        = probe.New("raft/inflight-full", "raft: appends to a follower were held back by the in-flight window")
	probeMsgSizeLimited      = probe.New("raft/append-size-limited", "raft: an append was cut short by the message size limit")
	probeTransferStarted     = probe.New("raft/transfer-started", "raft: a leadership transfer started")
	probeTransferAborted     = probe.New("raft/transfer-aborted", "raft: a leadership transfer was abandoned after an election timeout")
	probePropDuringTransfer  = probe.New("raft/proposal-dropped-transfer", "raft: a proposal was dropped during a leadership transfer")
	probeTimeoutNow          = probe.New("raft/timeout-now-campaign", "raft: a follower campaigned on MsgTimeoutNow")
	probeLeaderRemoved       = probe.New("raft/leader-removed", "raft: a leader applied its own removal and stepped down")
	probeReadIndexDeferred   = probe.New("raft/read-index-deferred", "raft: a ReadIndex waited for the new leader's first commit")
	probeInflightFreed       = probe.New("raft/heartbeat-freed-inflight", "raft: a heartbeat response freed a full in-flight window")
	probeVoteIgnoredRecovery = probe.New("raft/vote-ignored-recovery", "raft: a vote request was ignored while recovering from lost durable state, or at or below the vote floor")
	probeLostLogReprobe      = probe.New("raft/lost-log-reprobe", "raft: a leader probed again a follower that reported losing entries it acknowledged")
	probeUncommittedLimit    = probe.New("raft/uncommitted-limit", "raft: a proposal was dropped by the uncommitted-size limit")
	probeEpochLearned        = probe.New("raft/epoch-learned", "raft: a leader learned a higher epoch of a follower (it lost its durable state) and reset its Match")
	probeStaleEpochDropped   = probe.New("raft/stale-epoch-dropped", "raft: a leader dropped an acknowledgement of an earlier incarnation of a follower")
)

// probeAppend notes, before m is handled, whether appending it truncates a
// conflicting suffix or is rejected.
func (r *raft) probeAppend(m *Message) {
	if r.probes == nil || m.Index < r.log.committed {
		return
	}
	if !r.log.matchTerm(m.Index, m.LogTerm) {
		r.probes.Hit(probeAppendRejected)
		return
	}
	if ci := r.log.findConflict(m.Entries); ci != 0 && ci <= r.log.lastIndex() {
		r.probes.Hit(probeConflictTruncated)
	}
}
