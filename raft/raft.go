package raft

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"math/rand/v2"

	"github.com/seedkv/seedkv/internal/invariant"
)

// ErrInvalidConfChange: a proposed membership change is not allowed
// (demoting a voter, removing the last voter, removing a non-member).
var ErrInvalidConfChange = errors.New("raft: invalid conf change")

// campaignTransfer marks the vote requests of a leadership transfer: they
// bypass the CheckQuorum lease of the voters.
var campaignTransfer = []byte("CampaignTransfer")

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransferType
)

// raft is the consensus state machine behind RawNode.
type raft struct {
	id   uint64
	term uint64
	vote uint64
	lead uint64

	log *raftLog
	trk tracker

	state Role

	msgs            []Message // may be sent at once
	msgsAfterAppend []Message // only after the Ready's state is durable
	readStates      []ReadState

	maxMsgSize       uint64
	maxCommittedSize uint64

	// uncommittedSize is the data bytes a leader appended that are not
	// yet known applied; proposals past maxUncommittedSize are dropped.
	uncommittedSize    uint64
	maxUncommittedSize uint64

	// leadTransferee is the target of a leadership transfer in progress.
	leadTransferee uint64
	// pendingConfIndex: a conf change may be proposed only once applied
	// reaches it (one change at a time; after an entry of our term).
	pendingConfIndex uint64

	readOnly readOnly
	// pendingReadIndex holds reads that arrived before this leader
	// committed an entry of its term.
	pendingReadIndex []Message

	checkQuorum, preVote, disableForwarding bool

	electionElapsed           int
	heartbeatElapsed          int
	heartbeatTimeout          int
	electionTimeout           int
	randomizedElectionTimeout int
	rand                      *rand.Rand
	probes                    *probe.Set
	onLeader                  func(term uint64) // Config.OnLeader

	// Recovery from lost durable state (Config.Recovering, VoteFloor).
	voteFloor      uint64
	recovering     bool
	recoveryCommit uint64 // the commit index the leader of our term last reported
	recoveryTerm   uint64 // and that term
	recoveryEchoed bool   // that leader echoed our epoch in a MsgApp

	// Incarnations (Config.Epoch): epoch is ours; a leader keeps the
	// highest it learned of each peer in ackEpochs, for its term (nil
	// until it learns a non-zero one).
	epoch     uint64
	ackEpochs map[uint64]uint64
}

func newRaft(c *Config) (*raft, error) {
	l, err := newLog(c.Storage)
	if err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, err
	}
	r := &raft{
		id:                 c.ID,
		log:                l,
		trk:                newTracker(c.MaxInflightMsgs),
		maxMsgSize:         c.MaxSizePerMsg,
		maxCommittedSize:   c.MaxCommittedSizePerReady,
		maxUncommittedSize: c.MaxUncommittedEntriesSize,
		checkQuorum:        c.CheckQuorum,
		preVote:            c.PreVote,
		disableForwarding:  c.DisableProposalForwarding,
		heartbeatTimeout:   c.HeartbeatTick,
		electionTimeout:    c.ElectionTick,
		rand:               c.Rand,
		probes:             c.Probes,
		onLeader:           c.OnLeader,
		voteFloor:          c.VoteFloor,
		recovering:         c.Recovering,
		epoch:              c.Epoch,
		readOnly:           readOnly{pending: map[string]*readIndexStatus{}},
	}
	r.trk.reset(cs, l.lastIndex()+1)
	if !hs.IsEmpty() {
		if hs.Commit < l.committed || hs.Commit > l.lastIndex() {
			return nil, fmt.Errorf("%w: hard state commit %d outside [%d, %d]",
				ErrInvalidConfig, hs.Commit, l.committed, l.lastIndex())
		}
		l.committed = hs.Commit
		r.term, r.vote = hs.Term, hs.Vote
	}
	if c.Applied > 0 {
		if c.Applied > l.committed {
			return nil, fmt.Errorf("%w: applied %d past committed %d", ErrInvalidConfig, c.Applied, l.committed)
		}
		l.appliedTo(c.Applied)
	}
	r.becomeFollower(r.term, None)
	return r, nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, Role: r.state} }

