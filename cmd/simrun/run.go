package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/report"
)

// Exit statuses.
const (
	exitPass  = 0 // every seed passed
	exitFail  = 1 // a seed failed or was unknown
	exitUsage = 2 // bad command line
)

// progressEvery is how often a long run reports progress on stderr.
var progressEvery = 5 * time.Second

// runSeed runs one seed; tests replace it.
var runSeed = harness.Run

// limitMemory, if set (by main, unless GOMEMLIMIT is set), sets the
// process's soft memory limit for this many worker goroutines (see
// harness.MemoryLimitPerWorker). Tests leave it nil.
var limitMemory func(parallel int)

// setGCPercent, if set (by main, unless GOGC is set), sets the collector
// target for runs of this virtual duration (see harness.GCPercentFor).
// Tests leave it nil.
var setGCPercent func(d time.Duration)

// run is the whole command: it parses args, runs the seeds and writes the
// results to stdout and diagnostics to stderr. It returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "simrun: %v (see simrun -h)\n", err)
		return exitUsage
	}
	if o.merge {
		return runMerge(o.mergeFiles, stdout, stderr)
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			fmt.Fprintf(stderr, "simrun: -out: %v\n", err)
			return exitUsage
		}
	}
	if limitMemory != nil {
		limitMemory(o.parallel)
	}
	if setGCPercent != nil {
		setGCPercent(o.cfg.Duration)
	}
	if o.explore {
		return runExplore(&o, stdout, stderr)
	}
	if o.shrink {
		return runShrink(&o, stdout, stderr)
	}
	r := &reporter{o: &o, stdout: stdout, stderr: stderr, start: time.Now(), cov: newCoverageReport(), build: buildOf(args)}
	r.lastProgress = r.start
	seeds := o.seedList()
	harness.RunManyWith(o.seedFunc(), seeds, o.parallel, r.report)
	return r.finish(len(seeds))
}

// seedFunc is what a worker runs for one seed: the seed itself, with its
// trace captured if -trace asked for it, and, if it did not pass and -out
// is set, a second run keeping the artifacts (the run is deterministic, so
// it is the same run; a different trace hash is reported as a bug).
func (o *options) seedFunc() func(uint64) harness.Result {
	return func(seed uint64) harness.Result {
		cfg := o.cfg
		var trace *bytes.Buffer
		if o.trace {
			trace = new(bytes.Buffer)
			cfg.TraceWriter = trace
		}
		var res harness.Result
		if o.checkDeterminism {
			res = checkDeterminism(cfg, seed)
		} else {
			res = runSeed(cfg, seed)
		}
		if o.trace {
			res.Artifacts = withTrace(res.Artifacts, trace.Bytes())
		}
		if res.Verdict != harness.Pass && o.out != "" {
			cfg := o.cfg
			cfg.KeepArtifacts = true
			again := runSeed(cfg, seed)
			if again.TraceHash != res.TraceHash {
				res.Reason += fmt.Sprintf(" [NONDETERMINISM: replay gave trace hash %016x, first run %016x]", again.TraceHash, res.TraceHash)
				res.Verdict = harness.Fail
			}
			if res.Artifacts != nil {
				again.Artifacts = withTrace(again.Artifacts, res.Artifacts.Trace)
			}
			res.Artifacts = again.Artifacts
		}
		return res
	}
}

// withTrace returns a with its printable trace set (a may be nil).
func withTrace(a *harness.Artifacts, trace []byte) *harness.Artifacts {
	if a == nil {
		a = &harness.Artifacts{}
	}
	if len(a.Trace) == 0 {
		a.Trace = trace
	}
	return a
}

// reporter prints per-seed results in seed order and keeps the totals.
type reporter struct {
	o              *options
	stdout, stderr io.Writer
	start          time.Time
	lastProgress   time.Time
	seen           int
	passed         int
	failed         int
	unknown        int
	virtual        time.Duration
	writeErr       error
	cov            *coverageReport
	build          report.Build // the code revision, Go version and flags of this run
}

