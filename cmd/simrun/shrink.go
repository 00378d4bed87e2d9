package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/harness"
)

// defaultShrinkBudget is -shrink's wall-time budget when -budget is not
// given (issue 13's target: at most a minute per seed).
const defaultShrinkBudget = 60 * time.Second

// checkShrink validates -shrink: one seed (-seed S), none of the flags
// that run many seeds or search, and -budget as runs or wall time.
func (o *options) checkShrink(set map[string]bool) error {
	if !o.shrink {
		return nil
	}
	for _, f := range []string{"explore", "merge", "shard", "check-determinism", "trace", "corpus", "probes", "require-probes"} {
		if set[f] {
			return usagef("-shrink minimises one seed: -%s does not apply", f)
		}
	}
	if !set["seeds"] {
		o.seeds = 1
	}
	if o.seeds != 1 {
		return usagef("-shrink minimises one seed: give -seed S (and -seeds 1 or no -seeds)")
	}
	if !set["budget"] {
		o.budget = defaultShrinkBudget.String()
	}
	if _, _, err := parseBudget(o.budget); err != nil {
		return usagef("-budget: %v", err)
	}
	return nil
}

// shrinkRecord is -shrink's -json line.
type shrinkRecord struct {
	Seed      uint64            `json:"seed"`
	Class     string            `json:"class"`
	Reason    string            `json:"reason"`
	Before    shrinkSize        `json:"before"`
	After     shrinkSize        `json:"after"`
	Runs      int               `json:"runs"`
	Steps     int               `json:"steps"`
	Exhausted bool              `json:"exhausted"`
	WallMS    float64           `json:"wall_ms"`
	TraceHash string            `json:"trace_hash"`
	Verified  bool              `json:"verified"`
	File      string            `json:"file"`
	Replay    string            `json:"replay"`
	Scenario  *harness.Scenario `json:"scenario"`
}

// shrinkSize is harness.Size in the -json line.
type shrinkSize struct {
	Events    uint64  `json:"events"`
	Ops       int     `json:"ops"`
	Episodes  int     `json:"episodes"`
	Faults    int     `json:"faults"`
	Nodes     int     `json:"nodes"`
	DurationS float64 `json:"duration_s"`
}

func sizeRecord(s harness.Size) shrinkSize {
	return shrinkSize{Events: s.Events, Ops: s.Ops, Episodes: s.Episodes, Faults: s.Faults, Nodes: s.Nodes, DurationS: s.Duration.Seconds()}
}

// runShrink is simrun -shrink: it minimises the failing run of -seed,
// writes the smallest failing scenario to a file (under -out, else the
// current directory), replays the file once to verify it gives the same
// trace hash and failure, and prints the sizes before and after. Exit
// status: 0 shrunk and verified, 1 the seed did not fail or the replay
// differed, 2 the file could not be written.
func runShrink(o *options, stdout, stderr io.Writer) int {
	runs, wall, _ := parseBudget(o.budget)
	start := time.Now() // deliberate: the wall-time budget, never fed into a run
	cfg := harness.ShrinkConfig{Base: o.cfg, Seed: o.seed, MaxRuns: runs, Run: runSeed}
	if wall > 0 {
		cfg.Continue = func() bool { return time.Since(start) < wall }
	}
	cfg.Log = func(line string) { fmt.Fprintf(stderr, "simrun: shrink: %s\n", line) }
	res, err := harness.Shrink(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "simrun: %v\n", err)
		return exitFail
	}
	elapsed := time.Since(start)
	file := filepath.Join(o.out, fmt.Sprintf("shrunk-seed-%d.json", o.seed))
	if o.out == "" {
		file = fmt.Sprintf("shrunk-seed-%d.json", o.seed)
	}
	if err := writeScenarioFile(file, res.Scenario); err != nil {
		fmt.Fprintf(stderr, "simrun: -shrink: %v\n", err)
		return exitUsage
	}
	replay, err := replayShrunk(o, file)
	if err != nil {
		fmt.Fprintf(stderr, "simrun: -shrink: reading back %s: %v\n", file, err)
		return exitFail
	}
	verified := replay.TraceHash == res.After.TraceHash && replay.Reason == res.After.Reason
	rec := shrinkRecord{Seed: o.seed, Class: res.Class, Reason: reasonLine(res.After.Reason),
		Before: sizeRecord(harness.SizeOf(res.Before)), After: sizeRecord(harness.SizeOf(res.After)),
		Runs: res.Runs, Steps: res.Steps, Exhausted: res.Exhausted, WallMS: ms(elapsed),
		TraceHash: fmt.Sprintf("%016x", res.After.TraceHash), Verified: verified, File: file,
		Replay: o.shrunkReplayCommand(file), Scenario: &res.Scenario}
	if o.json {
		line, _ := json.Marshal(rec) // plain fields always marshal
		fmt.Fprintf(stdout, "%s\n", line)
	} else {
		printShrink(stdout, rec, res)
	}
	if !verified {
		fmt.Fprintf(stderr, "simrun: -shrink: NONDETERMINISM: the replay of %s gave trace hash %016x (%s), the shrinker's run %016x\n",
			file, replay.TraceHash, reasonLine(replay.Reason), res.After.TraceHash)
		return exitFail
	}
	return exitPass
}

