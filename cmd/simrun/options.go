package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/workloads"
)

// MaxSeeds bounds -seeds: the seed list is held in memory.
const MaxSeeds = 1 << 24

// MaxParallel bounds -parallel.
const MaxParallel = 1024

// usageError is a bad command line (exit status 2); its text fits on one
// line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef makes a usageError. A harness configuration error loses its
// generic prefix, which says nothing the flag name does not.
func usagef(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(msg, harness.ErrBadConfig.Error()+": ", "")
	return &usageError{msg}
}

// options is a parsed command line.
type options struct {
	seeds    uint64
	seed     uint64
	parallel int
	trace    bool
	json     bool
	out      string
	shardI   uint64 // 1-based share
	shardN   uint64 // number of shares; 1 means no sharding
	cfg      harness.Config
	// probes prints the coverage report; requireProbes fails the sweep
	// if a declared probe was never reached.
	probes, requireProbes bool
	// explore searches over scenarios (explore.go) instead of running
	// seeds; budget is runs or a wall-time duration, corpus the corpus
	// directory.
	explore bool
	budget  string
	corpus  string
	// replayFlags are the flags, as given, that change what a seed does;
	// the replay command repeats them.
	replayFlags []string
	// merge folds the -json lines in mergeFiles (merge.go) instead of
	// running seeds.
	merge      bool
	mergeFiles []string
	// checkDeterminism runs each seed twice, concurrently, and fails it
	// if the trace hashes differ (determinism.go).
	checkDeterminism bool
	// shrink minimises the failing run of -seed within -budget
	// (shrink.go) instead of running seeds.
	shrink bool
}

