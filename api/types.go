// Package api is seedkv's client wire protocol: the requests a client sends
// to a replica, the responses it gets back, the watch event stream, and the
// compact, versioned binary codec that carries them as bytes over the
// (simulated) network.
//
// Every payload on the network starts with one envelope byte that tells a
// replica whether the rest is a raft message from a peer (EnvelopePeer,
// whose body is the raft package's own encoding, opaque here) or client
// traffic (EnvelopeClient, encoded by this package). Client traffic is
//
//	envelope(1) version(1) class(1) op(1) requestID(uvarint) body
//
// where class says Request, Response or WatchEvents and op names the
// operation. Integers are varints, byte strings and lists are
// length-prefixed, and every length and count is checked against a named
// limit (MaxKeySize, MaxValueSize, ...) and against the bytes that remain,
// so a hostile or corrupt payload gets a typed *DecodeError, never a panic
// or a huge allocation.
//
// Semantics follow etcd's v3 API: a Range reads [Key, End) (End empty: the
// single Key; End == "\x00": every key >= Key), revisions are cluster-wide,
// a Txn evaluates its compares and runs either its success or failure ops
// at one revision. Every request carries an ID chosen by the client; the
// response to it carries the same ID. Timeouts are never a server error:
// a client that stops waiting does not know the outcome of its request.
package api

import (
	"github.com/seedkv/seedkv/host"
)

// Version is the codec version written into every client message. A decoder
// rejects any other version with ErrVersion.
const Version byte = 1

// Named limits of the protocol. A message past any of them is rejected by
// the decoder (and must not be produced by an encoder's caller).
const (
	// MaxMessageSize bounds one encoded request.
	MaxMessageSize = 8 << 20
	// MaxResponseSize bounds one encoded response or watch events
	// message: a range's answer can be far larger than any request (etcd
	// sends answers of up to 2 GiB, and clientv3 takes them). It stays
	// below the OS transport's frame limit (limits.MaxMessageBytes,
	// 256 MiB); an answer past it is refused, not sent.
	MaxResponseSize = 192 << 20
	// MaxKeySize bounds a key or range end: 2 MiB, what etcd's gRPC
	// server receives in one request (its --max-request-bytes of 1.5 MiB
	// plus 512 KiB), as etcd itself has no key limit of its own.
	MaxKeySize = 2 << 20
	// MaxValueSize bounds a value.
	MaxValueSize = 3 << 19
	// MaxTxnOps bounds the compares and also each op list of a Txn
	// (etcd's default max-txn-ops).
	MaxTxnOps = 128
	// MaxMembers bounds a member list.
	MaxMembers = 64
	// MaxDetailSize bounds the human-readable error detail.
	MaxDetailSize = 512
)

// Envelope is the first byte of every network payload.
type Envelope byte

const (
	// EnvelopePeer: the rest is a raft message between replicas.
	EnvelopePeer Envelope = 0x01
	// EnvelopeClient: the rest is client traffic encoded by this package.
	EnvelopeClient Envelope = 0x02
	// EnvelopeControl: the rest is a replica-to-replica control message
	// outside raft (package node's own encoding, opaque here).
	EnvelopeControl Envelope = 0x03
)

// Class says what kind of client message a payload is.
type Class byte

const (
	// ClassRequest: client to replica.
	ClassRequest Class = 1
	// ClassResponse: replica to client, the answer to one request.
	ClassResponse Class = 2
	// ClassWatchEvents: replica to client, one batch of a watch stream.
	ClassWatchEvents Class = 3
)

// Op names an operation. A request and its response carry the same Op.
type Op byte

// The operations.
const (
	OpPut Op = iota + 1
	OpRange
	OpDeleteRange
	OpTxn
	OpCompact
	OpLeaseGrant
	OpLeaseRevoke
	OpLeaseKeepAlive
	OpWatchCreate
	OpWatchCancel
	OpMemberAdd
	OpMemberRemove
	OpMemberList
	OpMoveLeader
	opEnd // one past the last valid Op
)

var opNames = [...]string{"", "Put", "Range", "DeleteRange", "Txn", "Compact",
	"LeaseGrant", "LeaseRevoke", "LeaseKeepAlive", "WatchCreate", "WatchCancel",
	"MemberAdd", "MemberRemove", "MemberList", "MoveLeader"}

