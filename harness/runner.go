package harness

import (
	"sync"
	"time"
)

// RunMany runs cfg for every seed in seeds on parallel worker goroutines,
// one world per goroutine, and calls each with the results in the order of
// seeds (not of completion), so output built from it is deterministic. It
// returns when every seed has been run and reported. If each returns false
// the remaining seeds are skipped (seeds already running finish first).
func RunMany(cfg Config, seeds []uint64, parallel int, each func(Result) bool) {
	RunManyWith(func(seed uint64) Result { return Run(cfg, seed) }, seeds, parallel, each)
}

// RunManyWith is RunMany with a custom per-seed function, for callers that
// need a different configuration per seed (such as a trace writer).
func RunManyWith(run func(seed uint64) Result, seeds []uint64, parallel int, each func(Result) bool) {
	if parallel < 1 {
		parallel = 1
	}
	if parallel > len(seeds) {
		parallel = len(seeds)
	}
	type done struct {
		i int
		r Result
	}
	jobs := make(chan int)
	results := make(chan done, parallel)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() { // deliberate: one worker goroutine per world, never inside a world; results are reordered by seed below
			defer wg.Done()
			for i := range jobs {
				results <- done{i, run(seeds[i])}
			}
		}()
	}
	go func() { // deliberate: feeds seed indices to the workers, outside every world
		defer close(jobs)
		for i := range seeds {
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }() // deliberate: closes results once all workers are done

	// Reorder: hold results that finished early until their turn.
	pending := make(map[int]Result)
	next, stopped := 0, false
	for d := range results {
		pending[d.i] = d.r
		for !stopped {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if !each(r) {
				stopped = true
				close(stop)
			}
		}
	}
}

// GCPercent is the garbage-collector target that batch runs of seeds use
// (cmd/simrun and the tests set it unless GOGC is set): a world allocates
// fast (about 18 MB per default seed) and keeps little (a few MB), so
// collecting less often saves CPU for memory. Measured on 300 default
// seeds with -parallel 1: GOGC 100 costs about 50% more CPU than 400;
// 800 about 10% less than 400 for a peak RSS of about 110 MB instead of
// 60 MB; 1200 gains little more for 160 MB.
const GCPercent = 800

// LongRunGCPercent is the collector target for runs of LongRun or more
// (cmd/simrun, unless GOGC is set). Such a run keeps tens of MB live (its
// checks' state), which GCPercent would let grow to about 9x before a
// collection: a 1 h 5-node seed (seed 1) peaked at 816 MB RSS with
// GCPercent and no memory limit, and at 194 MB with 100, for the same
// CPU time (23.6 and 24.1 user seconds; the run allocates little per
// op compared with what it keeps). See the README's Scaling section.
const LongRunGCPercent = 100

// GCPercentFor is the collector target simrun sets for runs of virtual
// duration d: GCPercent for short runs, LongRunGCPercent for long ones.
func GCPercentFor(d time.Duration) int {
	if d >= LongRun {
		return LongRunGCPercent
	}
	return GCPercent
}

// MemoryLimitPerWorker is the soft memory limit (runtime/debug
// SetMemoryLimit) that batch runs of seeds set per worker goroutine
// (cmd/simrun, unless GOMEMLIMIT is set): GCPercent lets the heap grow to
// about 9x what is live, which for a default seed is a few tens of MB but
// for a long run (a 1 h seed keeps 100 MB or more live at its end, most
// of it the client history) would be a gigabyte. Under the limit the
// collector runs more often instead. Measured on seeds 1 and 8 at -duration
// 1h: see the README's Scaling section.
const MemoryLimitPerWorker = 160 << 20