func (r *raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

// promotable reports whether this node may campaign: it must be a voter.
func (r *raft) promotable() bool { return r.trk.isVoter(r.id) }

// send queues m, stamping From and Term. Messages that promise durability
// (votes, append acknowledgements) wait for the Ready to be persisted.
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id // a forwarded MsgTransferLeader keeps its transferee
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s must carry an explicit term", m.Type))
		}
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft: %s must not carry an explicit term", m.Type))
		}
		// MsgProp and MsgReadIndex are forwarded with term 0 (like local
		// messages) so that they are never dropped as stale.
		if m.Type != MsgProp && m.Type != MsgReadIndex {
			m.Term = r.term
		}
	}
	if m.Type == MsgAppResp {
		m.Epoch = r.epoch // incarnations: every acknowledgement says whose it is
	}
	switch m.Type {
	case MsgAppResp, MsgVoteResp, MsgVote:
		// Invariant: a vote or an append acknowledgement leaves only
		// after the state it vouches for is durable (the node sends
		// MessagesAfterPersist from its sync callback).
		r.msgsAfterAppend = append(r.msgsAfterAppend, m)
	case MsgPreVoteResp:
		// A pre-vote answer promises nothing durable, but a rejection
		// carries our term, which may be one we have just campaigned in
		// and not yet persisted: a crash would then forget a term we told
		// a peer. It waits like the others (etcd holds it back too).
		r.msgsAfterAppend = append(r.msgsAfterAppend, m)
	default:
		r.msgs = append(r.msgs, m)
	}
}

// --- roles ---

func (r *raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
		r.dropStaleAcks()
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
	r.leadTransferee = None
	r.trk.resetVotes()
	next := r.log.lastIndex() + 1
	for _, id := range r.trk.ids {
		pr := r.trk.get(id)
		pr.Match, pr.Next = 0, next
		pr.resetState(StateProbe)
		pr.RecentActive = false
		if id == r.id {
			pr.Match = r.log.stableLastIndex()
			pr.RecentActive = true
		}
	}
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	r.readOnly.reset()
	r.pendingReadIndex = nil
}

// dropStaleAcks drops the append acknowledgements of an earlier term that
// wait for the Ready's persistence: the entries they vouch for may be
// replaced in this very Ready by the newer leader's (an append of the
// older leader, then one of the newer that truncates it, stepped while a
// Ready was out). Sent after the sync, such an ack would tell the older
// leader we durably hold entries we no longer hold at all. The older
// leader is deposed; it only loses an answer it can no longer use.
func (r *raft) dropStaleAcks() {
	kept := r.msgsAfterAppend[:0]
	for _, m := range r.msgsAfterAppend {
		if m.Type == MsgAppResp && !m.Reject && m.Term < r.term {
			continue
		}
		kept = append(kept, m)
	}
	clear(r.msgsAfterAppend[len(kept):])
	r.msgsAfterAppend = kept
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.reset(term)
	r.lead = lead
	r.state = RoleFollower
}

func (r *raft) becomePreCandidate() {
	// No reset: a pre-candidate keeps its term, vote and leader so that
	// a failed pre-vote changes nothing.
	r.trk.resetVotes()
	r.lead = None
	r.state = RolePreCandidate
}

func (r *raft) becomeCandidate() {
	r.reset(r.term + 1)
	r.vote = r.id
	r.state = RoleCandidate
}

func (r *raft) becomeLeader() {
	r.reset(r.term)
	r.ackEpochs = nil // learned afresh in each term
	r.lead = r.id
	r.state = RoleLeader
	r.probes.Hit(probeBecameLeader)
	if r.onLeader != nil {
		r.onLeader(r.term)
	}
	if pr := r.trk.get(r.id); pr != nil {
		pr.becomeReplicate()
		pr.Match = r.log.stableLastIndex()
	}
	// No conf change until everything up to here is applied, which
	// includes the empty entry of our term appended below: the fix for
	// single-server changes (a leader must commit an entry of its own
	// term first).
	r.pendingConfIndex = r.log.lastIndex() + 1
	r.appendEntry(Entry{Type: EntryNormal})
}

// --- ticks ---

func (r *raft) tick() {
	if r.state == RoleLeader {
		r.tickHeartbeat()
	} else {
		r.tickElection()
	}
}

func (r *raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		_ = r.Step(&Message{Type: MsgHup})
	}
}

func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(&Message{Type: MsgCheckQuorum})
		}
		// A transfer that did not complete within an election timeout
		// is abandoned.
		if r.state == RoleLeader && r.leadTransferee != None {
			r.probes.Hit(probeTransferAborted)
			r.abortLeaderTransfer()
		}
	}
	if r.state != RoleLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(&Message{Type: MsgBeat})
	}
}

// --- elections ---

