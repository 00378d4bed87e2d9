package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
)

// NetConfig holds the knobs of the simulated network.
type NetConfig struct {
	// A message takes Base + uniform[0, Jitter], plus, with probability
	// TailProb, another uniform[0, Tail]: messages reorder.
	Base, Jitter time.Duration
	TailProb     float64
	Tail         time.Duration
	// Loss and Duplicate are per-message probabilities.
	Loss, Duplicate float64
	// DupDelay delays a duplicate by a further uniform[0, DupDelay] after
	// its own latency draw, so that duplicates can arrive seconds after
	// the original (a retransmission from a stale buffer), not only right
	// beside it. Zero draws nothing extra.
	DupDelay time.Duration
	// CopyPayloads makes Send copy the payload, so a sender that breaks
	// the contract and reuses its buffer cannot change a message in
	// flight. Receivers must treat payloads as read-only either way.
	// Without it a message in flight shares the sender's bytes; the
	// network still catches a sender (or a receiver of a duplicate) that
	// changes them: every delivery compares the payload's hash with its
	// hash at send time and panics with ErrPayloadModified on a mismatch.
	CopyPayloads bool
}

func (c NetConfig) validate() error {
	if c.Base < 0 || c.Jitter < 0 || c.Tail < 0 || c.DupDelay < 0 {
		return fmt.Errorf("%w: negative latency (base %v, jitter %v, tail %v, duplicate delay %v)", ErrBadConfig, c.Base, c.Jitter, c.Tail, c.DupDelay)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"tail probability", c.TailProb}, {"loss", c.Loss}, {"duplicate", c.Duplicate}} {
		if err := checkProb(p.name, p.v); err != nil {
			return err
		}
	}
	return nil
}

func checkProb(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("%w: %s probability %v outside [0,1]", ErrBadConfig, name, p)
	}
	return nil
}

// NetStats counts messages and their bytes. A duplicated message counts
// once in Sent and once in Duplicated; each copy is then delivered or
// dropped on its own.
type NetStats struct {
	Sent, Delivered, Dropped, Duplicated                     uint64
	SentBytes, DeliveredBytes, DroppedBytes, DuplicatedBytes uint64
}

// Network is the simulated network of a World: latency, loss, duplication
// and a directed reachability matrix.
type Network struct {
	w         *World
	cfg       NetConfig
	rng       *rand.Rand
	cuts      map[link]struct{} // directed links that carry nothing
	stats     NetStats
	onSend    []MessageHook
	onDeliver []MessageHook
}

// MessageHook observes one message: its sender, receiver and payload
// (read-only). It runs on the event loop, inside the sender's Send or just
// before the receiver's Receive, so it must not run the world; to act (for
// example crash the sender right after it sent a vote), schedule a
// zero-delay timer, which runs before any later event.
type MessageHook func(from, to host.NodeID, payload []byte)

// OnSend adds a hook called for every message a node sends (before loss,
// cuts or delivery are decided).
func (n *Network) OnSend(h MessageHook) { n.onSend = append(n.onSend, h) }

// OnDeliver adds a hook called for every message just before it is handed
// to its receiver.
func (n *Network) OnDeliver(h MessageHook) { n.onDeliver = append(n.onDeliver, h) }

type link struct{ from, to host.NodeID }

func newNetwork(w *World, cfg NetConfig) *Network {
	return &Network{w: w, cfg: cfg, rng: w.Rand("net"), cuts: make(map[link]struct{})}
}

// Net is the world's network.
func (w *World) Net() *Network { return w.net }

// SetLatency sets the latency distribution; negative durations or a tail
// probability outside [0,1] fail with ErrBadConfig and change nothing.
func (n *Network) SetLatency(base, jitter time.Duration, tailProb float64, tail time.Duration) error {
	c := n.cfg
	c.Base, c.Jitter, c.TailProb, c.Tail = base, jitter, tailProb, tail
	if err := c.validate(); err != nil {
		return err
	}
	n.cfg = c
	return nil
}

