package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"hash/crc32"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/internal/invariant"
)

// DefaultSegmentSize is the size at which a segment is sealed and a new one
// started, unless Options say otherwise.
const DefaultSegmentSize = 64 << 20

// Options tune a WAL.
type Options struct {
	// SegmentSize is the size at which a new segment is started; zero
	// means DefaultSegmentSize. A segment may exceed it by one write.
	SegmentSize int64
	// Preallocate, when positive, keeps the active segment zero-filled
	// this many bytes ahead of the write offset (up to SegmentSize). The
	// zeros go out with the data in the same write, once per that many
	// bytes; the other syncs then overwrite allocated blocks and an
	// fdatasync need not update the file's size, which on ext4 roughly
	// halves its cost. Replay treats a zero tail as the end of a segment.
	Preallocate int64
}

func (o Options) withDefaults() Options {
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	return o
}

// WAL is an open write-ahead log. It is not safe for concurrent use: like
// everything in a seedkv process it is driven from one event loop.
type WAL struct {
	fs     host.FS
	probes *probe.Set // coverage probes (nil: none)
	opts   Options
	meta   Metadata

	segs    []segment // in sequence order; the last is the active one
	f       host.File // active segment; nil until the next roll
	off     int64     // write offset in f
	alloc   int64     // size of f: zeros from off to alloc
	head    []byte    // a new segment's head records, not yet written
	sealing bool      // start a new segment at the next write

	buf []byte // records saved but not yet written

	// Saved state (including buf) and written state (excluding buf).
	hs, writtenHS         HardState
	marker, writtenMarker *SnapshotMarker
	last, writtenLast     uint64 // last entry index (or snapshot index)

	syncing    bool          // a write+fsync is in flight
	waiting    []func(error) // Syncs requested meanwhile
	inflight   flushing      // the write+fsync in flight
	onSynced   func(error)   // w.synced, made once: no closure per fsync
	spare      []func(error) // an emptied waiting list, for reuse
	scratch    []byte        // for encoding a payload before framing it
	headSynced bool          // the active segment's head is durable
	dirDirty   bool          // a segment was created since the last directory sync
	syncedSnap uint64        // index of the latest durable snapshot marker

	err    error // sticky: the WAL is unusable
	closed bool
}

// Create starts a new WAL with the given metadata. It fails with ErrExist
// if the file system already holds an initialised WAL; the leftovers of a
// Create that never synced are removed. Nothing is durable until the first
// Sync completes.
func Create(fs host.FS, meta Metadata, opts Options) (*WAL, error) {
	segs, err := listSegments(fs)
	if err != nil {
		return nil, err
	}
	if len(segs) > 0 {
		if old, _, err := Open(fs, opts); !errors.Is(err, ErrNoWAL) {
			if err == nil {
				old.Close()
				err = ErrExist
			}
			return nil, fmt.Errorf("wal: create: %w", err)
		}
		for _, s := range segs {
			if err := fs.Remove(s.name); err != nil {
				return nil, err
			}
		}
	}
	w := &WAL{fs: fs, opts: opts.withDefaults(), meta: meta, sealing: true, headSynced: true}
	w.segs = nil
	return w, nil
}

// Open reads the WAL in fs, repairs a torn tail and returns the WAL ready
// for appends together with what it replayed. It fails with ErrNoWAL if
// there is no initialised WAL and with a *CorruptionError if data is
// damaged in a way a crash cannot explain.
//
// Open starts a Sync of the repaired state; any Sync the caller requests
// afterwards completes after it, so a completed Sync means the replayed
// state is durable.
func Open(fs host.FS, opts Options) (*WAL, Replay, error) {
	segs, err := listSegments(fs)
	if err != nil {
		return nil, Replay{}, err
	}
	if len(segs) == 0 {
		return nil, Replay{}, ErrNoWAL
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, Replay{}, corrupt(segs[i].name, 0, fmt.Sprintf("segment %d missing", segs[i-1].seq+1))
		}
	}
	var r replayer
	var lastRes segmentResult
	var lastFile host.File
	for i, s := range segs {
		isLast := i == len(segs)-1
		f, err := fs.Open(s.name)
		if err != nil {
			return nil, Replay{}, err
		}
		buf, err := readAll(f)
		if err == nil && i > 0 && r.lastIndex() != s.first-1 {
			// A segment starts right after the log written before it.
			err = corrupt(s.name, 0, fmt.Sprintf("segment starts at index %d but the log before it ends at %d", s.first, r.lastIndex()))
		}
		if err == nil {
			lastRes, err = readSegment(s.name, buf, isLast, &r)
		}
		if err != nil || !isLast {
			f.Close()
		}
		if err != nil {
			return nil, Replay{}, err
		}
		lastFile = f
	}
	if err := r.finish(segs[0]); err != nil {
		lastFile.Close()
		return nil, Replay{}, corrupt(segs[len(segs)-1].name, lastRes.end, err.Error())
	}
	w := &WAL{fs: fs, opts: opts.withDefaults(), meta: r.rep.Metadata, segs: segs, probes: probe.Of(fs)}
	if err := w.adoptTail(lastFile, lastRes); err != nil {
		return nil, Replay{}, err
	}
	w.adoptState(&r.rep)
	// The active segment's name may not be durable: the directory sync
	// of its creation may have been lost in the crash. The first flush
	// syncs the directory too, before anything appended is relied on.
	w.dirDirty = w.f != nil
	r.rep.Repaired = lastRes.repair
	w.probes.If(lastRes.repair != nil, probeTornTail)
	w.Sync(func(error) {}) // make the repaired state durable; errors stick
	return w, r.rep, nil
}