// hasUnappliedConfChanges reports whether a committed conf change is not
// yet applied: with apply-time configuration a node must not campaign
// then, as its view of the voters may be out of date.
func (r *raft) hasUnappliedConfChanges() bool {
	if r.log.applied >= r.log.committed {
		return false
	}
	lo := max(r.log.applied+1, r.log.firstIndex())
	for lo <= r.log.committed {
		ents, err := r.log.slice(lo, r.log.committed+1, r.maxCommittedSize)
		if err != nil || len(ents) == 0 {
			return true // cannot tell: be conservative
		}
		for i := range ents {
			if ents[i].Type == EntryConfChange {
				return true
			}
		}
		lo = ents[len(ents)-1].Index + 1
	}
	return false
}

func (r *raft) hup(t campaignType) {
	if r.state == RoleLeader || !r.promotable() || r.recovering {
		return
	}
	if r.hasUnappliedConfChanges() {
		r.probes.Hit(probeCampaignBlocked)
		return
	}
	r.campaign(t)
}

func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg, term = MsgPreVote, r.term+1
	} else {
		r.becomeCandidate()
		voteMsg, term = MsgVote, r.term
	}
	if res := r.trk.recordVote(r.id, true); res == voteWon {
		// Single voter: won outright.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransferType {
		ctx = campaignTransfer
	}
	for _, id := range r.trk.voters {
		if id == r.id {
			continue
		}
		r.send(Message{Type: voteMsg, To: id, Term: term, Index: r.log.lastIndex(),
			LogTerm: r.log.lastTerm(), Context: ctx})
	}
}