// seedRecord is the -json line of one seed.
type seedRecord struct {
	Seed      uint64   `json:"seed"`
	Verdict   string   `json:"verdict"`
	Reason    string   `json:"reason"`
	TraceHash string   `json:"trace_hash"`
	Ops       int      `json:"ops"`
	VirtualS  float64  `json:"virtual_s"`
	WallMS    float64  `json:"wall_ms"`
	CheckMS   float64  `json:"check_ms"`
	Faults    []string `json:"faults"`
	Replay    string   `json:"replay,omitempty"`
	Artifacts string   `json:"artifacts,omitempty"`
	// Skipped names the checks that could not run, with why.
	Skipped []string `json:"skipped,omitempty"`
	// Scenario is every parameter of the seed's run; `-scenario FILE`
	// with this object in FILE reruns it.
	Scenario *harness.Scenario `json:"scenario"`
	// Probes counts the hits of each probe the seed reached.
	Probes map[string]uint32 `json:"probes"`
	// Run and Origin number an -explore run (from 0) and say how its
	// scenario was made (fresh, mutate, cross).
	Run    *int   `json:"run,omitempty"`
	Origin string `json:"origin,omitempty"`
	// Build ties the line to the code and command line that made it:
	// revision, modified, go_version and flags.
	report.Build
}

// report handles one seed's result; it always asks for more.
func (r *reporter) report(res harness.Result) bool {
	r.seen++
	r.virtual += res.Virtual
	switch res.Verdict {
	case harness.Pass:
		r.passed++
	case harness.Unknown:
		r.unknown++
	default:
		r.failed++
	}
	r.cov.add(res)
	dir := r.writeArtifacts(res)
	if r.o.trace && res.Artifacts != nil {
		w := r.stdout
		if r.o.json {
			w = r.stderr // keep stdout one JSON object per line
		}
		fmt.Fprintf(w, "== trace of seed %d\n", res.Seed)
		w.Write(res.Artifacts.Trace)
	}
	if r.o.json {
		r.printJSON(res, dir)
	} else {
		r.printText(res, dir)
	}
	r.progress()
	return true
}

func (r *reporter) printJSON(res harness.Result, dir string) {
	r.emitJSON(r.record(res, dir))
}

// record is the -json line of one seed.
func (r *reporter) record(res harness.Result, dir string) seedRecord {
	rec := seedRecord{
		Seed: res.Seed, Verdict: string(res.Verdict), Reason: res.Reason,
		TraceHash: fmt.Sprintf("%016x", res.TraceHash), Ops: res.Ops,
		VirtualS: res.Virtual.Seconds(), WallMS: ms(res.Wall), CheckMS: ms(res.CheckTime),
		Faults: res.Faults, Artifacts: dir, Scenario: res.Scenario, Probes: res.Probes,
		Skipped: res.Skipped(), Build: r.build,
	}
	if rec.Faults == nil {
		rec.Faults = []string{}
	}
	if res.Verdict != harness.Pass {
		rec.Replay = r.o.replayCommand(res.Seed)
	}
	return rec
}

// emitJSON prints one -json line.
func (r *reporter) emitJSON(rec seedRecord) {
	line, err := json.Marshal(rec)
	if err != nil {
		panic(err) // a struct of plain fields always marshals
	}
	if _, err := fmt.Fprintf(r.stdout, "%s\n", line); err != nil && r.writeErr == nil {
		r.writeErr = err
	}
}

