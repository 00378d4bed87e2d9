package faults

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// Typed errors of New and Start.
var (
	// ErrUnresolved: a swarm Set was given to New; Resolve it first.
	ErrUnresolved = errors.New("faults: swarm set not resolved")
	// ErrNoReplicas: New was given no replica, or one the world lacks.
	ErrNoReplicas = errors.New("faults: bad replica list")
	// ErrBadTiming: a Timing with negative or inverted ranges.
	ErrBadTiming = errors.New("faults: bad timing")
	// ErrRunning: Start while a schedule is already running.
	ErrRunning = errors.New("faults: nemesis already running")
)

// Timing shapes the episodes of a Nemesis.
type Timing struct {
	// Before each episode of a fault there is a quiet gap drawn from
	// [MinGap, MaxGap]; the episode then holds for [MinHold, MaxHold].
	MinGap, MaxGap   time.Duration
	MinHold, MaxHold time.Duration
	// Recover is how long a node whose data was corrupted still counts
	// against the minority budget for crashes after it restarts (time to
	// detect the corruption and recover from its peers).
	Recover time.Duration
	// MaxDrift bounds clock drift: rates are drawn in [1/MaxDrift, MaxDrift].
	MaxDrift float64
	// MaxLoss and MaxDuplicate bound packet-fault probabilities.
	MaxLoss, MaxDuplicate float64
	// MaxSlow bounds the disk-slow latency multiplier.
	MaxSlow float64
}

// DefaultTiming suits runs of a few virtual seconds.
func DefaultTiming() Timing {
	return Timing{
		MinGap: 100 * time.Millisecond, MaxGap: time.Second,
		MinHold: 100 * time.Millisecond, MaxHold: 1500 * time.Millisecond,
		Recover:  2 * time.Second,
		MaxDrift: 1.25,
		MaxLoss:  0.2, MaxDuplicate: 0.1,
		MaxSlow: 50,
	}
}

func (t Timing) validate() error {
	switch {
	case t.MinGap < 0 || t.MaxGap < t.MinGap || t.MinHold <= 0 || t.MaxHold < t.MinHold || t.Recover < 0:
		return fmt.Errorf("%w: gap [%v,%v] hold [%v,%v] recover %v", ErrBadTiming, t.MinGap, t.MaxGap, t.MinHold, t.MaxHold, t.Recover)
	case !(t.MaxDrift >= 1) || math.IsInf(t.MaxDrift, 0) || !(t.MaxSlow >= 1) || math.IsInf(t.MaxSlow, 0):
		return fmt.Errorf("%w: max drift %v and max slow %v must be finite and >= 1", ErrBadTiming, t.MaxDrift, t.MaxSlow)
	case !(t.MaxLoss >= 0 && t.MaxLoss <= 1) || !(t.MaxDuplicate >= 0 && t.MaxDuplicate <= 1):
		return fmt.Errorf("%w: max loss %v, max duplicate %v outside [0,1]", ErrBadTiming, t.MaxLoss, t.MaxDuplicate)
	}
	return nil
}

// Nemesis injects the faults of a Set into a world in episodes: for each
// fault, independently, a quiet gap, then the fault held for a while, then
// healed, and so on until the schedule ends. It runs entirely on the
// world's event loop, drawing from its own random streams.
type Nemesis struct {
	w      *sim.World
	ids    []host.NodeID // replicas, sorted
	set    Set
	timing Timing
	eps    []*episode
	end    time.Duration // schedule end (world Elapsed)
	run    bool

	learners   map[host.NodeID]bool          // replicas that do not vote (SetLearners)
	down       map[host.NodeID]bool          // crashed by the nemesis
	recovering map[host.NodeID]time.Duration // corrupted: counts as down until
	tainted    map[host.NodeID]bool          // durable data corrupted or lost

	// What HealAll restores.
	origNet   sim.NetConfig
	origCap   map[host.NodeID]int64
	origTorn  map[host.NodeID]bool
	origSlow  map[host.NodeID]float64
	origClock map[host.NodeID]float64
}

// episode is the schedule of one fault.
type episode struct {
	fault  Fault
	r      *rand.Rand
	timer  *sim.Timer
	active bool
	detail string
	heal   func()
}

