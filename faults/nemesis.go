package faults

import (
	"errors"
	"fmt"
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
	// ErrBadTiming: a Timing with a negative recovery time.
	ErrBadTiming = errors.New("faults: bad timing")
	// ErrRunning: Start while a schedule is already running.
	ErrRunning = errors.New("faults: nemesis already running")
	// ErrOverBudget is the panic value of an in-model injection that left
	// more than a minority of voters unavailable or corrupted: a bug in a
	// fault, which the harness reports as a failed seed.
	ErrOverBudget = errors.New("faults: nemesis over its budget")
)

// Timing holds what the nemesis needs beyond the specs.
type Timing struct {
	// Recover is how long a node whose data was corrupted still counts
	// against the minority budget for crashes after it restarts (time to
	// detect the corruption and recover from its peers).
	Recover time.Duration
}

// DefaultTiming suits runs of a few virtual seconds.
func DefaultTiming() Timing { return Timing{Recover: 2 * time.Second} }

// DefaultSpec is the spec of f used by New: a mean gap of 550ms and a mean
// hold of 800ms (the episode lengths seedkv used before scenarios were
// drawn), default parameters.
func DefaultSpec(f Fault) Spec {
	return Spec{Name: f.Name(), Gap: Duration(550 * time.Millisecond), Hold: Duration(800 * time.Millisecond)}
}

// Nemesis injects faults into a world in episodes: for each fault,
// independently, a quiet gap, then the fault held for a while, then
// healed, and so on until the schedule ends. It runs entirely on the
// world's event loop, drawing from its own random streams.
type Nemesis struct {
	w   *sim.World
	ids []host.NodeID // replicas, sorted
	// replica[id] says whether id is a replica: n.ids by ID (nil if an
	// ID is maxIndexedID or more, or there is no replica).
	replica []bool
	set     Set
	timing  Timing
	eps     []*Episode
	end     time.Duration // schedule end (world Elapsed)
	run     bool
	inModel bool // every fault is in the model: the budget is asserted

	learners   map[host.NodeID]bool          // replicas that do not vote (SetLearners)
	floor      int                           // the lowest minority budget so far (see minority)
	down       map[host.NodeID]bool          // crashed or paused by the nemesis
	recovering map[host.NodeID]time.Duration // corrupted: counts as down until
	tainted    map[host.NodeID]bool          // durable data corrupted or lost
	damaged    map[host.NodeID]bool          // ever tainted in this run (never cleared)

	// base is what HealAll restores: each replica's disk and clock and
	// the network's settings as they were before any fault. Episodes heal
	// what they changed, but two faults that change the same setting
	// (disk-slow and crash-slow-leader) can overlap, and the one healed
	// last would restore the other's value.
	base    map[host.NodeID]baseline
	baseNet sim.NetConfig

	proto  Protocol // see SetProtocol
	hooked bool     // message hooks installed
	armed  []armed  // triggers of aimed faults
	// watchSent, watchDelivered: some armed trigger watches the messages
	// sent, delivered (rewatch keeps them).
	watchSent, watchDelivered bool

	log    []EpisodeLog // every episode injected, in order (see Episodes)
	logEps []*Episode   // the episode of each log entry
}

// EpisodeLog is one fault episode as it ran, for explaining a failure:
// which fault did what, from when to when.
type EpisodeLog struct {
	// Name is the fault's name, e.g. "partition".
	Name string
	// Detail is what it did, e.g. "{1,2} | {3}" (as ActiveDetail says).
	Detail string
	// Start is the world time it was injected.
	Start time.Duration
	// End is the world time it healed, or -1 while it is active.
	End time.Duration
}

// Episode is the schedule of one fault of a nemesis, and what its Inject
// gets: the nemesis (for the world and the budget), the fault's own random
// stream and its spec.
type Episode struct {
	// N is the nemesis running the episode.
	N *Nemesis
	// R is the fault's own random stream: its draws do not shift another
	// fault's.
	R *rand.Rand
	// Spec is the fault's spec (use Spec.Param for its parameters).
	Spec Spec

	fault  Fault
	timer  *sim.Timer
	active bool
	detail string
	heal   func()
	logAt  int // its entry in the nemesis's log while active

	begun    int   // episodes begun so far (the next one's number)
	injected []int // numbers of the episodes injected
}

