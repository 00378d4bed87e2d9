package raft

import (
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"math/rand/v2"

	"github.com/seedkv/seedkv/internal/invariant"
)

// Defaults for zero Config fields.
const (
	// DefaultMaxSizePerMsg bounds the entry bytes of one MsgApp when
	// Config.MaxSizePerMsg is zero.
	DefaultMaxSizePerMsg = 1 << 20
	// DefaultMaxInflightMsgs bounds the unacknowledged MsgApps to one
	// follower when Config.MaxInflightMsgs is zero.
	DefaultMaxInflightMsgs = 256
	// DefaultMaxUncommittedEntriesSize bounds the data bytes a leader
	// holds uncommitted before it drops proposals, when
	// Config.MaxUncommittedEntriesSize is zero.
	DefaultMaxUncommittedEntriesSize = 64 << 20
	// DefaultMaxCommittedSizePerReady bounds the committed entry bytes of
	// one Ready when Config.MaxCommittedSizePerReady is zero.
	DefaultMaxCommittedSizePerReady = 16 << 20
)

// Config configures a RawNode.
type Config struct {
	// ID is this node's identity; never zero.
	ID uint64
	// ElectionTick is the election timeout in ticks. A follower that hears
	// nothing from a leader for a randomized timeout in
	// [ElectionTick, 2*ElectionTick) campaigns. Must exceed HeartbeatTick
	// (10x is the usual ratio).
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks.
	HeartbeatTick int
	// Storage holds the durable log; raft reads it, the node writes it.
	Storage Storage
	// Applied is the last index already applied to the state machine on
	// restart (0 for a fresh state machine; raft then starts applying from
	// the first index after the storage's snapshot).
	Applied uint64
	// MaxSizePerMsg bounds the entry bytes of one MsgApp (at least one
	// entry is always sent). 0 means DefaultMaxSizePerMsg.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady bounds Ready.CommittedEntries' bytes (at
	// least one entry). 0 means DefaultMaxCommittedSizePerReady.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize bounds the entry data bytes a leader
	// holds appended but not yet committed; beyond it proposals get
	// ErrProposalDropped (one proposal is always admitted when nothing is
	// uncommitted). 0 means DefaultMaxUncommittedEntriesSize.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs bounds the MsgApps in flight to one follower in
	// replicate state. 0 means DefaultMaxInflightMsgs.
	MaxInflightMsgs int
	// PreVote makes a node first check, without bumping its term, that it
	// could win an election: a rejoining partitioned node cannot then
	// disrupt a working leader.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers that heard
	// from a leader within an election timeout ignore vote requests.
	CheckQuorum bool
	// DisableProposalForwarding makes followers drop proposals (returning
	// ErrProposalDropped) instead of forwarding them to the leader.
	DisableProposalForwarding bool
	// Rand draws the randomized election timeouts. Required: the caller
	// seeds it, so that runs are reproducible.
	Rand *rand.Rand
	// Probes collects this node's coverage probe hits (nil: none).
	Probes *probe.Set
	// OnLeader, if not nil, is called each time the node becomes leader,
	// with its term, before it does anything as leader. Checkers use it
	// to see every leadership as it happens (election safety: at most
	// one leader per term), even one lost again before the next Ready.
	// It must not call back into the RawNode.
	OnLeader func(term uint64)
	// VoteFloor: the node never grants a vote or pre-vote in a term at
	// or below it (requests for such terms are ignored, as if lost). A
	// node that lost its durable state sets it to a bound on every term
	// it may have voted in, so that it cannot vote twice in one term.
	VoteFloor uint64
	// Recovering starts the node in recovery from lost durable state
	// (it restarts on an empty log): it grants no vote or pre-vote, never
	// campaigns (ticks, Campaign and a leader's MsgTimeoutNow are
	// ignored) and, when a leader's heartbeat shows that the leader
	// counts on entries the node no longer holds, tells it so (a
	// rejecting MsgHeartbeatResp carrying its last index), so that the
	// leader sends them again. Recovery ends once the node has caught up
	// with a leader of a term at or above VoteFloor: its commit index
	// reached what that leader reported, on an entry of the leader's
	// term, and it applied up to there, and that leader echoed its Epoch
	// in an append (Recovering reports it). That
	// leader holds every entry committed before the loss, so from then
	// on the node's vote checks protect them again. See node/recovery.go
	// for the durable side.
	Recovering bool
	// Epoch is the node's incarnation: how many times it lost its
	// durable state and started a recovery (0 for a node that never
	// did). It must be durable before the node runs with it and only
	// ever grow: every append acknowledgement carries it, and a leader
	// drops acknowledgements of an earlier incarnation, whose entries
	// the node may have lost (see "incarnations" in raft.go).
	Epoch uint64
}

