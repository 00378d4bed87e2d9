package harness

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Shrinking minimises a failing run: starting from a seed's scenario that
// fails, it makes the scenario smaller (fewer fault kinds and episodes, a
// shorter duration, fewer nodes, clients, keys and operation kinds, a
// longer think time, a plainer network and disk) for as long as the run,
// with the same seed, still fails with the same failure class. The result
// is a scenario that `simrun -scenario FILE -seeds 1 -seed S` replays bit
// for bit.
//
// A candidate is kept if it fails with the class and its run has at most
// half as many events and operations again as the smallest yet: a simpler
// scenario may run longer for a step (a lossless network sends more) and
// make later steps possible, but a run that grows without bound (a
// failure to converge that waits out its timeout) only burns the budget.
// The result is the smallest run seen (fewest events, then operations;
// of equal ones the last).
//
// The search is delta debugging (Zeller and Hildebrandt's ddmin) over the
// scenario's sets (fault kinds, the injected episodes of each fault, the
// operation kinds of the mix) and bisection over its numbers (duration,
// keys, think time), then single simplifications (a parameter to zero);
// the passes repeat until a whole round changes nothing, so the final
// scenario is 1-minimal: no single step of any pass keeps the failure
// (the result is that scenario unless a step grew the run and a smaller
// one was seen before).
// Every candidate is a full deterministic run, so the search itself is
// deterministic for a given run budget.

// ErrNotFailing is returned by Shrink when the starting run does not fail
// (it passed, or its verdict is unknown): there is nothing to shrink.
var ErrNotFailing = errors.New("shrink: the run does not fail")

// ShrinkConfig configures Shrink.
type ShrinkConfig struct {
	// Base is the configuration of the failing run. Its Scenario, if
	// set, is the starting scenario; else the seed's drawn one (after
	// Adjust). TraceWriter and KeepArtifacts are ignored.
	Base Config
	// Seed is the failing seed; every candidate runs with it.
	Seed uint64
	// MaxRuns bounds the candidate runs (the starting run not counted);
	// 0 means no bound.
	MaxRuns int
	// Continue, if set, is asked before each run; false ends the search
	// (a wall-time budget).
	Continue func() bool
	// Run runs one seed (nil: Run). Tests put a fake predicate here.
	Run func(Config, uint64) Result
	// Log, if set, receives a line for each accepted step.
	Log func(line string)
}

// ShrinkResult is the outcome of Shrink.
type ShrinkResult struct {
	// Class is the failure class that every accepted run kept.
	Class string
	// Before is the starting run; After the run of Scenario.
	Before, After Result
	// Scenario is the smallest failing scenario found.
	Scenario Scenario
	// Runs counts the candidate runs made (cached repeats not counted).
	Runs int
	// Steps counts the accepted candidates.
	Steps int
	// Exhausted: the budget ran out before a round changed nothing, so
	// the result may not be 1-minimal.
	Exhausted bool
}

// Size measures a run for shrinking reports.
type Size struct {
	// Events is the number of world events.
	Events uint64
	// Ops is the number of client operations.
	Ops int
	// Episodes is the number of fault episodes injected.
	Episodes int
	// Faults is the number of fault kinds in the scenario.
	Faults int
	// Nodes is the cluster size.
	Nodes int
	// Duration is the workload and fault phase.
	Duration time.Duration
}

// SizeOf is the size of a run.
func SizeOf(res Result) Size {
	s := Size{Events: res.Events, Ops: res.Ops}
	for _, e := range res.Schedule {
		s.Episodes += len(e.Injected)
	}
	if res.Scenario != nil {
		s.Faults, s.Nodes, s.Duration = len(res.Scenario.Faults), res.Scenario.Nodes, res.Scenario.Duration.D()
	}
	return s
}

// String is the size as key=value words.
func (s Size) String() string {
	return fmt.Sprintf("events=%d ops=%d episodes=%d faults=%d nodes=%d duration=%v",
		s.Events, s.Ops, s.Episodes, s.Faults, s.Nodes, s.Duration)
}

// Shrink minimises the failing run of cfg.Seed under cfg.Base (see the
// package comment on shrinking). It returns ErrNotFailing, with the
// starting run in Before, if that run does not fail.
func Shrink(cfg ShrinkConfig) (ShrinkResult, error) {
	if cfg.Run == nil {
		cfg.Run = Run
	}
	cfg.Base.TraceWriter, cfg.Base.KeepArtifacts = nil, false
	first := cfg.Run(cfg.Base, cfg.Seed)
	out := ShrinkResult{Before: first, After: first}
	if first.Verdict != Fail || first.Scenario == nil {
		return out, fmt.Errorf("%w: seed %d: verdict %s %s", ErrNotFailing, cfg.Seed, first.Verdict, reasonHead(first.Reason))
	}
	// The scenario as run (drawn and adjusted) is the start; later runs
	// take it as it is, as a replay from a file would.
	cfg.Base.Adjust = nil
	s := &shrinker{cfg: cfg, class: FailureClass(first.Reason), cur: *first.Scenario, res: first, seen: map[string]*Result{}}
	s.best, s.bestSc = first, s.cur
	s.seen[string(MarshalScenario(s.cur))] = &first
	s.loop()
	out.Class, out.After, out.Scenario = s.class, s.best, s.bestSc
	out.Runs, out.Steps, out.Exhausted = s.runs, s.steps, s.exhausted
	return out, nil
}

