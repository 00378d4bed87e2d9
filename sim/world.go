// Package sim is seedkv's deterministic simulation kernel: one World per
// seed, holding a virtual clock, an event queue ordered by (time, insertion
// order), named random streams derived from the seed, a simulated network
// and one simulated disk per node. Every executed event is folded into a
// 64-bit trace hash (and optionally written as a trace line), so two runs of
// the same seed can be compared bit for bit.
//
// A World is driven by one goroutine and is not safe for concurrent use;
// run many worlds in parallel instead. Nothing in this package reads the
// wall clock, the global random source or ranges over a map where the order
// matters.
package sim

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// Epoch is the virtual time at which every World starts.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Typed errors returned by the world, its network and its disks.
var (
	// ErrUnknownNode: no node (or disk) with that ID was added.
	ErrUnknownNode = errors.New("sim: unknown node")
	// ErrNodeExists: AddNode was called twice with one ID.
	ErrNodeExists = errors.New("sim: node already exists")
	// ErrBadNodeID: node ID zero is never valid.
	ErrBadNodeID = errors.New("sim: node ID 0 is invalid")
	// ErrNodeDown: the node is crashed (Crash on a crashed node, or an
	// operation that needs it running).
	ErrNodeDown = errors.New("sim: node is down")
	// ErrNodeUp: Restart on a node that is running.
	ErrNodeUp = errors.New("sim: node is running")
	// ErrBadConfig: a negative latency, a probability outside [0,1], a
	// non-positive rate or multiplier, and similar.
	ErrBadConfig = errors.New("sim: bad configuration")
	// ErrPayloadModified: a message's bytes changed between Send and
	// delivery (the sender reused its buffer, or a receiver of a
	// duplicate wrote into it). Delivery panics with it: the run can no
	// longer be trusted, and the harness turns the panic into a verdict.
	ErrPayloadModified = errors.New("sim: message payload modified in flight")
)

// Config holds the knobs of a World.
type Config struct {
	Net  NetConfig
	Disk DiskConfig
}

// DefaultConfig gives a LAN-like network (1ms base latency, up to 1ms
// jitter, one message in a thousand delayed up to 50ms more, no loss or
// duplication, payloads not copied but checked at delivery) and an
// SSD-like disk (fsync 1-3ms, 512-byte sectors, no torn writes,
// unlimited capacity).
func DefaultConfig() Config {
	return Config{
		Net: NetConfig{
			Base:     time.Millisecond,
			Jitter:   time.Millisecond,
			TailProb: 0.001,
			Tail:     50 * time.Millisecond,
		},
		Disk: DiskConfig{
			SyncLatency: time.Millisecond,
			SyncJitter:  2 * time.Millisecond,
			SectorSize:  512,
		},
	}
}

// Validate reports the first bad value in c, wrapping ErrBadConfig.
func (c Config) Validate() error {
	if err := c.Net.validate(); err != nil {
		return err
	}
	return c.Disk.validate()
}

// World is one simulated universe: clock, event queue, randomness, network,
// disks and processes. Create it with NewWorld.
type World struct {
	seed uint64
	cfg  Config
	now  int64 // nanoseconds since Epoch
	seq  uint64
	q    eventQueue

	events uint64
	hash   uint64
	tracer Tracer     // nil: nothing but the hash (see trace.go)
	ev     TraceEvent // the event handed to tracer, reused

	timers []Timer    // a chunk of fresh timers: one allocation per timerChunk
	syncs  []*syncReq // finished sync requests, for reuse

	streams map[string]*rand.Rand
	net     *Network
	nodes   map[host.NodeID]*nodeState
	order   []*nodeState // nodes in AddNode order (dense index)
	disks   map[host.NodeID]*Disk
	// nodeByID and diskByID index nodes and disks by IDs below denseIDs
	// (replicas from 1, the harness's clients from 1001): a lookup on
	// every message and sync, cheaper than the maps, which hold them all.
	nodeByID []*nodeState
	diskByID []*Disk
	probes   *probe.Set // nil: nobody collects this world's probe hits
}