// FaultSchedule is what the nemesis did with one fault's episodes in a
// run: how many began and which of them were injected (the others were
// skipped by Spec.Skip or refused for lack of budget). Shrinking drops
// the injected ones one at a time.
type FaultSchedule struct {
	// Name is the fault's name.
	Name string `json:"name"`
	// Begun is the number of episodes begun.
	Begun int `json:"begun"`
	// Injected numbers the episodes injected, from 0, increasing.
	Injected []int `json:"injected"`
}

// Schedule is each scheduled fault's schedule so far, in the order of the
// specs (faults driven by others are left out).
func (n *Nemesis) Schedule() []FaultSchedule {
	out := make([]FaultSchedule, 0, len(n.eps))
	for _, e := range n.eps {
		out = append(out, FaultSchedule{Name: e.fault.Name(), Begun: e.begun, Injected: slices.Clone(e.injected)})
	}
	return out
}

// closeLog ends active episode e's log entry now, with its detail (an
// aimed fault fills the detail in after injection, when it fires).
func (n *Nemesis) closeLog(e *Episode) {
	l := &n.log[e.logAt]
	l.Detail, l.End = e.detail, n.w.Elapsed()
}

// Episodes lists every episode injected so far, in the order they began;
// those still active end at -1. The log only grows with episodes (not
// with time), so it is kept in every run.
func (n *Nemesis) Episodes() []EpisodeLog {
	out := slices.Clone(n.log)
	for i := range out {
		if out[i].End < 0 {
			out[i].Detail = n.logEps[i].detail
		}
	}
	return out
}

// NumEpisodes is len(Episodes()) without the copy.
func (n *Nemesis) NumEpisodes() int { return len(n.log) }

// Episode is Episodes()[i] without copying the whole log: the harness's
// lease checks read the log on many steps of a run, and a copy of it each
// time was one of a seed's larger allocations.
func (n *Nemesis) Episode(i int) EpisodeLog {
	e := n.log[i]
	if e.End < 0 {
		e.Detail = n.logEps[i].detail
	}
	return e
}

// New builds a nemesis for the replicas of w (nodes already added) that
// will inject the faults of set (resolved: not a swarm) with their
// DefaultSpec, drawing from r.
func New(w *sim.World, replicas []host.NodeID, set Set, r *rand.Rand) (*Nemesis, error) {
	if set.IsSwarm() {
		return nil, ErrUnresolved
	}
	var specs []Spec
	for _, f := range set.Faults() {
		specs = append(specs, DefaultSpec(f))
	}
	return NewFromSpecs(w, replicas, specs, r)
}

// NewFromSpecs builds a nemesis for the replicas of w that injects the
// faults of specs (validated; each fault at most once), drawing from r.
// Faults that something else drives (Driven) are carried but never
// injected.
func NewFromSpecs(w *sim.World, replicas []host.NodeID, specs []Spec, r *rand.Rand) (*Nemesis, error) {
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
		w: w, timing: DefaultTiming(), inModel: true,
		ids:        slices.Compact(slices.Sorted(slices.Values(replicas))),
		learners:   map[host.NodeID]bool{},
		down:       map[host.NodeID]bool{},
		recovering: map[host.NodeID]time.Duration{},
		tainted:    map[host.NodeID]bool{},
		damaged:    map[host.NodeID]bool{},
	}
	n.indexIDs()
	n.floor = max(0, (len(n.ids)-1)/2)
	n.base, n.baseNet = map[host.NodeID]baseline{}, w.Net().Config()
	n.recordBase()
	for i, s := range specs {
		if err := s.Validate(fmt.Sprintf("faults[%d]", i)); err != nil {
			return nil, err
		}
		f, _ := Lookup(s.Name)
		if n.set.Has(s.Name) {
			return nil, fmt.Errorf("%w: faults[%d].name: %s given twice", ErrBadSpec, i, s.Name)
		}
		n.set = n.set.With(s.Name)
		n.inModel = n.inModel && f.Class() == InModel
		if _, driven := f.(Driven); driven {
			continue
		}
		// A stream per fault, so episodes of one fault do not shift
		// another's draws.
		e := &Episode{N: n, R: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), Spec: s, fault: f}
		n.eps = append(n.eps, e)
	}
	return n, nil
}

// World is the world the nemesis works on.
func (n *Nemesis) World() *sim.World { return n.w }

// Replicas lists the replicas, sorted.
func (n *Nemesis) Replicas() []host.NodeID { return slices.Clone(n.ids) }