// SetLoss sets the probability that a message is lost.
func (n *Network) SetLoss(p float64) error {
	if err := checkProb("loss", p); err != nil {
		return err
	}
	n.cfg.Loss = p
	return nil
}

// SetDuplicate sets the probability that a message is delivered twice.
func (n *Network) SetDuplicate(p float64) error {
	if err := checkProb("duplicate", p); err != nil {
		return err
	}
	n.cfg.Duplicate = p
	return nil
}

// SetDuplicateDelay sets how much later than its own latency a duplicate
// may arrive (uniform in [0, d]); negative fails with ErrBadConfig.
func (n *Network) SetDuplicateDelay(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: negative duplicate delay %v", ErrBadConfig, d)
	}
	n.cfg.DupDelay = d
	return nil
}

// Config is the network's current configuration.
func (n *Network) Config() NetConfig { return n.cfg }

// Cut stops all messages from -> to (one way). Messages already in flight
// on that link are dropped when they arrive.
func (n *Network) Cut(from, to host.NodeID) {
	if from != to {
		n.cuts[link{from, to}] = struct{}{}
	}
}

// Connect undoes Cut(from, to).
func (n *Network) Connect(from, to host.NodeID) { delete(n.cuts, link{from, to}) }

// Isolate cuts id off from every other node added so far, both ways.
func (n *Network) Isolate(id host.NodeID) {
	for _, o := range n.w.order {
		if o.id != id {
			n.Cut(id, o.id)
			n.Cut(o.id, id)
		}
	}
}

// Split cuts every link between nodes of different groups, both ways.
// Links to nodes in no group are left as they are.
func (n *Network) Split(groups ...[]host.NodeID) {
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					n.Cut(a, b)
					n.Cut(b, a)
				}
			}
		}
	}
}

// Heal removes every cut.
func (n *Network) Heal() { clear(n.cuts) }

// Reachable reports whether messages from -> to currently get through
// (ignoring loss and whether the nodes are up).
func (n *Network) Reachable(from, to host.NodeID) bool {
	if len(n.cuts) == 0 {
		return true
	}
	_, cut := n.cuts[link{from, to}]
	return !cut
}

// Cuts returns the current directed cuts, sorted.
func (n *Network) Cuts() [][2]host.NodeID {
	out := make([][2]host.NodeID, 0, len(n.cuts))
	for l := range n.cuts {
		out = append(out, [2]host.NodeID{l.from, l.to})
	}
	slices.SortFunc(out, func(a, b [2]host.NodeID) int {
		if a[0] != b[0] {
			return cmpID(a[0], b[0])
		}
		return cmpID(a[1], b[1])
	})
	return out
}