// Step handles one message (local or from a peer). m is the caller's to
// lose: the handlers may change it (a follower forwarding a proposal).
func (r *raft) Step(m *Message) error {
	if r.ignoredInRecovery(m) {
		return nil
	}
	switch {
	case m.Term == 0:
		// Local message, or a forwarded proposal / read request.
	case m.Term > r.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := bytes.Equal(m.Context, campaignTransfer)
			inLease := r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
			if !force && inLease {
				r.probes.Hit(probeVoteInLease)
				// We heard from a live leader within an election timeout:
				// ignore the request, so that a node that was cut off
				// cannot depose a working leader (lease-based rejection).
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the future term; it is counted
			// in stepCandidate.
		default:
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.term:
		if (r.checkQuorum || r.preVote || r.recovering) && (m.Type == MsgHeartbeat || m.Type == MsgApp) {
			// A stale leader (e.g. one that was partitioned): tell it our
			// term so that it steps down. Without this, a node that kept
			// its term low thanks to pre-vote could never depose it; and a
			// recovering node, which raised its term to its vote floor but
			// may not campaign, would wait for ever behind a leader of a
			// lower term that never hears of it (TestRapidSafety, seed
			// 14594403821501071074, without pre-vote and CheckQuorum).
			r.send(Message{Type: MsgAppResp, To: m.From})
			r.probes.Hit(probeStaleAppendAnswered)
		} else if m.Type == MsgPreVote {
			r.send(Message{Type: MsgPreVoteResp, To: m.From, Term: r.term, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
	default:
		switch r.state {
		case RoleLeader:
			return r.stepLeader(m)
		case RoleFollower:
			return r.stepFollower(m)
		default:
			return r.stepCandidate(m)
		}
	}
	return nil
}

func (r *raft) handleVoteRequest(m *Message) {
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	r.probes.If(canVote && !r.log.isUpToDate(m.Index, m.LogTerm), probeVoteLogBehind)
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		r.probes.If(m.Type == MsgVote && m.Index > r.log.lastIndex(), probeVoteLongerLog)
		// Answer with the request's term: a pre-vote grant must be
		// recognisable by the pre-candidate, whose term is still lower.
		r.send(Message{Type: respType, To: m.From, Term: m.Term})
		if m.Type == MsgVote {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.send(Message{Type: respType, To: m.From, Term: r.term, Reject: true})
}

// --- leader ---

func (r *raft) stepLeader(m *Message) error {
	switch m.Type {
	case MsgBeat:
		r.bcastHeartbeat()
		return nil
	case MsgCheckQuorum:
		if !r.trk.quorumActive(r.id) {
			r.probes.Hit(probeCheckQuorumDown)
			r.becomeFollower(r.term, None)
		}
		return nil
	case MsgProp:
		return r.propose(m)
	case MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.get(m.From)
	if pr == nil {
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		if m.Epoch != 0 && !r.learnEpoch(m, pr) {
			return nil // from an earlier incarnation
		}
		pr.RecentActive = true
		pr.probeSent = false
		if m.Reject && m.Index < pr.Match {
			// The follower lost entries it acknowledged (it is recovering
			// from lost durable state): probe from where its log ends.
			// Match only feeds the commit index, which never goes back,
			// so lowering it un-commits nothing; a stale notice only
			// costs one probe round.
			pr.Match = m.Index
			pr.becomeProbe()
			r.probes.Hit(probeLostLogReprobe)
		}
		if pr.State == StateReplicate && pr.inflights.full() {
			r.probes.Hit(probeInflightFreed)
			// Appends may have been lost: free one slot so the stream
			// moves on; a gap is then rejected and we fall back to probing.
			pr.inflights.freeFirstOne()
		}
		if pr.Match < r.log.lastIndex() || m.Epoch != 0 {
			// (A recovering follower that has not seen its epoch echoed
			// waits for a MsgApp carrying it.)
			r.sendAppend(m.From)
		}
		if len(m.Context) > 0 {
			r.handleReadAck(m)
		}
	case MsgSnapStatus:
		if pr.State != StateSnapshot {
			return nil
		}
		if m.Reject {
			r.probes.Hit(probeSnapRejected)
			pr.PendingSnapshot = 0
		}
		pr.becomeProbe()
		// Wait for a heartbeat response before probing again.
		pr.probeSent = true
	case MsgUnreachable:
		if pr.State == StateReplicate {
			pr.becomeProbe()
		}
	case MsgTransferLeader:
		r.handleTransferLeader(m.From, pr)
	}
	return nil
}

func (r *raft) propose(m *Message) error {
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: empty proposal", ErrProposalDropped)
	}
	if !r.trk.isMember(r.id) {
		return fmt.Errorf("%w: leader was removed", ErrProposalDropped)
	}
	if r.leadTransferee != None {
		r.probes.Hit(probePropDuringTransfer)
		return fmt.Errorf("%w: leadership transfer to %d in progress", ErrProposalDropped, r.leadTransferee)
	}
	var size uint64
	for i := range m.Entries {
		size += uint64(len(m.Entries[i].Data))
	}
	if r.uncommittedSize > 0 && size > 0 && r.uncommittedSize+size > r.maxUncommittedSize {
		r.probes.Hit(probeUncommittedLimit)
		return fmt.Errorf("%w: %d bytes uncommitted (limit %d)", ErrProposalDropped,
			r.uncommittedSize, r.maxUncommittedSize)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Type != EntryConfChange {
			continue
		}
		if r.pendingConfIndex > r.log.applied {
			r.probes.Hit(probeConfPending)
			return fmt.Errorf("%w: a conf change is pending (index %d, applied %d)",
				ErrProposalDropped, r.pendingConfIndex, r.log.applied)
		}
		var cc ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidConfChange, err)
		}
		if err := r.checkConfChange(cc); err != nil {
			return err
		}
		r.pendingConfIndex = r.log.lastIndex() + uint64(i) + 1
	}
	r.appendEntry(m.Entries...)
	r.uncommittedSize += size
	r.bcastAppend()
	return nil
}

// reduceUncommittedSize accounts for applied entries (called at Advance).
func (r *raft) reduceUncommittedSize(applied uint64) {
	if r.state != RoleLeader {
		return
	}
	r.uncommittedSize -= min(applied, r.uncommittedSize)
}

// appendEntry appends entries of the current term to the leader's log.
// The leader's own Match is not advanced here but in onPersisted, once
// the node reports them durable.
func (r *raft) appendEntry(es ...Entry) {
	li := r.log.lastIndex()
	for i := range es {
		es[i].Term = r.term
		es[i].Index = li + 1 + uint64(i)
	}
	r.log.append(es...)
}

// onPersisted runs at Advance: the leader's own durable log now counts
// toward commitment.
func (r *raft) onPersisted() {
	if r.state != RoleLeader {
		return
	}
	pr := r.trk.get(r.id)
	if pr == nil {
		return
	}
	if pr.maybeUpdate(r.log.stableLastIndex()) {
		r.maybeCommitAndBroadcast()
	}
}

// maybeCommitAndBroadcast commits what a quorum holds, if it is of the
// current term, and tells the followers.
func (r *raft) maybeCommitAndBroadcast() bool {
	if !r.log.maybeCommit(r.trk.committed(), r.term) {
		return false
	}
	r.releasePendingReadIndex()
	r.bcastAppend()
	return true
}

func (r *raft) handleAppendResponse(m *Message, pr *progress) {
	known := r.ackEpochs[m.From]
	if !r.learnEpoch(m, pr) {
		return // from an earlier incarnation: it may vouch for entries lost since
	}
	if m.Epoch > known {
		// Echo the epoch at once (the follower leaves recovery only once
		// a MsgApp of ours echoed it), whatever the answer leads to below.
		defer r.sendAppend(m.From)
	}
	pr.RecentActive = true
	if m.Reject {
		next := m.RejectHint
		if m.LogTerm > 0 {
			// Skip back over the whole term the follower does not have.
			next, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.State == StateReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	wasPaused := pr.isPaused()
	if !pr.maybeUpdate(m.Index) && !(pr.Match == m.Index && pr.State == StateProbe) {
		return
	}
	switch {
	case pr.State == StateProbe:
		pr.becomeReplicate()
	case pr.State == StateSnapshot && pr.Match+1 >= r.log.firstIndex():
		// The snapshot (or a later log) was installed and we can
		// continue from the log.
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.State == StateReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if !r.maybeCommitAndBroadcast() && wasPaused {
		r.sendAppend(m.From)
	}
	// Stream whatever else is ready for it (the window may have opened).
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(m.From)
	}
}

func (r *raft) bcastAppend() {
	for _, id := range r.trk.ids {
		if id != r.id {
			r.sendAppend(id)
		}
	}
}

func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends a MsgApp (or a snapshot) to `to` if its progress
// allows; sendIfEmpty sends one even without new entries (to carry the
// commit index or probe). It reports whether a message was sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.get(to)
	if pr == nil || pr.isPaused() {
		r.probes.If(pr != nil && pr.State == StateReplicate && pr.inflights.full(), probeInflightFull)
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.log.term(prevIndex)
	var ents []Entry
	var erre error
	if errt == nil && (pr.State != StateReplicate || !pr.inflights.full()) {
		ents, erre = r.log.entries(pr.Next, r.maxMsgSize)
		r.probes.If(len(ents) > 0 && ents[len(ents)-1].Index < r.log.lastIndex(), probeMsgSizeLimited)
	}
	if len(ents) == 0 && !sendIfEmpty && errt == nil && erre == nil {
		return false
	}
	if errt != nil || erre != nil {
		return r.sendSnapshot(to, pr)
	}
	r.send(Message{Type: MsgApp, To: to, Index: prevIndex, LogTerm: prevTerm,
		Entries: ents, Commit: r.log.committed, Epoch: r.ackEpochs[to]})
	last := prevIndex
	if n := len(ents); n > 0 {
		last = ents[n-1].Index
	}
	pr.sentEntries(len(ents), last)
	return true
}

// sendSnapshot sends the latest snapshot to a follower whose next entries
// were compacted away.
func (r *raft) sendSnapshot(to uint64, pr *progress) bool {
	if !pr.RecentActive {
		return false // do not ship a snapshot to a node that is likely down
	}
	snap, err := r.log.snapshot()
	if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		return false
	}
	must(err)
	if snap.IsEmpty() {
		panic("raft: need a snapshot but the storage has none")
	}
	pr.becomeSnapshot(snap.Meta.Index)
	r.probes.Hit(probeSnapSent)
	r.send(Message{Type: MsgSnap, To: to, Snapshot: &snap})
	return true
}

func (r *raft) bcastHeartbeat() {
	ctx := r.readOnly.lastPendingCtx()
	for _, id := range r.trk.ids {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	}
}

func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	// Never tell a follower to commit past what it is known to hold.
	commit := min(r.trk.get(to).Match, r.log.committed)
	r.send(Message{Type: MsgHeartbeat, To: to, Commit: commit, Context: ctx})
}

// --- leadership transfer ---

func (r *raft) handleTransferLeader(to uint64, pr *progress) {
	if pr.IsLearner || to == r.id {
		return
	}
	if r.leadTransferee != None {
		if r.leadTransferee == to {
			return // already in progress
		}
		r.abortLeaderTransfer()
	}
	// The transfer must complete within an election timeout.
	r.electionElapsed = 0
	r.leadTransferee = to
	r.probes.Hit(probeTransferStarted)
	if pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(to)
	} else {
		r.sendAppend(to)
	}
}

func (r *raft) sendTimeoutNow(to uint64) { r.send(Message{Type: MsgTimeoutNow, To: to}) }

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

// --- candidate ---

func (r *raft) stepCandidate(m *Message) error {
	respType := MsgVoteResp
	if r.state == RolePreCandidate {
		respType = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		return fmt.Errorf("%w: no leader", ErrProposalDropped)
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case respType:
		switch r.trk.recordVote(m.From, !m.Reject) {
		case voteWon:
			if r.state == RolePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case voteLost:
			r.probes.If(r.state == RolePreCandidate, probePreVoteLost)
			r.probes.If(r.state == RoleCandidate, probeCandidateLost)
			// A pre-candidate that lost keeps its term; a candidate
			// stays at its new term.
			r.becomeFollower(r.term, None)
		}
	}
	return nil
}

// --- follower ---

func (r *raft) stepFollower(m *Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None {
			return fmt.Errorf("%w: no leader", ErrProposalDropped)
		}
		if r.disableForwarding {
			return fmt.Errorf("%w: not the leader (forwarding disabled)", ErrProposalDropped)
		}
		m.To = r.lead
		// The caller's entries slice may be reused (RawNode.Propose).
		m.Entries = append([]Entry(nil), m.Entries...)
		r.send(*m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.noteLeaderCommit(m)
		r.handleAppendEntries(m)
		r.maybeEndRecovery()
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.noteLeaderCommit(m)
		r.handleHeartbeat(m)
		r.maybeEndRecovery()
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead != None {
			m.To = r.lead
			m.Term = 0
			r.send(*m)
		}
	case MsgTimeoutNow:
		// The leader asks us to take over: skip pre-vote, and force
		// through the voters' leases.
		r.probes.Hit(probeTimeoutNow)
		r.hup(campaignTransferType)
	case MsgReadIndex:
		if r.lead != None {
			m.To = r.lead
			r.send(*m)
		}
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

func (r *raft) handleAppendEntries(m *Message) {
	r.assertNotLeader(m)
	if m.Index < r.log.committed {
		// Everything up to our commit index matches the leader's log.
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
		return
	}
	r.probeAppend(m)
	if last, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: last})
		return
	}
	// Reject with a hint: the last index at or below m.Index whose term
	// is at most m.LogTerm. The leader then skips a whole term at once.
	hintIndex := min(m.Index, r.log.lastIndex())
	hintIndex, hintTerm := r.log.findConflictByTerm(hintIndex, m.LogTerm)
	r.send(Message{Type: MsgAppResp, To: m.From, Index: m.Index, Reject: true,
		RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m *Message) {
	r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	if m.Commit > r.log.lastIndex() {
		// The leader sends the commit index only up to what it knows we
		// match: it counts on entries we lost. Say where our log ends.
		// (Not only while recovering: a replica that lost entries and
		// finished recovering below what it had acknowledged would wait
		// forever, since the leader takes its rejections of appends at
		// Match for stale ones.)
		r.send(Message{Type: MsgHeartbeatResp, To: m.From, Context: m.Context, Reject: true,
			Index: r.log.lastIndex(), Epoch: r.unechoedEpoch()})
		return
	}
	r.send(Message{Type: MsgHeartbeatResp, To: m.From, Context: m.Context, Epoch: r.unechoedEpoch()})
}

func (r *raft) handleSnapshot(m *Message) {
	r.assertNotLeader(m)
	s := *m.Snapshot
	if r.restore(s) {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.lastIndex()})
	} else {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
	}
}

// assertNotLeader guards the only paths that truncate or replace the log:
// appends and snapshots from a leader.
//
// Invariant: a leader never truncates or overwrites its own log (Leader
// Append-Only, Raft §5.3); it only appends, at its last index.
func (r *raft) assertNotLeader(m *Message) {
	if invariant.Checks && r.state == RoleLeader {
		invariant.Violated("raft %d: leader of term %d handling %s from %d, which may truncate its log",
			r.id, r.term, m.Type, m.From)
	}
}

// restore installs snapshot s if it is ahead of our log.
func (r *raft) restore(s Snapshot) bool {
	if s.Meta.Index <= r.log.committed {
		r.probes.Hit(probeSnapStale)
		return false
	}
	if r.log.matchTerm(s.Meta.Index, s.Meta.Term) {
		// We already have the snapshot's last entry: just commit up to it.
		r.log.commitTo(s.Meta.Index)
		return false
	}
	r.probes.If(r.log.lastIndex() >= s.Meta.Index, probeSnapConflicting)
	r.probes.Hit(probeSnapRestored)
	r.log.restore(s)
	r.trk.reset(s.Meta.ConfState, r.log.lastIndex()+1)
	return true
}

// --- membership ---

func (r *raft) checkConfChange(cc ConfChange) error {
	if cc.NodeID == None {
		return fmt.Errorf("%w: node ID 0", ErrInvalidConfChange)
	}
	pr := r.trk.get(cc.NodeID)
	switch cc.Type {
	case ConfChangeAddVoter:
	case ConfChangeAddLearner:
		if pr != nil && !pr.IsLearner {
			return fmt.Errorf("%w: cannot demote voter %d", ErrInvalidConfChange, cc.NodeID)
		}
	case ConfChangeRemoveNode:
		if pr == nil {
			return fmt.Errorf("%w: %d is not a member", ErrInvalidConfChange, cc.NodeID)
		}
		if !pr.IsLearner && len(r.trk.voters) == 1 {
			return fmt.Errorf("%w: cannot remove the last voter", ErrInvalidConfChange)
		}
	default:
		return fmt.Errorf("%w: type %d", ErrInvalidConfChange, cc.Type)
	}
	return nil
}

func (r *raft) applyConfChange(cc ConfChange) ConfState {
	if r.checkConfChange(cc) != nil {
		return r.trk.confState()
	}
	next := r.log.lastIndex() + 1
	switch cc.Type {
	case ConfChangeAddVoter:
		r.trk.set(cc.NodeID, false, next)
	case ConfChangeAddLearner:
		r.trk.set(cc.NodeID, true, next)
	case ConfChangeRemoveNode:
		r.trk.remove(cc.NodeID)
	}
	if r.state != RoleLeader {
		return r.trk.confState()
	}
	if !r.trk.isVoter(r.id) {
		// The leader was removed: step down; the others elect a new one.
		// They switch to the new configuration only once they know its
		// entry is committed, and until then they need a quorum of the old
		// one, which counts us: if we go away (a removed member shuts
		// down), one more fault could leave them unable to elect anyone.
		// So tell them first. A heartbeat carries the commit index up to
		// what each follower is known to hold, which an append may fail to
		// do (its previous index can be past the follower's log).
		for _, id := range r.trk.ids {
			if id != r.id {
				r.sendHeartbeat(id, nil)
			}
		}
		r.probes.Hit(probeLeaderRemoved)
		r.becomeFollower(r.term, None)
		return r.trk.confState()
	}
	if r.leadTransferee != None && !r.trk.isVoter(r.leadTransferee) {
		r.abortLeaderTransfer()
	}
	// The quorum changed: maybe more is committed now; and new members
	// need their first MsgApp.
	if !r.maybeCommitAndBroadcast() {
		r.bcastAppend()
	}
	return r.trk.confState()
}

// --- validation of received messages ---

// ErrInvalidMessage: a received message violates the protocol's shape
// (entries not contiguous, a snapshot message without a snapshot, ...).
var ErrInvalidMessage = errors.New("raft: invalid message")

func validateMessage(m *Message) error {
	if m.Type >= numMessageTypes {
		return fmt.Errorf("%w: type %d", ErrInvalidMessage, m.Type)
	}
	if m.From == None && m.Type != MsgProp {
		return fmt.Errorf("%w: %s from node 0", ErrInvalidMessage, m.Type)
	}
	switch m.Type {
	case MsgApp:
		if m.LogTerm > m.Term {
			return fmt.Errorf("%w: MsgApp log term %d above term %d", ErrInvalidMessage, m.LogTerm, m.Term)
		}
		prevTerm := m.LogTerm
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != m.Index+1+uint64(i) || e.Term < prevTerm || e.Term > m.Term {
				return fmt.Errorf("%w: MsgApp entry %d (index %d, term %d) out of sequence",
					ErrInvalidMessage, i, e.Index, e.Term)
			}
			prevTerm = e.Term
		}
	case MsgSnap:
		if m.Snapshot == nil || m.Snapshot.IsEmpty() {
			return fmt.Errorf("%w: MsgSnap without snapshot", ErrInvalidMessage)
		}
	case MsgVote, MsgPreVote, MsgHeartbeat, MsgAppResp, MsgVoteResp, MsgPreVoteResp,
		MsgHeartbeatResp, MsgTimeoutNow, MsgReadIndexResp:
		if m.Term == 0 {
			return fmt.Errorf("%w: %s without a term", ErrInvalidMessage, m.Type)
		}
	}
	return nil
}

