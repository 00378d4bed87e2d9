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
