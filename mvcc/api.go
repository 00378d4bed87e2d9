package mvcc

import (
	"errors"
	"strconv"
	"time"
)

// Limits. Requests beyond them get a typed error, never a panic.
const (
	// DefaultQuotaBytes is the size limit of a Store whose Config leaves
	// QuotaBytes zero: etcd's default of 2 GiB.
	DefaultQuotaBytes int64 = 2 << 30
	// MaxKeyBytes bounds the length of a key: 2 MiB, the largest key
	// etcd's gRPC server can receive (etcd's store has no key limit).
	MaxKeyBytes = 2 << 20
	// MaxValueBytes bounds the length of a value: etcd's default
	// --max-request-bytes of 1.5 MiB.
	MaxValueBytes = 3 << 19
	// MaxTxnOps bounds the ops of one branch of a Txn (etcd's default
	// --max-txn-ops) and the number of compares.
	MaxTxnOps = 128
	// MaxLeaseTTL bounds a lease's time to live (etcd's MaxLeaseTTL).
	MaxLeaseTTL = 9_000_000_000 * time.Second
	// RevisionOverheadBytes is what each stored revision costs in quota
	// accounting on top of its key and value bytes. Accounting is a pure
	// function of the applied history, so every replica agrees on it.
	RevisionOverheadBytes = 64
)

// Errors. Every error returned by this package is, or wraps, one of these,
// so callers can test with errors.Is.
var (
	// ErrCompacted: the requested revision is older than the compaction
	// revision and its history is gone.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRevision: the requested revision is newer than the store's.
	ErrFutureRevision = errors.New("mvcc: required revision is a future revision")
	// ErrNoSpace: the write would take the store past its quota.
	ErrNoSpace = errors.New("mvcc: database space exceeded")
	// ErrLeaseNotFound: no lease with that ID exists.
	ErrLeaseNotFound = errors.New("mvcc: lease not found")
	// ErrLeaseExists: a lease with that ID already exists.
	ErrLeaseExists = errors.New("mvcc: lease already exists")
	// ErrEmptyKey: keys must not be empty.
	ErrEmptyKey = errors.New("mvcc: key is not provided")
	// ErrKeyTooLarge: the key is longer than MaxKeyBytes.
	ErrKeyTooLarge = errors.New("mvcc: key is too large")
	// ErrValueTooLarge: the value is longer than MaxValueBytes.
	ErrValueTooLarge = errors.New("mvcc: value is too large")
	// ErrTooManyOps: a Txn has more than MaxTxnOps ops or compares.
	ErrTooManyOps = errors.New("mvcc: too many operations in txn request")
	// ErrDuplicateKey: a Txn branch writes the same key twice.
	ErrDuplicateKey = errors.New("mvcc: duplicate key given in txn request")
	// ErrInvalidArgument: a malformed request (negative revision or limit,
	// unknown op or compare kind, bad TTL or lease ID).
	ErrInvalidArgument = errors.New("mvcc: invalid argument")
	// ErrWatcherCanceled: Events was called on a canceled watcher.
	ErrWatcherCanceled = errors.New("mvcc: watcher canceled")
	// ErrCorruptSnapshot: Restore was given bytes that are not a valid
	// snapshot. The error is a *SnapshotError that wraps it.
	ErrCorruptSnapshot = errors.New("mvcc: corrupt snapshot")
)

// Config configures a Store.
type Config struct {
	// QuotaBytes is the size limit in the units of Store.Size; zero means
	// DefaultQuotaBytes. Past it, writes that add data fail with
	// ErrNoSpace; reads, deletes, compaction and lease revokes still work.
	QuotaBytes int64
}

// KeyValue is one version of a key, as etcd's mvccpb.KeyValue. Its
// fields are api.KeyValue's, in the same order, so that a server converts
// one into the other without a copy.
type KeyValue struct {
	Key []byte
	// CreateRevision is the revision of the Put that started this
	// generation of the key.
	CreateRevision int64
	// ModRevision is the revision of the last change.
	ModRevision int64
	// Version counts the changes since creation: 1 after the first Put.
	Version int64
	Value   []byte // nil with RangeOptions.KeysOnly
	// Lease is the ID of the lease attached to the key, or 0.
	Lease int64
}

// RangeOptions are the options of Range.
type RangeOptions struct {
	// Revision reads the key space as it was at this revision; 0 means
	// the current revision.
	Revision int64
	// Limit caps the number of keys returned; 0 means no limit.
	Limit int64
	// CountOnly returns only the count of keys in the range.
	CountOnly bool
	// KeysOnly omits values and, as etcd's keys-only read, leases (unless
	// sorting by value, when etcd reads whole key-values).
	KeysOnly bool
	// SortOrder and SortTarget sort the result as etcd does: a target
	// other than the key with SortNone sorts ascending. With a sort other
	// than by key ascending, or with a revision filter, the whole range
	// is read before Limit cuts it; otherwise, as in etcd, only the keys
	// up to Limit+1 are sorted.
	SortOrder  SortOrder
	SortTarget SortTarget
	// Min/Max Mod/Create Revision drop key-values outside the bounds
	// (0: no bound) after the read; Count still counts them.
	MinModRevision, MaxModRevision       int64
	MinCreateRevision, MaxCreateRevision int64
}

// RangeResult is the result of Range.
type RangeResult struct {
	// KVs are the keys found, in key order (empty with CountOnly).
	KVs []KeyValue
	// Count is the number of keys in the range, regardless of Limit.
	Count int64
	// More reports that Limit cut the result short.
	More bool
	// Revision is the store's current revision (etcd's header revision),
	// not the revision read at.
	Revision int64
}

