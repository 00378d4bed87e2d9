package mvcc

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"time"

	"github.com/seedkv/seedkv/internal/varint"
)

// Snapshot format, version 1. All integers are varints (signed) or
// uvarints, in Go's canonical minimal encoding:
//
//	magic "SEEDMVCC" | uvarint version | varint rev | varint compact
//	uvarint nLeases, then per lease by ascending ID:
//	    varint id | varint ttl (ns) | varint expiry (Unix ns)
//	uvarint nRecords, then per record in revision order:
//	    varint main | uvarint sub | varint create | varint version |
//	    varint lease | uvarint keyLen | key | uvarint valLen | value
//	4-byte little-endian CRC-32C of everything before it
//
// compact is the compaction revision: 0 if none, -1 for a compaction at
// revision 0 (which etcd allows once), so that a store never compacted
// encodes as it did before that case existed.
//
// The key index, lease attachments and size are rebuilt from the records.
const (
	snapMagic   = "SEEDMVCC"
	snapVersion = 1
	// MaxRevision bounds the revision of a restored snapshot, far beyond
	// any real history, so that later writes cannot overflow.
	MaxRevision = 1 << 62
	// MaxSnapshotLeases bounds the leases a snapshot may declare.
	MaxSnapshotLeases = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot encodes the whole state (keys with their history since the
// compaction, revisions, leases) deterministically: stores that applied
// the same calls give the same bytes.
func (s *Store) Snapshot() []byte {
	return s.AppendSnapshot(make([]byte, 0, s.SnapshotSizeHint()))
}

// SnapshotSizeHint is about the size of Snapshot's encoding (at least its
// keys and values and a fixed header), for a caller that sizes a buffer
// for AppendSnapshot.
func (s *Store) SnapshotSizeHint() int { return 64 + int(s.size) }

// AppendSnapshot appends Snapshot's encoding to b (its checksum covers
// only the appended bytes) and returns the extended buffer: a caller
// that frames the snapshot in a larger encoding writes it in place.
func (s *Store) AppendSnapshot(b []byte) []byte {
	start := len(b)
	b = append(b, snapMagic...)
	b = binary.AppendUvarint(b, snapVersion)
	b = binary.AppendVarint(b, s.rev)
	b = binary.AppendVarint(b, encodeCompactRev(s.compactRev))
	ids := s.sortedLeaseIDs()
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		l := s.leases[id]
		b = binary.AppendVarint(b, id)
		b = binary.AppendVarint(b, int64(l.ttl))
		b = binary.AppendVarint(b, l.expiry)
	}
	b = binary.AppendUvarint(b, uint64(s.log.n))
	for p := range s.log.n {
		r := s.log.at(uint32(p))
		b = binary.AppendVarint(b, r.main)
		b = binary.AppendUvarint(b, uint64(r.sub))
		b = binary.AppendVarint(b, r.create)
		b = binary.AppendVarint(b, r.version)
		b = binary.AppendVarint(b, r.lease)
		b = binary.AppendUvarint(b, uint64(len(r.ki.key)))
		b = append(b, r.ki.key...)
		b = binary.AppendUvarint(b, uint64(r.vlen))
		b = append(b, s.vals.get(r.vref, r.vlen)...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// encodeCompactRev maps the store's compaction revision (-1: none) to the
// snapshot's (0: none, -1: compacted at 0); decodeCompactRev inverts it.
func encodeCompactRev(rev int64) int64 {
	switch rev {
	case -1:
		return 0
	case 0:
		return -1
	}
	return rev
}

func decodeCompactRev(v int64) int64 { return encodeCompactRev(v) }

// decoder reads a snapshot, remembering the first error.
type decoder struct {
	b   []byte
	off int
	err *SnapshotError
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &SnapshotError{Offset: d.off, Reason: reason}
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := varint.Uvarint(d.b[d.off:])
	if err != nil {
		d.fail("bad uvarint: " + err.Error())
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n, err := varint.Varint(d.b[d.off:])
	if err != nil {
		d.fail("bad varint: " + err.Error())
		return 0
	}
	d.off += n
	return v
}

// bytes reads a length-prefixed byte string of at most limit bytes.
func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)-d.off) {
		d.fail("bad length")
		return nil
	}
	v := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return v
}

// Restore decodes a Snapshot into a new Store with cfg. Bad input gets a
// *SnapshotError wrapping ErrCorruptSnapshot, never a panic. The quota of
// cfg does not apply to the restored history (it was accepted once).
func Restore(b []byte, cfg Config) (*Store, error) {
	if len(b) < len(snapMagic)+4 || string(b[:len(snapMagic)]) != snapMagic {
		return nil, &SnapshotError{Reason: "bad magic"}
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, &SnapshotError{Offset: len(body), Reason: "checksum mismatch"}
	}
	d := &decoder{b: body, off: len(snapMagic)}
	s := New(cfg)
	if v := d.uvarint(); d.err == nil && v != snapVersion {
		d.fail("unknown version")
	}
	s.rev, s.compactRev = d.varint(), decodeCompactRev(d.varint())
	if d.err == nil && (s.rev < 1 || s.rev > MaxRevision || s.compactRev < -1 || s.compactRev > s.rev) {
		d.fail("bad revisions")
	}
	d.leases(s)
	d.records(s)
	if d.err == nil && d.off != len(body) {
		d.fail("trailing bytes")
	}
	if d.err == nil {
		d.checkKeys(s)
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func (d *decoder) leases(s *Store) {
	n := d.uvarint()
	if n > MaxSnapshotLeases {
		d.fail("too many leases")
	}
	var prev int64
	for i := uint64(0); i < n && d.err == nil; i++ {
		id, ttl, exp := d.varint(), d.varint(), d.varint()
		if d.err != nil {
			return
		}
		if id == 0 || (i > 0 && id <= prev) || ttl <= 0 || ttl > int64(MaxLeaseTTL) {
			d.fail("bad lease")
			return
		}
		prev = id
		s.leases[id] = &lease{id: id, ttl: time.Duration(ttl), expiry: exp, keys: make(map[*keyIndex]struct{})}
		s.leaseIDs = nil
		s.size += LeaseOverheadBytes
	}
}

// records decodes the revision log and rebuilds the key index, checking
// each record against the rules the store itself keeps.
func (d *decoder) records(s *Store) {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)-d.off)/6 { // a record takes >= 6 bytes
		d.fail("too many records")
	}
	if d.err == nil {
		s.log.reserve(int(n))
	}
	lastMain, lastSub := int64(0), uint32(0)
	for i := uint64(0); i < n && d.err == nil; i++ {
		main, sub := d.varint(), d.uvarint()
		create, version, leaseID := d.varint(), d.varint(), d.varint()
		key, val := d.bytes(MaxKeyBytes), d.bytes(MaxValueBytes)
		if d.err != nil {
			return
		}
		if main < 1 || main > s.rev || sub > 1<<31 || (i > 0 && !(main > lastMain || (main == lastMain && uint32(sub) > lastSub))) {
			d.fail("record revision out of order")
			return
		}
		lastMain, lastSub = main, uint32(sub)
		if len(key) == 0 {
			d.fail("empty key")
			return
		}
		if !d.addRecord(s, key, val, record{main: main, sub: uint32(sub), create: create, version: version, lease: leaseID}) {
			return
		}
	}
}

// addRecord appends one decoded record after checking it continues its
// key's history the way putAt and deleteAt would have written it.
func (d *decoder) addRecord(s *Store, key, val []byte, r record) bool {
	slot, fp, ki := s.slotFor(key)
	var last *record
	if ki != nil {
		last = s.latest(ki)
	}
	switch {
	case r.version == 0: // tombstone
		// A key's first kept record may be a tombstone (its put was
		// compacted away); checkKeys checks it is recent enough.
		// A put and a delete of one key may share a revision: a Txn
		// branch may put a key and then delete it with a "from key"
		// delete (see checkOpShapes), or the other way round.
		if r.create != 0 || r.lease != 0 || len(val) != 0 || (last != nil && last.tombstone()) {
			d.fail("bad tombstone")
			return false
		}
	case last != nil && !last.tombstone():
		if r.create != last.create || r.version != last.version+1 || last.main == r.main {
			d.fail("bad version chain")
			return false
		}
	case last != nil: // a new generation after a tombstone
		if r.create != r.main || r.version != 1 {
			d.fail("bad new generation")
			return false
		}
	default: // the first record kept for this key
		if r.version < 1 || r.create < 1 || r.create > r.main || (r.version == 1 && r.create != r.main) {
			d.fail("bad first record")
			return false
		}
	}
	if ki == nil {
		ki = newKeyIndex(key)
		s.tree.insert(ki)
	}
	r.ki, r.key = ki, ki.key
	r.vlen = uint32(len(val))
	r.vref = s.vals.add(val)
	pos := s.log.append(r)
	ki.revs = append(ki.revs, pos)
	s.table.set(slot, fp, pos)
	s.size += recordCost(len(key), len(val))
	return true
}

// checkKeys checks what only the whole picture shows: leases of live keys
// exist, and history before the compaction revision is what Compact keeps.
func (d *decoder) checkKeys(s *Store) {
	s.tree.each(func(ki *keyIndex) bool {
		if last := s.latest(ki); !last.tombstone() && last.lease != 0 {
			l := s.leases[last.lease]
			if l == nil {
				d.fail("live key attached to a missing lease")
				return false
			}
			l.keys[ki] = struct{}{}
		}
		if !slices.Equal(s.keptRevs(slices.Clone(ki.revs), s.compactRev), ki.revs) {
			d.fail("history before the compaction revision")
			return false
		}
		return true
	})
}