// SetProbes makes the world's hosts and disks hand s to the code they run
// (probe.Of): the probe hits of this world go into s. nil turns collection
// off.
func (w *World) SetProbes(s *probe.Set) { w.probes = s }

// Probes is the world's probe set (nil if none).
func (w *World) Probes() *probe.Set { return w.probes }

// NewWorld builds a world from a seed. It panics if cfg fails Validate (a
// programming error, like regexp.MustCompile); use New to get an error.
func NewWorld(seed uint64, cfg Config) *World {
	w, err := New(seed, cfg)
	if err != nil {
		panic(err)
	}
	return w
}

// New is NewWorld returning an error for a bad Config.
func New(seed uint64, cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &World{
		seed:    seed,
		cfg:     cfg,
		hash:    mix64(seed ^ 0x5eedc0de5eedc0de),
		streams: make(map[string]*rand.Rand),
		nodes:   make(map[host.NodeID]*nodeState),
		disks:   make(map[host.NodeID]*Disk),
	}
	w.net = newNetwork(w, cfg.Net)
	return w, nil
}

// Seed is the seed the world was built from.
func (w *World) Seed() uint64 { return w.seed }

// Now is the current virtual time.
func (w *World) Now() time.Time { return Epoch.Add(time.Duration(w.now)) }

// Elapsed is the virtual time since Epoch.
func (w *World) Elapsed() time.Duration { return time.Duration(w.now) }

// Events is the number of events executed so far.
func (w *World) Events() uint64 { return w.events }

// Pending is the number of events in the queue, including timers of crashed
// incarnations that will be discarded when their time comes.
func (w *World) Pending() int { return w.q.len() }

// Rand returns the random stream called name: seeded from the world's seed
// and the name, so drawing from one stream never shifts another. Every call
// with the same name returns the same *rand.Rand.
func (w *World) Rand(stream string) *rand.Rand {
	if r, ok := w.streams[stream]; ok {
		return r
	}
	h := hashString(stream)
	r := rand.New(rand.NewPCG(mix64(w.seed^h), mix64(h+0x9e3779b97f4a7c15)))
	w.streams[stream] = r
	return r
}

// Timer is a pending call set by World.After or by a node's Host.After.
type Timer struct {
	slot int32 // the event's slot in the queue, -1 when not queued
	w    *World
	node *nodeState // nil for world-level timers
	inc  uint64     // the node incarnation that set it
}

// Stop cancels the timer and reports whether it was still pending. A timer
// of a crashed incarnation is already cancelled.
func (t *Timer) Stop() bool {
	if t.slot < 0 {
		return false
	}
	t.w.q.removeSlot(t.slot)
	return t.node == nil || t.node.inc == t.inc
}

// After runs f once d of virtual time has passed (d < 0 counts as 0). The
// timer belongs to the world, not to a node: crashes do not cancel it.
func (w *World) After(d time.Duration, f func()) *Timer {
	t := w.newTimer()
	*t = Timer{w: w, slot: -1}
	s, e := w.queue(w.at(d))
	e.kind, e.fn, e.timer = evTimer, f, t
	t.slot = s
	return t
}

// timerChunk is how many timers newTimer allocates at once. A chunk stays
// in memory while any of its timers is referenced: a few KiB at most.
const timerChunk = 64

// newTimer returns a zero Timer, carved out of a chunk: timers are made by
// the thousand (every request timeout, every tick) and mostly die young.
func (w *World) newTimer() *Timer {
	if len(w.timers) == 0 {
		w.timers = make([]Timer, timerChunk)
	}
	t := &w.timers[0]
	w.timers = w.timers[1:]
	return t
}

// Schedule is After without a cancellation handle; it allocates nothing.
func (w *World) Schedule(d time.Duration, f func()) {
	_, e := w.queue(w.at(d))
	e.kind, e.fn = evTimer, f
}