// --- recovery from lost durable state (Config.Recovering, VoteFloor) ---

// ignoredInRecovery reports whether m must be ignored, as if lost, before
// it can change anything (not even our term): a vote or pre-vote request
// while recovering or for a term at or below the vote floor, and a
// leader's MsgTimeoutNow while recovering (campaigning votes for itself,
// with a log that may lack entries it acknowledged).
func (r *raft) ignoredInRecovery(m *Message) bool {
	switch m.Type {
	case MsgVote, MsgPreVote:
		// Invariant: a node never votes on storage it cannot trust: none
		// while recovering, none at or below its vote floor after.
		ignore := r.recovering || m.Term <= r.voteFloor
		r.probes.If(ignore, probeVoteIgnoredRecovery)
		return ignore
	case MsgTimeoutNow:
		return r.recovering
	}
	return false
}

// noteLeaderCommit records, while recovering, the commit index the leader
// of our term reports.
func (r *raft) noteLeaderCommit(m *Message) {
	if !r.recovering {
		return
	}
	if m.Term != r.recoveryTerm {
		r.recoveryTerm, r.recoveryCommit, r.recoveryEchoed = m.Term, 0, false
	}
	r.recoveryCommit = max(r.recoveryCommit, m.Commit)
	if m.Type == MsgApp && m.Epoch == r.epoch {
		r.recoveryEchoed = true
	}
}

