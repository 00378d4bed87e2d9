package mvcc

import (
	"encoding/binary"
	"hash/crc64"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// Hash is a CRC-64 of the key space at rev (0: current): of every key live
// then, in key order, with its value, revisions, version and lease. It does
// not depend on how much history is kept, so replicas that applied the
// same log agree whatever their compaction. Errors as for Range.
func (s *Store) Hash(rev int64) (uint64, error) {
	rev, err := s.checkReadRev(rev)
	if err != nil {
		return 0, err
	}
	var h uint64
	var buf []byte
	s.tree.each(func(ki *keyIndex) bool {
		r := s.liveAt(ki, rev)
		if r == nil {
			return true
		}
		buf = binary.AppendUvarint(buf[:0], uint64(len(ki.key)))
		buf = append(buf, ki.key...)
		buf = binary.AppendUvarint(buf, uint64(r.vlen))
		h = crc64.Update(h, crcTable, buf)
		h = crc64.Update(h, crcTable, s.vals.get(r.vref, r.vlen))
		buf = binary.AppendVarint(buf[:0], r.create)
		buf = binary.AppendVarint(buf, r.main)
		buf = binary.AppendVarint(buf, r.version)
		buf = binary.AppendVarint(buf, r.lease)
		h = crc64.Update(h, crcTable, buf)
		return true
	})
	return h, nil
}

// HistoryHasher folds a store's history, record by record in revision
// order, into a CRC-64 (Store.HashKV). It is exported so that a checker
// holding the write log (the simulation harness, the model tests) can
// compute the hash a correct store must give from its own model of which
// records compaction keeps, with the same encoding.
type HistoryHasher struct {
	h   uint64
	buf []byte
}

// Add folds in one record: a put (version >= 1) or a tombstone (version
// 0, create 0, no value) of key at revision (main, sub).
func (k *HistoryHasher) Add(key string, value []byte, main int64, sub uint32, create, version int64) {
	b := binary.AppendVarint(k.buf[:0], main)
	b = binary.AppendUvarint(b, uint64(sub))
	b = binary.AppendVarint(b, create)
	b = binary.AppendVarint(b, version)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	k.h = crc64.Update(k.h, crcTable, b)
	k.h = crc64.Update(k.h, crcTable, value)
	k.buf = b
}

// Sum is the hash of the records added so far.
func (k *HistoryHasher) Sum() uint64 { return k.h }

// HashKV is a CRC-64 of the history the store holds up to rev (0: the
// current revision), in the spirit of etcd's HashKV, which covers the
// revisions kept since the compaction rather than the key space: every
// record (put or tombstone) of a revision in (compactRev, rev], plus the
// records compaction kept at or below compactRev, which for a correct
// store are each key's newest change at or below compactRev unless it is
// a delete below compactRev (a tombstone at exactly compactRev is kept,
// for watches from there, as etcd's compaction keeps it; etcd's own hash
// leaves that one out, this one covers everything the store holds).
// It hashes what the store really holds, so a compaction that keeps too
// much or too little, or a restore that loses or invents history, changes
// it; and replicas at the same (rev, compactRev) must agree. Leases are
// not covered. It also returns the compaction revision (0: none). Errors
// as for Range.
func (s *Store) HashKV(rev int64) (hash uint64, compactRev int64, err error) {
	rev, err = s.checkReadRev(rev)
	if err != nil {
		return 0, 0, err
	}
	var h HistoryHasher
	for p := range s.log.n {
		r := s.log.at(uint32(p))
		if r.main > rev {
			break
		}
		h.Add(r.key, s.vals.get(r.vref, r.vlen), r.main, r.sub, r.create, r.version)
	}
	return h.Sum(), s.CompactRevision(), nil
}
