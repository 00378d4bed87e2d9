package harness

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/node"
)

// Granularity of the numeric shrinking steps.
const (
	// shrinkDurationStep is the step of the duration bisection.
	shrinkDurationStep = 10 * time.Millisecond
	// shrinkThinkStep is the step of the think-time bisection.
	shrinkThinkStep = 10 * time.Millisecond
	// shrinkMaxThink is the longest think time shrinking tries: a client
	// then makes a handful of operations in a few seconds.
	shrinkMaxThink = 2 * time.Second
	// shrinkMaxTick is the slowest raft tick shrinking sets (the draw's
	// upper bound).
	shrinkMaxTick = 100 * time.Millisecond
)

// clone is a deep copy of sc (its slices and maps are not shared, so a
// candidate can be changed without touching cur).
func (sc Scenario) clone() Scenario {
	c := sc
	c.Faults = make([]faults.Spec, len(sc.Faults))
	for i, f := range sc.Faults {
		f.Skip = slices.Clone(f.Skip)
		if f.Params != nil {
			p := make(map[string]float64, len(f.Params))
			for k, v := range f.Params {
				p[k] = v
			}
			f.Params = p
		}
		c.Faults[i] = f
	}
	return c
}

// shrinkSamples is the number of random reductions resample tries in
// one round.
const shrinkSamples = 16

// resample tries shrinkSamples random reductions of the current scenario
// at once: a duration of a quarter to three quarters, each fault kind
// kept with probability 1/2, a cluster of 3 nodes or more, fewer
// clients. A failure that hangs on its whole early history (a timing
// bug: any change to an early episode perturbs it away) seldom survives
// a single step, but a smaller scenario of the same seed often fails the
// same way. The first that does (and is no larger) is kept. The draws
// come from the seed and the round, so the search stays deterministic.
func (s *shrinker) resample() bool {
	r := rand.New(rand.NewPCG(s.cfg.Seed, 0x5e5a_3b1e+uint64(s.round)))
	base := s.cur.clone()
	for range shrinkSamples {
		if s.exhausted {
			return false
		}
		c := base.clone()
		d := base.Duration.D() * time.Duration(1+r.IntN(3)) / 4
		c.Duration = Duration(max(d.Truncate(shrinkDurationStep), shrinkDurationStep))
		c.Faults = c.Faults[:0:0]
		for _, f := range base.clone().Faults {
			if r.IntN(2) == 0 {
				c.Faults = append(c.Faults, f)
			}
		}
		if base.Nodes > 3 {
			c.Nodes = 3 + r.IntN(base.Nodes-2)
		}
		c.ClientsPerNode = 1 + r.IntN(base.ClientsPerNode)
		if s.try(c) {
			return true
		}
	}
	return false
}

// shrinkDuration bisects the duration down, in shrinkDurationStep steps.
func (s *shrinker) shrinkDuration() bool {
	base := s.cur.clone()
	cur := base.Duration.D()
	steps := int64((cur + shrinkDurationStep - 1) / shrinkDurationStep)
	return s.bisectDown(1, steps, func(k int64) (Scenario, bool) {
		c := base.clone()
		c.Duration = Duration(min(time.Duration(k)*shrinkDurationStep, cur))
		return c, true
	})
}

// dropFaultKinds removes whole faults (ddmin over the fault list).
func (s *shrinker) dropFaultKinds() bool {
	base := s.cur.clone()
	return s.ddmin(len(base.Faults), func(keep []int) (Scenario, bool) {
		c := base.clone()
		all := c.Faults
		c.Faults = make([]faults.Spec, 0, len(keep))
		for _, i := range keep {
			c.Faults = append(c.Faults, all[i])
		}
		return c, true
	})
}

// shrinkNodes tries each smaller cluster size, smallest first.
func (s *shrinker) shrinkNodes() bool {
	base := s.cur.clone()
	return s.scanUp(1, base.Nodes, func(n int) Scenario {
		c := base.clone()
		c.Nodes = n
		return c
	})
}