// maybeEndRecovery ends recovery once the node has caught up with a
// leader of a term at or above the vote floor: its commit index reached
// the one the leader last reported, it points at an entry of the leader's
// (and our) term, and everything up to it is applied; and the leader
// echoed our epoch in a MsgApp, so it counts no acknowledgement we sent
// before the loss any more (see "incarnations" below). That leader holds
// every entry committed before the loss (committed in earlier terms, or
// by itself, and so at or below what it reports as committed now), and
// our log matches its log up to there: our vote checks protect those
// entries again.
//
// A node caught up that way with a leader of a term below the vote floor
// raises its term to the floor instead: the leader hears of it in our next
// answer and steps down, and the next election is of a term above the
// floor. Otherwise a stable leader of an older term (the node durably
// reached a higher term as a candidate whose vote requests were lost, and
// then lost its storage) would keep the node recovering, and unable to
// vote, for good.
func (r *raft) maybeEndRecovery() {
	if !r.recovering || r.state != RoleFollower || r.lead == None ||
		r.recoveryTerm != r.term || !r.recoveryEchoed {
		return
	}
	c := r.log.committed
	if c == 0 || c < r.recoveryCommit || r.log.applied < c {
		return
	}
	if t, err := r.log.term(c); err != nil || t != r.term {
		return
	}
	if r.term < r.voteFloor {
		r.becomeFollower(r.voteFloor, None)
		return
	}
	r.recovering = false
}