// parseArgs parses the command line into options. Every error but
// flag.ErrHelp is a *usageError.
func parseArgs(args []string) (options, error) {
	def := harness.DefaultConfig()
	o := options{cfg: def}
	fs := flag.NewFlagSet("simrun", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Uint64Var(&o.seeds, "seeds", 100, "how many seeds")
	fs.Uint64Var(&o.seed, "seed", 1, "first seed; -seeds 1 -seed S replays seed S")
	fs.IntVar(&o.parallel, "parallel", runtime.NumCPU(), "worker goroutines, one world each")
	// The default swarm draws the cluster size too (3..7, even sizes
	// included): a fixed size never meets a bug of even quorums.
	fs.IntVar(&o.cfg.Nodes, "nodes", 0, "cluster size (0, the default: drawn per seed, 3..7)")
	fs.IntVar(&o.cfg.Clients, "clients", 0, "workload clients (0: the scenario's clients per node)")
	fs.DurationVar(&o.cfg.Duration, "duration", def.Duration, "virtual time per seed")
	fs.StringVar(&o.cfg.Faults, "faults", def.Faults, "swarm, none, all, or a comma list of fault names")
	fs.BoolVar(&o.trace, "trace", false, "print the event trace of each seed run")
	fs.BoolVar(&o.json, "json", false, "one JSON object per seed on stdout")
	fs.StringVar(&o.out, "out", "", "directory for the artifacts of failing seeds")
	shard := fs.String("shard", "1/1", "run only share i of n of the seeds (i/n, 1-based)")
	reads := fs.String("reads", string(def.Reads), "linearizable or serializable")
	checker := fs.String("checker", string(def.Checker), "linearizability checker: revision, porcupine or both")
	window := fs.String("window", "auto", "check the history in a window as the run goes: auto (runs of 1m or more), off or always")
	scenarioFile := fs.String("scenario", "", "run this scenario (JSON, as -json prints it) instead of drawing one per seed")
	workload := fs.String("workload", "kv", "kv, election, lock, config or kubernetes")
	fs.BoolVar(&o.probes, "probes", false, "print a coverage report: each probe, how many seeds hit it, the first seed")
	fs.BoolVar(&o.requireProbes, "require-probes", false, "fail (exit 1) if a probe was never reached")
	fs.BoolVar(&o.explore, "explore", false, "search over scenarios guided by coverage (-seed is the search seed)")
	fs.StringVar(&o.budget, "budget", "200", "with -explore: runs (N) or wall time (a duration such as 10m)")
	fs.StringVar(&o.corpus, "corpus", "", "with -explore: corpus directory (loaded, merged, saved)")
	fs.BoolVar(&o.merge, "merge", false, "fold the -json lines of the files given as arguments into one summary")
	fs.BoolVar(&o.checkDeterminism, "check-determinism", false, "run each seed twice concurrently; differing traces fail")
	traceFrom := fs.String("trace-from", "0s", "print trace lines from this virtual time on (a Go duration)")
	traceTo := fs.String("trace-to", "", "print trace lines before this virtual time (a Go duration)")
	traceNode := fs.String("trace-node", "", "print only trace lines of these nodes (comma list of IDs)")
	fs.BoolVar(&o.shrink, "shrink", false, "minimise the failing run of -seed; write its scenario file")
	fencing := fs.Bool("fencing", workloads.DefaultOptions().Fencing, "lock workload: the resource checks fencing tokens")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	if o.merge {
		if fs.NArg() == 0 {
			return o, usagef("-merge: no files (simrun -merge FILE...)")
		}
		o.mergeFiles = fs.Args()
		return o, nil
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.cfg.Reads, err = harness.ParseReadMode(*reads); err != nil {
		return o, usagef("-reads: %v", err)
	}
	if o.cfg.Checker, err = harness.ParseChecker(*checker); err != nil {
		return o, usagef("-checker: %v", err)
	}
	if o.cfg.Window, err = harness.ParseHistoryWindow(*window); err != nil {
		return o, usagef("-window: %v", err)
	}
	if o.cfg.Workload, err = workloads.New(*workload, workloads.Options{Fencing: *fencing}); err != nil {
		return o, usagef("-workload: %v", err)
	}
	if o.shardI, o.shardN, err = parseShard(*shard); err != nil {
		return o, usagef("-shard: %v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.cfg.TraceFilter, err = parseTraceFilter(*traceFrom, *traceTo, *traceNode, set, o.trace || o.out != ""); err != nil {
		return o, err
	}
	if *scenarioFile != "" {
		if err := o.loadScenario(*scenarioFile, set); err != nil {
			return o, err
		}
	}
	if err := o.check(); err != nil {
		return o, err
	}
	if err := o.checkExplore(set); err != nil {
		return o, err
	}
	if err := o.checkShrink(set); err != nil {
		return o, err
	}
	o.cfg.Probes = true // cheap; every JSON line carries the seed's probes
	for _, name := range []string{"scenario", "nodes", "clients", "duration", "faults", "reads", "checker", "window", "workload", "fencing", "check-determinism"} {
		if !set[name] {
			continue
		}
		f := fs.Lookup(name)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			// "-fencing false" would end the flags at "false".
			o.replayFlags = append(o.replayFlags, "-"+name+"="+f.Value.String())
			continue
		}
		o.replayFlags = append(o.replayFlags, "-"+name, f.Value.String())
	}
	return o, nil
}

// loadScenario reads -scenario FILE and applies the flags given beside it
// (each overrides one field of the scenario).
func (o *options) loadScenario(path string, set map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("-scenario: %v", err)
	}
	defer f.Close()
	sc, err := harness.DecodeScenario(f, harness.DefaultScenario())
	if err != nil {
		return usagef("-scenario %s: %v", path, err)
	}
	if set["nodes"] {
		sc.Nodes = o.cfg.Nodes
	}
	if set["duration"] {
		sc.Duration = harness.Duration(o.cfg.Duration)
	}
	if set["reads"] {
		sc.Reads = o.cfg.Reads
	}
	if set["faults"] {
		if sc.Faults, err = harness.OverrideFaults(sc.Faults, o.cfg.Faults); err != nil {
			return usagef("-faults: %v", err)
		}
	}
	if err := sc.Validate(); err != nil {
		return usagef("-scenario %s: %v", path, err)
	}
	o.cfg.Scenario = &sc
	return nil
}

// check validates the parsed values.
func (o *options) check() error {
	switch {
	case o.seeds < 1 || o.seeds > MaxSeeds:
		return usagef("-seeds %d not in [1, %d]", o.seeds, MaxSeeds)
	case o.seed > math.MaxUint64-(o.seeds-1):
		return usagef("-seed %d with -seeds %d overflows uint64", o.seed, o.seeds)
	case o.parallel < 1 || o.parallel > MaxParallel:
		return usagef("-parallel %d not in [1, %d]", o.parallel, MaxParallel)
	}
	if err := o.cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// parseShard parses "i/n" with 1 <= i <= n.
func parseShard(s string) (i, n uint64, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not i/n", s)
	}
	if i, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%q is not i/n", s)
	}
	if n, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%q is not i/n", s)
	}
	if n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("%q: want 1 <= i <= n", s)
	}
	return i, n, nil
}

// seedList is this shard's seeds: the k-th seed of the batch (k from 0)
// belongs to share k mod n + 1.
func (o *options) seedList() []uint64 {
	var seeds []uint64
	for k := uint64(0); k < o.seeds; k++ {
		if k%o.shardN == o.shardI-1 {
			seeds = append(seeds, o.seed+k)
		}
	}
	return seeds
}

// replayCommand is the command that replays one seed with the same
// configuration.
func (o *options) replayCommand(seed uint64) string {
	parts := []string{"go", "run", "./cmd/simrun", "-seeds", "1", "-seed", strconv.FormatUint(seed, 10)}
	for _, f := range o.replayFlags {
		parts = append(parts, shellQuote(f))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,:=+", r)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