// adoptTail applies a repair to the last segment and makes it the active
// one, or removes it if the repair left it without a record.
func (w *WAL) adoptTail(f host.File, res segmentResult) error {
	last := w.segs[len(w.segs)-1]
	if res.records == 0 {
		f.Close()
		if len(w.segs) == 1 {
			if res.repair == nil || res.zeros {
				return ErrNoWAL // a Create whose first write never landed
			}
			// A torn first write keeps whole sectors, and the metadata
			// record fits in the first: damage here is not a crash.
			return corrupt(last.name, 0, "the WAL's first record is damaged: "+res.repair.Reason)
		}
		if err := w.fs.Remove(last.name); err != nil {
			return err
		}
		if res.repair != nil {
			res.repair.RemovedFile = true
		}
		w.segs = w.segs[:len(w.segs)-1]
		w.sealing = true
		return nil
	}
	if res.repair != nil {
		if err := f.Truncate(res.end); err != nil {
			f.Close()
			return err
		}
	}
	w.f, w.off, w.alloc = f, res.end, res.size
	if res.repair != nil {
		w.alloc = res.end
	}
	return nil
}

func (w *WAL) adoptState(rep *Replay) {
	w.hs, w.writtenHS = rep.HardState, rep.HardState
	if rep.Snapshot != nil {
		m := *rep.Snapshot
		w.marker, w.writtenMarker = &m, &m
	}
	w.last = w.snapIndex()
	if n := len(rep.Entries); n > 0 {
		w.last = rep.Entries[n-1].Index
	}
	w.writtenLast = w.last
}

func (w *WAL) snapIndex() uint64 {
	if w.marker == nil {
		return 0
	}
	return w.marker.Index
}

func (w *WAL) usable() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// Save appends ents and, if it is not empty and differs from the last one,
// hs. It only encodes into memory; Sync makes it durable. Entries must be
// consecutive, above the latest snapshot marker, and start at most one past
// the last saved entry (a lower start truncates the log there, as Raft
// requires). On any error nothing of the call is saved.
func (w *WAL) Save(hs HardState, ents []Entry) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.checkEntries(ents); err != nil {
		return err
	}
	for i := range ents {
		w.buf = appendEntryRecord(w.buf, &ents[i])
	}
	if n := len(ents); n > 0 {
		w.last = ents[n-1].Index
	}
	if !hs.IsEmpty() && hs != w.hs {
		w.scratch = appendHardState(w.scratch[:0], hs)
		w.buf = appendRecord(w.buf, TypeHardState, w.scratch)
		w.hs = hs
	}
	return nil
}

func (w *WAL) checkEntries(ents []Entry) error {
	for i := range ents {
		e := &ents[i]
		if size := entryFixed + len(e.Data); size > MaxRecordSize {
			return fmt.Errorf("%w: entry %d is %d bytes, max %d", ErrRecordTooLarge, e.Index, size, MaxRecordSize)
		}
		switch {
		case i > 0 && e.Index != ents[i-1].Index+1:
			return fmt.Errorf("%w: entry %d follows %d", ErrBadEntry, e.Index, ents[i-1].Index)
		case i == 0 && e.Index > w.last+1:
			return fmt.Errorf("%w: entry %d leaves a gap after %d", ErrBadEntry, e.Index, w.last)
		case i == 0 && e.Index <= w.snapIndex():
			return fmt.Errorf("%w: entry %d at or below snapshot %d", ErrBadEntry, e.Index, w.snapIndex())
		}
	}
	return nil
}

