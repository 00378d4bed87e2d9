package sim

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Explicit limits of the simulated disk.
const (
	// MaxFileSize is the largest size a simulated file may reach.
	MaxFileSize = 1 << 30
	// MaxNameLen is the longest file name.
	MaxNameLen = 255
	// MaxFiles is the most files one disk holds.
	MaxFiles = 1 << 16
)

// Typed disk errors (beside host.ErrNotExist, ErrExist, ErrNoSpace,
// ErrClosed and ErrBadOffset).
var (
	// ErrBadName: an empty file name or one longer than MaxNameLen.
	ErrBadName = errors.New("sim: bad file name")
	// ErrFileTooLarge: a write or truncate beyond MaxFileSize.
	ErrFileTooLarge = errors.New("sim: file too large")
	// ErrTooManyFiles: Create beyond MaxFiles.
	ErrTooManyFiles = errors.New("sim: too many files")
	// ErrBadBit: a bit index outside 0..7 in Corrupt.
	ErrBadBit = errors.New("sim: bit index out of range")
	// ErrNothingToCorrupt: CorruptRandom found no durable byte.
	ErrNothingToCorrupt = errors.New("sim: no durable bytes to corrupt")
	// ErrNothingToLose: LoseSynced found no durable byte.
	ErrNothingToLose = errors.New("sim: no durable bytes to lose")
)

// DiskConfig holds the knobs of every disk in a world.
type DiskConfig struct {
	// SyncLatency and SyncJitter: a Sync completes after
	// SyncLatency + uniform[0, SyncJitter], times the slow multiplier.
	SyncLatency, SyncJitter time.Duration
	// SectorSize is the granularity of torn writes (> 0).
	SectorSize int
	// TornWrites: on crash, a sector-granular prefix of the last
	// unsynced write may survive.
	TornWrites bool
	// Capacity in bytes (0 = unlimited); see Disk.SetCapacity.
	Capacity int64
}

func (c DiskConfig) validate() error {
	switch {
	case c.SyncLatency < 0 || c.SyncJitter < 0:
		return fmt.Errorf("%w: negative sync latency %v/%v", ErrBadConfig, c.SyncLatency, c.SyncJitter)
	case c.SectorSize <= 0:
		return fmt.Errorf("%w: sector size %d must be positive", ErrBadConfig, c.SectorSize)
	case c.Capacity < 0:
		return fmt.Errorf("%w: negative capacity %d", ErrBadConfig, c.Capacity)
	}
	return nil
}

// Disk is a simulated disk: a flat directory of files, each with volatile
// contents (what reads see) and durable contents (what survives a crash).
// It implements host.FS. Metadata operations (Create, Remove, Rename) are
// durable at once; file contents become durable when a Sync completes.
//
// Writes are kept as a per-file log of unsynced operations; a Sync records
// how far into that log it reaches and, when it completes, applies exactly
// those operations to the durable contents. A crash drops the log.
type Disk struct {
	w     *World
	id    host.NodeID
	files map[string]*file
	inc   uint64 // bumped by every crash: stale handles and syncs die
	down  bool   // the owning node is crashed

	capacity int64 // 0 = unlimited
	used     int64 // sum of volatile sizes of the files in the directory
	slow     float64
	torn     bool
	sector   int64
	syncLat  time.Duration
	syncJit  time.Duration
	rng      *rand.Rand

	inflight int // syncs issued by this incarnation and not completed
	// dir is the directory as of the last completed SyncDir (name ->
	// file): what LoseDirents falls back to.
	dir map[string]*file
	// dirCalls numbers the SyncDir calls; dirSynced is the number of the
	// latest call whose directory d.dir is.
	dirCalls, dirSynced uint64

	lastFile *file // file and op seq of the last WriteAt (torn-write candidate)
	lastSeq  uint64

	// syncFault, if set, decides as each file sync is about to complete
	// whether it fails (see SetSyncFault).
	syncFault func(name string) bool
}

type file struct {
	name    string
	data    []byte // volatile view: what reads see
	durable []byte
	ops     []diskOp // unsynced operations, oldest first
	// pend holds the bytes of the unsynced writes, one after another:
	// one growing buffer instead of a copy per write, emptied (and
	// reused) whenever no write is pending.
	pend []byte
	// shared: data is capped at its length and its array is also
	// another's: pend's and then durable's (data is the bytes of the
	// write that gave an empty file its contents), or durable's (a crash
	// left the durable contents as the volatile view). Nothing writes
	// into that array while data shares it (a write or truncate of the
	// file gives data an array of its own first: own), so a file written
	// once (a snapshot), or not since a crash, keeps one copy of its
	// bytes instead of two.
	shared bool
	// alias: durable is data[:len(durable)], and may be a slice of
	// data's array (a sync of appends took the bytes from data instead
	// of copying them, apply; a crash). Nothing writes into data's array
	// below len(durable) while alias is set (own), nor into durable's
	// array (ownDurable), so a log keeps one copy of its synced bytes.
	alias   bool
	nextSeq uint64
	removed bool
	// errGen counts the syncs of this file that SetSyncFault's hook
	// failed: a sync issued before a failure and completing after it
	// reports the failure too (Linux's errseq: every fsync waiting when
	// writeback failed sees the error).
	errGen uint32
}

