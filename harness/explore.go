package harness

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/seedkv/seedkv/faults"
)

// Exploration searches over scenarios instead of sampling them: it keeps a
// corpus of (seed, scenario) runs that reached something no earlier run
// did (a probe, an ordered pair of probes by first hit, or an abstract
// cluster state, see sampleStates), and makes new runs by mutating a corpus
// entry (fault rates and episode lengths, raft timing and limits, network
// and disk parameters, workload counts, the seed) or crossing two. Every
// run is still one seed plus one scenario, replayable bit for bit with
// `simrun -scenario FILE -seeds 1 -seed S`.
//
// The search is deterministic given its search seed: runs go in
// generations of Batch candidates, drawn from the corpus as it stood
// before the generation, run in parallel, and judged in candidate order
// once all are done. The worker count changes only the wall time.

// Entry is one corpus member: a run worth keeping.
type Entry struct {
	// Seed and Scenario are the run.
	Seed     uint64   `json:"seed"`
	Scenario Scenario `json:"scenario"`
	// Probes names the probes the run reached, in first-hit order.
	Probes []string `json:"probes"`
	// States are the run's abstract state features (hex).
	States []string `json:"states"`
	// Hits counts the run's hits of each probe it reached (its energy,
	// see score; absent in corpora saved before it was kept).
	Hits map[string]uint32 `json:"hits,omitempty"`
	// Origin says how the entry was made: "fresh", "reseed", "redraw",
	// "cross" or "corpus" (loaded).
	Origin string `json:"origin"`
	// New is the number of features the run was first to reach.
	New int `json:"new"`
	// Bug, for a run that failed, names the bug it found (a bugbench
	// bug, or a real one): a regression entry (testdata/regress), which
	// the explorer runs again under new seeds before anything else (see
	// hardFirst). FoundBy says how it was found, Reason how it failed.
	Bug     string `json:"bug,omitempty"`
	FoundBy string `json:"found_by,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// raw is the scenario as the corpus file has it (nil for an entry
	// made in memory): the fields it does not record are drawn for each
	// run again (see hardCandidate).
	raw []byte
}

// ExploreConfig configures an exploration.
type ExploreConfig struct {
	// Base is the configuration fresh scenarios are drawn under (as a
	// swarm seed would be); its Scenario and Adjust are ignored.
	Base Config
	// SearchSeed seeds the search: the same seed, corpus and code give
	// the same runs.
	SearchSeed uint64
	// Runs bounds the runs (0: until Continue says stop).
	Runs int
	// Batch is the generation size (default 16).
	Batch int
	// Parallel is the worker count (default 1).
	Parallel int
	// Corpus is the starting corpus (from earlier explorations).
	Corpus []Entry
	// Continue is asked before each generation; false ends the search
	// (a wall-time budget). nil: always.
	Continue func() bool
	// Each sees every run's result in run order with the candidate that
	// made it; false ends the search there (the rest of the generation
	// is not judged).
	Each func(Candidate, Result) bool
}

// Candidate is one run of an exploration.
type Candidate struct {
	// Run is the run's number, from 0.
	Run      int
	Seed     uint64
	Scenario Scenario
	Origin   string
}

// Explorer is an exploration in progress; see Explore.
type Explorer struct {
	cfg      ExploreConfig
	corpus   []Entry
	seen     map[string]*feature
	features []*feature         // in order of discovery (deterministic)
	pool     []faults.Fault     // the faults a mutation may add
	reach    map[string]int     // runs that reached each probe
	reached  int                // runs counted in reach
	top      map[string]topHits // each probe's most hits in one corpus entry
	topOrder []string           // the probes of top, in discovery order
	hard     []int              // corpus indexes of the regression entries (see hardCandidate)
	hardRuns int                // runs made from them so far
	runs     int
	gen      uint64
	stopped  bool
	Failures []Candidate // runs that did not pass, in run order
}

// NewExplorer starts an exploration; the corpus's features count as seen.
func NewExplorer(cfg ExploreConfig) (*Explorer, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	cfg.Base.Scenario, cfg.Base.Adjust = nil, nil
	cfg.Base.Probes = true
	if err := cfg.Base.Validate(); err != nil {
		return nil, err
	}
	e := &Explorer{cfg: cfg, seen: map[string]*feature{}, reach: map[string]int{},
		top: map[string]topHits{}}
	set, err := faults.Parse(cfg.Base.Faults)
	if err != nil {
		return nil, err
	}
	if set.IsSwarm() {
		for _, f := range faults.Registered() {
			if f.Class() == faults.InModel {
				e.pool = append(e.pool, f)
			}
		}
	} else {
		e.pool = set.Faults()
	}
	for _, en := range cfg.Corpus {
		if en.Scenario.Validate() != nil {
			continue // written by other code; skip, do not fail the search
		}
		en.New = e.absorb(features(en.Probes, en.Hits, en.States), len(e.corpus))
		en.Origin = "corpus"
		e.count(en.Probes)
		e.admit(en)
	}
	e.hard = hardOrder(e.corpus)
	return e, nil
}

// Corpus returns the corpus as it stands.
func (e *Explorer) Corpus() []Entry { return slices.Clone(e.corpus) }

// Runs is the number of runs so far.
func (e *Explorer) Runs() int { return e.runs }

// Features is the number of distinct features reached so far.
func (e *Explorer) Features() int { return len(e.seen) }

// Run explores until the budget is spent or a callback stops it.
func (e *Explorer) Run() {
	for !e.stopped && (e.cfg.Runs == 0 || e.runs < e.cfg.Runs) {
		if e.cfg.Continue != nil && !e.cfg.Continue() {
			return
		}
		e.generation()
	}
}

// generation draws a batch of candidates, runs them and judges them.
func (e *Explorer) generation() {
	r := rand.New(rand.NewPCG(e.cfg.SearchSeed, 0xe4910e^e.gen))
	e.gen++
	n := e.cfg.Batch
	if e.cfg.Runs > 0 {
		n = min(n, e.cfg.Runs-e.runs)
	}
	cands := make([]Candidate, n)
	for i := range cands {
		cands[i] = e.candidate(r)
		cands[i].Run = e.runs + i
	}
	idx := make([]uint64, n)
	for i := range idx {
		idx[i] = uint64(i)
	}
	// RunManyWith hands the results over in candidate order as soon as
	// each and those before it are done, so a failure is reported without
	// waiting for the rest of its generation (CPU to the first failure);
	// the candidates were all drawn before, so judging early changes no
	// run.
	judged := 0
	RunManyWith(func(i uint64) Result {
		cfg := e.cfg.Base
		sc := cands[i].Scenario
		cfg.Scenario = &sc
		return Run(cfg, cands[i].Seed)
	}, idx, max(1, e.cfg.Parallel), func(res Result) bool {
		e.judge(cands[judged], res)
		judged++
		return !e.stopped
	})
	e.runs += judged
}

// judge adds a passing run to the corpus if it reached a new feature, and
// reports every run. A run that did not pass is kept among the failures
// and not in the corpus (as AFL keeps crashes out of its queue): breeding
// from it would find the same bug again and again.
func (e *Explorer) judge(c Candidate, res Result) {
	if res.Verdict != Pass {
		e.Failures = append(e.Failures, c)
	} else {
		states := make([]string, len(res.States))
		for i, s := range res.States {
			states[i] = strconv.FormatUint(s, 16)
		}
		e.count(res.ProbeOrder)
		if n := e.absorb(features(res.ProbeOrder, res.Probes, states), len(e.corpus)); n > 0 {
			e.admit(Entry{Seed: c.Seed, Scenario: c.Scenario, Probes: res.ProbeOrder,
				States: states, Hits: res.Probes, Origin: c.Origin, New: n})
		}
	}
	if e.cfg.Each != nil && !e.cfg.Each(c, res) {
		e.stopped = true
	}
}

// count adds one run's probes to the reach counts (see pick).
func (e *Explorer) count(probes []string) {
	e.reached++
	for _, p := range probes {
		e.reach[p]++
	}
}

// topHits is the corpus entry that hit a probe most often (by bucket).
type topHits struct {
	bucket int
	owner  int
}

// admit adds an entry to the corpus and makes it the top entry of each
// probe it hit more often (by bucket) than any entry before.
func (e *Explorer) admit(en Entry) {
	for _, p := range en.Probes {
		t, ok := e.top[p]
		if !ok {
			e.topOrder = append(e.topOrder, p)
		}
		if b := hitBucket(max(en.Hits[p], 1)); !ok || b > t.bucket {
			e.top[p] = topHits{bucket: b, owner: len(e.corpus)}
		}
	}
	e.corpus = append(e.corpus, en)
}

// hitBucket is AFL's hit-count bucket: 1, 2, 3, 4-7, 8-15, 16-31,
// 32-127, 128+ hits are buckets 1..8 (0: none).
func hitBucket(h uint32) int {
	for i, lim := range []uint32{1, 2, 3, 4, 8, 16, 32, 128} {
		if h < lim {
			return i
		}
	}
	return 8
}

// feature is one coverage feature: how many runs reached it, and the
// corpus entry of the first that did.
type feature struct {
	runs  int
	owner int
}

// absorb counts a run's features and returns how many were new; a new
// feature is owned by corpus entry owner (the run's, if it is admitted).
func (e *Explorer) absorb(fs []string, owner int) int {
	n := 0
	for _, f := range fs {
		ft := e.seen[f]
		if ft == nil {
			ft = &feature{owner: owner}
			e.seen[f] = ft
			e.features = append(e.features, ft)
			n++
		}
		ft.runs++
	}
	return n
}

// features are a run's coverage as strings: each probe, each probe's
// hit-count bucket from 2 hits up (as AFL counts an edge taken 4-7 times
// as other coverage than taken once: a run that truncated conflicting
// suffixes eight times went somewhere one that did it once did not), each
// pair of probes reached in one run, each abstract state.
func features(order []string, hits map[string]uint32, states []string) []string {
	names := slices.Clone(order)
	slices.Sort(names)
	out := make([]string, 0, len(names)*(len(names)+3)/2+len(states))
	for i, a := range names {
		out = append(out, "p:"+a)
		if b := hitBucket(hits[a]); b > 1 {
			out = append(out, "b:"+a+":"+strconv.Itoa(b))
		}
		for _, b := range names[i+1:] {
			out = append(out, "pp:"+a+"+"+b)
		}
	}
	for _, s := range states {
		out = append(out, "s:"+s)
	}
	return out
}

// candidate makes the next scenario to run. A third of the runs are fresh
// swarm draws (all of them while the corpus is empty): the swarm's
// diversity is the baseline the search must not lose. The rest start from
// a parent (see pick) and either only change its seed (the parent's
// scenario drove the cluster somewhere rare; run it again elsewhere),
// redraw parts of it, or cross it with a second parent and mutate that.
//
// Redrawing takes each part (raft, network, disk, faults, workload) from
// a fresh swarm draw with probability 1/2: the child stays inside the
// swarm's distribution. On bugbench, hand-written mutations (explore_
// mutate.go) failed 2 times in 1,374 runs against 10 in 871 for redraws
// and 9 in 1,268 for fresh draws; they now only follow a cross, where
// they still reach what no draw does (small mvcc quotas).
func (e *Explorer) candidate(r *rand.Rand) Candidate {
	if c, ok := e.hardCandidate(r); ok {
		return c
	}
	if len(e.corpus) == 0 || r.IntN(3) == 0 {
		seed := r.Uint64N(1 << 40)
		return Candidate{Seed: seed, Scenario: DrawScenario(e.cfg.Base, seed), Origin: "fresh"}
	}
	parent := e.pick(r)
	c := Candidate{Seed: r.Uint64N(1 << 40), Scenario: cloneScenario(parent.Scenario), Origin: "reseed"}
	switch op := r.IntN(10); {
	case op < 4:
		return c
	case op < 8:
		c.Origin = "redraw"
		crossScenario(r, &c.Scenario, DrawScenario(e.cfg.Base, r.Uint64N(1<<40)))
		fitQuota(&c.Scenario) // a drawn compaction cadence may not suit the parent's quota
		if c.Scenario.Validate() != nil {
			c.Scenario = cloneScenario(parent.Scenario)
		}
		return c
	default:
		c.Origin = "cross"
		crossScenario(r, &c.Scenario, e.pick(r).Scenario)
	}
	for range 1 + r.IntN(2) {
		e.mutate(r, &c.Scenario)
	}
	fitQuota(&c.Scenario)
	if c.Scenario.Validate() != nil {
		c.Scenario = cloneScenario(parent.Scenario) // a mutation left the bounds; keep the parent
	}
	return c
}

// hardOrder lists the corpus's regression entries to run again: one per
// distinct scenario, the scenarios that made the most distinct bugs fail
// first (a scenario several bugs failed under stresses the cluster in
// general), then in corpus order.
func hardOrder(corpus []Entry) []int {
	bugs := map[string]map[string]bool{} // scenario -> the bugs it found
	var order []int
	var keys []string
	for i, en := range corpus {
		if en.Bug == "" {
			continue
		}
		k := string(MarshalScenario(en.Scenario))
		if bugs[k] == nil {
			bugs[k] = map[string]bool{}
			order = append(order, i)
			keys = append(keys, k)
		}
		bugs[k][en.Bug] = true
	}
	idx := make([]int, len(order))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return len(bugs[keys[b]]) - len(bugs[keys[a]]) })
	out := make([]int, len(idx))
	for i, j := range idx {
		out[i] = order[j]
	}
	return out
}

// hardCandidate runs a regression entry's scenario again under a new
// seed: each once, in corpus order, before anything else, then in turn for
// half the runs. A scenario that made one bug fail is a scenario that
// stresses the cluster (more and aimed faults, short timeouts, small
// snapshot intervals and message limits), and runs under it fail other
// bugs too far more often than the swarm's do (see the README's
// "Explore against swarm on bugbench"). The seed is new: an old failing
// run replayed bit for bit on changed code is a different run anyway.
func (e *Explorer) hardCandidate(r *rand.Rand) (Candidate, bool) {
	if len(e.hard) == 0 || (e.hardRuns >= len(e.hard) && r.IntN(2) == 0) {
		return Candidate{}, false
	}
	en := e.corpus[e.hard[e.hardRuns%len(e.hard)]]
	e.hardRuns++
	seed := r.Uint64N(1 << 40)
	return Candidate{Seed: seed, Scenario: e.refresh(en, seed), Origin: "regress"}, true
}

// refresh is en's scenario for a run under seed: the fields en's file
// records, and for the others the swarm's draw for seed rather than the
// defaults. A corpus outlives the draws it was made under: the 75
// regression scenarios of testdata/regress predate storage.apply_bytes
// (the applied index lagging the commit index, drawn in a quarter of the
// swarm's seeds and what node-read-applied-off-by-one needs), so read
// over the defaults they never lag, and the same goes for every draw
// added after a file was written. The quota stays the file's (or the
// default's): the swarm draws a small one only for the faults and
// compaction cadence of its own draw. (A zero the file omits,
// storage.apply_bytes or snap_chunk_bytes, reads as missing: it is drawn,
// as three quarters and half of the draws are zero.)
func (e *Explorer) refresh(en Entry, seed uint64) Scenario {
	if en.raw == nil {
		return cloneScenario(en.Scenario)
	}
	s, err := DecodeScenario(bytes.NewReader(en.raw), DrawScenario(e.cfg.Base, seed))
	if err != nil {
		return cloneScenario(en.Scenario)
	}
	s.Storage.QuotaBytes = en.Scenario.Storage.QuotaBytes
	if s.Validate() != nil {
		return cloneScenario(en.Scenario)
	}
	return s
}

// pick chooses a parent. Half the time by hit counts: a probe drawn at
// random among those fewer than nine runs in ten reach, and the corpus
// entry that hit it most often (the bugs bugbench plants fail far more
// often in runs that hit the probes near them many times: a follower's
// log matching bug in runs that truncated conflicting suffixes 3 times or
// more, 5x the base rate). Else by rare coverage (as FairFuzz does): of
// a few features drawn at random, the one fewest runs reached, and the
// entry that first reached it.
func (e *Explorer) pick(r *rand.Rand) Entry {
	n := len(e.corpus)
	if r.IntN(2) == 0 {
		var cands []string
		for _, p := range e.topOrder {
			if e.reach[p]*10 < e.reached*9 && e.top[p].owner < n {
				cands = append(cands, p)
			}
		}
		if len(cands) > 0 {
			return e.corpus[e.top[cands[r.IntN(len(cands))]].owner]
		}
	}
	var rare *feature
	for range min(16, len(e.features)) {
		if f := e.features[r.IntN(len(e.features))]; f.owner < n && (rare == nil || f.runs < rare.runs) {
			rare = f
		}
	}
	if rare == nil {
		return e.corpus[r.IntN(n)]
	}
	return e.corpus[rare.owner]
}

func cloneScenario(s Scenario) Scenario {
	s.Faults = slices.Clone(s.Faults)
	for i := range s.Faults {
		if s.Faults[i].Params != nil {
			p := make(map[string]float64, len(s.Faults[i].Params))
			for k, v := range s.Faults[i].Params {
				p[k] = v
			}
			s.Faults[i].Params = p
		}
	}
	return s
}

// crossScenario takes each part of s (raft, network, disk, faults,
// workload) from o with probability 1/2.
func crossScenario(r *rand.Rand, s *Scenario, o Scenario) {
	o = cloneScenario(o)
	if r.IntN(2) == 0 {
		s.Raft = o.Raft
	}
	if r.IntN(2) == 0 {
		s.Net = o.Net
	}
	if r.IntN(2) == 0 {
		s.Disk = o.Disk
	}
	if r.IntN(2) == 0 {
		s.Faults = o.Faults
	}
	if r.IntN(2) == 0 {
		s.Workload = o.Workload
	}
}
