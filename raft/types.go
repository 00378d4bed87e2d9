package raft

import (
	"errors"
	"fmt"
	"slices"
)

// None is the zero node ID: no leader, no vote.
const None uint64 = 0

// EntryType says how the application must interpret an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries an application command (or nothing: the empty
	// entry a new leader appends to commit an entry of its own term).
	EntryNormal EntryType = iota
	// EntryConfChange carries a marshaled ConfChange. The application
	// applies it by calling RawNode.ApplyConfChange when it is committed.
	EntryConfChange
)

// String names the entry type.
func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "EntryNormal"
	case EntryConfChange:
		return "EntryConfChange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one record of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// size is the approximate encoded size of e, used for flow control.
func (e *Entry) size() uint64 { return uint64(len(e.Data)) + 24 }

// HardState is the part of a node's state that must be durable before the
// node sends the messages of the Ready that changed it.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether hs is the zero HardState.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// ConfState is a cluster configuration: the voting members and the
// learners (which receive the log but neither vote nor count in quorums).
// Both lists are kept sorted in ascending order without duplicates.
type ConfState struct {
	Voters   []uint64
	Learners []uint64
}

// Equal reports whether cs and o hold the same members.
func (cs ConfState) Equal(o ConfState) bool {
	return slices.Equal(cs.Voters, o.Voters) && slices.Equal(cs.Learners, o.Learners)
}

// SnapshotMeta says which log prefix a snapshot replaces and the
// configuration in force at its last index.
type SnapshotMeta struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is the application state as of Meta.Index.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s is the empty snapshot (index zero).
func (s Snapshot) IsEmpty() bool { return s.Meta.Index == 0 }

// BootstrapSnapshot returns the snapshot every member of a brand-new
// cluster starts from: index 1, term 1, no data, the given configuration.
// A node applies it to its storage (and persists it) before its first
// NewRawNode; all initial members must use the same lists.
func BootstrapSnapshot(voters, learners []uint64) Snapshot {
	return Snapshot{Meta: SnapshotMeta{Index: 1, Term: 1, ConfState: ConfState{
		Voters: sortedIDs(voters), Learners: sortedIDs(learners)}}}
}

// ConfChangeType is the kind of a single-server membership change.
type ConfChangeType uint8

const (
	// ConfChangeAddVoter adds a voter, or promotes an existing learner.
	ConfChangeAddVoter ConfChangeType = iota
	// ConfChangeAddLearner adds a learner. A voter cannot be demoted.
	ConfChangeAddLearner
	// ConfChangeRemoveNode removes a voter or a learner.
	ConfChangeRemoveNode
)

// String names the change type.
func (t ConfChangeType) String() string {
	switch t {
	case ConfChangeAddVoter:
		return "AddVoter"
	case ConfChangeAddLearner:
		return "AddLearner"
	case ConfChangeRemoveNode:
		return "RemoveNode"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one single-server membership change. Context is opaque to
// raft (the node may put the new member's address there).
type ConfChange struct {
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
}

// MessageType is the kind of a Message. Local types never cross the wire:
// they are how RawNode methods feed the state machine.
type MessageType uint8

const (
	MsgHup            MessageType = iota // local: start an election
	MsgBeat                              // local: leader sends heartbeats
	MsgProp                              // proposal (local, or forwarded to the leader)
	MsgApp                               // append entries
	MsgAppResp                           // append (or snapshot) acknowledgement / rejection
	MsgVote                              // request vote
	MsgVoteResp                          // vote response
	MsgPreVote                           // pre-vote request (no term change)
	MsgPreVoteResp                       // pre-vote response
	MsgSnap                              // install snapshot
	MsgHeartbeat                         // leader heartbeat (commit, read-index context)
	MsgHeartbeatResp                     // heartbeat acknowledgement
	MsgUnreachable                       // local: a peer could not be reached
	MsgSnapStatus                        // local: result of sending a snapshot
	MsgCheckQuorum                       // local: leader checks quorum contact
	MsgTransferLeader                    // local or forwarded: transfer leadership
	MsgTimeoutNow                        // transfer target: campaign now
	MsgReadIndex                         // read-index request (local or forwarded)
	MsgReadIndexResp                     // read-index answer to a follower
	numMessageTypes
)

var msgTypeNames = [...]string{"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp",
	"MsgVote", "MsgVoteResp", "MsgPreVote", "MsgPreVoteResp", "MsgSnap", "MsgHeartbeat",
	"MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum",
	"MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp"}

// String names the message type.
func (t MessageType) String() string {
	if int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// isLocal reports whether t is only ever produced and consumed inside one
// process (never sent on the wire).
func (t MessageType) isLocal() bool {
	switch t {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum:
		return true
	}
	return false
}

// isResponse reports whether t answers a request.
func (t MessageType) isResponse() bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp, MsgReadIndexResp:
		return true
	}
	return false
}

// Message is the unit of communication between raft nodes.
type Message struct {
	Type       MessageType
	To         uint64
	From       uint64
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Commit     uint64
	Entries    []Entry
	Snapshot   *Snapshot
	Reject     bool
	RejectHint uint64
	Context    []byte
	// Epoch is the sender's incarnation (Config.Epoch) on a MsgAppResp,
	// and on a MsgHeartbeatResp of a node recovering that has not yet
	// seen it echoed; on a MsgApp, the recipient's incarnation as the
	// leader last learned it (the echo). Zero (and then not encoded)
	// for a node that never lost its durable state. See
	// "incarnations" in raft.go.
	Epoch uint64
}

// SoftState is volatile state worth reporting: who leads and our role.
type SoftState struct {
	Lead uint64
	Role Role
}

// Role is a node's role in its current term.
type Role uint8

const (
	// RoleFollower follows Lead (or nobody).
	RoleFollower Role = iota
	// RoleCandidate asked for votes in its current term.
	RoleCandidate
	// RoleLeader leads its current term.
	RoleLeader
	// RolePreCandidate asked for pre-votes without bumping its term.
	RolePreCandidate
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "Follower"
	case RoleCandidate:
		return "Candidate"
	case RoleLeader:
		return "Leader"
	case RolePreCandidate:
		return "PreCandidate"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ReadState answers a ReadIndex request: once the application has applied
// up to Index it may serve the read identified by RequestCtx linearizably.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// Errors returned by RawNode and Storage.
var (
	// ErrProposalDropped: the proposal was not accepted (no leader known,
	// leadership transfer in progress, a conf change already pending,
	// the node is not a member, ...). The caller may retry later.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStepLocalMsg: a local message type was passed to Step.
	ErrStepLocalMsg = errors.New("raft: cannot step a local message")
	// ErrStepPeerNotFound: a response came from a node not in the configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step a response from an unknown peer")
	// ErrCompacted: the requested index is older than the storage's first index.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate: the snapshot is older than the storage's.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable: the requested entries are not in the storage (yet).
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable: the storage cannot produce a
	// snapshot right now; raft retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
	// ErrProposalTooLarge: an entry's data exceeds MaxEntryDataSize (or a
	// ConfChange's context exceeds MaxContextSize): it could never be
	// delivered. Retrying will not help.
	ErrProposalTooLarge = errors.New("raft: proposal too large")
	// ErrReadContextTooLarge: a ReadIndex context exceeds MaxContextSize.
	ErrReadContextTooLarge = errors.New("raft: read index context too large")
	// ErrInvalidConfig: the Config is unusable.
	ErrInvalidConfig = errors.New("raft: invalid config")
)