// SetReplicas replaces the replica set (after a membership change made by
// the harness): budgets are computed over the new set. All IDs must be
// nodes of the world.
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
	// A replica removed from the cluster counts against the budget for
	// the rest of the run: its removal may not be applied everywhere when
	// the harness shuts it down, and until it is, the others' quorum
	// still counts it (simrun -nodes 5 -faults all -seed 753: 5 shut down
	// with its removal unapplied, then 1 and 2 corrupted: three of six
	// voters gone). Learners too: the harness books a removal victim as a
	// learner from the moment it asks, before the removal is applied.
	for _, id := range n.ids {
		if !slices.Contains(ids, id) {
			n.floor = max(0, n.floor-1)
		}
	}
	n.ids = ids
	n.indexIDs()
	n.recordBase()
	for id := range n.learners {
		if !slices.Contains(ids, id) {
			delete(n.learners, id)
		}
	}
	n.minority() // lower the floor now if the budget shrank
	return nil
}

// maxIndexedID bounds the replica IDs that isReplica looks up in
// n.replica rather than in n.ids.
const maxIndexedID = 1 << 12

// indexIDs sets n.replica from n.ids.
func (n *Nemesis) indexIDs() {
	n.replica = nil
	if len(n.ids) == 0 || n.ids[len(n.ids)-1] >= maxIndexedID {
		return
	}
	n.replica = make([]bool, n.ids[len(n.ids)-1]+1)
	for _, id := range n.ids {
		n.replica[id] = true
	}
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
	n.minority() // lower the floor now if the budget shrank
	return nil
}

// SetTiming replaces DefaultTiming; call it before Start.
func (n *Nemesis) SetTiming(t Timing) error {
	if t.Recover < 0 {
		return fmt.Errorf("%w: recover %v", ErrBadTiming, t.Recover)
	}
	n.timing = t
	return nil
}

// Set is the set of faults the nemesis carries.
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

// around draws a duration uniformly in [mean/2, 3*mean/2].
func around(r *rand.Rand, mean Duration) time.Duration {
	m := mean.D()
	return m/2 + time.Duration(r.Int64N(int64(m)+1))
}

// next schedules e's next episode after a quiet gap, if it fits and the
// spec's episode cap allows another.
func (n *Nemesis) next(e *Episode) {
	if e.Spec.MaxEpisodes > 0 && e.begun >= e.Spec.MaxEpisodes {
		return
	}
	gap := around(e.R, e.Spec.Gap)
	if !n.run || n.w.Elapsed()+gap >= n.end {
		return
	}
	e.timer = n.w.After(gap, func() { n.begin(e) })
}

func (n *Nemesis) begin(e *Episode) {
	e.timer = nil
	k := e.begun
	e.begun++
	hold := min(around(e.R, e.Spec.Hold), n.end-n.w.Elapsed())
	if e.Spec.skips(k) {
		// The slot passes without the fault, so the later episodes
		// begin at the times they would have (their draws may differ:
		// Inject's draws are not made).
		if n.w.Tracing() {
			n.w.Note("episode", 0, e.fault.Name()+" skipped (spec.skip) hold="+hold.String())
		}
		e.timer = n.w.After(hold, func() { e.timer = nil; n.next(e) })
		return
	}
	u0, t0 := n.counts()
	detail, heal, ok := e.fault.Inject(e)
	if !ok {
		n.w.Probes().Hit(probeInjectSkipped)
		n.next(e)
		return
	}
	n.assertBudget(e, u0, t0)
	if n.w.Tracing() { // the episode's parameters, for the trace text only
		n.w.Note("episode", 0, e.fault.Name()+" hold="+hold.String()+" "+detail)
	}
	e.injected = append(e.injected, k)
	e.active, e.detail, e.heal = true, detail, heal
	e.logAt = len(n.log)
	n.log = append(n.log, EpisodeLog{Name: e.fault.Name(), Start: n.w.Elapsed(), End: -1})
	n.logEps = append(n.logEps, e)
	e.timer = n.w.After(hold, func() { n.finish(e) })
}