// CompareTarget is what a Compare looks at.
type CompareTarget uint8

// Compare targets, as etcd's.
const (
	CompareVersion CompareTarget = iota + 1
	CompareCreateRevision
	CompareModRevision
	CompareValue
	CompareLease
)

// CompareResult is the relation a Compare asserts.
type CompareResult uint8

// Compare relations: the key's field <relation> the compare's operand.
const (
	Equal CompareResult = iota + 1
	NotEqual
	Less
	Greater
)

// Compare is one condition of a Txn. Over a range (RangeEnd set) it holds
// if it holds for every key in the range. A key that does not exist has
// Version, CreateRevision, ModRevision and Lease 0, and fails every
// CompareValue, as in etcd.
type Compare struct {
	Key      []byte
	RangeEnd []byte // nil: Key alone; otherwise as Range's end
	Target   CompareTarget
	Result   CompareResult
	// Value is the operand of CompareValue.
	Value []byte
	// Number is the operand of the other targets.
	Number int64
}

// OpKind says which request an Op is.
type OpKind uint8

// Op kinds.
const (
	OpRange OpKind = iota + 1
	OpPut
	OpDeleteRange
)

// Op is one operation of a Txn branch. Build it with OpGet, OpPutKV or
// OpDelete, or fill the fields that its Kind uses.
type Op struct {
	Kind  OpKind
	Key   []byte
	End   []byte // OpRange, OpDeleteRange: as Range's end
	Value []byte // OpPut
	Lease int64  // OpPut
	// PrevKV asks OpPut and OpDeleteRange for the previous key-values.
	PrevKV bool
	Range  RangeOptions // OpRange
}

// OpGet is a Range op.
func OpGet(key, end []byte, o RangeOptions) Op {
	return Op{Kind: OpRange, Key: key, End: end, Range: o}
}

// OpPutKV is a Put op.
func OpPutKV(key, value []byte, lease int64, prevKV bool) Op {
	return Op{Kind: OpPut, Key: key, Value: value, Lease: lease, PrevKV: prevKV}
}

// OpDelete is a DeleteRange op.
func OpDelete(key, end []byte, prevKV bool) Op {
	return Op{Kind: OpDeleteRange, Key: key, End: end, PrevKV: prevKV}
}

// TxnRequest is a compare-and-swap transaction: if every Compare holds,
// Success runs, otherwise Failure; the writes share one revision.
type TxnRequest struct {
	Compares []Compare
	Success  []Op
	Failure  []Op
	// PutThenDelete lets an op delete a key an earlier op of its branch
	// put, as etcd's store does (a put after a covering delete, or a key
	// put twice, is still ErrDuplicateKey): for the path of an etcd
	// nested transaction, whose gRPC check lets a nested transaction
	// delete what an earlier sibling put. Without it a branch is checked
	// as etcd's gRPC layer checks a flat transaction.
	PutThenDelete bool
}

// OpResponse is the result of one Op of a Txn.
type OpResponse struct {
	Kind OpKind
	// Revision is the op's own header revision, as etcd reports it in
	// each response of a Txn: the Txn's new revision once this op or an
	// earlier one of the branch changed something, otherwise the revision
	// before the Txn. For OpRange it equals Range.Revision.
	Revision int64
	// Range is set for OpRange.
	Range RangeResult
	// Prev is the previous key-value of an OpPut with PrevKV, if any.
	Prev *KeyValue
	// Deleted counts the keys an OpDeleteRange deleted.
	Deleted int64
	// Prevs are the key-values an OpDeleteRange with PrevKV deleted.
	Prevs []KeyValue
}

// TxnResponse is the result of Txn.
type TxnResponse struct {
	// Succeeded reports whether the compares held (Success ran).
	Succeeded bool
	// Responses has one entry per op of the branch that ran.
	Responses []OpResponse
	// Revision is the store's revision after the Txn.
	Revision int64
}

// EventType says whether an Event is a put or a delete.
type EventType uint8

// Event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one change seen by a Watcher.
type Event struct {
	Type EventType
	// KV is the key after the change. For a delete it holds only Key and
	// ModRevision (the revision of the delete), as in etcd.
	KV KeyValue
	// PrevKV is the key before the change, when the watcher asked for it
	// and it is still in history.
	PrevKV *KeyValue
}

// LeaseInfo describes a lease, as etcd's LeaseTimeToLive.
type LeaseInfo struct {
	ID int64
	// GrantedTTL is the TTL given at grant.
	GrantedTTL time.Duration
	// Remaining is the time left before expiry at the time asked about;
	// zero or negative once expired.
	Remaining time.Duration
	// Keys are the keys attached to the lease, sorted.
	Keys [][]byte
}

// SnapshotError is the error of Restore for bad input. It wraps
// ErrCorruptSnapshot.
type SnapshotError struct {
	Offset int    // byte offset where decoding failed
	Reason string // what was wrong
}

func (e *SnapshotError) Error() string {
	return "mvcc: corrupt snapshot at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrCorruptSnapshot) hold.
func (e *SnapshotError) Unwrap() error { return ErrCorruptSnapshot }

// PrefixEnd returns the range end that, with prefix as key, covers every
// key starting with prefix: prefix with its last byte below 0xff
// incremented and the bytes after it dropped. A prefix of only 0xff bytes
// (or empty) has no such end; PrefixEnd returns "\x00", meaning every key
// from the key on, as etcd's clientv3.GetPrefixRangeEnd does.
func PrefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] < 0xff {
			end := make([]byte, i+1)
			copy(end, prefix)
			end[i]++
			return end
		}
	}
	return []byte{0}
}