func (o Op) String() string {
	if o > 0 && o < opEnd {
		return opNames[o]
	}
	return "Op(?)"
}

// IsWrite reports whether the op changes replicated state and so goes
// through the raft log. (Watch create/cancel are per-replica state.)
func (o Op) IsWrite() bool {
	switch o {
	case OpPut, OpDeleteRange, OpTxn, OpCompact, OpLeaseGrant, OpLeaseRevoke,
		OpLeaseKeepAlive, OpMemberAdd, OpMemberRemove:
		return true
	}
	return false
}

// RequestID identifies a request among those of one client; the client
// chooses it and the response echoes it.
type RequestID uint64

// Message is any client message: *Request, *Response or *WatchEvents.
type Message interface {
	class() Class
}

// Request is one client request.
type Request struct {
	// ID is chosen by the client and echoed in the response. A client
	// numbers its requests in increasing order.
	ID RequestID
	// FinishedBelow tells the server that the client is done (answered or
	// abandoned after a timeout) with every request whose ID is below it.
	// Writes carry it into the log so every replica can forget those IDs
	// and refuse to apply a late duplicate of one of them; together with
	// per-client dedup of IDs above it, a write the network duplicates is
	// applied at most once.
	FinishedBelow RequestID
	// Body is one of *PutRequest, *RangeRequest, ... (see Op).
	Body RequestBody
}

// RequestBody is the operation-specific part of a request.
type RequestBody interface {
	// Op names the operation.
	Op() Op
}

// Response answers one request.
type Response struct {
	// ID echoes the request's ID.
	ID RequestID
	// Op echoes the request's Op.
	Op Op
	// Header says who answered and at what revision.
	Header Header
	// Err is CodeOK on success.
	Err ErrorCode
	// Leader is the leader hint that goes with CodeNotLeader (0: unknown).
	Leader host.NodeID
	// Detail is a short human-readable explanation of a failure.
	Detail string
	// Body is the op-specific result when Err is CodeOK (nil otherwise),
	// matching Op: *PutResponse, *RangeResponse, ...
	Body ResponseBody
}

// ResponseBody is the operation-specific part of a response.
type ResponseBody interface {
	// Op names the operation.
	Op() Op
}

// Header is carried by every response and watch event batch.
type Header struct {
	// Revision is the store revision the answer reflects (after a write:
	// the revision of the write, or the current one if it changed
	// nothing).
	Revision int64
	// Member is the replica that answered.
	Member host.NodeID
	// RaftTerm is the answering replica's raft term.
	RaftTerm uint64
}

// KeyValue is one version of a key, as etcd's mvccpb.KeyValue.
type KeyValue struct {
	Key            []byte
	CreateRevision int64
	ModRevision    int64
	Version        int64
	Value          []byte
	Lease          int64
}

// PutRequest sets Key to Value.
type PutRequest struct {
	Key   []byte
	Value []byte
	// Lease attaches the key to a lease (0: none).
	Lease int64
	// PrevKV asks for the previous key-value in the response.
	PrevKV bool
}

// PutResponse is the result of a Put.
type PutResponse struct {
	// PrevKV is the previous key-value if asked for and the key existed.
	PrevKV *KeyValue
}

// RangeRequest reads [Key, End).
type RangeRequest struct {
	Key []byte
	End []byte
	// Revision reads the store as of that revision (0: latest).
	Revision int64
	// Limit bounds the number of keys returned (0: no limit).
	Limit int64
	// CountOnly returns only the count.
	CountOnly bool
	// KeysOnly returns keys without values.
	KeysOnly bool
	// Serializable lets the replica answer from its local state, which
	// may be stale, without a ReadIndex round.
	Serializable bool
}

// RangeResponse is the result of a Range.
type RangeResponse struct {
	KVs []KeyValue
	// More is set if Limit cut the result.
	More bool
	// Count is the number of keys in the range (before Limit).
	Count int64
}

// DeleteRangeRequest deletes [Key, End).
type DeleteRangeRequest struct {
	Key    []byte
	End    []byte
	PrevKV bool
}

// DeleteRangeResponse is the result of a DeleteRange.
type DeleteRangeResponse struct {
	Deleted int64
	PrevKVs []KeyValue
}

// CompareTarget is what a Txn compare looks at.
type CompareTarget byte

// The compare targets.
const (
	TargetVersion CompareTarget = iota
	TargetCreate
	TargetMod
	TargetValue
	TargetLease
	targetEnd
)

