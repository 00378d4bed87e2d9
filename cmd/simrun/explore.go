package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/harness"
)

// MaxBudgetRuns bounds -budget given as runs.
const MaxBudgetRuns = 1 << 24

// checkExplore validates the -explore flags: -budget and -corpus only with
// -explore, and not with the flags that pick seeds or a fixed scenario.
func (o *options) checkExplore(set map[string]bool) error {
	if !o.explore {
		for _, f := range []string{"budget", "corpus"} {
			if set[f] && !(f == "budget" && o.shrink) {
				return usagef("-%s needs -explore (or, -budget, -shrink)", f)
			}
		}
		return nil
	}
	for _, f := range []string{"scenario", "seeds", "shard", "trace"} {
		if set[f] {
			return usagef("-explore draws its own runs: -%s does not apply", f)
		}
	}
	if _, _, err := parseBudget(o.budget); err != nil {
		return usagef("-budget: %v", err)
	}
	return nil
}

// parseBudget reads -budget: a number of runs, or a wall-time duration.
func parseBudget(s string) (runs int, wall time.Duration, err error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > MaxBudgetRuns {
			return 0, 0, fmt.Errorf("%d runs not in [1, %d]", n, MaxBudgetRuns)
		}
		return n, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("%q is neither a number of runs nor a positive duration", s)
	}
	return 0, d, nil
}

// runExplore is simrun -explore: a coverage-guided search over scenarios.
// Each run that does not pass prints its reason and the command that
// replays it, and its scenario goes to a file (under -out, else the
// corpus directory, else the current directory).
func runExplore(o *options, stdout, stderr io.Writer) int {
	runs, wall, _ := parseBudget(o.budget)
	var corpus []harness.Entry
	if o.corpus != "" {
		var err error
		if corpus, err = harness.LoadCorpus(o.corpus); err != nil {
			fmt.Fprintf(stderr, "simrun: -corpus: %v\n", err)
			return exitUsage
		}
	}
	start := time.Now() // deliberate: the wall-time budget, never fed into a run
	r := &reporter{o: o, stdout: stdout, stderr: stderr, start: start, lastProgress: start, cov: newCoverageReport()}
	failed := 0
	cfg := harness.ExploreConfig{Base: o.cfg, SearchSeed: o.seed, Runs: runs, Parallel: o.parallel, Corpus: corpus}
	if wall > 0 {
		cfg.Continue = func() bool { return time.Since(start) < wall }
	}
	cfg.Each = func(c harness.Candidate, res harness.Result) bool {
		r.seen++
		r.virtual += res.Virtual
		r.cov.add(res)
		if res.Verdict == harness.Pass {
			r.passed++
			if o.json {
				r.exploreJSON(c, res, "")
			}
		} else {
			failed++
			r.failed++
			r.exploreFailure(c, res)
		}
		r.progress()
		return true
	}
	ex, err := harness.NewExplorer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "simrun: -explore: %v\n", err)
		return exitUsage
	}
	ex.Run()
	if o.corpus != "" {
		if err := harness.SaveCorpus(o.corpus, ex.Corpus()); err != nil {
			fmt.Fprintf(stderr, "simrun: -corpus: %v\n", err)
			return exitFail
		}
	}
	w := stdout
	if o.json {
		w = stderr
	}
	fmt.Fprintf(w, "explore: search_seed=%d runs=%d corpus=%d features=%d failures=%d\n",
		o.seed, ex.Runs(), len(ex.Corpus()), ex.Features(), failed)
	return r.finish(r.seen)
}

// exploreFailure reports one failing run of an exploration and writes its
// scenario where -scenario can read it.
func (r *reporter) exploreFailure(c harness.Candidate, res harness.Result) {
	dir := r.o.out
	if dir == "" {
		dir = r.o.corpus
	}
	if dir == "" {
		dir = "."
	}
	if dir != "." {
		dir = filepath.Join(dir, "failures")
	}
	path := filepath.Join(dir, fmt.Sprintf("run-%d-seed-%d.json", c.Run, c.Seed))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(path, append(harness.MarshalScenario(c.Scenario), '\n'), 0o644)
		if err != nil {
			fmt.Fprintf(r.stderr, "simrun: run %d: %v\n", c.Run, err)
		}
	}
	replay := fmt.Sprintf("go run ./cmd/simrun -seeds 1 -seed %d -scenario %s", c.Seed, shellQuote(path))
	if r.o.json {
		r.exploreJSON(c, res, replay)
		return
	}
	reason := res.Reason
	if i := indexByte(reason, '\n'); i >= 0 {
		reason = reason[:i]
	}
	fmt.Fprintf(r.stdout, "run=%d origin=%s seed=%d verdict=%s trace_hash=%016x\n  reason: %s\n  replay: %s\n",
		c.Run, c.Origin, c.Seed, res.Verdict, res.TraceHash, reason, replay)
}

// exploreJSON prints the -json line of one explore run: the seed's line
// with the run number, how its scenario was made, and its replay command.
func (r *reporter) exploreJSON(c harness.Candidate, res harness.Result, replay string) {
	rec := r.record(res, "")
	run := c.Run
	rec.Run, rec.Origin, rec.Replay = &run, c.Origin, replay
	r.emitJSON(rec)
}

func indexByte(s string, b byte) int {
	for i := range len(s) {
		if s[i] == b {
			return i
		}
	}
	return -1
}
