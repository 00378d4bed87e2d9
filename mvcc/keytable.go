package mvcc

import (
	"encoding/binary"
	"math/bits"
)

// keyTable finds a key without the pointer chase of a B-tree descent: an
// open-addressing hash table with linear probing whose 8-byte slots hold a
// 32-bit hash fingerprint and the log position of the key's newest record,
// which leads to its keyIndex. A read at the current revision needs only
// the slot and that record. The slot's position of the home is taken from the
// fingerprint, so growing never touches the keys. 0 marks an empty slot.
type keyTable struct {
	slots []uint64
	n     int
}

const minTableSlots = 16

// hashKey is a deterministic 64-bit hash (xxhash-style rounds and a
// murmur3 finalizer). Determinism keeps memory layout, and so performance,
// reproducible from run to run.
func hashKey(k []byte) uint64 {
	h := uint64(len(k)) * hashP1
	for ; len(k) >= 8; k = k[8:] {
		h = bits.RotateLeft64(h^(binary.LittleEndian.Uint64(k)*hashP2), 31) * hashP1
	}
	for _, c := range k {
		h = bits.RotateLeft64(h^(uint64(c)*hashP2), 11) * hashP1
	}
	return hashFinal(h)
}

// hashString is hashKey of a string, without converting it.
func hashString(k string) uint64 {
	h := uint64(len(k)) * hashP1
	for ; len(k) >= 8; k = k[8:] {
		w := uint64(k[0]) | uint64(k[1])<<8 | uint64(k[2])<<16 | uint64(k[3])<<24 |
			uint64(k[4])<<32 | uint64(k[5])<<40 | uint64(k[6])<<48 | uint64(k[7])<<56
		h = bits.RotateLeft64(h^(w*hashP2), 31) * hashP1
	}
	for i := 0; i < len(k); i++ {
		h = bits.RotateLeft64(h^(uint64(k[i])*hashP2), 11) * hashP1
	}
	return hashFinal(h)
}

const (
	hashP1 = 0x9E3779B185EBCA87
	hashP2 = 0xC2B2AE3D27D4EB4F
)

func hashFinal(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// fingerprint of a hash: never zero, so a slot holding it is never empty.
func fingerprint(h uint64) uint32 { return uint32(h>>32) | 1 }

func (t *keyTable) home(fp uint32) int { return int(fp>>1) & (len(t.slots) - 1) }

// find returns the slot of key and its keyIndex, or the empty slot where
// it would go and nil. The table must not be empty.
func find[T ~string | ~[]byte](s *Store, key T, fp uint32) (int, *keyIndex) {
	t := &s.table
	mask := len(t.slots) - 1
	for i := t.home(fp); ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			return i, nil
		}
		if uint32(v>>32) == fp {
			if r := s.log.at(uint32(v)); r.key == string(key) {
				return i, r.ki
			}
		}
	}
}

// newest returns key's newest record, or nil.
func (s *Store) newest(key []byte) *record {
	if s.table.n == 0 {
		return nil
	}
	i, ki := find(s, key, fingerprint(hashKey(key)))
	if ki == nil {
		return nil
	}
	return s.log.at(uint32(s.table.slots[i]))
}

// lookup returns key's keyIndex, or nil.
func (s *Store) lookup(key []byte) *keyIndex {
	if s.table.n == 0 {
		return nil
	}
	_, ki := find(s, key, fingerprint(hashKey(key)))
	return ki
}

// slotFor returns key's slot, fingerprint and keyIndex (nil if new),
// growing the table first so that a new key fits.
func (s *Store) slotFor(key []byte) (int, uint32, *keyIndex) {
	t := &s.table
	if (t.n+1)*8 > len(t.slots)*7 {
		t.grow()
	}
	fp := fingerprint(hashKey(key))
	i, ki := find(s, key, fp)
	return i, fp, ki
}

// set points slot i at position pos.
func (t *keyTable) set(i int, fp uint32, pos uint32) {
	if t.slots[i] == 0 {
		t.n++
	}
	t.slots[i] = uint64(fp)<<32 | uint64(pos)
}

func (t *keyTable) grow() {
	old := t.slots
	t.slots = make([]uint64, max(2*len(old), minTableSlots))
	mask := len(t.slots) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := t.home(uint32(v >> 32))
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = v
	}
}

// remapTable moves the table to the log rebuilt by a compaction: a slot's
// newest record survives unless its key left the index. The fingerprints
// give the homes, so neither keys nor records are read.
func (s *Store) remapTable(keep []bool, remap []uint32) {
	size := minTableSlots
	for size*7 < s.tree.len()*8 {
		size *= 2
	}
	old := s.table.slots
	s.table = keyTable{slots: make([]uint64, size)}
	mask := size - 1
	for _, v := range old {
		if v == 0 || !keep[uint32(v)] {
			continue
		}
		fp := uint32(v >> 32)
		i := s.table.home(fp)
		for s.table.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.table.set(i, fp, remap[uint32(v)])
	}
}