// printText prints a failing or unknown seed (and, when replaying a single
// seed, a passing one) as a few human-readable lines.
func (r *reporter) printText(res harness.Result, dir string) {
	if res.Verdict == harness.Pass && r.o.seeds > 1 {
		return
	}
	reason := res.Reason
	if r.o.seeds > 1 {
		reason, _, _ = strings.Cut(reason, "\n") // the full reason is in the replay and the artifacts
	}
	fmt.Fprintf(r.stdout, "seed=%d verdict=%s trace_hash=%016x ops=%d virtual=%.1fs wall=%.1fms faults=%s\n",
		res.Seed, res.Verdict, res.TraceHash, res.Ops, res.Virtual.Seconds(), ms(res.Wall), faultList(res.Faults))
	for _, s := range res.Skipped() {
		fmt.Fprintf(r.stdout, "  skipped: %s\n", s)
	}
	if res.Verdict == harness.Pass {
		return
	}
	fmt.Fprintf(r.stdout, "  reason: %s\n", reason)
	if dir != "" {
		fmt.Fprintf(r.stdout, "  artifacts: %s\n", dir)
	}
	fmt.Fprintf(r.stdout, "  replay: %s\n", r.o.replayCommand(res.Seed))
}

// writeArtifacts writes a non-passing seed's artifacts under -out and
// returns their directory ("" if none were written).
func (r *reporter) writeArtifacts(res harness.Result) string {
	if r.o.out == "" || res.Verdict == harness.Pass || res.Artifacts == nil {
		return ""
	}
	dir := filepath.Join(r.o.out, fmt.Sprintf("seed-%d", res.Seed))
	a := res.Artifacts
	summary := fmt.Sprintf("seed: %d\nverdict: %s\nreason: %s\ntrace_hash: %016x\nops: %d\nvirtual: %v\nwall: %v\nfaults: %s\nscenario: %s\nreplay: %s\nskipped: %s\n%s\n%s",
		res.Seed, res.Verdict, res.Reason, res.TraceHash, res.Ops, res.Virtual, res.Wall,
		faultList(res.Faults), scenarioJSON(res.Scenario), r.o.replayCommand(res.Seed), strings.Join(res.Skipped(), "; "), buildLines(r.build), a.Summary)
	files := []struct {
		name string
		data []byte
	}{
		{"summary.txt", []byte(summary)},
		{"trace.txt", a.Trace},
		{"history.txt", a.History},
		{"history.html", a.Visualization},
		{"witness.txt", []byte(harness.WitnessText(res.WitnessReason, res.Witness))},
		{"report.html", r.page(res)},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(r.stderr, "simrun: seed %d: artifacts: %v\n", res.Seed, err)
		return ""
	}
	for _, f := range files {
		if len(f.data) == 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			fmt.Fprintf(r.stderr, "simrun: seed %d: artifacts: %v\n", res.Seed, err)
		}
	}
	return dir
}

// page is the seed's report.html (nil if it could not be made).
func (r *reporter) page(res harness.Result) []byte {
	in := report.Input{Result: res, Build: r.build, Replay: r.o.replayCommand(res.Seed)}
	if len(res.Artifacts.Visualization) > 0 {
		in.Visualization = "history.html"
	}
	var b bytes.Buffer
	if err := report.Write(&b, in); err != nil {
		fmt.Fprintf(r.stderr, "simrun: seed %d: report: %v\n", res.Seed, err)
		return nil
	}
	return b.Bytes()
}

// buildLines are the summary's lines naming the code and command line.
func buildLines(b report.Build) string {
	rev := b.Revision
	if b.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("revision: %s\ngo: %s\nflags: %s\n", rev, b.GoVersion, strings.Join(b.Flags, " "))
}

// progress reports on stderr, at most every progressEvery, how far a long
// run has got.
func (r *reporter) progress() {
	now := time.Now()
	if now.Sub(r.lastProgress) < progressEvery {
		return
	}
	r.lastProgress = now
	fmt.Fprintf(r.stderr, "simrun: %d seeds done, %d failed, %d unknown, %.0fs\n",
		r.seen, r.failed, r.unknown, now.Sub(r.start).Seconds())
}