// --- incarnations (Config.Epoch) ---
//
// A node that lost its durable state may have acknowledged entries it no
// longer holds, and an acknowledgement it sent before the loss can still
// be in flight: a leader of the same term that counted it would take the
// node for holding those entries (and commit with it) although it does
// not. So every MsgAppResp carries the sender's epoch, which the node
// raises (durably, before it runs with it) each time it starts a
// recovery. A leader keeps, for its term, the highest epoch it learned of
// each peer:
//
//   - an acknowledgement (or rejection) of a lower epoch is dropped;
//   - one of a higher epoch means the peer lost its state: its Match is
//     reset to zero before the message is handled (so what it says now
//     sets Match, not the maximum with what it said before), and it is
//     probed afresh.
//
// The recovering node leaves recovery only once the leader of its term
// echoed its epoch in a MsgApp (Message.Epoch), besides the other
// conditions (maybeEndRecovery). The leader echoes it only after it
// learned it, and from then on drops every older acknowledgement: a stale
// one it counted before had to raise its commit index before that, so
// the commit index the echoing MsgApp carries covers every entry committed
// with the node's help, and the node holds them all before it leaves
// recovery. A stale acknowledgement of an earlier term is refused by
// term; the leaders of later terms were elected without the recovering
// node's vote. A recovering node whose MsgApp echo was lost says its
// epoch in its heartbeat answers until it sees one, and the leader then
// sends it a MsgApp.

