package linearizability

import (
	"sort"
	"strings"
)

// LogBuffer is a committed write log held compactly: a long run watches
// the whole log and keeps it till its end checks (hundreds of thousands
// of revisions in a virtual hour). As []LogEntry each revision costs its
// entry, a []Change of its own and one allocation per key and per value
// (about 100 bytes for a change of a 5-byte key to a 6-byte value); here
// it costs an offset and 12 bytes per change (a run of consecutive
// revisions, what a watch of every change delivers, is held as its
// first), the keys and values sit back to back in shared chunks of
// text, and nothing the collector must scan grows with the log. What it hands out (Change,
// LogEntry) is the same as AppendChange builds, its strings slices of
// the chunks, so reading it allocates no string.
//
// The zero LogBuffer is empty and ready; a nil *LogBuffer reads as empty.
type LogBuffer struct {
	// runs are the entries' revisions, as runs of consecutive ones in
	// append order: entry i of the run that starts at entry start is at
	// revision rev + i - start.
	runs    []revRun
	first   []uint32 // each entry's first change in changes
	changes []packedChange
	text    textArena
}

// revRun is a run of entries at consecutive revisions.
type revRun struct {
	start int // its first entry
	rev   int64
}

// packedChange is a Change whose key (klen bytes) and value (vlen bytes,
// deletedLen for a delete) follow each other in the text at off.
type packedChange struct {
	off, klen, vlen uint32
}

// deletedLen is the value length that marks a delete.
const deletedLen = ^uint32(0)

// Append appends the change of key at revision rev, opening a new entry
// when rev differs from the last one, as AppendChange does. deleted says
// the change is a delete (value is then ignored).
func (b *LogBuffer) Append(rev int64, key, value []byte, deleted bool) {
	if n := len(b.first); n == 0 || b.Revision(n-1) != rev {
		if len(b.changes) >= int(^uint32(0)) {
			panic("linearizability: write log of 2^32 changes")
		}
		if n == 0 || b.Revision(n-1)+1 != rev {
			b.runs = append(b.runs, revRun{start: n, rev: rev})
		}
		b.first = append(b.first, uint32(len(b.changes)))
	}
	vlen := deletedLen
	if deleted {
		value = nil
	} else {
		vlen = uint32(len(value))
	}
	b.changes = append(b.changes, packedChange{off: b.text.add(key, value), klen: uint32(len(key)), vlen: vlen})
}

// Len is the number of entries (revisions).
func (b *LogBuffer) Len() int {
	if b == nil {
		return 0
	}
	return len(b.first)
}

// Revision is entry i's revision.
func (b *LogBuffer) Revision(i int) int64 {
	if i < 0 || i >= len(b.first) {
		panic("linearizability: LogBuffer entry out of range")
	}
	r := len(b.runs) - 1
	if i < b.runs[r].start { // not in the last run (a log with gaps)
		r = sort.Search(len(b.runs), func(r int) bool { return b.runs[r].start > i }) - 1
	}
	return b.runs[r].rev + int64(i-b.runs[r].start)
}

// Last is the newest revision in the log (0 if empty).
func (b *LogBuffer) Last() int64 {
	if b.Len() == 0 {
		return 0
	}
	return b.Revision(b.Len() - 1)
}

// Search is the index of the first entry at revision rev or above (Len
// if none): the entries are in ascending revision order.
func (b *LogBuffer) Search(rev int64) int {
	if b == nil {
		return 0
	}
	return sort.Search(len(b.first), func(i int) bool { return b.Revision(i) >= rev })
}

// span is the range of entry i's changes in b.changes.
func (b *LogBuffer) span(i int) (lo, hi int) {
	lo, hi = int(b.first[i]), len(b.changes)
	if i+1 < len(b.first) {
		hi = int(b.first[i+1])
	}
	return lo, hi
}

