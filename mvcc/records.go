package mvcc

// Record is one revision of one key as the store holds it: a put, or a
// tombstone (Version 0, Create 0, no value) ending the key's generation.
// Value is the store's own memory: read it during the call only.
type Record struct {
	Key     string
	Value   []byte
	Main    int64
	Sub     uint32
	Create  int64
	Version int64
	Lease   int64
}

// Tombstone reports whether r is a delete.
func (r *Record) Tombstone() bool { return r.Version == 0 }

// EachRecord calls f with every record the store holds up to rev (0: the
// current revision), in revision order, until f returns false: the
// history since the compaction and what the compaction kept. It lets a
// caller compute another system's hash of the same history (the gRPC
// server answers etcd's HashKV with etcd's hash). Errors as for Range.
func (s *Store) EachRecord(rev int64, f func(r *Record) bool) error {
	rev, err := s.checkReadRev(rev)
	if err != nil {
		return err
	}
	var out Record
	for p := range s.log.n {
		r := s.log.at(uint32(p))
		if r.main > rev {
			break
		}
		out = Record{Key: r.key, Value: s.vals.get(r.vref, r.vlen), Main: r.main, Sub: r.sub,
			Create: r.create, Version: r.version, Lease: r.lease}
		if !f(&out) {
			break
		}
	}
	return nil
}

// LastCompaction is the revision of the last compaction, -1 before any
// (a compaction at revision 0 is one: etcd's store tells them apart).
func (s *Store) LastCompaction() int64 { return s.compactRev }