// at converts a delay into an absolute queue time, saturating.
func (w *World) at(d time.Duration) int64 {
	if d < 0 {
		d = 0
	}
	if int64(d) > math.MaxInt64-w.now {
		return math.MaxInt64
	}
	return w.now + int64(d)
}

func (w *World) push(e event) {
	e.seq = w.seq
	w.seq++
	w.q.push(e)
}

// queue is push for a caller that fills in the event in its slot (see
// eventQueue.add): it returns the event, due at at, and its slot.
func (w *World) queue(at int64) (int32, *event) {
	seq := w.seq
	w.seq++
	return w.q.add(at, seq)
}

// Step runs the next event and reports whether there was one. Events of
// crashed incarnations (their timers) are discarded without counting.
func (w *World) Step() bool {
	for {
		s := w.q.popDue(math.MaxInt64)
		if s < 0 {
			return false
		}
		ran := w.run(&w.q.slab[s])
		w.q.freeSlot(s)
		if ran {
			return true
		}
	}
}

// RunUntil runs every event due at or before t, then sets the clock to t
// (if t is later than now).
func (w *World) RunUntil(t time.Time) {
	end := int64(t.Sub(Epoch))
	for {
		// The event runs in its slot, not copied out (see popSlot).
		s := w.q.popDue(end)
		if s < 0 {
			break
		}
		w.run(&w.q.slab[s])
		w.q.freeSlot(s)
	}
	if end > w.now {
		w.now = end
	}
}

// RunFor runs the world for d of virtual time.
func (w *World) RunFor(d time.Duration) { w.RunUntil(Epoch.Add(time.Duration(w.at(d)))) }

// RunUntilIdle runs events until the queue is empty (true) or maxEvents
// have run (false). maxEvents <= 0 means no limit.
func (w *World) RunUntilIdle(maxEvents int) bool {
	for n := 0; maxEvents <= 0 || n < maxEvents; n++ {
		if !w.Step() {
			return true
		}
	}
	return w.q.len() == 0
}

// run executes one popped event and reports whether it counted (stale
// timers of crashed incarnations do not).
func (w *World) run(e *event) bool {
	if e.node != nil && e.node.paused && e.kind != evSync && e.node.inc == e.inc {
		w.now = e.at
		e.node.backlog = append(e.node.backlog, *e)
		return false
	}
	switch e.kind {
	case evTimer:
		if e.node != nil && (e.node.inc != e.inc || !e.node.alive) {
			return false
		}
		w.now = e.at
		w.events++
		w.trace(kTimer, nodeID(e.node), 0, 0)
		e.fn()
	case evDeliver:
		w.now = e.at
		w.events++
		w.net.deliver(e)
	case evSync:
		w.now = e.at
		w.events++
		e.sync.complete()
		// Only the event referred to the request: reuse it.
		*e.sync = syncReq{}
		w.syncs = append(w.syncs, e.sync)
	}
	return true
}

func nodeID(n *nodeState) host.NodeID {
	if n == nil {
		return 0
	}
	return n.id
}

// SetTraceWriter makes the world write one raw line per traced event to
// tw (nil turns it off): exactly the fields the hash folds, as
// "<nanoseconds> <kind> node=<id> aux=<integer> h=<payload hash>". Tests
// compare these; people read SetTracer with a TextTracer, which decodes
// and filters. The hash is computed either way.
func (w *World) SetTraceWriter(tw io.Writer) {
	if tw == nil {
		w.tracer = nil
		return
	}
	w.tracer = &rawTracer{w: tw}
}

// SetTracer makes the world hand every traced event to t (nil turns
// tracing off). The hash is computed either way, and does not depend on t.
func (w *World) SetTracer(t Tracer) { w.tracer = t }

// Tracing reports whether a Tracer is set: callers build the text of a
// Note only then.
func (w *World) Tracing() bool { return w.tracer != nil }