// change unpacks one change.
func (b *LogBuffer) change(p packedChange) Change {
	if p.vlen == deletedLen {
		return Change{Key: b.text.get(p.off, p.klen), Type: EventDelete}
	}
	kv := b.text.get(p.off, p.klen+p.vlen)
	return Change{Key: kv[:p.klen], Type: EventPut, Value: kv[p.klen:]}
}

// AppendChanges appends entry i's changes, in apply order, to dst.
func (b *LogBuffer) AppendChanges(dst []Change, i int) []Change {
	lo, hi := b.span(i)
	for _, p := range b.changes[lo:hi] {
		dst = append(dst, b.change(p))
	}
	return dst
}

// Entry is entry i with its changes appended to scratch[:0] (reused:
// the entry's Changes are valid till the next call with the same scratch).
func (b *LogBuffer) Entry(i int, scratch *[]Change) LogEntry {
	*scratch = b.AppendChanges((*scratch)[:0], i)
	return LogEntry{Revision: b.Revision(i), Changes: *scratch}
}

// AppendEntries appends entries [lo, hi) to dst as LogEntry values whose
// Changes share one new array (each capped at its own end, so that an
// append to one does not write over the next).
func (b *LogBuffer) AppendEntries(dst []LogEntry, lo, hi int) []LogEntry {
	if lo >= hi {
		return dst
	}
	first, _ := b.span(lo)
	_, last := b.span(hi - 1)
	all := make([]Change, 0, last-first)
	for i := lo; i < hi; i++ {
		n := len(all)
		all = b.AppendChanges(all, i)
		dst = append(dst, LogEntry{Revision: b.Revision(i), Changes: all[n:len(all):len(all)]})
	}
	return dst
}

// Entries is the whole log as []LogEntry (see AppendEntries).
func (b *LogBuffer) Entries() []LogEntry {
	if b.Len() == 0 {
		return nil
	}
	return b.AppendEntries(make([]LogEntry, 0, b.Len()), 0, b.Len())
}

// textArena holds byte strings back to back in chunks of arenaChunk
// bytes: one allocation per chunk instead of one per key and value (with
// its string header and size-class rounding), in memory the collector
// does not scan. A string it returns is a slice of its chunk, which stays
// as long as any such string does.
type textArena struct {
	// chunks[k] is the text at offsets [k*arenaChunk, (k+1)*arenaChunk):
	// the filled part of its chunk (the last one is still filled by cur).
	// A text longer than a chunk has chunks of its own, the first holding
	// it and the others empty.
	chunks []string
	// cur fills the last chunk: a strings.Builder only appends, so what
	// its String returned before never changes, and it returns its buffer
	// without a copy.
	cur *strings.Builder
}

const arenaChunk = 64 << 10

// add appends a and b, in that order, and returns the offset of a.
func (t *textArena) add(a, b []byte) uint32 {
	n := len(a) + len(b)
	k := len(t.chunks) - 1
	if t.cur == nil || t.cur.Len()+n > arenaChunk {
		k++
		if n > arenaChunk {
			t.chunks = append(t.chunks, string(a)+string(b))
			for range (n - 1) / arenaChunk {
				t.chunks = append(t.chunks, "")
			}
			t.cur = nil
			return t.offset(k, 0)
		}
		t.cur = &strings.Builder{}
		t.cur.Grow(arenaChunk)
		t.chunks = append(t.chunks, "")
	}
	off := t.offset(k, t.cur.Len())
	t.cur.Write(a)
	t.cur.Write(b)
	t.chunks[k] = t.cur.String()
	return off
}

// offset is the offset of byte at of chunk k. Offsets are 32 bits: a
// seed's log of 4 GiB of text would not fit in memory as []LogEntry
// either.
func (t *textArena) offset(k, at int) uint32 {
	if len(t.chunks) > 1<<32/arenaChunk {
		panic("linearizability: write log text of 4 GiB")
	}
	return uint32(k*arenaChunk + at)
}

// get is the text of n bytes at off.
func (t *textArena) get(off, n uint32) string {
	at := off % arenaChunk
	return t.chunks[off/arenaChunk][at : at+n]
}
