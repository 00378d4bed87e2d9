package harness

import (
	"testing"
	"time"

	"github.com/seedkv/seedkv/internal/invariant"
)

// BenchmarkSeedAsserts measures what the always-on invariant checks cost:
// each iteration runs one default seed twice, with the checks on and off
// (alternating which goes first, so that drift in machine load cancels),
// and requires the same trace hash both ways. It reports the CPU time per
// seed each way and the checks' cost as a percentage of the run without
// them.
//
//	go test ./harness -run '^$' -bench BenchmarkSeedAsserts -benchtime 60x
func BenchmarkSeedAsserts(b *testing.B) {
	requireNode(b)
	cfg := testConfig()
	defer func() { invariant.Checks = true }()
	var on, off time.Duration
	seed := uint64(1)
	for b.Loop() {
		first := seed%2 == 0
		var hashes [2]uint64
		for i, checks := range []bool{first, !first} {
			invariant.Checks = checks
			r, spent := timedRun(cfg, seed)
			if r.Verdict != Pass {
				b.Fatalf("seed %d (checks %v): %s: %s", seed, checks, r.Verdict, firstLine(r.Reason))
			}
			hashes[i] = r.TraceHash
			if checks {
				on += spent
			} else {
				off += spent
			}
		}
		if hashes[0] != hashes[1] {
			b.Fatalf("seed %d: trace hash differs with and without the checks", seed)
		}
		seed++
	}
	n := float64(seed - 1)
	b.ReportMetric(float64(on.Microseconds())/1000/n, "cpu-ms/seed-checks")
	b.ReportMetric(float64(off.Microseconds())/1000/n, "cpu-ms/seed-nochecks")
	b.ReportMetric(100*(on.Seconds()-off.Seconds())/off.Seconds(), "checks-cost-%")
}