// assertBudget panics with ErrOverBudget if an injection of an in-model
// nemesis took the unavailable or tainted replicas past a minority of
// voters (u0 and t0 are the counts before it). A count already past the
// budget is not the injection's doing: a membership change can shrink the
// budget under replicas the nemesis faulted before; then the injection
// must not add to it.
//
// Invariant: with in-model faults only, no injection leaves more than
// (voters-1)/2 replicas crashed, paused or recovering, nor more than that
// many with corrupted data (docs/fault-model.md, "The budget").
func (n *Nemesis) assertBudget(e *Episode, u0, t0 int) {
	if !n.inModel {
		return
	}
	u, t := n.counts()
	m := n.minority()
	if u > m && u > u0 || t > m && t > t0 {
		panic(fmt.Errorf("%w: after %s: %d unavailable (before: %d), %d tainted (before: %d), budget %d", ErrOverBudget, e.fault.Name(), u, u0, t, t0, m))
	}
}

func (n *Nemesis) finish(e *Episode) {
	e.timer = nil
	heal := e.heal
	n.closeLog(e)
	e.active, e.detail, e.heal = false, "", nil
	heal()
	n.w.Record("heal/"+e.fault.Name(), 0, nil)
	n.next(e)
}

// Active names the faults on right now, in canonical order (for annotating
// histories).
func (n *Nemesis) Active() []string {
	var out []string
	for _, e := range n.eps {
		if e.active {
			out = append(out, e.fault.Name())
		}
	}
	return out
}

// ActiveDetail is Active with what each fault does, e.g. "crash 2,4".
func (n *Nemesis) ActiveDetail() []string {
	var out []string
	for _, e := range n.eps {
		if e.active {
			out = append(out, e.fault.Name()+" "+e.detail)
		}
	}
	return out
}

// Down lists the replicas the nemesis has crashed or paused and not yet
// restarted or resumed.
func (n *Nemesis) Down() []host.NodeID {
	return n.filter(func(id host.NodeID) bool { return n.down[id] })
}

// Tainted lists the replicas whose durable data the nemesis corrupted or
// cut since the last HealAll (or ClearTaint).
func (n *Nemesis) Tainted() []host.NodeID {
	return n.filter(func(id host.NodeID) bool { return n.tainted[id] })
}

// Unavailable lists the replicas that count against the crash budget now:
// down or paused, or restarted after corruption less than Timing.Recover
// ago.
func (n *Nemesis) Unavailable() []host.NodeID {
	now := n.w.Elapsed()
	return n.filter(func(id host.NodeID) bool { return n.unavailable(id, now) })
}

// unavailable is Unavailable's test for id at virtual time now.
func (n *Nemesis) unavailable(id host.NodeID, now time.Duration) bool {
	return n.down[id] || n.recovering[id] > now
}

// counts is len(n.Unavailable()), len(n.Tainted()) without building the
// lists: the budget is counted around every injection.
func (n *Nemesis) counts() (unavail, tainted int) {
	now := n.w.Elapsed()
	for _, id := range n.ids {
		if n.unavailable(id, now) {
			unavail++
		}
		if n.tainted[id] {
			tainted++
		}
	}
	return unavail, tainted
}

// ClearTaint tells the nemesis that id has recovered from corruption (the
// harness checked it), so it no longer counts against the corruption
// budget.
func (n *Nemesis) ClearTaint(id host.NodeID) { delete(n.tainted, id) }

// Taint books id's durable data as corrupted or lost (it counts against
// the corruption budget until HealAll or ClearTaint).
func (n *Nemesis) Taint(id host.NodeID) { n.tainted[id], n.damaged[id] = true, true }

// EverTainted reports whether the nemesis corrupted or cut id's durable
// data at any time in this run (HealAll and ClearTaint do not forget it):
// a replica that finds its storage damaged without that is a bug.
func (n *Nemesis) EverTainted(id host.NodeID) bool { return n.damaged[id] }

// Recovering books id as still unavailable for Timing.Recover from now
// (it restarts on corrupted data and must recover from its peers).
func (n *Nemesis) Recovering(id host.NodeID) {
	n.recovering[id] = n.w.Elapsed() + n.timing.Recover
}