func (c *Config) validate() error {
	switch {
	case c.ID == None:
		return fmt.Errorf("%w: ID must not be zero", ErrInvalidConfig)
	case c.HeartbeatTick <= 0:
		return fmt.Errorf("%w: HeartbeatTick must be > 0", ErrInvalidConfig)
	case c.ElectionTick <= c.HeartbeatTick:
		return fmt.Errorf("%w: ElectionTick must exceed HeartbeatTick", ErrInvalidConfig)
	case c.Storage == nil:
		return fmt.Errorf("%w: Storage is required", ErrInvalidConfig)
	case c.Rand == nil:
		return fmt.Errorf("%w: Rand is required", ErrInvalidConfig)
	case c.MaxInflightMsgs < 0:
		return fmt.Errorf("%w: MaxInflightMsgs must be >= 0", ErrInvalidConfig)
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxSizePerMsg > MaxMessageSize/2 {
		// One MsgApp holds up to MaxSizePerMsg bytes plus one entry of
		// up to MaxEntryDataSize: it must stay decodable.
		return fmt.Errorf("%w: MaxSizePerMsg above %d", ErrInvalidConfig, MaxMessageSize/2)
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = DefaultMaxUncommittedEntriesSize
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = DefaultMaxCommittedSizePerReady
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	return nil
}

// Ready is what the node must do next. Handle it in this order:
//
//  1. Messages may be sent at once (before or while persisting).
//  2. Persist, durably: Snapshot if non-empty (and restore the state
//     machine from it), then Entries (overwriting any stored suffix from
//     Entries[0].Index on), then HardState if non-empty. MustSync says
//     whether an fsync is needed for this.
//  3. Then send MessagesAfterPersist (votes and append acknowledgements
//     promise durability of what was just persisted).
//  4. Apply CommittedEntries in order; for an EntryConfChange call
//     RawNode.ApplyConfChange. Serve ReadStates once applied up to their
//     Index.
//  5. Call Advance.
//
// Only one Ready may be outstanding: after Ready, HasReady reports false
// and Ready must not be called again until Advance. The slices of a Ready
// (Messages, Entries, ...) must not be retained after Advance: raft
// reuses the message slices (copying a Message value out is fine). Step, Tick, Propose
// and the other inputs may be called meanwhile (e.g. while an fsync is in
// flight); what they produce comes in the next Ready.
type Ready struct {
	// SoftState is non-nil when the leader or the role changed.
	SoftState *SoftState
	// HardState is the state to persist; zero if unchanged.
	HardState HardState
	// Entries are to be appended to stable storage.
	Entries []Entry
	// Snapshot is to be persisted and applied, if non-empty.
	Snapshot Snapshot
	// CommittedEntries are committed and to be applied, in order. They
	// are durable locally by the time the Ready's persistence is done.
	CommittedEntries []Entry
	// Messages may be sent immediately.
	Messages []Message
	// MessagesAfterPersist may only be sent once HardState, Entries and
	// Snapshot of this Ready are durable: vote requests and responses and
	// append/snapshot acknowledgements.
	MessagesAfterPersist []Message
	// ReadStates answer ReadIndex requests.
	ReadStates []ReadState
	// MustSync reports whether persisting this Ready needs an fsync
	// (term, vote, entries or snapshot changed; a commit index alone
	// does not, unless it commits a configuration change: see
	// hasConfChange).
	MustSync bool
}

// hasConfChange reports whether ents hold a configuration change. The
// commit index covering one must be durable before the change is applied:
// a replica acts on the configuration it applied (it counts quorums with
// it, and a removed member is shut down once a majority of the remaining
// voters applied its removal), so after a restart it must not fall back to
// the configuration before. Otherwise, with the commit index unsynced,
// the survivors of a removal restart with the old configuration, which
// still counts the removed member, and one more fault (a replica
// recovering from corruption) leaves them without a quorum for good
// (`simrun -nodes 3 -faults all -seed 728`).
func hasConfChange(ents []Entry) bool {
	for i := range ents {
		if ents[i].Type == EntryConfChange {
			return true
		}
	}
	return false
}

// RawNode is one raft replica as a pure state machine: it takes ticks,
// messages and proposals and hands back, through Ready, what to persist,
// send and apply. It performs no I/O, reads no clock, starts no goroutine
// and is not safe for concurrent use.
type RawNode struct {
	r        *raft
	prevSoft SoftState
	prevHard HardState

	// Bookkeeping of the outstanding Ready, acknowledged by Advance.
	readyOut         bool
	outHard          HardState
	outLastIdx       uint64 // last of Ready.Entries (0 if none)
	outLastTerm      uint64
	outSnapIdx       uint64 // Ready.Snapshot index (0 if none)
	outApplied       uint64 // last of Ready.CommittedEntries (0 if none)
	outCommittedSize uint64 // data bytes of Ready.CommittedEntries
	// The message slices of the outstanding Ready, reused after Advance,
	// and the emptied ones raft queues into while a Ready is out: the
	// two pairs take turns, so a node that keeps stepping messages while
	// a Ready is being persisted does not allocate new queues each time.
	msgBuf, afterBuf   []Message
	msgFree, afterFree []Message
	// propBuf carries Propose's entry into Step without an allocation
	// (the log copies entries; forwarding copies them too).
	propBuf [1]Entry
}

// NewRawNode returns a node restored from c.Storage (a fresh node if the
// storage is empty).
func NewRawNode(c Config) (*RawNode, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	r, err := newRaft(&c)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{r: r}
	rn.prevSoft = r.softState()
	rn.prevHard = r.hardState()
	return rn, nil
}

// Tick advances the node's logical clock by one tick.
func (rn *RawNode) Tick() { rn.r.tick() }

// Campaign makes the node start an election now (pre-vote first if
// configured). It is a no-op for a leader or a non-voter.
func (rn *RawNode) Campaign() error { return rn.r.Step(&Message{Type: MsgHup}) }

// Propose proposes data to be appended to the log. ErrProposalDropped if
// the node cannot accept it now.
func (rn *RawNode) Propose(data []byte) error {
	if len(data) > MaxEntryDataSize {
		return fmt.Errorf("%w: %d bytes > %d", ErrProposalTooLarge, len(data), MaxEntryDataSize)
	}
	rn.propBuf[0] = Entry{Type: EntryNormal, Data: data}
	err := rn.r.Step(&Message{Type: MsgProp, From: rn.r.id, Entries: rn.propBuf[:]})
	rn.propBuf[0] = Entry{}
	return err
}

// ProposeConfChange proposes a membership change. Only one may be pending
// (proposed but not yet applied) at a time, and not before the leader has
// applied an entry of its own term; otherwise ErrProposalDropped. Invalid
// changes (demoting a voter, removing the last voter, removing a
// non-member) get ErrInvalidConfChange.
func (rn *RawNode) ProposeConfChange(cc ConfChange) error {
	if len(cc.Context) > MaxContextSize {
		return fmt.Errorf("%w: context %d bytes > %d", ErrProposalTooLarge, len(cc.Context), MaxContextSize)
	}
	return rn.r.Step(&Message{Type: MsgProp, From: rn.r.id,
		Entries: []Entry{{Type: EntryConfChange, Data: cc.Marshal()}}})
}

// ApplyConfChange applies a committed conf change to the node's view of
// the configuration and returns the new configuration. The node calls it
// for each committed EntryConfChange, in log order, before Advance. An
// invalid change is ignored (the same on every replica).
func (rn *RawNode) ApplyConfChange(cc ConfChange) ConfState {
	return rn.r.applyConfChange(cc)
}

// Step feeds a message received from a peer. Messages for an older term
// are ignored; malformed ones get ErrInvalidMessage.
func (rn *RawNode) Step(m Message) error { return rn.StepOwned(&m) }

// StepOwned is Step for a message the caller gives up: raft steps it in
// place rather than a copy of it, and may change it (a follower forwarding
// a proposal does); its entries stay the caller's to reuse, as with Step.
func (rn *RawNode) StepOwned(m *Message) error {
	if m.Type.isLocal() {
		return ErrStepLocalMsg
	}
	if err := validateMessage(m); err != nil {
		return err
	}
	if m.To != rn.r.id {
		return fmt.Errorf("%w: %s addressed to %d, this is %d", ErrInvalidMessage, m.Type, m.To, rn.r.id)
	}
	if m.Type.isResponse() && !rn.r.trk.isMember(m.From) {
		return ErrStepPeerNotFound
	}
	return rn.r.Step(m)
}

// ReadIndex requests a linearizable read point. The answer arrives as a
// ReadState carrying ctx in a later Ready; ctx must be unique among the
// pending requests. The request is silently dropped if leadership is lost
// (or there is no leader): the caller must time out and retry. The only
// error is ErrReadContextTooLarge.
func (rn *RawNode) ReadIndex(ctx []byte) error {
	if len(ctx) > MaxContextSize {
		return fmt.Errorf("%w: %d bytes > %d", ErrReadContextTooLarge, len(ctx), MaxContextSize)
	}
	_ = rn.r.Step(&Message{Type: MsgReadIndex, Context: ctx})
	return nil
}

// TransferLeadership asks the leader to hand leadership to the voter to.
// The transfer aborts if it does not complete within an election timeout.
// to == None aborts a transfer in progress. Proposals are dropped while a
// transfer is in progress.
func (rn *RawNode) TransferLeadership(to uint64) {
	if to == None {
		rn.r.abortLeaderTransfer()
		return
	}
	_ = rn.r.Step(&Message{Type: MsgTransferLeader, From: to})
}

// ReportUnreachable tells raft that the last message to id could not be
// delivered: replication to it falls back to probing.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.r.Step(&Message{Type: MsgUnreachable, From: id})
}

// ReportSnapshot tells raft whether the snapshot last sent to id was
// delivered (ok) or failed.
func (rn *RawNode) ReportSnapshot(id uint64, ok bool) {
	_ = rn.r.Step(&Message{Type: MsgSnapStatus, From: id, Reject: !ok})
}

// HasReady reports whether Ready would return something to do. It is
// false while a Ready is outstanding (until Advance).
func (rn *RawNode) HasReady() bool {
	if rn.readyOut {
		return false
	}
	r := rn.r
	if ss := r.softState(); ss != rn.prevSoft {
		return true
	}
	if hs := r.hardState(); hs != rn.prevHard {
		return true
	}
	return len(r.msgs) > 0 || len(r.msgsAfterAppend) > 0 || len(r.readStates) > 0 ||
		r.log.hasPendingSnapshot() || len(r.log.unstableEntries()) > 0 ||
		r.log.hasNextCommittedEnts()
}

// Ready returns what the node must do next (see Ready). Calling it again
// before Advance panics: that would hand out the same work twice.
func (rn *RawNode) Ready() Ready {
	var rd Ready
	rn.ReadyInto(&rd)
	return rd
}

// ReadyInto sets *rd to what Ready returns, in place: a node that keeps
// the Ready it handles in a field of its own copies no Ready (some 30
// words) out and in.
func (rn *RawNode) ReadyInto(rd *Ready) {
	if rn.readyOut {
		panic("raft: Ready called before Advance of the previous Ready")
	}
	r := rn.r
	*rd = Ready{}
	rd.Entries = r.log.unstableEntries()
	rd.CommittedEntries = r.log.nextCommittedEnts(r.maxCommittedSize)
	rd.Messages, rd.MessagesAfterPersist, rd.ReadStates = r.msgs, r.msgsAfterAppend, r.readStates
	r.msgs, r.msgsAfterAppend, r.readStates = rn.msgFree, rn.afterFree, nil
	rn.msgFree, rn.afterFree = nil, nil
	if ss := r.softState(); ss != rn.prevSoft {
		rn.prevSoft = ss
		changed := ss // only this copy escapes, and only on a change
		rd.SoftState = &changed
	}
	rn.msgBuf, rn.afterBuf = rd.Messages, rd.MessagesAfterPersist
	hs := r.hardState()
	// Invariant: the hard state's term and commit index never decrease
	// (a node that forgot its term could vote twice in it; one whose
	// commit index went back could apply an entry twice).
	if invariant.Checks && (hs.Term < rn.prevHard.Term || hs.Commit < rn.prevHard.Commit) {
		invariant.Violated("raft %d: hard state went back from %+v to %+v", r.id, rn.prevHard, hs)
	}
	if hs != rn.prevHard {
		rd.HardState = hs
	}
	if s := r.log.unstable.snapshot; s != nil {
		rd.Snapshot = *s
	}
	rd.MustSync = hs.Term != rn.prevHard.Term || hs.Vote != rn.prevHard.Vote ||
		len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty() || hasConfChange(rd.CommittedEntries)

	rn.readyOut = true
	rn.outHard = hs
	rn.outLastIdx, rn.outLastTerm, rn.outSnapIdx, rn.outApplied = 0, 0, 0, 0
	if n := len(rd.Entries); n > 0 {
		rn.outLastIdx, rn.outLastTerm = rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	rn.outSnapIdx = rd.Snapshot.Meta.Index
	rn.outCommittedSize = 0
	if n := len(rd.CommittedEntries); n > 0 {
		rn.outApplied = rd.CommittedEntries[n-1].Index
		for i := range rd.CommittedEntries {
			rn.outCommittedSize += uint64(len(rd.CommittedEntries[i].Data))
		}
	}
}

// Advance acknowledges that the last Ready was fully handled: its state
// persisted, its messages sent, its committed entries applied.
//
// Persistence acknowledgement is also how a leader counts its own log
// toward commitment: the leader's own Match only advances here, to the
// entries just made durable, so an entry is committed only once a quorum,
// the leader included, holds it on disk.
func (rn *RawNode) Advance() {
	if !rn.readyOut {
		return
	}
	rn.readyOut = false
	rn.prevHard = rn.outHard
	r := rn.r
	if rn.outSnapIdx != 0 {
		r.log.stableSnapTo(rn.outSnapIdx)
		r.log.appliedTo(rn.outSnapIdx)
	}
	if rn.outLastIdx != 0 {
		r.log.stableTo(rn.outLastIdx, rn.outLastTerm)
	}
	if rn.outApplied != 0 {
		r.log.appliedTo(rn.outApplied)
		r.reduceUncommittedSize(rn.outCommittedSize)
	}
	r.onPersisted()
	r.maybeEndRecovery()
	rn.msgFree, rn.afterFree = emptied(rn.msgBuf), emptied(rn.afterBuf)
	rn.msgBuf, rn.afterBuf = nil, nil
}

// emptied returns buf with length 0 and no references to entries and
// contexts: the caller is done with the Ready's slices at Advance.
func emptied(buf []Message) []Message {
	clear(buf)
	return buf[:0]
}

// Recovering reports whether the node is still recovering from lost
// durable state (Config.Recovering): it grants no vote and never
// campaigns until it has caught up with a leader.
func (rn *RawNode) Recovering() bool { return rn.r.recovering }

// Status is a snapshot of the node's state for monitoring and tests.
type Status struct {
	ID uint64
	HardState
	SoftState
	Applied        uint64
	LeadTransferee uint64
	ConfState      ConfState
	// LastIndex and LastTerm are the log's last entry, unstable entries
	// included: what the vote restriction (§5.4.1) compares a candidate
	// with.
	LastIndex, LastTerm uint64
	// Progress of each member, as seen by a leader (nil otherwise).
	Progress map[uint64]ProgressStatus
}

// ProgressStatus is a leader's view of one member's replication.
type ProgressStatus struct {
	Match, Next  uint64
	State        ProgressState
	IsLearner    bool
	RecentActive bool
}

// Status returns the node's current status.
func (rn *RawNode) Status() Status {
	r := rn.r
	st := rn.basicStatus()
	st.ConfState = r.trk.confState()
	if r.state == RoleLeader {
		st.Progress = make(map[uint64]ProgressStatus, len(r.trk.ids))
		for _, id := range r.trk.ids {
			st.Progress[id] = r.trk.get(id).status()
		}
	}
	return st
}

// StatusInto sets *st to the node's current status as Status returns it,
// except Progress, which it leaves nil (WithProgress visits a leader's
// view of its members without building a map), and it reuses the
// ConfState slices st already holds instead of allocating new ones: a
// caller that reads the status on every message (the simulator's safety
// checks) allocates nothing once they have grown. The caller must not
// keep those slices elsewhere across calls. Empty lists may come back
// empty rather than nil.
func (rn *RawNode) StatusInto(st *Status) {
	r := rn.r
	rn.basicStatusInto(st)
	st.ConfState.Voters = append(st.ConfState.Voters[:0], r.trk.voters...)
	st.ConfState.Learners = append(st.ConfState.Learners[:0], r.trk.learners...)
	st.Progress = nil
}

// basicStatus is Status without ConfState and Progress, the fields that
// Status and StatusInto fill alike.
func (rn *RawNode) basicStatus() Status {
	var st Status
	rn.basicStatusInto(&st)
	return st
}

// basicStatusInto sets basicStatus's fields of *st, in place (StatusInto
// runs on every message the simulator's checks look at: no Status is
// built apart and copied).
func (rn *RawNode) basicStatusInto(st *Status) {
	r := rn.r
	st.ID = r.id
	st.HardState = r.hardState()
	st.SoftState = r.softState()
	st.Applied, st.LeadTransferee = r.log.applied, r.leadTransferee
	st.LastIndex, st.LastTerm = r.log.lastIndex(), r.log.lastTerm()
}

// WithProgress calls visit with a leader's view of each member, in
// ascending ID order: Status.Progress without the map. On a node that
// does not lead it calls nothing. visit must not call into the node.
func (rn *RawNode) WithProgress(visit func(id uint64, pr ProgressStatus)) {
	r := rn.r
	if r.state != RoleLeader {
		return
	}
	for _, id := range r.trk.ids {
		visit(id, r.trk.get(id).status())
	}
}