// CompareResult is the relation a compare tests.
type CompareResult byte

// The compare relations.
const (
	CompareEqual CompareResult = iota
	CompareGreater
	CompareLess
	CompareNotEqual
	compareEnd
)

// Compare is one condition of a Txn, as etcd's: the Target of the key (or
// of every key in [Key, End) when End is set) must stand in relation
// Result to the operand that matches Target.
type Compare struct {
	Result CompareResult
	Target CompareTarget
	Key    []byte
	End    []byte
	// Operands: only the one matching Target is used.
	Version        int64
	CreateRevision int64
	ModRevision    int64
	Value          []byte
	Lease          int64
}

// TxnOp is one op of a Txn: exactly one field is set.
type TxnOp struct {
	Range       *RangeRequest
	Put         *PutRequest
	DeleteRange *DeleteRangeRequest
}

// TxnOpResponse is the result of one TxnOp: exactly one field is set.
type TxnOpResponse struct {
	Range       *RangeResponse
	Put         *PutResponse
	DeleteRange *DeleteRangeResponse
}

// TxnRequest runs Success if every compare holds, else Failure.
type TxnRequest struct {
	Compares []Compare
	Success  []TxnOp
	Failure  []TxnOp
	// PutThenDelete lets a branch delete a key an op before it put (both
	// run, at sub-revisions of the one revision): the branch is the path
	// of an etcd nested transaction, which the gRPC server has checked by
	// etcd's own rules (checkIntervals lets a nested transaction delete
	// what an earlier sibling put). Encoded only when set.
	PutThenDelete bool
}

// TxnResponse is the result of a Txn.
type TxnResponse struct {
	Succeeded bool
	Responses []TxnOpResponse
}

// CompactRequest drops history before Revision.
type CompactRequest struct {
	Revision int64
}

// CompactResponse is the result of a Compact.
type CompactResponse struct{}

// LeaseGrantRequest grants a lease.
type LeaseGrantRequest struct {
	// TTL in seconds, as etcd.
	TTL int64
	// ID asks for this lease ID (0: the server picks one).
	ID int64
}

// LeaseGrantResponse is the granted lease.
type LeaseGrantResponse struct {
	ID  int64
	TTL int64
}

// LeaseRevokeRequest revokes a lease and deletes its keys.
type LeaseRevokeRequest struct {
	ID int64
}

// LeaseRevokeResponse is the result of a LeaseRevoke.
type LeaseRevokeResponse struct{}

// LeaseKeepAliveRequest renews a lease for its full TTL.
type LeaseKeepAliveRequest struct {
	ID int64
}

// LeaseKeepAliveResponse carries the renewed TTL.
type LeaseKeepAliveResponse struct {
	ID  int64
	TTL int64
}

// WatchCreateRequest starts a watch stream of [Key, End) from
// StartRevision (0: from the next revision). WatchID is chosen by the
// client and must be unique among its open watches.
type WatchCreateRequest struct {
	WatchID       int64
	Key           []byte
	End           []byte
	StartRevision int64
	PrevKV        bool
}

// WatchCreateResponse confirms a watch. With CodeCompacted in the
// response, CompactRevision is the store's compaction revision.
type WatchCreateResponse struct {
	WatchID         int64
	CompactRevision int64
}

// WatchCancelRequest stops a watch stream.
type WatchCancelRequest struct {
	WatchID int64
}

// WatchCancelResponse confirms the cancel.
type WatchCancelResponse struct {
	WatchID int64
}

// Member is one member of the cluster.
type Member struct {
	ID      host.NodeID
	Learner bool
}

// MemberAddRequest adds a member.
type MemberAddRequest struct {
	ID      host.NodeID
	Learner bool
}

// MemberRemoveRequest removes a member.
type MemberRemoveRequest struct {
	ID host.NodeID
}

// MemberListRequest lists the members.
type MemberListRequest struct{}

// MoveLeaderRequest asks the leader to hand leadership to Target, a
// voter (etcd's Maintenance.MoveLeader). It is not logged: only the
// leader acts on it, and it answers once Target leads, or fails.
type MoveLeaderRequest struct {
	Target host.NodeID
}

// MoveLeaderResponse is the result of a MoveLeader: Target now leads.
type MoveLeaderResponse struct{}