// appendEntryRecord frames e straight into buf, without an intermediate
// payload copy: this is the hot path.
func appendEntryRecord(buf []byte, e *Entry) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, byte(TypeEntry))
	buf = appendEntry(buf, *e)
	binary.LittleEndian.PutUint32(buf[start+4:], uint32(len(buf)-start-HeaderSize))
	binary.LittleEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], castagnoli))
	return buf
}

// SaveSnapshot records that a snapshot at m.Index is durable elsewhere.
// Replay then ignores entries at or below m.Index. A marker below the
// latest one is refused with ErrBadEntry. Only encodes; Sync makes it
// durable.
func (w *WAL) SaveSnapshot(m SnapshotMarker) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.marker != nil && m.Index < w.marker.Index {
		return fmt.Errorf("%w: snapshot %d below snapshot %d", ErrBadEntry, m.Index, w.marker.Index)
	}
	if size := markerFixed + len(m.ConfState); size > MaxRecordSize {
		return fmt.Errorf("%w: snapshot marker is %d bytes, max %d", ErrRecordTooLarge, size, MaxRecordSize)
	}
	m.ConfState = append([]byte(nil), m.ConfState...)
	w.buf = appendRecord(w.buf, TypeSnapshot, appendMarker(nil, m))
	w.marker = &m
	w.last = max(w.last, m.Index)
	return nil
}

// Sync writes everything saved so far and makes it durable, then calls
// done (on the disk's event loop; possibly before Sync returns) with nil
// or the error that prevented it. If a sync is in flight, this one waits
// for it and then shares one write and fsync with every other Sync that
// waited. Callbacks run in the order the Syncs were requested.
func (w *WAL) Sync(done func(error)) {
	if err := w.usable(); err != nil {
		done(err)
		return
	}
	w.waiting = append(w.waiting, done)
	if !w.syncing {
		w.flush()
	}
}

// flush writes the buffer as one write and fsyncs it for every waiting
// Sync. Only one flush is ever in flight.
func (w *WAL) flush() {
	dones := w.waiting
	w.waiting, w.spare = w.spare[:0], nil
	if err := w.write(); err != nil {
		if !errors.Is(err, host.ErrNoSpace) {
			w.err = err
		}
		w.probes.If(errors.Is(err, host.ErrNoSpace), probeNoSpace)
		for _, d := range dones {
			d(err)
		}
		return
	}
	f := w.f
	snap := w.syncedSnap
	if w.writtenMarker != nil {
		snap = w.writtenMarker.Index
	}
	w.syncing = true
	w.probes.If(len(dones) > 1, probeGroupCommit)
	w.inflight = flushing{f: f, snap: snap, dones: dones}
	if w.onSynced == nil {
		w.onSynced = w.synced
	}
	if !w.dirDirty {
		f.Sync(w.onSynced)
		return
	}
	// A new segment: its entries are durable only once its directory
	// entry is too (etcd fsyncs the WAL directory after a cut). The flush
	// completes when both syncs have.
	w.dirDirty = false
	w.probes.Hit(probeSyncDirCover)
	pending, first := 2, error(nil)
	both := func(err error) {
		if err != nil && first == nil {
			first = err
		}
		if pending--; pending == 0 {
			w.synced(first)
		}
	}
	w.fs.SyncDir(both)
	f.Sync(both)
}

// flushing is what the fsync in flight completes: its file, the snapshot
// marker it makes durable and the Syncs it answers.
type flushing struct {
	f     host.File
	snap  uint64
	dones []func(error)
}

// synced completes the fsync in flight.
func (w *WAL) synced(err error) {
	// Invariant: a Sync is acknowledged only by the completion of the
	// fsync that covers its records (never before, never by another).
	if invariant.Checks && !w.syncing {
		invariant.Violated("wal: fsync completion with no fsync in flight (would acknowledge unsynced records)")
	}
	fl := w.inflight
	w.inflight = flushing{}
	w.syncing = false
	if err != nil && w.err == nil {
		w.probes.Hit(probeSyncFailed)
		w.err = fmt.Errorf("wal: sync %s: %w", fl.f.Name(), err)
	}
	if err == nil && fl.f == w.f {
		w.headSynced = true
		w.syncedSnap = fl.snap
	}
	for _, d := range fl.dones {
		d(err)
	}
	clear(fl.dones)
	w.spare = fl.dones[:0]
	w.next()
}

// next starts the flush for Syncs that waited, or fails them.
func (w *WAL) next() {
	if w.syncing || len(w.waiting) == 0 {
		return
	}
	if err := w.usable(); err != nil {
		dones := w.waiting
		w.waiting = nil
		for _, d := range dones {
			d(err)
		}
		return
	}
	w.flush()
}