// New builds a nemesis for the replicas of w (nodes already added) that
// will inject the faults of set (resolved: not a swarm), drawing from r.
// Membership is left to the harness.
func New(w *sim.World, replicas []host.NodeID, set Set, r *rand.Rand) (*Nemesis, error) {
	if set.IsSwarm() {
		return nil, ErrUnresolved
	}
	if len(replicas) == 0 {
		return nil, fmt.Errorf("%w: no replicas", ErrNoReplicas)
	}
	known := w.Nodes()
	for _, id := range replicas {
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("%w: %d is not a node of the world", ErrNoReplicas, id)
		}
	}
	n := &Nemesis{
		w: w, set: set, timing: DefaultTiming(),
		ids:        slices.Sorted(slices.Values(replicas)),
		learners:   map[host.NodeID]bool{},
		down:       map[host.NodeID]bool{},
		recovering: map[host.NodeID]time.Duration{},
		tainted:    map[host.NodeID]bool{},
	}
	n.ids = slices.Compact(n.ids)
	for _, f := range set.Faults() {
		if f == Membership {
			continue
		}
		// A stream per fault, so episodes of one fault do not shift
		// another's draws.
		n.eps = append(n.eps, &episode{fault: f, r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))})
	}
	n.snapshot()
	return n, nil
}

// snapshot records what HealAll restores.
func (n *Nemesis) snapshot() {
	n.origNet = n.w.Net().Config()
	n.origCap = map[host.NodeID]int64{}
	n.origTorn = map[host.NodeID]bool{}
	n.origSlow = map[host.NodeID]float64{}
	n.origClock = map[host.NodeID]float64{}
	for _, id := range n.ids {
		d := n.w.Disk(id)
		n.origCap[id], n.origTorn[id], n.origSlow[id] = d.Capacity(), d.TornWrites(), d.Slow()
		n.origClock[id] = n.w.ClockRate(id)
	}
}

// SetReplicas replaces the replica set (after a membership change made by
// the harness): budgets are computed over the new set, and HealAll
// restores the new replicas' disks and clocks to what they are now. All
// IDs must be nodes of the world.
func (n *Nemesis) SetReplicas(replicas []host.NodeID) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: no replicas", ErrNoReplicas)
	}
	known := n.w.Nodes()
	for _, id := range replicas {
		if !slices.Contains(known, id) {
			return fmt.Errorf("%w: %d is not a node of the world", ErrNoReplicas, id)
		}
	}
	ids := slices.Compact(slices.Sorted(slices.Values(replicas)))
	for _, id := range ids {
		if _, ok := n.origCap[id]; !ok {
			d := n.w.Disk(id)
			n.origCap[id], n.origTorn[id], n.origSlow[id] = d.Capacity(), d.TornWrites(), d.Slow()
			n.origClock[id] = n.w.ClockRate(id)
		}
	}
	n.ids = ids
	for id := range n.learners {
		if !slices.Contains(ids, id) {
			delete(n.learners, id)
		}
	}
	return nil
}

// SetLearners names the replicas (of the current replica set) that are
// learners: they may be faulted like any replica, but they do not count
// toward the cluster size the minority budget is computed from, since
// they are no part of any quorum. Without this, a 4-voter cluster with one
// learner got a budget of 2 crashed or corrupted replicas, beyond its
// tolerance of 1. Replaces the previous learner set; nil clears it.
func (n *Nemesis) SetLearners(learners []host.NodeID) error {
	for _, id := range learners {
		if !slices.Contains(n.ids, id) {
			return fmt.Errorf("%w: learner %d is not a replica", ErrNoReplicas, id)
		}
	}
	clear(n.learners)
	for _, id := range learners {
		n.learners[id] = true
	}
	return nil
}

// SetTiming replaces DefaultTiming; call it before Start.
func (n *Nemesis) SetTiming(t Timing) error {
	if err := t.validate(); err != nil {
		return err
	}
	n.timing = t
	return nil
}

// Set is the set of faults the nemesis injects.
func (n *Nemesis) Set() Set { return n.set }

// Start schedules episodes from now for d of virtual time. Holds are cut
// short at the end, so once d has passed every fault is healed (corrupted
// or lost data stays corrupted or lost, of course).
func (n *Nemesis) Start(d time.Duration) error {
	if n.run {
		return ErrRunning
	}
	n.run = true
	n.end = n.w.Elapsed() + d
	for _, e := range n.eps {
		n.next(e)
	}
	return nil
}