// finish prints the summary line and returns the exit status.
func (r *reporter) finish(want int) int {
	wall := time.Since(r.start)
	speedup := 0.0
	if wall > 0 {
		speedup = r.virtual.Seconds() / wall.Seconds()
	}
	w := r.stdout
	if r.o.json {
		w = r.stderr // keep stdout one JSON object per line
	}
	if r.o.probes || r.o.requireProbes {
		r.cov.print(w)
	}
	fmt.Fprintf(w, "seeds=%d passed=%d failed=%d unknown=%d virtual=%.1fs wall=%.3fs speedup=%.0f\n",
		r.seen, r.passed, r.failed, r.unknown, r.virtual.Seconds(), wall.Seconds(), speedup)
	if missed := r.cov.missed(); r.o.requireProbes && len(missed) > 0 {
		fmt.Fprintf(r.stderr, "simrun: -require-probes: %d probes never reached: %s\n", len(missed), strings.Join(missed, ", "))
		return exitFail
	}
	if r.writeErr != nil {
		fmt.Fprintf(r.stderr, "simrun: writing results: %v\n", r.writeErr)
		return exitFail
	}
	if r.failed > 0 || r.unknown > 0 || r.seen != want {
		return exitFail
	}
	return exitPass
}

// scenarioJSON is the scenario as one line of JSON ("null" if none).
func scenarioJSON(s *harness.Scenario) []byte {
	if s == nil {
		return []byte("null")
	}
	return harness.MarshalScenario(*s)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func faultList(f []string) string {
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, ",")
}

const usage = `usage: go run ./cmd/simrun [flags]

Runs seeds of the seedkv simulation, checks each, prints a summary line.

  -seeds N       how many seeds (default 100)
  -seed S        first seed (default 1); -seeds 1 -seed S replays seed S
  -parallel P    worker goroutines, one world each (default: number of CPUs)
  -nodes N       cluster size, at most 51 (default 0: drawn per seed, 3..7)
  -clients N     workload clients (default 0: the scenario's clients per node)
  -duration D    virtual time per seed, a Go duration (default 10s)
  -faults LIST   swarm (default), none, all, or a comma list of fault names
  -trace         print the decoded event trace of each seed run (stderr
                 with -json): raft messages, client requests and responses,
                 disk writes and syncs, faults, timers, crashes, restarts
  -trace-from D  print only trace lines at or after virtual time D (a Go
                 duration such as 2.5s); with -trace or -out
  -trace-to D    print only trace lines before virtual time D (after
                 -trace-from); with -trace or -out
  -trace-node N[,N]  print only trace lines of these nodes (replicas 1..n,
                 clients 1001 and up): events at them, messages to or from
                 them, and the world's fault and heal events; with -trace
                 or -out
  -json          one JSON object per seed on stdout (summary on stderr)
  -out DIR       failing seeds leave report.html, trace, history,
                 visualisation and summary in DIR/seed-S
  -shard i/n     run only share i of n (1-based) of the seeds
  -reads MODE    linearizable (default) or serializable
  -checker C     revision (default), porcupine, or both (fail if they disagree)
  -probes        print a coverage report: every probe, the seeds that hit
                 it and the first one (stderr with -json)
  -require-probes  exit 1 if any probe was never reached
  -explore       search over scenarios guided by coverage instead of
                 running -seeds; -seed is the search seed
  -budget B      with -explore: runs (200) or wall time (10m); with
                 -shrink: runs or wall time (default 1m0s)
  -corpus DIR    with -explore: load, merge and save the corpus there
  -merge FILE... fold the -json lines of shard runs into one summary; one
                 replay command per failure signature (exit 2: bad input)
  -check-determinism  run each seed twice in two goroutines; a differing
                 trace hash fails the seed, naming the first differing event
  -scenario FILE run this scenario (the JSON object -json prints under
                 "scenario") instead of drawing one per seed; -nodes,
                 -duration, -faults and -reads given beside it override
                 its fields
  -shrink        minimise the failing run of -seed S while it fails with
                 the same class; writes the scenario to
                 DIR/shrunk-seed-S.json (-out DIR, default .), replays it
                 once to verify, prints sizes before and after (exit 0
                 shrunk and verified, 1 not failing or replay differed)

Exit status: 0 all passed, 1 a seed failed or was unknown, 2 bad usage.
`