// shrinkClients tries fewer clients per node, fewest first (with a fixed
// client count, Config.Clients, the scenario's count does nothing).
func (s *shrinker) shrinkClients() bool {
	if s.cfg.Base.Clients > 0 {
		return false
	}
	base := s.cur.clone()
	return s.scanUp(1, base.ClientsPerNode, func(n int) Scenario {
		c := base.clone()
		c.ClientsPerNode = n
		return c
	})
}

// episodeRef names one injected episode: the fault's index in the
// scenario and the episode's number.
type episodeRef struct{ fault, episode int }

// dropEpisodes removes injected fault episodes (ddmin over all faults'
// injected episodes): each fault is capped at the episodes that began in
// the current run, and the dropped ones are skipped.
func (s *shrinker) dropEpisodes() bool {
	base := s.cur.clone()
	logs := map[int]faults.FaultSchedule{}
	var items []episodeRef
	for _, l := range s.res.Schedule {
		i := slices.IndexFunc(base.Faults, func(f faults.Spec) bool { return f.Name == l.Name })
		if i < 0 || l.Begun == 0 {
			continue
		}
		logs[i] = l
		for _, k := range l.Injected {
			items = append(items, episodeRef{i, k})
		}
	}
	return s.ddmin(len(items), func(keep []int) (Scenario, bool) {
		kept := map[episodeRef]bool{}
		for _, j := range keep {
			kept[items[j]] = true
		}
		c := base.clone()
		for i := range c.Faults {
			l, ok := logs[i]
			if !ok {
				continue
			}
			f := &c.Faults[i]
			var skip []int
			for _, k := range f.Skip {
				if k < l.Begun {
					skip = append(skip, k)
				}
			}
			last := -1 // the last episode kept
			for _, k := range l.Injected {
				if !kept[episodeRef{i, k}] {
					skip = append(skip, k)
				} else {
					last = k
				}
			}
			slices.Sort(skip)
			f.MaxEpisodes, f.Skip = capEpisodes(l.Begun, last, slices.Compact(skip))
		}
		return c, true
	})
}

// capEpisodes is the cap and skip list of a fault whose episodes up to
// begun are kept or skipped, the last one kept being last (-1: none):
// the episodes after the last one kept are cut off by the cap rather than
// skipped (a skipped slot at the end only adds timer events).
func capEpisodes(begun, last int, skip []int) (int, []int) {
	if last < 0 {
		return begun, skip
	}
	for len(skip) > 0 && skip[len(skip)-1] > last {
		skip = skip[:len(skip)-1]
	}
	return last + 1, skip
}

// shrinkFaultTiming brings each fault's episodes closer together (a
// shorter mean gap, so the kept ones come earlier and the duration can
// shrink next) and makes them shorter (a shorter mean hold), bisecting in
// shrinkDurationStep steps down to the bounds.
func (s *shrinker) shrinkFaultTiming() bool {
	changed := false
	for i := range s.cur.Faults {
		for _, field := range []struct {
			get func(*faults.Spec) *Duration
			min time.Duration
		}{
			{func(f *faults.Spec) *Duration { return &f.Gap }, faults.MinGap},
			{func(f *faults.Spec) *Duration { return &f.Hold }, faults.MinHold},
		} {
			base := s.cur.clone()
			cur := field.get(&base.Faults[i]).D()
			steps := int64((cur + shrinkDurationStep - 1) / shrinkDurationStep)
			lo := int64(field.min / shrinkDurationStep)
			changed = s.bisectDown(lo, steps, func(k int64) (Scenario, bool) {
				c := base.clone()
				*field.get(&c.Faults[i]) = Duration(min(max(time.Duration(k)*shrinkDurationStep, field.min), cur))
				return c, true
			}) || changed
		}
	}
	return changed
}

// mixField is Mix's i-th weight, settable.
func mixField(m *Mix, i int) reflect.Value { return reflect.ValueOf(m).Elem().Field(i) }

