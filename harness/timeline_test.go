package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplicaTimeline: keeping artifacts samples every replica's state
// (in time order, one sample per change) without changing the run: the
// trace hash and verdict are those of the run without artifacts.
func TestReplicaTimeline(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "crash,partition"
	for seed := uint64(1); seed <= 3; seed++ {
		plain := Run(cfg, seed)
		kept := cfg
		kept.KeepArtifacts = true
		r := Run(kept, seed)
		require.Equal(t, plain.TraceHash, r.TraceHash, "seed %d", seed)
		require.Equal(t, plain.Verdict, r.Verdict, "seed %d", seed)
		require.Nil(t, plain.Artifacts)
		a := r.Artifacts
		require.NotNil(t, a)
		require.Len(t, a.Replicas, cfg.Nodes, "seed %d", seed)
		leaders := 0
		for _, rt := range a.Replicas {
			require.NotEmpty(t, rt.Samples)
			for i, s := range rt.Samples {
				require.LessOrEqual(t, s.At, a.End)
				if i == 0 {
					continue
				}
				prev := rt.Samples[i-1]
				require.LessOrEqual(t, prev.At, s.At)
				require.False(t, sameState(prev, s), "replica %d at %v: a sample only when the state changed", rt.ID, time.Duration(s.At))
				if s.Role != "down" && prev.Role != "down" && s.Role != "stopped" {
					require.GreaterOrEqual(t, s.Term, prev.Term, "replica %d: term went back at %v", rt.ID, time.Duration(s.At))
				}
				if s.Role == "leader" {
					leaders++
				}
			}
		}
		require.Positive(t, leaders, "seed %d: someone led", seed)
		for _, f := range a.Faults {
			require.LessOrEqual(t, f.Start, f.End)
			require.Contains(t, []string{"crash", "partition"}, f.Name)
		}
	}
}

// BenchmarkReplicaTimeline measures what sampling the replicas' states
// costs a run that keeps its artifacts (the re-run of a failing seed under
// -out), in CPU time, alternating sampling on and off over the same seeds.
func BenchmarkReplicaTimeline(b *testing.B) {
	requireNode(b)
	cfg := testConfig()
	cfg.KeepArtifacts = true
	defer func() { sampleReplicaStates = true }()
	var on, off time.Duration
	samples := 0
	seed := uint64(1)
	for b.Loop() {
		first := seed%2 == 0
		for _, sampling := range []bool{first, !first} {
			sampleReplicaStates = sampling
			r, spent := timedRun(cfg, seed)
			if sampling {
				on += spent
				for _, rt := range r.Artifacts.Replicas {
					samples += len(rt.Samples)
				}
			} else {
				off += spent
			}
		}
		seed++
	}
	n := float64(seed - 1)
	b.ReportMetric(float64(on.Microseconds())/1000/n, "cpu-ms/seed-sampled")
	b.ReportMetric(float64(off.Microseconds())/1000/n, "cpu-ms/seed-unsampled")
	b.ReportMetric(100*(on.Seconds()-off.Seconds())/off.Seconds(), "sampling-cost-%")
	b.ReportMetric(float64(samples)/n, "samples/seed")
}
