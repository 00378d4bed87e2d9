package mvcc

import "github.com/seedkv/seedkv/internal/invariant"

// record is one revision of one key: a put or, with version 0, a
// tombstone. Records live in the revLog in revision order; a keyIndex
// refers to them by position. The record holds no key or value bytes of
// its own: the key is its keyIndex's, the value lives in the arena.
type record struct {
	ki *keyIndex
	// key is ki.key (the same bytes, no copy), here so that a point
	// lookup reads the key next to the record instead of via ki: one
	// cache miss less on the hottest path.
	key     string
	main    int64  // revision of the write transaction
	sub     uint32 // order of this change within the transaction
	vlen    uint32 // value length
	vref    uint64 // value position in the arena (chunk<<32 | offset)
	create  int64  // CreateRevision; 0 for a tombstone
	version int64  // Version; 0 marks a tombstone
	lease   int64
}

// tombstone reports whether r ends its key's generation.
func (r *record) tombstone() bool { return r.version == 0 }

// before reports whether r's revision (main, sub) is below (main, sub).
func (r *record) before(main int64, sub uint32) bool {
	return r.main < main || (r.main == main && r.sub < sub)
}

const (
	pageBits = 12
	pageSize = 1 << pageBits
	// MaxRecords bounds the stored revisions (positions are uint32). In
	// practice the quota binds long before.
	MaxRecords = 1<<32 - 1
)

// firstPageRecords is the capacity the first page starts with: a page
// holds 4096 records of 72 bytes (about 288 KiB), far more than a small
// store (a simulated replica, a test) ever writes, and every fresh store
// (each restart, each compaction) would pay for zeroing it. The first
// page grows by doubling up to pageSize; later pages are full size.
const firstPageRecords = 32

// revLog is the revision-ordered sequence of records, in fixed-size pages
// so that growing a large log never copies and never leaves half an array
// unused. Only the first page grows by copying (amortised, while small);
// a *record from at() must not be kept across an append.
type revLog struct {
	pages [][]record
	n     int
}

func (l *revLog) at(p uint32) *record { return &l.pages[p>>pageBits][p&(pageSize-1)] }

func (l *revLog) append(r record) uint32 {
	// Invariant: revisions strictly increase along the log ((main, sub)
	// of each record above the one before): reads at a revision, watch
	// order and compaction all rely on it.
	if invariant.Checks && l.n > 0 {
		if last := l.at(uint32(l.n - 1)); !last.before(r.main, r.sub) {
			invariant.Violated("mvcc: revision %d.%d appended after %d.%d", r.main, r.sub, last.main, last.sub)
		}
	}
	if l.n&(pageSize-1) == 0 && len(l.pages) == l.n>>pageBits { // no page here yet (reserve)
		c := pageSize
		if l.n == 0 {
			c = firstPageRecords
		}
		l.pages = append(l.pages, make([]record, 0, c))
	}
	pg := &l.pages[len(l.pages)-1]
	if len(*pg) == cap(*pg) {
		// Only the first page is ever short: double it, capped at
		// pageSize so that positions keep mapping to (page, slot).
		grown := make([]record, len(*pg), min(2*cap(*pg), pageSize))
		copy(grown, *pg)
		*pg = grown
	}
	*pg = append(*pg, r)
	l.n++
	return uint32(l.n - 1)
}

// reserve gives an empty log's first page room for n records (up to a
// page), for a caller that knows how many it appends (a restore, a
// compaction): the first page does not grow by doubling through them.
func (l *revLog) reserve(n int) {
	if l.n == 0 && len(l.pages) == 0 && n > firstPageRecords {
		l.pages = append(l.pages, make([]record, 0, min(n, pageSize)))
	}
}

// search returns the position of the first record at or after (main, sub).
func (l *revLog) search(main int64, sub uint32) int {
	lo, hi := 0, l.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.at(uint32(mid)).before(main, sub) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Arena chunk sizes: the first chunk is small (a small store holds a few
// KiB of values) and each next one doubles, up to maxChunk.
const (
	minChunk = 4 << 10
	maxChunk = 4 << 20
)

// arena holds value bytes in large chunks: one allocation per chunk
// instead of one per value, and no pointers for the garbage collector to
// scan. Chunks are never written twice, so slices handed out stay valid
// (the garbage collector keeps a chunk alive while a slice points in).
type arena struct {
	chunks [][]byte
	bytes  int64 // bytes stored (live or not), for deciding to rebuild
}

func (a *arena) add(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	last := len(a.chunks) - 1
	if last < 0 || cap(a.chunks[last])-len(a.chunks[last]) < len(b) {
		size := minChunk
		if last >= 0 {
			size = min(2*cap(a.chunks[last]), maxChunk)
		}
		size = max(size, len(b))
		a.chunks = append(a.chunks, make([]byte, 0, size))
		last++
	}
	c := &a.chunks[last]
	off := len(*c)
	*c = append(*c, b...)
	a.bytes += int64(len(b))
	return uint64(last)<<32 | uint64(off)
}

// get returns the n bytes at ref, capped so that an append by a caller
// cannot write into the arena.
func (a *arena) get(ref uint64, n uint32) []byte {
	if n == 0 {
		return nil
	}
	c := a.chunks[ref>>32]
	off := uint32(ref)
	return c[off : off+n : off+n]
}