// TraceHash is the running hash of every traced event so far.
func (w *World) TraceHash() uint64 { return w.hash }

// Record folds an event of the caller's own (a client call or return, a
// fault injection) into the trace and its hash, at the current time. Its
// kind must not be the name of a built-in event ("send", "crash", ...).
func (w *World) Record(kind string, node host.NodeID, payload []byte) {
	ph := hashBytes(payload)
	w.fold(hashString(kind), node, 0, ph)
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kind, Node: node, Hash: ph, Payload: payload}
		w.emit()
	}
}

// Note hands an explanation to the Tracer (a fault episode's parameters,
// say) without folding it into the hash: notes describe the run, they do
// not change it, and the hash stays the same with or without a trace.
func (w *World) Note(kind string, node host.NodeID, text string) {
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kind, Node: node, Text: text, Note: true}
		w.emit()
	}
}

// trace folds a built-in event into the hash (allocation-free) and hands
// it to the tracer if one is set.
func (w *World) trace(k kind, node host.NodeID, aux uint64, payloadHash uint64) {
	w.fold(kindHash[k], node, aux, payloadHash)
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kindNames[k], Node: node, Aux: aux, Hash: payloadHash}
		w.emit()
	}
}

// traceMsg is trace for a message event: aux is the other end, and the
// tracer sees the payload.
func (w *World) traceMsg(k kind, node, peer host.NodeID, payloadHash uint64, p []byte) {
	w.fold(kindHash[k], node, uint64(peer), payloadHash)
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kindNames[k], Node: node, Peer: peer, Aux: uint64(peer), Hash: payloadHash, Payload: p}
		w.emit()
	}
}

// traceFile is trace for a disk event: the tracer sees the file's name
// and the byte range (see TraceEvent.Off and Len).
func (w *World) traceFile(k kind, node host.NodeID, aux, payloadHash uint64, name string, off, n int64) {
	w.fold(kindHash[k], node, aux, payloadHash)
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kindNames[k], Node: node, Aux: aux, Hash: payloadHash, File: name, Off: off, Len: n}
		w.emit()
	}
}

// traceWrite traces a disk write: aux is the offset, the hash covers the
// bytes; the tracer sees the file and the byte range.
func (w *World) traceWrite(node host.NodeID, name string, off int64, p []byte) {
	ph := hashBytes(p)
	w.fold(kindHash[kWrite], node, uint64(off), ph)
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kindNames[kWrite], Node: node, Aux: uint64(off), Hash: ph, Payload: p, File: name, Off: off, Len: int64(len(p))}
		w.emit()
	}
}

// traceRename traces a rename: aux and hash are the two names' hashes.
func (w *World) traceRename(node host.NodeID, oldName, newName string) {
	w.fold(kindHash[kRename], node, hashString(oldName), hashString(newName))
	if w.tracer != nil {
		w.ev = TraceEvent{Kind: kindNames[kRename], Node: node, Aux: hashString(oldName), Hash: hashString(newName), File: oldName, To: newName}
		w.emit()
	}
}

// emit stamps w.ev with the time and hands it to the tracer, then drops
// its references (payloads belong to the caller).
func (w *World) emit() {
	w.ev.At = time.Duration(w.now)
	w.tracer.Trace(&w.ev)
	w.ev = TraceEvent{}
}

func (w *World) fold(kh uint64, node host.NodeID, aux, ph uint64) {
	h := w.hash
	h = mix64(h ^ uint64(w.now))
	h = mix64(h ^ kh)
	h = mix64(h ^ uint64(node))
	h = mix64(h ^ aux)
	h = mix64(h ^ ph)
	w.hash = h
}

// kind names a built-in trace event.
type kind uint8

