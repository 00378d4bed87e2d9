package mvcc

import "github.com/seedkv/seedkv/probe"

// keyIndex is one key's entry in the index: the positions in the revLog of
// the key's revisions, oldest first. A tombstone record ends a generation;
// the next put starts a new one.
type keyIndex struct {
	key  string
	revs []uint32
	// first backs revs while the key has one revision, the common case,
	// sparing an allocation and a cache miss.
	first [1]uint32
}

func newKeyIndex(key []byte) *keyIndex {
	ki := &keyIndex{key: string(key)}
	ki.revs = ki.first[:0]
	return ki
}

// Store is a multi-version key space. See the package documentation.
type Store struct {
	quota  int64
	probes *probe.Set // coverage probes (nil: none)
	size   int64      // quota units in use, see Size

	// tree orders the keys for ranges; table finds one key without the
	// pointer chase of a B-tree descent. Both hold every keyIndex.
	tree  keyTree
	table keyTable
	log   revLog
	vals  arena

	rev int64 // current revision
	// compactRev is the revision of the last compaction, -1 before the
	// first, as etcd's compactMainRev: etcd accepts Compact(0) once on a
	// never-compacted store, and a Txn's negative read revision is
	// compacted once any compaction happened.
	compactRev int64

	leases map[int64]*lease
	// leaseIDs is leases' IDs sorted (sortedLeaseIDs), nil since a lease
	// was granted, revoked or restored: the simulator's checks and every
	// snapshot list them far more often than they change.
	leaseIDs []int64
}

// New returns an empty Store at revision 1.
func New(cfg Config) *Store {
	q := cfg.QuotaBytes
	if q <= 0 {
		q = DefaultQuotaBytes
	}
	return &Store{
		quota:      q,
		tree:       newKeyTree(),
		rev:        1,
		compactRev: -1,
		leases:     make(map[int64]*lease),
	}
}

// CurrentRevision is the revision of the last write (1 for a new store).
func (s *Store) CurrentRevision() int64 { return s.rev }

// CompactRevision is the revision of the last compaction (0 if none).
// Reads and watches at revisions below it fail with ErrCompacted.
func (s *Store) CompactRevision() int64 { return max(s.compactRev, 0) }

// Size is the store's size in quota units: for every stored revision its
// key and value bytes plus RevisionOverheadBytes, and LeaseOverheadBytes
// per lease. It depends only on the applied history, never on memory
// layout, so every replica computes the same.
func (s *Store) Size() int64 { return s.size }

// Quota is the store's size limit.
func (s *Store) Quota() int64 { return s.quota }

// KeyCount is the number of keys in the index, live or with history only.
func (s *Store) KeyCount() int { return s.tree.len() }

func recordCost(keyLen, valLen int) int64 {
	return int64(keyLen) + int64(valLen) + RevisionOverheadBytes
}

// latest returns ki's newest record.
func (s *Store) latest(ki *keyIndex) *record {
	return s.log.at(ki.revs[len(ki.revs)-1])
}

// liveAt returns ki's version visible at rev, or nil if the key did not
// exist then (never written, deleted, or history compacted away).
func (s *Store) liveAt(ki *keyIndex, rev int64) *record {
	for i := len(ki.revs) - 1; i >= 0; i-- {
		r := s.log.at(ki.revs[i])
		if r.main <= rev {
			if r.tombstone() {
				return nil
			}
			return r
		}
	}
	return nil
}

// kv builds the KeyValue of a put record. keysOnly leaves out the value
// and, as etcd's keys-only range (which reads only its key index), the
// lease.
func (s *Store) kv(r *record, keysOnly bool) KeyValue {
	kv := KeyValue{
		Key:            []byte(r.key),
		CreateRevision: r.create,
		ModRevision:    r.main,
		Version:        r.version,
	}
	if !keysOnly {
		kv.Value = s.vals.get(r.vref, r.vlen)
		kv.Lease = r.lease
	}
	return kv
}

// isAllFrom reports whether end is "\x00": every key from key on.
func isAllFrom(end []byte) bool { return len(end) == 1 && end[0] == 0 }

// ascend calls f for every key in [key, end) in order (end as in Range)
// until f returns false.
func (s *Store) ascend(key, end []byte, f func(ki *keyIndex) bool) {
	if len(end) == 0 {
		if ki := s.lookup(key); ki != nil {
			f(ki)
		}
		return
	}
	all := isAllFrom(end)
	if !all && string(end) <= string(key) {
		return // an empty range, as in etcd
	}
	s.tree.from(string(key), func(ki *keyIndex) bool {
		if !all && ki.key >= string(end) {
			return false
		}
		return f(ki)
	})
}

// inRange reports whether k is in [key, end) (end as in Range).
func inRange(k string, key, end []byte) bool {
	if len(end) == 0 {
		return k == string(key)
	}
	if isAllFrom(end) {
		return k >= string(key)
	}
	return k >= string(key) && k < string(end)
}

// checkKey validates a key.
func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeyBytes {
		return ErrKeyTooLarge
	}
	return nil
}

// checkReadRev resolves a read revision (0: current) and validates it.
func (s *Store) checkReadRev(rev int64) (int64, error) {
	switch {
	case rev < 0:
		return 0, ErrInvalidArgument
	case rev == 0:
		return s.rev, nil
	case rev > s.rev:
		s.probes.Hit(probeReadFuture)
		return 0, ErrFutureRevision
	case rev < s.compactRev:
		s.probes.Hit(probeReadCompacted)
		return 0, ErrCompacted
	}
	s.probes.If(rev < s.rev, probeReadPast)
	return rev, nil
}