// dropOpKinds zeroes operation kinds of the mix (ddmin over the kinds
// with a positive weight; one must stay).
func (s *shrinker) dropOpKinds() bool {
	base := s.cur.clone()
	var kinds []int
	for i := range reflect.TypeOf(Mix{}).NumField() {
		if mixField(&base.Workload.Mix, i).Int() > 0 {
			kinds = append(kinds, i)
		}
	}
	return s.ddmin(len(kinds), func(keep []int) (Scenario, bool) {
		if len(keep) == 0 {
			return Scenario{}, false
		}
		c := base.clone()
		for j, i := range kinds {
			if !slices.Contains(keep, j) {
				mixField(&c.Workload.Mix, i).SetInt(0)
			}
		}
		return c, true
	})
}

// shrinkKeys bisects the key space down.
func (s *shrinker) shrinkKeys() bool {
	base := s.cur.clone()
	return s.bisectDown(1, int64(base.Workload.Keys), func(k int64) (Scenario, bool) {
		c := base.clone()
		c.Workload.Keys = int(k)
		return c, true
	})
}

// growThinkTime bisects the clients' think time up to shrinkMaxThink
// (fewer operations), in shrinkThinkStep steps.
func (s *shrinker) growThinkTime() bool {
	base := s.cur.clone()
	cur := base.Workload.ThinkTime.D()
	if cur >= shrinkMaxThink {
		return false
	}
	// k counts steps down from shrinkMaxThink; k = steps is cur itself.
	steps := int64((shrinkMaxThink - cur + shrinkThinkStep - 1) / shrinkThinkStep)
	return s.bisectDown(0, steps, func(k int64) (Scenario, bool) {
		c := base.clone()
		c.Workload.ThinkTime = Duration(max(shrinkMaxThink-time.Duration(k)*shrinkThinkStep, cur))
		return c, true
	})
}

// simplification sets one field of a scenario to its plainest value; it
// reports false if the field has it already.
type simplification func(*Scenario) bool

// setZero sets *p to its zero value, reporting whether it changed.
func setZero[T comparable](p *T) bool {
	var zero T
	if *p == zero {
		return false
	}
	*p = zero
	return true
}

// simplifications are tried one at a time, each kept if the failure
// stays: no watches, compactions, transfers, keep-alives; no base loss,
// duplication, tail latency or jitter; slower raft timers; no snapshots.
var simplifications = []simplification{
	func(c *Scenario) bool { return setZero(&c.Workload.Watches) },
	func(c *Scenario) bool { return setZero(&c.Workload.CompactEvery) },
	func(c *Scenario) bool { return setZero(&c.Workload.TransferEvery) },
	func(c *Scenario) bool { return setZero(&c.Workload.KeepAlivePercent) },
	func(c *Scenario) bool { return setZero(&c.Net.Loss) },
	func(c *Scenario) bool { return setZero(&c.Net.Duplicate) },
	func(c *Scenario) bool { return setZero(&c.Net.DupDelay) },
	func(c *Scenario) bool {
		p, t := setZero(&c.Net.TailProb), setZero(&c.Net.Tail)
		return p || t
	},
	func(c *Scenario) bool { return setZero(&c.Net.Jitter) },
	func(c *Scenario) bool { return setZero(&c.Disk.SyncJitter) },
	// Slower raft timers within the draw ranges (tick 100ms, heartbeat
	// every 2 ticks) make fewer events; beyond them, election timeouts
	// could near the heal timeout and fail a correct run's liveness.
	func(c *Scenario) bool {
		if c.Raft.Tick.D() >= shrinkMaxTick {
			return false
		}
		c.Raft.Tick = Duration(shrinkMaxTick)
		return true
	},
	func(c *Scenario) bool {
		if c.Raft.HeartbeatTicks >= 2 || 2*2 >= c.Raft.ElectionTicks {
			return false
		}
		c.Raft.HeartbeatTicks = 2
		return true
	},
	func(c *Scenario) bool {
		if c.Raft.SnapshotEntries >= node.DefaultSnapshotEntries {
			return false
		}
		c.Raft.SnapshotEntries = node.DefaultSnapshotEntries
		return true
	},
}