// printShrink prints the class, the sizes before and after, the budget
// spent and the replay command.
func printShrink(w io.Writer, rec shrinkRecord, res harness.ShrinkResult) {
	b, a := harness.SizeOf(res.Before), harness.SizeOf(res.After)
	fmt.Fprintf(w, "seed=%d class=%q runs=%d steps=%d wall=%.1fs exhausted=%v\n", rec.Seed, rec.Class, rec.Runs, rec.Steps, rec.WallMS/1000, rec.Exhausted)
	fmt.Fprintf(w, "  before: %v\n  after:  %v\n", b, a)
	fmt.Fprintf(w, "  events %.1fx fewer, ops %.1fx fewer\n", ratio(float64(b.Events), float64(a.Events)), ratio(float64(b.Ops), float64(a.Ops)))
	fmt.Fprintf(w, "  reason before: %s\n  reason after:  %s\n", reasonLine(res.Before.Reason), rec.Reason)
	fmt.Fprintf(w, "  scenario: %s (replayed: trace hash %s, verified=%v)\n", rec.File, rec.TraceHash, rec.Verified)
	fmt.Fprintf(w, "  replay: %s\n", rec.Replay)
}

func ratio(before, after float64) float64 {
	if after == 0 {
		return before
	}
	return before / after
}

func reasonLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeScenarioFile writes sc as indented JSON, the form -scenario reads.
func writeScenarioFile(path string, sc harness.Scenario) error {
	var b bytes.Buffer
	if err := json.Indent(&b, harness.MarshalScenario(sc), "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// replayShrunk runs the seed once more on the scenario read back from
// file, as `simrun -scenario FILE -seeds 1 -seed S` would.
func replayShrunk(o *options, file string) (harness.Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return harness.Result{}, err
	}
	defer f.Close()
	sc, err := harness.DecodeScenario(f, harness.DefaultScenario())
	if err != nil {
		return harness.Result{}, err
	}
	cfg := o.cfg
	cfg.Scenario = &sc
	return runSeed(cfg, o.seed), nil
}

// shrunkReplayCommand replays the shrunk scenario: -scenario FILE and the
// flags that the scenario does not hold (a flag such as -nodes beside
// -scenario would override the file).
func (o *options) shrunkReplayCommand(file string) string {
	parts := []string{"go", "run", "./cmd/simrun", "-seeds", "1", "-seed", strconv.FormatUint(o.seed, 10), "-scenario", shellQuote(file)}
	skip := map[string]bool{"-scenario": true, "-nodes": true, "-duration": true, "-faults": true, "-reads": true}
	for i := 0; i < len(o.replayFlags); i++ {
		f := o.replayFlags[i]
		name, _, hasValue := strings.Cut(f, "=")
		if skip[name] {
			if !hasValue {
				i++ // and its value
			}
			continue
		}
		parts = append(parts, shellQuote(f))
	}
	return strings.Join(parts, " ")
}
