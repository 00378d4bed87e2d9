package harness

import "time"

// timedRun runs one seed and returns its result and the process CPU time
// it took, or its wall time where CPU time is not measured. Benchmarks that
// compare two settings of the same seeds in one run use it.
func timedRun(cfg Config, seed uint64) (Result, time.Duration) {
	cpu0, _ := processCPU()
	t0 := time.Now()
	r := Run(cfg, seed)
	spent := time.Since(t0)
	if cpu1, ok := processCPU(); ok {
		spent = cpu1 - cpu0
	}
	return r, spent
}