// simplify tries each simplification on its own.
func (s *shrinker) simplify() bool {
	changed := false
	for _, f := range simplifications {
		c := s.cur.clone()
		if f(&c) && s.try(c) {
			changed = true
		}
	}
	return changed
}

// bisectDown finds a small k in [lo, hi] whose candidate fails, given
// that hi's is the current scenario: it tries lo, then bisects, keeping
// hi failing and lo not. It ends with a k whose k-1 does not fail (or
// lo), and reports whether it moved below hi.
func (s *shrinker) bisectDown(lo, hi int64, at func(int64) (Scenario, bool)) bool {
	if lo >= hi {
		return false
	}
	try := func(k int64) bool {
		c, ok := at(k)
		return ok && s.try(c)
	}
	if try(lo) {
		return true
	}
	moved := false
	for hi-lo > 1 && !s.exhausted {
		mid := lo + (hi-lo)/2
		if try(mid) {
			hi, moved = mid, true
		} else {
			lo = mid
		}
	}
	return moved
}

// scanUp tries the candidates of lo, lo+1, ... below cur in turn and
// keeps the first that fails.
func (s *shrinker) scanUp(lo, cur int, at func(int) Scenario) bool {
	for n := lo; n < cur && !s.exhausted; n++ {
		if s.try(at(n)) {
			return true
		}
	}
	return false
}

// ddmin is delta debugging over n items: it finds a subset (by index)
// whose candidate fails and from which no single item can be removed,
// given that the whole set's candidate is the current scenario. It
// reports whether it removed anything.
func (s *shrinker) ddmin(n int, at func(keep []int) (Scenario, bool)) bool {
	test := func(keep []int) bool {
		c, ok := at(keep)
		return ok && s.try(c)
	}
	return len(ddminSet(n, test, func() bool { return s.exhausted })) < n
}

// ddminSet is Zeller and Hildebrandt's ddmin over the items 0..n-1, for
// which test holds: it tests the empty set, then chunks of the set and
// their complements at doubling granularity, and returns a subset for
// which test holds and no single item can be removed (unless stop, asked
// between tests, cut it short).
func ddminSet(n int, test func(keep []int) bool, stop func() bool) []int {
	set := make([]int, n)
	for i := range set {
		set[i] = i
	}
	if n == 0 {
		return set
	}
	if test(nil) {
		return nil
	}
	gran := 2
	for len(set) >= 2 && !stop() {
		chunks := splitChunks(set, gran)
		if next, ok := firstFailing(chunks, test); ok {
			set, gran = next, 2
			continue
		}
		if len(chunks) > 2 { // with two chunks, the complements are the chunks
			if next, ok := firstFailing(complements(set, chunks), test); ok {
				set, gran = next, max(gran-1, 2)
				continue
			}
		}
		if gran >= len(set) {
			break
		}
		gran = min(2*gran, len(set))
	}
	return set
}

// firstFailing is the first of sets whose test holds.
func firstFailing(sets [][]int, test func([]int) bool) ([]int, bool) {
	for _, c := range sets {
		if test(c) {
			return c, true
		}
	}
	return nil, false
}

// splitChunks cuts set into k nearly equal chunks, in order.
func splitChunks(set []int, k int) [][]int {
	out := make([][]int, 0, k)
	for i := range k {
		lo, hi := i*len(set)/k, (i+1)*len(set)/k
		if lo < hi {
			out = append(out, set[lo:hi])
		}
	}
	return out
}

// complements is set without each chunk in turn.
func complements(set []int, chunks [][]int) [][]int {
	out := make([][]int, 0, len(chunks))
	for _, c := range chunks {
		var rest []int
		for _, x := range set {
			if !slices.Contains(c, x) {
				rest = append(rest, x)
			}
		}
		out = append(out, rest)
	}
	return out
}