// learnEpoch applies the rules above to m (a MsgAppResp, or a
// MsgHeartbeatResp with an epoch) from the peer pr tracks: false if m is
// of an earlier incarnation and must be dropped.
func (r *raft) learnEpoch(m *Message, pr *progress) bool {
	known := r.ackEpochs[m.From]
	switch {
	case m.Epoch < known:
		r.probes.Hit(probeStaleEpochDropped)
		return false
	case m.Epoch > known:
		if r.ackEpochs == nil {
			r.ackEpochs = map[uint64]uint64{}
		}
		r.ackEpochs[m.From] = m.Epoch
		r.probes.Hit(probeEpochLearned)
		// The peer lost what it acknowledged before: forget it. Match
		// only feeds the commit index, which never goes back.
		pr.Match = 0
		pr.resetState(StateProbe)
		if m.Reject {
			// Probe from the index it rejects (MsgAppResp) or from where
			// its log ends (MsgHeartbeatResp).
			pr.Next = m.Index + 1
		}
	}
	return true
}

// unechoedEpoch is the epoch a recovering node puts in its heartbeat
// answers until the leader of its term echoed it (zero otherwise).
func (r *raft) unechoedEpoch() uint64 {
	if !r.recovering || (r.recoveryEchoed && r.recoveryTerm == r.term) {
		return 0
	}
	return r.epoch
}
