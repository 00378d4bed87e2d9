package mvcc

import (
	"errors"
	"time"
)

// errUnimplemented marks API not built yet (removed once all is in).
var errUnimplemented = errors.New("mvcc: unimplemented")

// Store is a multi-version key space. See the package documentation.
type Store struct {
	cfg Config
}

// New returns an empty Store at revision 1.
func New(cfg Config) *Store { return &Store{cfg: cfg} }

// CurrentRevision is the revision of the last write (1 for a new store).
func (s *Store) CurrentRevision() int64 { return 1 }

// CompactRevision is the revision of the last compaction (0 if none).
// Reads and watches at revisions below it fail with ErrCompacted.
func (s *Store) CompactRevision() int64 { return 0 }

// Size is the store's size in quota units: for every stored revision, its
// key and value bytes plus RevisionOverheadBytes.
func (s *Store) Size() int64 { return 0 }

// Range reads the keys in [key, end) at o.Revision. A nil or empty end
// reads key alone; end "\x00" reads every key >= key; key "\x00" with end
// "\x00" reads every key. Use PrefixEnd for prefixes.
func (s *Store) Range(key, end []byte, o RangeOptions) (RangeResult, error) {
	return RangeResult{}, errUnimplemented
}

// Put sets key to value, attached to lease (0 for none), at a new
// revision, which it returns. With prevKV it also returns the key's
// previous key-value, if the key existed.
func (s *Store) Put(key, value []byte, lease int64, prevKV bool) (rev int64, prev *KeyValue, err error) {
	return 0, nil, errUnimplemented
}

// DeleteRange deletes the keys in [key, end) (end as for Range) at one new
// revision and returns how many it deleted and the store's revision after
// (unchanged if nothing was deleted). With prevKV it returns the deleted
// key-values.
func (s *Store) DeleteRange(key, end []byte, prevKV bool) (deleted, rev int64, prevs []KeyValue, err error) {
	return 0, 0, nil, errUnimplemented
}

// Txn runs a transaction. Either it applies entirely at one revision or
// it fails with an error and changes nothing.
func (s *Store) Txn(t TxnRequest) (TxnResponse, error) {
	return TxnResponse{}, errUnimplemented
}

// Compact drops the history before rev: afterwards reads and watches at
// revisions below rev fail with ErrCompacted; every key's version as of rev
// and all later revisions stay.
func (s *Store) Compact(rev int64) error { return errUnimplemented }

// Watcher is a pull-based watch on a key range. It never blocks writers:
// it holds only a position in history, and Events reads from there.
type Watcher struct {
	s *Store
}

// Watch starts a watch on [key, end) (end as for Range) from startRev; 0
// means from the next write on. Past revisions are replayed from history.
// With prevKV, events carry the key's previous key-value.
func (s *Store) Watch(key, end []byte, startRev int64, prevKV bool) (*Watcher, error) {
	return nil, errUnimplemented
}

// Events returns up to max pending events in revision order, without
// gaps or duplicates across calls, and advances the watcher past them. It
// returns ErrCompacted once the watcher's position has been compacted, and
// ErrWatcherCanceled after Cancel.
func (w *Watcher) Events(max int) ([]Event, error) { return nil, errUnimplemented }

// NextRevision is the revision of the next event the watcher will return.
func (w *Watcher) NextRevision() int64 { return 0 }

// Cancel ends the watch.
func (w *Watcher) Cancel() {}

// LeaseGrant creates lease id (> 0) with ttl, expiring at now+ttl.
func (s *Store) LeaseGrant(id int64, ttl time.Duration, now time.Time) error {
	return errUnimplemented
}

// LeaseRevoke deletes lease id and, at one new revision, every key
// attached to it. It returns the store's revision after.
func (s *Store) LeaseRevoke(id int64) (rev int64, err error) { return 0, errUnimplemented }

// LeaseKeepAlive renews lease id to expire at now+TTL and returns the TTL.
func (s *Store) LeaseKeepAlive(id int64, now time.Time) (time.Duration, error) {
	return 0, errUnimplemented
}

// LeaseTimeToLive describes lease id as of now.
func (s *Store) LeaseTimeToLive(id int64, now time.Time) (LeaseInfo, error) {
	return LeaseInfo{}, errUnimplemented
}

// Leases returns the IDs of all leases, sorted.
func (s *Store) Leases() []int64 { return nil }

// ExpiredLeases returns, sorted, the IDs of leases whose expiry is at or
// before now. The store never revokes on its own: the leader proposes
// revokes for these through the log.
func (s *Store) ExpiredLeases(now time.Time) []int64 { return nil }

// LeasePromote renews every lease to expire at now+TTL, as etcd's lessor
// does when a node becomes leader, so that leases do not expire for the
// time the cluster had no leader.
func (s *Store) LeasePromote(now time.Time) {}

// Snapshot encodes the whole state (keys with history since compaction,
// revisions, leases) deterministically: equal stores give equal bytes.
func (s *Store) Snapshot() []byte { return nil }

// Restore decodes a Snapshot into a new Store with cfg. Bad input gets a
// *SnapshotError wrapping ErrCorruptSnapshot.
func Restore(b []byte, cfg Config) (*Store, error) { return nil, errUnimplemented }

// Hash is a hash of the key space at rev (0: current): of every live key
// with its value, revisions, version and lease. Replicas that applied the
// same log give the same hash.
func (s *Store) Hash(rev int64) (uint64, error) { return 0, errUnimplemented }