// draw picks a duration in [lo, hi].
func draw(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// next schedules e's next episode after a quiet gap, if it fits.
func (n *Nemesis) next(e *episode) {
	gap := draw(e.r, n.timing.MinGap, n.timing.MaxGap)
	if !n.run || n.w.Elapsed()+gap >= n.end {
		return
	}
	e.timer = n.w.After(gap, func() { n.begin(e) })
}

func (n *Nemesis) begin(e *episode) {
	e.timer = nil
	hold := min(draw(e.r, n.timing.MinHold, n.timing.MaxHold), n.end-n.w.Elapsed())
	detail, heal, ok := n.inject(e)
	if !ok {
		n.next(e)
		return
	}
	e.active, e.detail, e.heal = true, detail, heal
	e.timer = n.w.After(hold, func() { n.finish(e) })
}

func (n *Nemesis) finish(e *episode) {
	e.timer = nil
	heal := e.heal
	e.active, e.detail, e.heal = false, "", nil
	heal()
	n.w.Record("heal/"+e.fault.String(), 0, nil)
	n.next(e)
}

// Active names the faults on right now, in canonical order (for annotating
// histories).
func (n *Nemesis) Active() []string {
	var out []string
	for _, e := range n.eps {
		if e.active {
			out = append(out, e.fault.String())
		}
	}
	return out
}

// ActiveDetail is Active with what each fault does, e.g. "crash 2,4".
func (n *Nemesis) ActiveDetail() []string {
	var out []string
	for _, e := range n.eps {
		if e.active {
			out = append(out, e.fault.String()+" "+e.detail)
		}
	}
	return out
}

// Down lists the replicas the nemesis has crashed and not yet restarted.
func (n *Nemesis) Down() []host.NodeID {
	return n.filter(func(id host.NodeID) bool { return n.down[id] })
}

// Tainted lists the replicas whose durable data the nemesis corrupted or
// cut since the last HealAll (or ClearTaint).
func (n *Nemesis) Tainted() []host.NodeID {
	return n.filter(func(id host.NodeID) bool { return n.tainted[id] })
}

// Unavailable lists the replicas that count against the crash budget now:
// down, or restarted after corruption less than Timing.Recover ago.
func (n *Nemesis) Unavailable() []host.NodeID {
	now := n.w.Elapsed()
	return n.filter(func(id host.NodeID) bool { return n.down[id] || n.recovering[id] > now })
}

// ClearTaint tells the nemesis that id has recovered from corruption (the
// harness checked it), so it no longer counts against the corruption
// budget.
func (n *Nemesis) ClearTaint(id host.NodeID) { delete(n.tainted, id) }

func (n *Nemesis) filter(keep func(host.NodeID) bool) []host.NodeID {
	var out []host.NodeID
	for _, id := range n.ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// minority is the most replicas that may be faulty at once: (v-1)/2 for v
// voters. Faulty learners count against it too (conservative).
func (n *Nemesis) minority() int {
	voters := len(n.ids) - len(n.learners)
	return max(0, (voters-1)/2)
}

// HealAll stops the schedule and undoes every fault: crashed replicas are
// restarted, the network healed and its configuration restored, disk
// capacity, speed and torn-write setting and clock rates restored. Taint
// is forgotten. Calling it again is harmless.
func (n *Nemesis) HealAll() {
	n.run = false
	for _, e := range n.eps {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		if e.active {
			e.active, e.detail = false, ""
			e.heal()
			e.heal = nil
		}
	}
	for _, id := range n.ids {
		if !n.w.Alive(id) {
			n.restart(id)
		}
		d := n.w.Disk(id)
		_ = d.SetCapacity(n.origCap[id]) // captured from the disk: valid
		_ = d.SetSlow(n.origSlow[id])
		d.SetTornWrites(n.origTorn[id])
		_ = n.w.SetClockRate(id, n.origClock[id])
	}
	net := n.w.Net()
	net.Heal()
	c := n.origNet
	_ = net.SetLatency(c.Base, c.Jitter, c.TailProb, c.Tail) // captured: valid
	_ = net.SetLoss(c.Loss)
	_ = net.SetDuplicate(c.Duplicate)
	clear(n.down)
	clear(n.recovering)
	clear(n.tainted)
	n.w.Record("heal/all", 0, nil)
}

// crash crashes id and books it as down.
func (n *Nemesis) crash(id host.NodeID, why string) bool {
	if err := n.w.Crash(id); err != nil {
		return false // already down: someone else's business
	}
	n.down[id] = true
	n.w.Record("fault/"+why, id, nil)
	return true
}

// restart restarts id if it is down.
func (n *Nemesis) restart(id host.NodeID) {
	delete(n.down, id)
	if !n.w.Alive(id) {
		_ = n.w.Restart(id) // only fails if it is up, which we checked
		n.w.Record("heal/restart", id, nil)
	}
}

func idList(ids []host.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// pick draws k distinct elements of ids, returned sorted.
func pick(r *rand.Rand, ids []host.NodeID, k int) []host.NodeID {
	p := slices.Clone(ids)
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	out := p[:k]
	slices.Sort(out)
	return out
}