// write writes the buffer (after a new segment's head, if one is due) to
// the active segment. A refused write changes nothing.
func (w *WAL) write() error {
	if w.sealing || (len(w.buf) > 0 && w.off >= w.opts.SegmentSize && w.off > int64(len(w.head))) {
		if err := w.roll(); err != nil {
			return err
		}
	}
	data := w.buf
	if len(w.head) > 0 {
		data = append(w.head, w.buf...)
	}
	records := len(data)
	data = w.preallocate(data)
	if len(data) > 0 {
		n, err := w.f.WriteAt(data, w.off)
		if errors.Is(err, host.ErrNoSpace) && len(data) > records {
			// No room for the zeros; there may be for the records.
			data = data[:records]
			n, err = w.f.WriteAt(data, w.off)
		}
		if err != nil {
			return fmt.Errorf("wal: write %s: %w", w.f.Name(), err)
		}
		if n != len(data) {
			return fmt.Errorf("wal: short write to %s: %d of %d bytes", w.f.Name(), n, len(data))
		}
	}
	w.alloc = max(w.alloc, w.off+int64(len(data)))
	w.off += int64(len(w.head) + len(w.buf))
	w.head, w.buf = nil, w.buf[:0]
	w.writtenHS, w.writtenMarker, w.writtenLast = w.hs, w.marker, w.last
	return nil
}

// preallocate appends zeros to data when writing it would pass the
// zero-filled end of the segment.
func (w *WAL) preallocate(data []byte) []byte {
	end := w.off + int64(len(data))
	if w.opts.Preallocate <= 0 || len(data) == 0 || end <= w.alloc {
		return data
	}
	target := max(end, min(end+w.opts.Preallocate, w.opts.SegmentSize))
	return append(data, make([]byte, target-end)...)
}

// roll seals the active segment (everything in it is durable: no flush is
// in flight) and starts the next one, whose head restates the written
// state so older segments can be released.
func (w *WAL) roll() error {
	var seq uint64
	if n := len(w.segs); n > 0 {
		seq = w.segs[n-1].seq + 1
	}
	s := segment{seq: seq, first: w.writtenLast + 1}
	s.name = segmentName(s.seq, s.first)
	f, err := w.fs.Create(s.name)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			f.Close()
			return err
		}
	}
	head := appendRecord(nil, TypeMetadata, appendMetadata(nil, w.meta))
	if !w.writtenHS.IsEmpty() {
		head = appendRecord(head, TypeHardState, appendHardState(nil, w.writtenHS))
	}
	if w.writtenMarker != nil {
		head = appendRecord(head, TypeSnapshot, appendMarker(nil, *w.writtenMarker))
	}
	w.segs = append(w.segs, s)
	w.probes.Hit(probeSegmentRoll)
	w.dirDirty = true // the new segment's name is durable only with its directory
	w.f, w.off, w.alloc, w.head = f, 0, 0, head
	w.sealing, w.headSynced = false, false
	return nil
}

// ReleaseTo removes the segments that hold nothing above index, the latest
// durable snapshot marker's index if that is lower: every entry in them is
// covered by a snapshot, and later segments restate the hard state and the
// marker. The active segment is never removed, nor the one before it until
// the active segment's head is durable.
func (w *WAL) ReleaseTo(index uint64) error {
	if err := w.usable(); err != nil {
		return err
	}
	limit := min(index, w.syncedSnap)
	if limit == 0 {
		// No synced snapshot marker: a released segment, even one holding
		// no entries, would leave replay a log whose start no marker
		// explains (found by TestRapidCrashes: ReleaseTo(0) before any
		// snapshot removed segment 0).
		return nil
	}
	keep := len(w.segs) - 1 // the active (or, after a removed tail, latest) segment
	if !w.headSynced && w.f != nil {
		keep--
	}
	n := 0
	for n < keep && w.segs[n+1].first <= limit+1 {
		if err := w.fs.Remove(w.segs[n].name); err != nil {
			w.segs = w.segs[n:]
			return err
		}
		n++
	}
	w.probes.If(n > 0, probeReleased)
	w.segs = w.segs[n:]
	return nil
}

// Close releases the active segment. Records not yet synced are dropped
// (as a crash would); Syncs still waiting fail with ErrClosed.
func (w *WAL) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	dones := w.waiting
	w.waiting = nil
	for _, d := range dones {
		d(ErrClosed)
	}
	w.buf = nil
	if w.f != nil {
		return w.f.Close()
	}
	return nil
}

// Segments returns the names of the WAL's segment files, oldest first.
func (w *WAL) Segments() []string {
	names := make([]string, len(w.segs))
	for i, s := range w.segs {
		names[i] = s.name
	}
	return names
}
