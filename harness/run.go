package harness

import (
	"fmt"
	"runtime/debug"
	"time"
)

// Run runs one seed end to end and returns its result. It never panics: a
// panic anywhere in the world, the cluster or the checks becomes a Fail
// verdict whose reason carries the stack.
func Run(cfg Config, seed uint64) (res Result) {
	start := time.Now()
	res = Result{Seed: seed, Verdict: Fail}
	defer func() {
		if p := recover(); p != nil {
			res.Verdict = Fail
			res.Reason = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
		}
		res.Wall = time.Since(start)
	}()
	if err := cfg.Validate(); err != nil {
		res.Reason = err.Error()
		return res
	}
	return runSeed(cfg, seed, res)
}

// runSeed is the body of Run; a placeholder until the world exists.
func runSeed(cfg Config, seed uint64, res Result) Result {
	res.Verdict = Pass
	res.TraceHash = seed * 0x9e3779b97f4a7c15
	res.Virtual = cfg.Duration
	return res
}