func cmpID(a, b host.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stats returns the message counters.
func (n *Network) Stats() NetStats { return n.stats }

// Send sends payload from -> to as if from had called Host.Send. It fails
// with ErrUnknownNode if to was never added (the message is also counted
// as dropped and traced). from need not be a node: tests may inject
// messages from outside.
func (n *Network) Send(from, to host.NodeID, payload []byte) error {
	if !n.send(from, to, payload) {
		return fmt.Errorf("%w: send %d -> %d", ErrUnknownNode, from, to)
	}
	return nil
}

// send counts and traces a message and queues its delivery (or drops it).
// It reports false if to is not a node.
func (n *Network) send(from, to host.NodeID, p []byte) bool {
	w := n.w
	n.stats.Sent++
	n.stats.SentBytes += uint64(len(p))
	ph := hashBytes(p)
	w.traceMsg(kSend, from, to, ph, p)
	for _, h := range n.onSend {
		h(from, to, p)
	}
	dst := w.node(to)
	switch {
	case dst == nil:
		n.drop(kDropUnknown, from, to, p, ph)
		return false
	case !dst.alive:
		n.drop(kDropDown, from, to, p, ph)
		return true
	case !n.Reachable(from, to):
		n.drop(kDropCut, from, to, p, ph)
		return true
	case n.cfg.Loss > 0 && n.rng.Float64() < n.cfg.Loss:
		n.drop(kDropLoss, from, to, p, ph)
		return true
	}
	if n.cfg.CopyPayloads {
		p = slices.Clone(p)
	}
	_, e := w.queue(w.at(n.latency()))
	e.kind, e.node, e.inc, e.from, e.data, e.hash = evDeliver, dst, dst.inc, from, p, ph
	if n.cfg.Duplicate > 0 && n.rng.Float64() < n.cfg.Duplicate {
		n.stats.Duplicated++
		n.stats.DuplicatedBytes += uint64(len(p))
		w.traceMsg(kDup, from, dst.id, ph, p)
		d := n.latency()
		if n.cfg.DupDelay > 0 {
			d += time.Duration(n.rng.Int64N(int64(n.cfg.DupDelay) + 1))
		}
		w.push(event{at: w.at(d), kind: evDeliver, node: dst, inc: dst.inc, from: from, data: p, hash: ph})
	}
	return true
}

// Duplicate delivers a copy of payload from -> to once more, delay plus a
// latency draw from now, as the network's own duplication does (counted
// and traced as a duplicate, no send hooks): a fault that replays a
// message late. payload must not change afterwards. It reports false if
// to is not a running node.
func (n *Network) Duplicate(from, to host.NodeID, payload []byte, delay time.Duration) bool {
	w := n.w
	dst := w.node(to)
	if dst == nil || !dst.alive {
		return false
	}
	ph := hashBytes(payload)
	n.stats.Duplicated++
	n.stats.DuplicatedBytes += uint64(len(payload))
	w.traceMsg(kDup, from, dst.id, ph, payload)
	w.push(event{at: w.at(delay + n.latency()), kind: evDeliver, node: dst, inc: dst.inc, from: from, data: payload, hash: ph})
	return true
}

func (n *Network) latency() time.Duration {
	c := &n.cfg
	d := c.Base
	if c.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(c.Jitter) + 1))
	}
	if c.TailProb > 0 && n.rng.Float64() < c.TailProb && c.Tail > 0 {
		d += time.Duration(n.rng.Int64N(int64(c.Tail) + 1))
	}
	if d < 0 { // overflow of absurd settings
		d = math.MaxInt64
	}
	return d
}

func (n *Network) drop(k kind, from, to host.NodeID, p []byte, ph uint64) {
	n.stats.Dropped++
	n.stats.DroppedBytes += uint64(len(p))
	// Drops are traced at the receiver, with the sender in aux.
	n.w.traceMsg(k, to, from, ph, p)
}

// deliver runs a delivery event: the receiver must still be the same
// incarnation and the link must still be open.
func (n *Network) deliver(e *event) {
	dst := e.node
	ph := hashBytes(e.data)
	if ph != e.hash {
		// The run would depend on what the sender did after Send (or on
		// a receiver's scribbles): stop it rather than trace it.
		panic(fmt.Errorf("%w: %d -> %d, %d bytes", ErrPayloadModified, e.from, dst.id, len(e.data)))
	}
	switch {
	case !dst.alive || dst.inc != e.inc || dst.proc == nil:
		n.drop(kDropDown, e.from, dst.id, e.data, ph)
		return
	case !n.Reachable(e.from, dst.id):
		n.drop(kDropCut, e.from, dst.id, e.data, ph)
		return
	}
	n.stats.Delivered++
	n.stats.DeliveredBytes += uint64(len(e.data))
	n.w.traceMsg(kDeliver, dst.id, e.from, ph, e.data)
	for _, h := range n.onDeliver {
		h(e.from, dst.id, e.data)
	}
	dst.proc.Receive(e.from, e.data)
}
