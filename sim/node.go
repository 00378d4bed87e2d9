package sim

import (
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"math"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/host"
)

// nodeState is the world's record of one node across its incarnations.
type nodeState struct {
	id    host.NodeID
	alive bool
	inc   uint64 // bumped by every crash
	start func(h host.Host) host.Process
	proc  host.Process
	disk  *Disk
	rng   *rand.Rand

	// Paused: the process is frozen. Its due timers, deliveries and sync
	// callbacks wait in backlog (in the order they fell due) until Resume.
	paused  bool
	backlog []event

	// Local clock: local = anchorLocal + (now - anchorReal) * rate.
	rate        float64
	anchorReal  int64
	anchorLocal int64
}

func (n *nodeState) localNow(now int64) int64 {
	if n.rate == 1 {
		return n.anchorLocal + (now - n.anchorReal)
	}
	return n.anchorLocal + int64(float64(now-n.anchorReal)*n.rate)
}

// AddNode registers node id with its disk (created if AddDisk did not
// already) and starts it: start builds the process from a fresh Host. The
// same start function is called again on every Restart.
func (w *World) AddNode(id host.NodeID, start func(h host.Host) host.Process) error {
	switch {
	case id == 0:
		return ErrBadNodeID
	case w.node(id) != nil:
		return fmt.Errorf("%w: %d", ErrNodeExists, id)
	case start == nil:
		return fmt.Errorf("%w: node %d: nil start function", ErrBadConfig, id)
	}
	n := &nodeState{
		id:    id,
		start: start,
		disk:  w.AddDisk(id),
		rng:   w.Rand(fmt.Sprintf("node/%d", id)),
		rate:  1,
	}
	w.setNode(n)
	w.order = append(w.order, n)
	w.trace(kStart, id, 0, 0)
	w.boot(n)
	return nil
}

// boot starts a new incarnation of n.
func (w *World) boot(n *nodeState) {
	n.alive = true
	n.disk.down = false
	h := &nodeHost{w: w, n: n, inc: n.inc, fs: fsView{d: n.disk, inc: n.disk.inc}}
	n.proc = n.start(h)
}

// Nodes returns the IDs of the nodes in the order they were added.
func (w *World) Nodes() []host.NodeID {
	ids := make([]host.NodeID, len(w.order))
	for i, n := range w.order {
		ids[i] = n.id
	}
	return ids
}

// NumNodes is len(Nodes()) without building the list (the harness asks
// after every slice of a run).
func (w *World) NumNodes() int { return len(w.order) }

// Process returns the running process of id, or nil if it is down or
// unknown.
func (w *World) Process(id host.NodeID) host.Process {
	if n := w.node(id); n != nil && n.alive {
		return n.proc
	}
	return nil
}

// Alive reports whether id is a running node.
func (w *World) Alive(id host.NodeID) bool {
	n := w.node(id)
	return n != nil && n.alive
}

// Crash stops node id: its process is dropped, its timers and pending
// syncs are cancelled, messages in flight to it will be dropped, its open
// files are closed and its disk loses what a crash loses (see Disk.Crash).
func (w *World) Crash(id host.NodeID) error {
	n := w.node(id)
	switch {
	case n == nil:
		return fmt.Errorf("%w: crash %d", ErrUnknownNode, id)
	case !n.alive:
		return fmt.Errorf("%w: crash %d", ErrNodeDown, id)
	}
	n.alive = false
	n.inc++
	n.proc = nil
	n.paused = false
	clear(n.backlog)
	n.backlog = n.backlog[:0]
	w.trace(kCrash, id, n.inc, 0)
	n.disk.Crash()
	n.disk.down = true
	return nil
}

// Restart starts a crashed node again: its start function runs with a
// fresh Host on the same disk.
func (w *World) Restart(id host.NodeID) error {
	n := w.node(id)
	switch {
	case n == nil:
		return fmt.Errorf("%w: restart %d", ErrUnknownNode, id)
	case n.alive:
		return fmt.Errorf("%w: restart %d", ErrNodeUp, id)
	}
	w.trace(kRestart, id, n.inc, 0)
	w.boot(n)
	return nil
}

// SetClockRate makes node id's clock run at rate (> 0) times real time
// from now on: its Now advances rate times as fast and its timers fire
// after d/rate. Rate 1 is a perfect clock.
func (w *World) SetClockRate(id host.NodeID, rate float64) error {
	n := w.node(id)
	if n == nil {
		return fmt.Errorf("%w: clock rate of %d", ErrUnknownNode, id)
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return fmt.Errorf("%w: clock rate %v must be positive and finite", ErrBadConfig, rate)
	}
	n.anchorLocal = n.localNow(w.now)
	n.anchorReal = w.now
	n.rate = rate
	return nil
}

// ClockRate is node id's clock rate (1 for an unknown node).
func (w *World) ClockRate(id host.NodeID) float64 {
	if n := w.node(id); n != nil {
		return n.rate
	}
	return 1
}

// nodeHost is the host.Host of one incarnation of a node. Once that
// incarnation crashes, its timers never fire, its sends are dropped and
// its file system fails every call.
type nodeHost struct {
	w   *World
	n   *nodeState
	inc uint64
	fs  fsView
}

func (h *nodeHost) live() bool { return h.n.alive && h.n.inc == h.inc }

// ID is the node's identity.
func (h *nodeHost) ID() host.NodeID { return h.n.id }

// Now is the node's local (possibly drifting) clock.
func (h *nodeHost) Now() time.Time { return Epoch.Add(time.Duration(h.n.localNow(h.w.now))) }

// After runs f once d has passed on the node's clock.
func (h *nodeHost) After(d time.Duration, f func()) host.Timer {
	t := h.w.newTimer()
	*t = Timer{w: h.w, slot: -1, node: h.n, inc: h.inc}
	if !h.live() {
		return t // never fires
	}
	if h.n.rate != 1 && d > 0 {
		d = time.Duration(math.Min(float64(d)/h.n.rate, math.MaxInt64/2))
	}
	s, e := h.w.queue(h.w.at(d))
	e.kind, e.node, e.inc, e.fn, e.timer = evTimer, h.n, h.inc, f, t
	t.slot = s
	return t
}

// Send hands payload to the network.
func (h *nodeHost) Send(to host.NodeID, payload []byte) {
	if !h.live() {
		return // a crashed incarnation's code does not run; nothing to send
	}
	h.w.net.send(h.n.id, to, payload)
}

// FS is the node's disk as this incarnation sees it.
func (h *nodeHost) FS() host.FS { return h.fs }

// Rand is the node's random stream (it continues across restarts).
func (h *nodeHost) Rand() *rand.Rand { return h.n.rng }

// Probes is the world's probe set (see World.SetProbes).
func (h *nodeHost) Probes() *probe.Set { return h.w.probes }

var _ host.Host = (*nodeHost)(nil)
