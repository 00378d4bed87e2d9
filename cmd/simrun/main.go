// Command simrun runs many seeds of the seedkv simulation in parallel, each
// a whole cluster under a workload and a fault schedule, checks every run
// and prints a summary; a failing seed prints its reason and the exact
// command that replays it.
//
// Usage:
//
//	go run ./cmd/simrun [flags]
//
// Flags (README.md, "Flags"; fault names in docs/fault-model.md):
//
//	-seeds N       how many seeds (default 100)
//	-seed S        first seed (default 1); -seeds 1 -seed S replays seed S
//	-parallel P    worker goroutines, one world each (default: CPUs)
//	-nodes N       cluster size, at most 51 (default 0: drawn per seed, 3..7)
//	-clients N     workload clients (default 0: the scenario's clients per node)
//	-duration D    virtual time per seed (default 10s)
//	-faults LIST   swarm (default), none, all, or a comma list of fault names
//	-trace         print the event trace of each seed run (stderr with -json)
//	-json          one JSON object per seed on stdout (summary on stderr)
//	-out DIR       failing seeds leave report.html, trace, history, visualisation there
//	-shard i/n     run only share i (1-based) of n of the seeds
//	-reads MODE    linearizable (default) or serializable
//	-checker C     revision (default), porcupine, or both
//	-scenario FILE run this scenario (JSON) instead of drawing one per seed
//	-workload W    kv (default), election, lock, config or kubernetes
//	-fencing       lock workload: the resource checks fencing tokens (default true)
//	-merge FILE... fold shard runs' -json lines into one summary, one
//	               replay command per failure signature
//	-check-determinism  run each seed twice concurrently; differing traces fail
//	-shrink        minimise the failing run of -seed; write its scenario file
//
// Exit status: 0 all seeds passed, 1 a seed failed or was unknown, 2 bad
// usage (or, with -merge, bad input).
package main

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/seedkv/seedkv/harness"
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(harness.GCPercent)
		setGCPercent = func(d time.Duration) { debug.SetGCPercent(harness.GCPercentFor(d)) }
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limitMemory = func(parallel int) { debug.SetMemoryLimit(int64(parallel) * harness.MemoryLimitPerWorker) }
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
