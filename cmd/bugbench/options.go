package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/seedkv/seedkv/bugbench"
)

// Limits on the command line.
const (
	maxSeeds   = 1_000_000
	maxWorkers = 8
)

const usage = `usage: bugbench [flags]

Applies each planted bug of the catalogue (package bugbench) to a temporary
copy of the module, builds simrun there and runs seeds until one fails.
Prints a table (bug, group, caught, first failing seed, failing seeds,
reason) and the score. Mutants the catalogue argues cannot show in the
system (bugbench.Bug.Equivalent) are run too but scored apart:
"equivalent=N equivalent_caught=K"; K > 0 means an argument broke.

flags:
  -seeds N        seeds per bug (default 1000)
  -seed S         first seed (default 1)
  -bugs a,b,c     only these bugs (default: all; see -list)
  -all            run every seed and list every failing one (default: stop
                  a bug at its first failure)
  -targeted       also run each bug with its targeted simrun flags
  -unit           also run the unit tests of the mutated package
  -flags "..."    extra simrun flags for every run (e.g. "-nodes 3")
  -explore        run simrun -explore (coverage-guided search) with a budget
                  of -seeds runs and -seed as its search seed, instead of
                  swarm seeds; runs_to_first in -json counts runs to the
                  first failure
  -shrink         shrink each caught bug's first failing seed with simrun
                  -shrink in the mutated copy and print a table of events
                  and operations before and after (median reductions)
  -shrink-budget B  per seed: runs or wall time (default 60s)
  -parallel P     bugs measured at once (default 2, at most 8); each simrun
                  runs with -parallel 1
  -timeout D      wall-time limit of one simrun or unit-test run (default 20m)
  -json           one JSON document instead of the table
  -require-caught exit 1 unless every selected bug is caught and no
                  equivalent mutant is (CI smoke)
  -list           list the catalogue and exit
  -check          only apply each bug to a copy and build it (go build ./...):
                  after a rebase, shows that every mutant still compiles
  -root DIR       module root (default: found from the working directory)
  -keep           keep the temporary copies (their paths go to stderr)

exit status: 0 done, 1 a bug did not apply or build (or, with
-require-caught, one was missed), 2 bad usage.
`

// options is the parsed command line.
type options struct {
	seeds         int
	seed          uint64
	bugs          []bugbench.Bug
	all           bool
	targeted      bool
	unit          bool
	extra         []string
	parallel      int
	timeout       time.Duration
	json          bool
	requireCaught bool
	list          bool
	check         bool
	root          string
	keep          bool
	explore       bool
	corpus        string
	shrink        bool
	shrinkBudget  string
}

// parseArgs parses args; a bad one is an error naming it.
func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bugbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	seed := fs.Uint64("seed", 1, "")
	bugs := fs.String("bugs", "", "")
	extra := fs.String("flags", "", "")
	fs.IntVar(&o.seeds, "seeds", 1000, "")
	fs.BoolVar(&o.all, "all", false, "")
	fs.BoolVar(&o.targeted, "targeted", false, "")
	fs.BoolVar(&o.unit, "unit", false, "")
	fs.IntVar(&o.parallel, "parallel", 2, "")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.BoolVar(&o.requireCaught, "require-caught", false, "")
	fs.BoolVar(&o.list, "list", false, "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.StringVar(&o.root, "root", "", "")
	fs.BoolVar(&o.keep, "keep", false, "")
	fs.BoolVar(&o.explore, "explore", false, "")
	fs.StringVar(&o.corpus, "corpus", "", "")
	fs.BoolVar(&o.shrink, "shrink", false, "")
	fs.StringVar(&o.shrinkBudget, "shrink-budget", "60s", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errors.New(firstLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.seed = *seed
	switch {
	case o.seeds < 1 || o.seeds > maxSeeds:
		return o, fmt.Errorf("-seeds %d out of range [1, %d]", o.seeds, maxSeeds)
	case o.seed == 0:
		return o, errors.New("-seed must be at least 1")
	case o.parallel < 1 || o.parallel > maxWorkers:
		return o, fmt.Errorf("-parallel %d out of range [1, %d]", o.parallel, maxWorkers)
	case o.timeout <= 0:
		return o, fmt.Errorf("-timeout %v must be positive", o.timeout)
	case o.corpus != "" && !o.explore:
		return o, errors.New("-corpus needs -explore")
	}
	if err := checkShrinkBudget(o.shrinkBudget); err != nil {
		return o, err
	}
	var names []string
	if *bugs != "" {
		names = strings.Split(*bugs, ",")
	}
	sel, err := bugbench.Lookup(names)
	if err != nil {
		return o, fmt.Errorf("-bugs: %w", err)
	}
	o.bugs = sel
	o.extra = strings.Fields(*extra)
	for _, f := range o.extra {
		switch strings.TrimLeft(strings.SplitN(f, "=", 2)[0], "-") {
		case "seeds", "seed", "json", "parallel", "out", "trace", "corpus":
			return o, fmt.Errorf("-flags: %s is set by bugbench itself", f)
		}
	}
	return o, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