func (n *Nemesis) filter(keep func(host.NodeID) bool) []host.NodeID {
	var out []host.NodeID
	for _, id := range n.ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// Minority is the most replicas that may be faulty at once: (v-1)/2 for v
// voters. Faulty learners count against it too (conservative).
func (n *Nemesis) Minority() int { return n.minority() }

// The budget never grows within a run: after a membership change that
// adds a voter, the change's own entry (and everything before it) may be
// held only by a quorum of the old, smaller configuration, and replicas
// may still act on the old one; budgeting by the new configuration let
// the nemesis corrupt two of four voters whose promotion of a fifth was
// not yet everywhere (simrun -nodes 4 -faults all -seed 1941).
func (n *Nemesis) minority() int {
	voters := len(n.ids) - len(n.learners)
	n.floor = min(n.floor, max(0, (voters-1)/2))
	return n.floor
}

// HealAll stops the schedule and undoes every fault: each active episode
// is healed by its own heal function, then every replica the nemesis
// crashed is restarted and the network's cuts are removed. Taint is
// forgotten. Calling it again is harmless.
func (n *Nemesis) HealAll() {
	n.run = false
	n.armed = nil
	n.rewatch()
	for _, e := range n.eps {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		if e.active {
			n.closeLog(e)
			e.active, e.detail = false, ""
			e.heal()
			e.heal = nil
		}
	}
	for _, id := range n.ids {
		if !n.w.Alive(id) {
			n.RestartNode(id)
		}
		n.base[id].restore(n.w, id)
	}
	net := n.w.Net()
	net.Heal()
	c := n.baseNet
	// Captured from the network: valid.
	_ = net.SetLatency(c.Base, c.Jitter, c.TailProb, c.Tail)
	_ = net.SetLoss(c.Loss)
	_ = net.SetDuplicate(c.Duplicate)
	_ = net.SetDuplicateDelay(c.DupDelay)
	clear(n.down)
	clear(n.recovering)
	clear(n.tainted)
	n.w.Record("heal/all", 0, nil)
}

// Crashable lists the running replicas that may be crashed (or paused)
// without the unavailable replicas exceeding a minority, and how many of
// them at most.
func (n *Nemesis) Crashable() ([]host.NodeID, int) {
	now := n.w.Elapsed()
	unavail := 0
	var c []host.NodeID
	for _, id := range n.ids {
		switch {
		case n.unavailable(id, now):
			unavail++
		case n.w.Alive(id):
			c = append(c, id)
		}
	}
	return c, min(n.minority()-unavail, len(c))
}

// CrashNode crashes id, books it as down and traces "fault/why"; false if
// it was down already.
func (n *Nemesis) CrashNode(id host.NodeID, why string) bool {
	if d := n.w.Disk(id); d != nil && d.SyncsInFlight() > 0 && n.w.Alive(id) {
		n.w.Probes().Hit(probeCrashSyncInFlight)
	}
	if err := n.w.Crash(id); err != nil {
		return false // already down: someone else's business
	}
	n.down[id] = true
	n.w.Record("fault/"+why, id, nil)
	return true
}

// RestartNode restarts id if it is down and books it as up.
func (n *Nemesis) RestartNode(id host.NodeID) {
	delete(n.down, id)
	if !n.w.Alive(id) {
		_ = n.w.Restart(id) // only fails if it is up, which we checked
		n.w.Record("heal/restart", id, nil)
	}
}

// MarkDown books id as unavailable (for faults that freeze a node without
// crashing it); MarkUp undoes it.
func (n *Nemesis) MarkDown(id host.NodeID) { n.down[id] = true }

// MarkUp undoes MarkDown.
func (n *Nemesis) MarkUp(id host.NodeID) { delete(n.down, id) }

// IDList formats ids as "1,2,3" for fault details.
func IDList(ids []host.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// Pick draws k distinct elements of ids, returned sorted.
func Pick(r *rand.Rand, ids []host.NodeID, k int) []host.NodeID {
	p := slices.Clone(ids)
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	out := p[:k]
	slices.Sort(out)
	return out
}

// baseline is a replica's disk and clock settings before any fault.
type baseline struct {
	capacity int64
	slow     float64
	torn     bool
	clock    float64
}

// recordBase records the baseline of replicas that have none yet (all at
// New; those added by SetReplicas later, as they are then).
func (n *Nemesis) recordBase() {
	for _, id := range n.ids {
		if _, ok := n.base[id]; !ok {
			d := n.w.Disk(id)
			n.base[id] = baseline{capacity: d.Capacity(), slow: d.Slow(), torn: d.TornWrites(), clock: n.w.ClockRate(id)}
		}
	}
}

// restore puts id's disk and clock back to b.
func (b baseline) restore(w *sim.World, id host.NodeID) {
	d := w.Disk(id)
	// Captured from the disk and clock: valid.
	_ = d.SetCapacity(b.capacity)
	_ = d.SetSlow(b.slow)
	d.SetTornWrites(b.torn)
	_ = w.SetClockRate(id, b.clock)
}