// maxShrinkRounds bounds the rounds of passes: every step simplifies, so
// the rounds end, but a bound makes that obvious.
const maxShrinkRounds = 100

// shrinker is a search in progress.
type shrinker struct {
	cfg       ShrinkConfig
	class     string
	cur       Scenario // the smallest failing scenario so far
	res       Result   // its run
	seen      map[string]*Result
	runs      int
	steps     int
	round     int      // the round of passes, from 0
	best      Result   // the smallest failing run seen
	bestSc    Scenario // its scenario
	exhausted bool
}

// shrinkPass is one kind of step; run reports whether it changed cur.
type shrinkPass struct {
	name string
	run  func(*shrinker) bool
}

// shrinkPasses go cheapest and most effective first: a shorter run, a
// random smaller one and fewer fault kinds make every later candidate
// cheaper.
var shrinkPasses = []shrinkPass{
	{"duration", (*shrinker).shrinkDuration},
	{"resample", (*shrinker).resample},
	{"fault kinds", (*shrinker).dropFaultKinds},
	{"nodes", (*shrinker).shrinkNodes},
	{"clients", (*shrinker).shrinkClients},
	{"episodes", (*shrinker).dropEpisodes},
	{"fault timing", (*shrinker).shrinkFaultTiming},
	{"operation kinds", (*shrinker).dropOpKinds},
	{"keys", (*shrinker).shrinkKeys},
	{"think time", (*shrinker).growThinkTime},
	{"simplify", (*shrinker).simplify},
}

// loop runs the passes in rounds until a round changes nothing or the
// budget is spent.
func (s *shrinker) loop() {
	for {
		changed := false
		for _, p := range shrinkPasses {
			if s.exhausted {
				return
			}
			if p.run(s) {
				changed = true
				s.logf("%-15s -> %v", p.name, SizeOf(s.res))
			}
		}
		if !changed || s.round == maxShrinkRounds {
			return
		}
		s.round++
	}
}

func (s *shrinker) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(fmt.Sprintf(format, args...))
	}
}

// try runs candidate c (if valid and not run before) and reports whether
// it fails with the class; if so it becomes the current scenario. Once
// the budget is spent every try is false.
func (s *shrinker) try(c Scenario) bool {
	if c.Validate() != nil {
		return false
	}
	key := string(MarshalScenario(c))
	if key == string(MarshalScenario(s.cur)) {
		return false // no step: nothing changes
	}
	res, ok := s.seen[key]
	if !ok {
		if s.exhausted || s.cfg.MaxRuns > 0 && s.runs >= s.cfg.MaxRuns || s.cfg.Continue != nil && !s.cfg.Continue() {
			s.exhausted = true
			return false
		}
		cfg := s.cfg.Base
		cfg.Scenario = &c
		r := s.cfg.Run(cfg, s.cfg.Seed)
		s.runs++
		res = &r
		s.seen[key] = res
	}
	if res.Verdict != Fail || FailureClass(res.Reason) != s.class || !s.boundedGrowth(*res) {
		return false
	}
	s.steps++
	s.cur, s.res = c, *res
	if res.Events < s.best.Events || res.Events == s.best.Events && res.Ops <= s.best.Ops {
		s.best, s.bestSc = *res, c
	}
	return true
}

// boundedGrowth reports whether res has at most half as many events and
// operations again as the smallest run seen (see the package comment; the
// smallest, not the current, so that growth cannot pile up over steps).
func (s *shrinker) boundedGrowth(res Result) bool {
	return res.Events <= s.best.Events*3/2 && res.Ops <= s.best.Ops*3/2
}

// FailureClass is what a shrunk run must keep of a failure's reason: the
// name of the check that failed (the reason's first "label: "), with
// numbers, identifiers and parenthesised details dropped, and a short
// sub-label after it if there is one ("lease: lease expired early",
// "panic: runtime error"). The details after it (which operation, which
// replica, which revision) may change as the run shrinks; the class may
// not. Unlike -merge's failure signature it leaves out the fault list,
// which shrinking reduces.
func FailureClass(reason string) string {
	line := reasonHead(reason)
	line, _, _ = strings.Cut(line, "; then: ")
	parts := strings.SplitN(line, ": ", 3)
	class := classLabel(parts[0])
	if len(parts) == 3 {
		sub := classLabel(parts[1])
		if sub != "" && sub == strings.TrimSpace(parts[1]) && sub != class && len(strings.Fields(sub)) <= 4 {
			class += ": " + sub
		}
	}
	return class
}

var (
	parenPattern = regexp.MustCompile(`\([^()]*\)`)
	digitWord    = regexp.MustCompile(`\S*[0-9]\S*`)
)

// classLabel is s without parenthesised parts and words holding digits.
func classLabel(s string) string {
	s = parenPattern.ReplaceAllString(s, " ")
	s = digitWord.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

func reasonHead(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