// MemberResponse is the member list after (or at) the request; it answers
// MemberAdd, MemberRemove and MemberList (Op tells which).
type MemberResponse struct {
	ForOp   Op
	Members []Member
}

// EventType is the kind of a watch event.
type EventType byte

// The event types.
const (
	EventPut EventType = iota
	EventDelete
	eventEnd
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the key after the change; for a delete, Key and ModRevision
	// (the delete's revision) are set.
	KV KeyValue
	// PrevKV is the key before the change, if the watch asked for it and
	// there was one.
	PrevKV *KeyValue
}

// Revision is the revision at which the event happened.
func (e Event) Revision() int64 { return e.KV.ModRevision }

// WatchEvents is one message of a watch stream. Seq numbers the messages
// of one stream (one WatchID) from 1 with no gaps, so a client can tell a
// lost message from a quiet stream. A message with no events and neither
// Canceled nor CompactRevision is a progress notification: the stream has
// delivered every event up to Header.Revision.
type WatchEvents struct {
	// ID is the request ID of the WatchCreate that opened the stream.
	ID      RequestID
	Header  Header
	WatchID int64
	Seq     uint64
	Events  []Event
	// Canceled: the server ended the stream (Err says why).
	Canceled bool
	// Err is why the stream was canceled (e.g. CodeCompacted).
	Err ErrorCode
	// CompactRevision: the stream's next revision was compacted away;
	// the client must restart from at least this revision.
	CompactRevision int64
}

func (*Request) class() Class     { return ClassRequest }
func (*Response) class() Class    { return ClassResponse }
func (*WatchEvents) class() Class { return ClassWatchEvents }

// Op implementations.

// Op implements RequestBody.
func (*PutRequest) Op() Op { return OpPut }

// Op implements RequestBody.
func (*RangeRequest) Op() Op { return OpRange }

// Op implements RequestBody.
func (*DeleteRangeRequest) Op() Op { return OpDeleteRange }

// Op implements RequestBody.
func (*TxnRequest) Op() Op { return OpTxn }

// Op implements RequestBody.
func (*CompactRequest) Op() Op { return OpCompact }

// Op implements RequestBody.
func (*LeaseGrantRequest) Op() Op { return OpLeaseGrant }

// Op implements RequestBody.
func (*LeaseRevokeRequest) Op() Op { return OpLeaseRevoke }

// Op implements RequestBody.
func (*LeaseKeepAliveRequest) Op() Op { return OpLeaseKeepAlive }

// Op implements RequestBody.
func (*WatchCreateRequest) Op() Op { return OpWatchCreate }

// Op implements RequestBody.
func (*WatchCancelRequest) Op() Op { return OpWatchCancel }

// Op implements RequestBody.
func (*MemberAddRequest) Op() Op { return OpMemberAdd }

// Op implements RequestBody.
func (*MemberRemoveRequest) Op() Op { return OpMemberRemove }

// Op implements RequestBody.
func (*MemberListRequest) Op() Op { return OpMemberList }

// Op implements RequestBody.
func (*MoveLeaderRequest) Op() Op { return OpMoveLeader }

// Op implements ResponseBody.
func (*MoveLeaderResponse) Op() Op { return OpMoveLeader }

// Op implements ResponseBody.
func (*PutResponse) Op() Op { return OpPut }

// Op implements ResponseBody.
func (*RangeResponse) Op() Op { return OpRange }

// Op implements ResponseBody.
func (*DeleteRangeResponse) Op() Op { return OpDeleteRange }

// Op implements ResponseBody.
func (*TxnResponse) Op() Op { return OpTxn }

// Op implements ResponseBody.
func (*CompactResponse) Op() Op { return OpCompact }

// Op implements ResponseBody.
func (*LeaseGrantResponse) Op() Op { return OpLeaseGrant }

// Op implements ResponseBody.
func (*LeaseRevokeResponse) Op() Op { return OpLeaseRevoke }

// Op implements ResponseBody.
func (*LeaseKeepAliveResponse) Op() Op { return OpLeaseKeepAlive }

// Op implements ResponseBody.
func (*WatchCreateResponse) Op() Op { return OpWatchCreate }

// Op implements ResponseBody.
func (*WatchCancelResponse) Op() Op { return OpWatchCancel }

// Op implements ResponseBody; it is MemberAdd, MemberRemove or MemberList.
func (r *MemberResponse) Op() Op { return r.ForOp }