const (
	kTimer kind = iota
	kSend
	kDeliver
	kDropCut
	kDropLoss
	kDropDown
	kDropUnknown
	kDup
	kWrite
	kTruncate
	kSync
	kSyncLost
	kCreate
	kRemove
	kRename
	kCrash
	kRestart
	kStart
	kCorrupt
	kDiskCrash
	kLoseSynced
	kPause
	kResume
	kSyncDir
	kLoseDirents
	kSyncFailed
	numKinds
)

var kindNames = [numKinds]string{
	kTimer:       "timer",
	kSend:        "send",
	kDeliver:     "deliver",
	kDropCut:     "drop-cut",
	kDropLoss:    "drop-loss",
	kDropDown:    "drop-down",
	kDropUnknown: "drop-unknown",
	kDup:         "dup",
	kWrite:       "write",
	kTruncate:    "truncate",
	kSync:        "sync",
	kSyncLost:    "sync-lost",
	kCreate:      "create",
	kRemove:      "remove",
	kRename:      "rename",
	kCrash:       "crash",
	kRestart:     "restart",
	kStart:       "start",
	kCorrupt:     "corrupt",
	kDiskCrash:   "disk-crash",
	kLoseSynced:  "lose-synced",
	kPause:       "pause",
	kResume:      "resume",
	kSyncDir:     "sync-dir",
	kLoseDirents: "lose-dirents",
	kSyncFailed:  "sync-failed",
}

var kindHash = func() (h [numKinds]uint64) {
	for i, n := range kindNames {
		h[i] = hashString(n)
	}
	return h
}()

// mix64 is the splitmix64 finalizer: a cheap, well-spread 64-bit mix.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashBytes is a fixed (seed-independent, process-independent) 64-bit hash
// of b, 8 bytes at a time: each little-endian word is folded in with a
// multiply, and the last 0..7 bytes as one word zero-extended (hashBytesRef
// in the tests is the plain definition it must agree with; two words a
// turn and the tail in at most three loads cost fewer instructions).
func hashBytes(b []byte) uint64 {
	h := uint64(len(b)) ^ 0x243f6a8885a308d3
	for len(b) >= 16 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		h = (h ^ binary.LittleEndian.Uint64(b[8:])) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		b = b[16:]
	}
	if len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		b = b[8:]
	}
	return mix64(h ^ tailWord(b))
}

// tailWord is b (at most 7 bytes) as a little-endian word. Its loads
// overlap where b is shorter than they cover together, and an overlapping
// byte lands at the same place from either load.
func tailWord(b []byte) uint64 {
	switch n := len(b); {
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<(8*(n-4))
	case n > 0:
		return uint64(b[0]) | uint64(b[n/2])<<(8*(n/2)) | uint64(b[n-1])<<(8*(n-1))
	}
	return 0
}

// hashString is hashBytes for a string, without converting (no allocation).
func hashString(s string) uint64 {
	h := uint64(len(s)) ^ 0x243f6a8885a308d3
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ v) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	return mix64(h ^ v)
}

// denseIDs bounds the IDs that World indexes by a slice as well as by
// its maps.
const denseIDs = 1 << 13

// node is the node with this ID, or nil.
func (w *World) node(id host.NodeID) *nodeState {
	if uint64(id) < uint64(len(w.nodeByID)) {
		return w.nodeByID[id]
	}
	return w.nodes[id]
}

// setNode registers n under its ID.
func (w *World) setNode(n *nodeState) {
	w.nodes[n.id] = n
	if n.id < denseIDs {
		w.nodeByID = growTo(w.nodeByID, int(n.id)+1)
		w.nodeByID[n.id] = n
	}
}

// setDisk registers d under its ID.
func (w *World) setDisk(d *Disk) {
	w.disks[d.id] = d
	if d.id < denseIDs {
		w.diskByID = growTo(w.diskByID, int(d.id)+1)
		w.diskByID[d.id] = d
	}
}

// growTo extends s with nils to length n if it is shorter.
func growTo[T any](s []*T, n int) []*T {
	if len(s) < n {
		s = append(s, make([]*T, n-len(s))...)
	}
	return s
}