// diskOp is one unsynced write or truncate.
type diskOp struct {
	seq   uint64
	off   int64 // write offset, or new size for a truncate
	data  []byte
	trunc bool
}

// AddDisk returns the disk of id, creating it (with no process) if needed.
// Use it to test code that needs only a disk, such as the WAL.
func (w *World) AddDisk(id host.NodeID) *Disk {
	if d := w.Disk(id); d != nil {
		return d
	}
	c := w.cfg.Disk
	d := &Disk{
		w:        w,
		id:       id,
		files:    make(map[string]*file),
		capacity: c.Capacity,
		slow:     1,
		torn:     c.TornWrites,
		sector:   int64(c.SectorSize),
		syncLat:  c.SyncLatency,
		syncJit:  c.SyncJitter,
		rng:      w.Rand(fmt.Sprintf("disk/%d", id)),
	}
	w.setDisk(d)
	return d
}

// Disk returns the disk of id, or nil if there is none.
func (w *World) Disk(id host.NodeID) *Disk {
	if uint64(id) < uint64(len(w.diskByID)) {
		return w.diskByID[id]
	}
	return w.disks[id]
}

// ID is the node the disk belongs to.
func (d *Disk) ID() host.NodeID { return d.id }

// check reports whether an operation by incarnation inc may proceed.
func (d *Disk) check(inc uint64) error {
	if d.down {
		return fmt.Errorf("%w: disk %d: %w", host.ErrClosed, d.id, ErrNodeDown)
	}
	if inc != d.inc {
		return fmt.Errorf("%w: disk %d: handle from before a crash", host.ErrClosed, d.id)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// Create makes a new empty file (durable at once).
func (d *Disk) Create(name string) (host.File, error) { return d.create(d.inc, name) }

// Open opens an existing file.
func (d *Disk) Open(name string) (host.File, error) { return d.open(d.inc, name) }

// Remove deletes a file (durable at once). Open handles keep working on
// the orphaned contents, as on POSIX.
func (d *Disk) Remove(name string) error { return d.remove(d.inc, name) }

// Rename renames a file, replacing newName if it exists (durable at once).
func (d *Disk) Rename(oldName, newName string) error { return d.rename(d.inc, oldName, newName) }

// List returns the sorted file names.
func (d *Disk) List() ([]string, error) { return d.list(d.inc) }

// SyncDir makes the directory as it is now durable (for LoseDirents)
// after a drawn sync latency, then calls done.
func (d *Disk) SyncDir(done func(error)) { d.syncDir(d.inc, done) }

func (d *Disk) syncDir(inc uint64, done func(error)) {
	if err := d.check(inc); err != nil {
		d.w.Schedule(0, func() { done(err) })
		return
	}
	snap := make(map[string]*file, len(d.files))
	for name, f := range d.files {
		snap[name] = f
	}
	d.dirCalls++
	seq := d.dirCalls
	fn := func() {
		if d.inc != inc {
			return // crashed first: the directory sync is lost
		}
		// A directory sync makes the directory durable as it was when
		// called; one called earlier that completes later cannot undo
		// a later one's (sync latencies are drawn per call).
		if seq > d.dirSynced {
			d.dir, d.dirSynced = snap, seq
		}
		d.w.trace(kSyncDir, d.id, uint64(len(snap)), 0)
		done(nil)
	}
	// The completion belongs to the node's incarnation, like a file
	// sync's: a crash drops it, a pause holds it back.
	if n := d.w.node(d.id); n != nil {
		d.w.push(event{at: d.w.at(d.syncDelay()), kind: evTimer, node: n, inc: n.inc, fn: fn})
		return
	}
	d.w.Schedule(d.syncDelay(), fn)
}

// LoseDirents (beyond the fault model, for the lose-dirent fault) drops
// every directory change not covered by a completed SyncDir: files
// created since are gone, removed ones are back, renamed ones have their
// old names. Call it on a crashed disk (after Crash), whose files hold
// their durable contents. It returns how many names changed.
func (d *Disk) LoseDirents() int {
	changed := 0
	for name, f := range d.files {
		if d.dir[name] != f {
			changed++
		}
		f.removed = true
	}
	for name, f := range d.dir {
		if d.files[name] != f {
			changed++
		}
	}
	files := make(map[string]*file, len(d.dir))
	d.used = 0
	for name, f := range d.dir {
		f.name, f.removed = name, false
		// An orphan kept its volatile writes through Crash; the crash
		// loses them all the same.
		f.data, f.ops, f.pend, f.shared, f.alias = slices.Clone(f.durable), nil, nil, false, false
		files[name] = f
		d.used += int64(len(f.data))
	}
	d.files = files
	d.w.trace(kLoseDirents, d.id, uint64(changed), 0)
	return changed
}

func (d *Disk) create(inc uint64, name string) (host.File, error) {
	if err := d.check(inc); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, ok := d.files[name]; ok {
		return nil, fmt.Errorf("%w: disk %d: %q", host.ErrExist, d.id, name)
	}
	if len(d.files) >= MaxFiles {
		return nil, fmt.Errorf("%w: disk %d has %d", ErrTooManyFiles, d.id, MaxFiles)
	}
	f := &file{name: name}
	d.files[name] = f
	d.w.traceFile(kCreate, d.id, 0, hashString(name), name, 0, 0)
	return &handle{d: d, f: f, inc: inc}, nil
}

// notExistError is host.ErrNotExist for a name on a disk, formatted only
// when printed: a missing file is an everyday answer (snap.Save removes
// a temp file that is rarely there), and fmt.Errorf formatted each one.
// Its text is the one fmt.Errorf("%w: disk %d: %q", ...) gave.
type notExistError struct {
	disk host.NodeID
	name string
}

func (e *notExistError) Error() string {
	return fmt.Sprintf("%v: disk %d: %q", host.ErrNotExist, e.disk, e.name)
}

func (e *notExistError) Unwrap() error { return host.ErrNotExist }

func (d *Disk) open(inc uint64, name string) (host.File, error) {
	if err := d.check(inc); err != nil {
		return nil, err
	}
	f, ok := d.files[name]
	if !ok {
		return nil, &notExistError{disk: d.id, name: name}
	}
	return &handle{d: d, f: f, inc: inc}, nil
}

func (d *Disk) remove(inc uint64, name string) error {
	if err := d.check(inc); err != nil {
		return err
	}
	f, ok := d.files[name]
	if !ok {
		return &notExistError{disk: d.id, name: name}
	}
	d.detach(f)
	d.w.traceFile(kRemove, d.id, 0, hashString(name), name, 0, 0)
	return nil
}

// detach takes f out of the directory; it becomes an orphan.
func (d *Disk) detach(f *file) {
	delete(d.files, f.name)
	d.used -= int64(len(f.data))
	f.removed = true
}

func (d *Disk) rename(inc uint64, oldName, newName string) error {
	if err := d.check(inc); err != nil {
		return err
	}
	if err := checkName(newName); err != nil {
		return err
	}
	f, ok := d.files[oldName]
	if !ok {
		return &notExistError{disk: d.id, name: oldName}
	}
	if oldName == newName {
		return nil
	}
	if old, ok := d.files[newName]; ok {
		d.detach(old)
	}
	delete(d.files, oldName)
	f.name = newName
	d.files[newName] = f
	d.w.traceRename(d.id, oldName, newName)
	return nil
}

func (d *Disk) list(inc uint64) ([]string, error) {
	if err := d.check(inc); err != nil {
		return nil, err
	}
	return d.names(), nil
}

// Names lists the disk's file names, sorted, whether its node is up or
// down (for fault injectors that look at a crashed node's disk).
func (d *Disk) Names() []string { return d.names() }

func (d *Disk) names() []string {
	names := make([]string, 0, len(d.files))
	for n := range d.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Crash applies crash semantics now: every unsynced operation is lost and
// pending syncs never complete, except that with torn writes enabled a
// sector-granular prefix (possibly empty, possibly all) of the last
// unsynced WriteAt on the disk becomes durable. Open handles die. For a
// node's disk use World.Crash, which also stops the node; Disk.Crash is for
// disks without a process (AddDisk).
func (d *Disk) Crash() {
	d.inc++
	d.inflight = 0
	if d.torn {
		d.tear()
	}
	for _, n := range d.names() {
		f := d.files[n]
		d.used -= int64(len(f.data))
		f.data, f.shared, f.alias = f.durable[:len(f.durable):len(f.durable)], true, true
		f.ops = nil
		f.pend = nil
		d.used += int64(len(f.data))
	}
	d.lastFile = nil
	d.w.trace(kDiskCrash, d.id, d.inc, 0)
}

// tear makes a random sector-granular prefix of the last unsynced write
// durable, if that write is still unsynced and its file still exists.
func (d *Disk) tear() {
	f := d.lastFile
	if f == nil || f.removed {
		return
	}
	i := slices.IndexFunc(f.ops, func(o diskOp) bool { return o.seq == d.lastSeq })
	if i < 0 || f.ops[i].trunc {
		return
	}
	op := f.ops[i]
	end := op.off + int64(len(op.data))
	cut := tornCut(op.off, end, d.sector, d.rng)
	if cut <= op.off {
		return
	}
	f.ownDurable()
	f.durable = resize(f.durable, max(int64(len(f.durable)), cut))
	copy(f.durable[op.off:cut], op.data)
}

// DirNames lists, sorted, the directory as of the last completed SyncDir:
// the names a crash followed by lost directory entries (LoseDirents)
// would leave. Within the fault model directory changes are durable at
// once; a store that relies on that loses files on real file systems.
func (d *Disk) DirNames() []string {
	names := make([]string, 0, len(d.dir))
	for n := range d.dir {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DirDurableBytes returns a copy of the durable contents of the file that
// name denotes in the directory as of the last completed SyncDir (which
// may since have been renamed or removed).
func (d *Disk) DirDurableBytes(name string) ([]byte, bool) {
	f, ok := d.dir[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(f.durable), true
}

// DirDurableView is DirDurableBytes without the copy, for a reader that
// is done before the world runs another event (a shadow boot): the bytes
// must not be modified, and a later sync may write them in place. The
// slice is capped at its length, so appending to it copies.
func (d *Disk) DirDurableView(name string) ([]byte, bool) {
	f, ok := d.dir[name]
	if !ok {
		return nil, false
	}
	return f.durable[:len(f.durable):len(f.durable)], true
}

// LastWriteTearable reports whether a crash now, with torn writes on,
// could keep part but not all of the last unsynced write: it is still
// unsynced, its file exists, and it crosses a sector boundary. Aimed
// faults use it to crash when a tear cuts a record short.
func (d *Disk) LastWriteTearable() bool {
	f := d.lastFile
	if f == nil || f.removed {
		return false
	}
	i := slices.IndexFunc(f.ops, func(o diskOp) bool { return o.seq == d.lastSeq })
	if i < 0 || f.ops[i].trunc {
		return false
	}
	op := f.ops[i]
	first := (op.off/d.sector + 1) * d.sector
	return first < op.off+int64(len(op.data))
}

// tornCut draws where a torn write [off, end) stops: off (nothing), a
// sector boundary strictly inside, or end (all of it), uniformly.
func tornCut(off, end, sector int64, r *rand.Rand) int64 {
	first := (off/sector + 1) * sector // first boundary after off
	inner := int64(0)
	if first < end {
		inner = (end-1-first)/sector + 1
	}
	j := r.Int64N(inner + 2)
	switch {
	case j == 0:
		return off
	case j <= inner:
		return first + (j-1)*sector
	default:
		return end
	}
}

// resize returns b with length n, zeroing any newly exposed bytes.
func resize(b []byte, n int64) []byte {
	if n <= int64(len(b)) {
		return b[:n]
	}
	if n <= int64(cap(b)) {
		old := len(b)
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, max(n, 2*int64(cap(b))))
	copy(nb, b)
	return nb
}

// Corrupt flips bit (0..7) of the durable byte at off in the named file:
// latent corruption that a read sees once the cached copy is gone (after a
// crash), or at once if the cached byte mirrors the durable one.
func (d *Disk) Corrupt(name string, off int64, bit uint) error {
	f, ok := d.files[name]
	if !ok {
		return fmt.Errorf("%w: disk %d: corrupt %q", host.ErrNotExist, d.id, name)
	}
	if bit > 7 {
		return fmt.Errorf("%w: %d", ErrBadBit, bit)
	}
	if off < 0 || off >= int64(len(f.durable)) {
		return fmt.Errorf("%w: disk %d: corrupt %q at %d, durable size %d", host.ErrBadOffset, d.id, name, off, len(f.durable))
	}
	f.own()
	old := f.durable[off]
	f.durable[off] ^= 1 << bit
	if off < int64(len(f.data)) && f.data[off] == old {
		f.data[off] ^= 1 << bit
	}
	d.w.traceFile(kCorrupt, d.id, uint64(off)<<3|uint64(bit), hashString(name), name, off, int64(bit))
	return nil
}

// Corruption says where CorruptRandom flipped a bit.
type Corruption struct {
	Name string
	Off  int64
	Bit  uint
}

// CorruptRandom flips one random bit of the durable bytes of a random
// non-empty file, drawing from r. It fails with ErrNothingToCorrupt if no
// file has durable bytes.
func (d *Disk) CorruptRandom(r *rand.Rand) (Corruption, error) {
	var candidates []string
	for _, n := range d.names() {
		if len(d.files[n].durable) > 0 {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return Corruption{}, fmt.Errorf("%w: disk %d", ErrNothingToCorrupt, d.id)
	}
	c := Corruption{Name: candidates[r.IntN(len(candidates))]}
	c.Off = r.Int64N(int64(len(d.files[c.Name].durable)))
	c.Bit = uint(r.IntN(8))
	return c, d.Corrupt(c.Name, c.Off, c.Bit)
}

// Loss says what LoseSynced took away: the durable size of Name went from
// From to To bytes.
type Loss struct {
	Name     string
	From, To int64
}

// LoseSynced is a beyond-the-model fault: it cuts the durable contents of
// a random non-empty file back to a random sector boundary below its size,
// losing data that a completed Sync promised to keep. The volatile view is
// cut too if it is longer. Use it on a crashed node's disk.
func (d *Disk) LoseSynced(r *rand.Rand) (Loss, error) {
	var candidates []string
	for _, n := range d.names() {
		if len(d.files[n].durable) > 0 {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return Loss{}, fmt.Errorf("%w: disk %d", ErrNothingToLose, d.id)
	}
	f := d.files[candidates[r.IntN(len(candidates))]]
	l := Loss{Name: f.name, From: int64(len(f.durable))}
	l.To = r.Int64N(l.From) / d.sector * d.sector
	f.durable = f.durable[:l.To]
	if int64(len(f.data)) > l.To {
		d.used -= int64(len(f.data)) - l.To
		f.data = f.data[:l.To]
	}
	d.w.traceFile(kLoseSynced, d.id, uint64(l.To), hashString(f.name), f.name, l.To, 0)
	return l, nil
}

// SetCapacity limits the total volatile size of the files (0 = unlimited).
// A write or truncate that would grow the total beyond it fails with
// host.ErrNoSpace and changes nothing.
func (d *Disk) SetCapacity(bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("%w: negative capacity %d", ErrBadConfig, bytes)
	}
	d.capacity = bytes
	return nil
}

// Capacity is the current capacity (0 = unlimited).
func (d *Disk) Capacity() int64 { return d.capacity }

// Used is the total volatile size of the files.
func (d *Disk) Used() int64 { return d.used }

// SetSlow multiplies every later sync latency by m (> 0; 1 is normal).
func (d *Disk) SetSlow(m float64) error {
	if !(m > 0) || math.IsInf(m, 0) {
		return fmt.Errorf("%w: slow multiplier %v must be positive and finite", ErrBadConfig, m)
	}
	d.slow = m
	return nil
}

// SyncsInFlight is the number of syncs the running incarnation issued
// that have not completed yet.
func (d *Disk) SyncsInFlight() int { return d.inflight }

// Slow is the current sync latency multiplier.
func (d *Disk) Slow() float64 { return d.slow }

// SetTornWrites turns the torn-write rule on or off for later crashes.
func (d *Disk) SetTornWrites(on bool) { d.torn = on }

// TornWrites reports whether the torn-write rule is on.
func (d *Disk) TornWrites() bool { return d.torn }

// DurableBytes returns a copy of the durable contents of name.
func (d *Disk) DurableBytes(name string) ([]byte, error) {
	f, ok := d.files[name]
	if !ok {
		return nil, &notExistError{disk: d.id, name: name}
	}
	return slices.Clone(f.durable), nil
}

// Contents returns a copy of the volatile contents of name (what a read
// sees now).
func (d *Disk) Contents(name string) ([]byte, error) {
	f, ok := d.files[name]
	if !ok {
		return nil, &notExistError{disk: d.id, name: name}
	}
	return slices.Clone(f.data), nil
}

// syncDelay draws one sync latency.
func (d *Disk) syncDelay() time.Duration {
	lat := d.syncLat
	if d.syncJit > 0 {
		lat += time.Duration(d.rng.Int64N(int64(d.syncJit) + 1))
	}
	if d.slow != 1 {
		f := float64(lat) * d.slow
		if f > float64(math.MaxInt64/2) {
			f = float64(math.MaxInt64 / 2)
		}
		lat = time.Duration(f)
	}
	return lat
}

// newSyncReq returns a zero syncReq, reusing a finished one if it can.
func (w *World) newSyncReq() *syncReq {
	if n := len(w.syncs); n > 0 {
		r := w.syncs[n-1]
		w.syncs = w.syncs[:n-1]
		return r
	}
	return new(syncReq)
}

// syncReq is a Sync in flight. Only its queued event refers to it; once
// the event ran, the world reuses it.
type syncReq struct {
	d    *Disk
	f    *file
	upTo uint64 // ops with seq < upTo become durable
	inc  uint64
	done func(error)
	err  error  // non-nil: just report it (a sync on a bad handle)
	gen  uint32 // the file's errGen when the sync was issued
}

func (r *syncReq) complete() {
	d := r.d
	if r.inc != d.inc {
		// The disk crashed after the Sync call: the sync is lost and
		// its callback belongs to a dead incarnation.
		d.w.traceFile(kSyncLost, d.id, r.upTo, hashString(r.f.name), r.f.name, 0, 0)
		return
	}
	if r.err != nil {
		if r.done != nil {
			r.done(r.err)
		}
		return
	}
	d.inflight--
	f := r.f
	if (d.syncFault != nil || f.errGen != r.gen) && r.failed() {
		return
	}
	n := 0
	for n < len(f.ops) && f.ops[n].seq < r.upTo {
		n++
	}
	if n == 1 && len(f.ops) == 1 && len(f.durable) == 0 && !f.ops[0].trunc && f.ops[0].off == 0 {
		// The one write of a new file (a snapshot, a marker), synced:
		// its bytes in pend become the durable contents, and pend
		// starts afresh, instead of copying them into a new array.
		f.durable, f.pend, f.alias = f.ops[0].data, nil, f.shared
	} else {
		for i := range n {
			f.apply(f.ops[i])
		}
	}
	if d.w.tracer != nil {
		off, size := writtenRange(f.ops[:n])
		d.w.traceFile(kSync, d.id, uint64(len(f.durable)), hashString(f.name), f.name, off, size)
	} else {
		d.w.trace(kSync, d.id, uint64(len(f.durable)), hashString(f.name))
	}
	f.dropSynced(n)
	if r.done == nil {
		return
	}
	if n := d.w.node(d.id); n != nil && n.paused {
		// The data is durable (the kernel did it); the frozen process
		// learns of it when it resumes.
		done := r.done
		n.backlog = append(n.backlog, event{kind: evTimer, node: n, inc: n.inc, fn: func() { done(nil) }})
		return
	}
	r.done(nil)
}

// SetSyncFault installs fail (nil removes it): as each later file Sync of
// this disk is about to complete, fail(name) decides whether it fails
// instead. A failed sync completes with host.ErrIO, and the writes and
// truncates it covered are dropped from what can become durable: they
// stay in the volatile view (reads see them) until a crash, but no later
// Sync makes them durable, just as Linux marks the pages of a failed
// writeback clean and a retried fsync then succeeds without them
// (PostgreSQL's "fsyncgate"). A sync of the same file that was in flight
// when one failed fails too. Directory syncs never fail. With no hook set
// and no failure so far, syncs behave (and trace) exactly as before.
func (d *Disk) SetSyncFault(fail func(name string) bool) { d.syncFault = fail }

// failed reports whether r fails (SetSyncFault's hook says so, or a sync
// of its file failed while it was in flight); if so it drops the
// operations r covered, traces it and reports host.ErrIO.
func (r *syncReq) failed() bool {
	d, f := r.d, r.f
	if f.errGen != r.gen {
		// Waiting when another sync of the file failed: it sees that
		// error (its data may be among what was dropped).
	} else if d.syncFault == nil || !d.syncFault(f.name) {
		return false
	} else {
		f.errGen++
	}
	n := 0
	for n < len(f.ops) && f.ops[n].seq < r.upTo {
		n++
	}
	off, size := writtenRange(f.ops[:n])
	f.dropSynced(n) // forgotten, not applied: never durable
	d.w.traceFile(kSyncFailed, d.id, uint64(n), hashString(f.name), f.name, off, size)
	done := r.done
	if done == nil {
		return true
	}
	err := fmt.Errorf("%w: disk %d: fsync %q", host.ErrIO, d.id, f.name)
	if n := d.w.node(d.id); n != nil && n.paused {
		n.backlog = append(n.backlog, event{kind: evTimer, node: n, inc: n.inc, fn: func() { done(err) }})
		return true
	}
	done(err)
	return true
}

// writtenRange is the byte range [off, off+n) that spans the writes among
// ops (n 0: none), for the trace of a sync.
func writtenRange(ops []diskOp) (off, n int64) {
	lo, hi := int64(-1), int64(0)
	for i := range ops {
		op := &ops[i]
		if op.trunc || len(op.data) == 0 {
			continue
		}
		if lo < 0 || op.off < lo {
			lo = op.off
		}
		hi = max(hi, op.off+int64(len(op.data)))
	}
	if lo < 0 {
		return 0, 0
	}
	return lo, hi - lo
}

// dropSynced forgets the first n pending operations, which are durable.
func (f *file) dropSynced(n int) {
	switch {
	case n == 0:
	case n == len(f.ops):
		// Nothing refers to the pending bytes any more, unless data
		// shares them (shared): reuse both.
		clear(f.ops)
		f.ops = f.ops[:0]
		if f.shared {
			f.pend = nil
		} else {
			f.pend = f.pend[:0]
		}
	default:
		clear(f.ops[:n])
		f.ops = f.ops[n:]
		f.compactPend()
	}
}

// compactPend moves the bytes of the writes still pending into a fresh
// buffer once most of pend belongs to synced writes, so that a file that
// never catches up with its syncs does not keep every byte ever written.
func (f *file) compactPend() {
	live := 0
	for i := range f.ops {
		live += len(f.ops[i].data)
	}
	if len(f.pend) < minPendCompact || live > len(f.pend)/2 {
		return
	}
	nb := make([]byte, 0, 2*live)
	for i := range f.ops {
		if op := &f.ops[i]; !op.trunc {
			start := len(nb)
			nb = append(nb, op.data...)
			op.data = nb[start:len(nb):len(nb)]
		}
	}
	f.pend = nb
}

// minPendCompact is the size below which pend is never compacted.
const minPendCompact = 64 << 10

// apply makes one operation durable. A write at the end of the durable
// contents whose bytes data holds at its offset (a log's append, synced)
// takes durable from data instead of copying: the durable contents are
// data[:len(durable)] (alias), and stay so until data is written below
// their end (own) or durable is written otherwise (ownDurable). Not while
// data shares pend's array (shared): pend's is written again once empty.
func (f *file) apply(op diskOp) {
	if op.trunc {
		if op.off > int64(len(f.durable)) {
			f.ownDurable() // resize writes zeros in place
		}
		f.durable = resize(f.durable, op.off)
		return
	}
	end := op.off + int64(len(op.data))
	if !f.shared && op.off == int64(len(f.durable)) && end <= int64(len(f.data)) &&
		(f.alias || len(f.durable) == 0) && bytes.Equal(f.data[op.off:end], op.data) {
		f.durable, f.alias = f.data[:end:end], true
		return
	}
	f.ownDurable()
	f.durable = writeAt(f.durable, op.off, op.data)
}

// ownDurable gives f.durable an array of its own if it may share data's
// (see file.alias), before something writes into it.
func (f *file) ownDurable() {
	if f.alias {
		f.durable = slices.Clone(f.durable)
		f.alias = false
	}
}

// writeAt writes p into b at off, growing b as needed (zeroing any gap),
// and returns b. A write at the end, as a log's appends and a new file's
// first write are, appends: nothing is zeroed only to be overwritten.
func writeAt(b []byte, off int64, p []byte) []byte {
	if off == int64(len(b)) {
		if len(b)+len(p) > cap(b) && len(b) < doubleBelow {
			// At least double: append alone grows a slice of more than
			// a few KB by about 1.25x, so a log file of a few hundred KB
			// built by small appends was copied (and its spare capacity
			// cleared) about five times its size over.
			b = slices.Grow(b, max(len(p), cap(b)))
		}
		return append(b, p...)
	}
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

// doubleBelow is the file size below which writeAt doubles a file's
// capacity when an append outgrows it; larger files (a long run's WAL
// segments) grow as append grows them, by about 1.25x, so that their
// spare capacity stays small.
const doubleBelow = 1 << 20

// handle is an open file (host.File).
type handle struct {
	d      *Disk
	f      *file
	inc    uint64
	closed bool
}

func (h *handle) check() error {
	if h.closed {
		return fmt.Errorf("%w: %q", host.ErrClosed, h.f.name)
	}
	return h.d.check(h.inc)
}

// Name is the file's current name.
func (h *handle) Name() string { return h.f.name }

// WriteAt writes p at off (volatile until a Sync completes).
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: write %q at %d", host.ErrBadOffset, h.f.name, off)
	}
	end := off + int64(len(p))
	if end > MaxFileSize || end < off {
		return 0, fmt.Errorf("%w: write %q to %d > %d", ErrFileTooLarge, h.f.name, end, MaxFileSize)
	}
	if len(p) == 0 {
		return 0, nil
	}
	f, d := h.f, h.d
	if grow := end - int64(len(f.data)); grow > 0 {
		if err := d.reserve(f, grow); err != nil {
			return 0, err
		}
	}
	if f.shared {
		// An append to data at its capacity moves it to a new array
		// anyway; anything else would write into the shared one.
		if off != int64(len(f.data)) || cap(f.data) != len(f.data) {
			f.data = slices.Clone(f.data)
		}
		f.shared = false
	}
	if f.alias && off < int64(len(f.durable)) {
		f.own() // the write would change the durable bytes too
	}
	// A capped slice of pend: a later append may move pend to a new
	// array, but never writes into this one while the op is pending.
	start := len(f.pend)
	f.pend = append(f.pend, p...)
	op := f.pend[start:len(f.pend):len(f.pend)]
	if off == 0 && len(f.data) == 0 {
		f.data, f.shared = op, true
	} else {
		f.data = writeAt(f.data, off, p)
	}
	f.ops = append(f.ops, diskOp{seq: f.nextSeq, off: off, data: op})
	d.lastFile, d.lastSeq = f, f.nextSeq
	f.nextSeq++
	d.w.traceWrite(d.id, f.name, off, p)
	return len(p), nil
}

// own gives f.data an array of its own if it may share one (see
// file.shared and file.alias), before something writes into it.
func (f *file) own() {
	if f.shared || f.alias {
		f.data = slices.Clone(f.data)
		f.shared, f.alias = false, false
	}
}

// reserve checks that f may grow by grow bytes and accounts for it.
func (d *Disk) reserve(f *file, grow int64) error {
	if f.removed {
		return nil // an orphan takes no space in the directory
	}
	if d.capacity > 0 && d.used+grow > d.capacity {
		return fmt.Errorf("%w: disk %d: %d used + %d > capacity %d", host.ErrNoSpace, d.id, d.used, grow, d.capacity)
	}
	d.used += grow
	return nil
}

// ReadAt reads len(p) bytes at off; past the end it returns what there is
// and io.EOF.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: read %q at %d", host.ErrBadOffset, h.f.name, off)
	}
	data := h.f.data
	if off >= int64(len(data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Truncate sets the size (volatile until a Sync completes).
func (h *handle) Truncate(size int64) error {
	if err := h.check(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: truncate %q to %d", host.ErrBadOffset, h.f.name, size)
	}
	if size > MaxFileSize {
		return fmt.Errorf("%w: truncate %q to %d", ErrFileTooLarge, h.f.name, size)
	}
	f, d := h.f, h.d
	f.own()
	grow := size - int64(len(f.data))
	if grow > 0 {
		if err := d.reserve(f, grow); err != nil {
			return err
		}
	} else if !f.removed {
		d.used += grow
	}
	f.data = resize(f.data, size)
	f.ops = append(f.ops, diskOp{seq: f.nextSeq, off: size, trunc: true})
	f.nextSeq++
	d.w.traceFile(kTruncate, d.id, uint64(size), hashString(f.name), f.name, size, 0)
	return nil
}

// Size is the volatile size.
func (h *handle) Size() int64 { return int64(len(h.f.data)) }

// Sync makes every write so far on this file durable once it completes,
// after a drawn latency; then done runs with nil. If the disk crashes
// first, the sync is lost and done never runs (its process is gone). A
// sync on a closed or stale handle completes with host.ErrClosed.
func (h *handle) Sync(done func(error)) {
	d := h.d
	r := d.w.newSyncReq()
	*r = syncReq{d: d, f: h.f, upTo: h.f.nextSeq, inc: d.inc, done: done, gen: h.f.errGen}
	var delay time.Duration
	if err := h.check(); err != nil {
		r.err = err
	} else {
		d.inflight++
		delay = d.syncDelay()
	}
	_, e := d.w.queue(d.w.at(delay))
	e.kind, e.sync = evSync, r
}

// Close releases the handle; unsynced writes stay volatile.
func (h *handle) Close() error {
	if h.closed {
		return fmt.Errorf("%w: %q closed twice", host.ErrClosed, h.f.name)
	}
	h.closed = true
	return nil
}

// fsView is the host.FS a node incarnation sees: every call fails once the
// incarnation has crashed.
type fsView struct {
	d   *Disk
	inc uint64
}

// Probes is the world's probe set (see World.SetProbes).
func (v fsView) Probes() *probe.Set { return v.d.w.probes }

func (v fsView) Create(name string) (host.File, error) { return v.d.create(v.inc, name) }
func (v fsView) Open(name string) (host.File, error)   { return v.d.open(v.inc, name) }
func (v fsView) Remove(name string) error              { return v.d.remove(v.inc, name) }
func (v fsView) Rename(o, n string) error              { return v.d.rename(v.inc, o, n) }
func (v fsView) List() ([]string, error)               { return v.d.list(v.inc) }
func (v fsView) SyncDir(done func(error))              { v.d.syncDir(v.inc, done) }

var (
	_ host.FS   = (*Disk)(nil)
	_ host.FS   = fsView{}
	_ host.File = (*handle)(nil)
)
