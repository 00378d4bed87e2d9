package harness

import (
	"testing"
	"time"
)

// BenchmarkSeedProbes measures what collecting coverage costs: each
// iteration runs one default seed twice, with Config.Probes on and off
// (alternating which goes first, so that drift in machine load cancels),
// and requires the same trace hash both ways. It reports the CPU time per
// seed each way and the probes' cost as a percentage of the run without
// them (the target is at most 3%).
//
//	go test ./harness -run '^$' -bench BenchmarkSeedProbes -benchtime 60x
func BenchmarkSeedProbes(b *testing.B) {
	requireNode(b)
	cfg := testConfig()
	var on, off time.Duration
	seed := uint64(1)
	for b.Loop() {
		first := seed%2 == 0
		var hashes [2]uint64
		for i, probes := range []bool{first, !first} {
			c := cfg
			c.Probes = probes
			r, spent := timedRun(c, seed)
			if r.Verdict != Pass {
				b.Fatalf("seed %d (probes %v): %s: %s", seed, probes, r.Verdict, firstLine(r.Reason))
			}
			if probes && len(r.Probes) == 0 {
				b.Fatalf("seed %d: probes on but none collected", seed)
			}
			hashes[i] = r.TraceHash
			if probes {
				on += spent
			} else {
				off += spent
			}
		}
		if hashes[0] != hashes[1] {
			b.Fatalf("seed %d: trace hash differs with and without probes", seed)
		}
		seed++
	}
	n := float64(seed - 1)
	b.ReportMetric(float64(on.Microseconds())/1000/n, "cpu-ms/seed-probes")
	b.ReportMetric(float64(off.Microseconds())/1000/n, "cpu-ms/seed-noprobes")
	b.ReportMetric(100*(on.Seconds()-off.Seconds())/off.Seconds(), "probes-cost-%")
}
