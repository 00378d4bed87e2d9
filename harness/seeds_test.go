package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	flagSeed  = flag.Uint64("seed", 0, "replay this one seed verbosely, printing its trace (0: run the batch)")
	flagSeeds = flag.Int("seeds", 0, "how many seeds TestSeeds runs (0: 1000, or 50 with -short)")
	flagFirst = flag.Uint64("first", 1, "first seed of TestSeeds' batch")
)

// testConfig is the configuration the seed tests run: the default one.
func testConfig() Config { return DefaultConfig() }

func replayHint(seed uint64) string {
	return fmt.Sprintf("replay: go test ./harness -run 'TestSeeds$' -seed=%d -v   or   go run ./cmd/simrun -seeds 1 -seed %d", seed, seed)
}

// TestSeeds runs the default batch of seeds with the default fault swarm;
// every seed must pass. With -seed=S it replays seed S verbosely.
func TestSeeds(t *testing.T) {
	requireNode(t)
	if *flagSeed != 0 {
		replayOne(t, *flagSeed)
		return
	}
	n := *flagSeeds
	if n == 0 {
		n = 1000
		if testing.Short() {
			n = 50
		}
	}
	cfg := testConfig()
	var wall, check, virtual time.Duration
	ops, failed := 0, 0
	start := time.Now()
	RunMany(cfg, seedRange(*flagFirst, n), runtime.GOMAXPROCS(0), func(r Result) bool {
		wall += r.Wall
		check += r.CheckTime
		virtual += r.Virtual
		ops += r.Ops
		if r.Verdict != Pass {
			failed++
			t.Errorf("seed %d: %s: %s\n%s", r.Seed, r.Verdict, firstLine(r.Reason), replayHint(r.Seed))
		}
		return failed < 20 // enough to go on
	})
	elapsed := time.Since(start)
	t.Logf("%d seeds in %v: %.1f ms/seed (one core), %.0f ops/seed, speed-up %.0f, checking %.1f%%",
		n, elapsed.Round(time.Millisecond), float64(wall.Microseconds())/1000/float64(n), float64(ops)/float64(n),
		virtual.Seconds()/elapsed.Seconds(), 100*check.Seconds()/wall.Seconds())
}

// replayOne runs one seed with its trace on stdout and its account logged.
func replayOne(t *testing.T, seed uint64) {
	cfg := testConfig()
	cfg.TraceWriter = os.Stdout
	cfg.KeepArtifacts = true
	r := Run(cfg, seed)
	t.Logf("seed %d: verdict %s, trace hash %016x, %d ops, virtual %v, wall %v, check %v, faults %v",
		r.Seed, r.Verdict, r.TraceHash, r.Ops, r.Virtual, r.Wall, r.CheckTime, r.Faults)
	if r.Artifacts != nil {
		t.Logf("account:\n%s", r.Artifacts.Summary)
	}
	if r.Verdict != Pass {
		t.Fatalf("seed %d: %s: %s\n%s", seed, r.Verdict, r.Reason, replayHint(seed))
	}
}

// TestDeterminism: the same seeds at parallel 1 and 8 give the same trace
// hashes and results, with the default swarm and with every in-model fault
// (aimed faults, pauses and duplicate delays included).
func TestDeterminism(t *testing.T) {
	requireNode(t)
	n := 16
	if testing.Short() {
		n = 6
	}
	for _, faults := range []string{"swarm", "all"} {
		cfg := testConfig()
		cfg.Faults = faults
		requireSameAtParallel(t, cfg, n)
	}
}

func requireSameAtParallel(t *testing.T, cfg Config, n int) {
	collect := func(parallel int) []Result {
		var out []Result
		RunMany(cfg, seedRange(100, n), parallel, func(r Result) bool { out = append(out, r); return true })
		return out
	}
	one, eight := collect(1), collect(8)
	require.Len(t, eight, n)
	for i := range one {
		a, b := one[i], eight[i]
		require.Equal(t, a.Seed, b.Seed)
		require.Equal(t, a.TraceHash, b.TraceHash, "seed %d", a.Seed)
		require.Equal(t, a.Verdict, b.Verdict, "seed %d", a.Seed)
		require.Equal(t, a.Ops, b.Ops, "seed %d", a.Seed)
		require.Equal(t, a.Virtual, b.Virtual, "seed %d", a.Seed)
		require.Equal(t, a.Scenario, b.Scenario, "seed %d", a.Seed)
	}
}

// TestSerializableReadsAreCaught shows the checker's power: serializable
// (stale) reads under partitions must fail some seed within a few hundred,
// and the failure gets a visualisation.
func TestSerializableReadsAreCaught(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Reads = ReadsSerializable
	cfg.Faults = "partition"
	var found *Result
	RunMany(cfg, seedRange(1, 300), runtime.GOMAXPROCS(0), func(r Result) bool {
		if r.Verdict == Fail {
			found = &r
			return false
		}
		return true
	})
	require.NotNil(t, found, "no stale read found in 300 seeds: the checker is blind")
	t.Logf("seed %d: %s", found.Seed, firstLine(found.Reason))
	cfg.KeepArtifacts = true
	again := Run(cfg, found.Seed)
	require.Equal(t, Fail, again.Verdict)
	require.Equal(t, found.TraceHash, again.TraceHash)
	require.NotEmpty(t, again.Artifacts.Visualization)
	path := filepath.Join(t.TempDir(), "stale-read.html")
	require.NoError(t, os.WriteFile(path, again.Artifacts.Visualization, 0o644))
	t.Logf("visualisation: %s (%d bytes)", path, len(again.Artifacts.Visualization))
}

// BenchmarkSeed runs default seeds one after another on one goroutine.
func BenchmarkSeed(b *testing.B) {
	requireNode(b)
	b.ReportAllocs()
	cfg := testConfig()
	var check, virtual time.Duration
	var walls, cpus []time.Duration
	ops := 0
	seed := uint64(1)
	cpu0, cpuOK := processCPU()
	for b.Loop() {
		c0, _ := processCPU()
		r := Run(cfg, seed)
		if c1, ok := processCPU(); ok && cpuOK {
			cpus = append(cpus, c1-c0)
		}
		seed++
		if r.Verdict != Pass {
			b.Fatalf("seed %d: %s: %s", r.Seed, r.Verdict, firstLine(r.Reason))
		}
		check += r.CheckTime
		virtual += r.Virtual
		ops += r.Ops
		walls = append(walls, r.Wall)
	}
	slices.Sort(walls)
	b.ReportMetric(float64(walls[len(walls)/2].Microseconds())/1000, "median-ms/seed")
	if len(cpus) > 0 {
		// The median of each seed's process CPU time: unlike the wall
		// median it does not count the time other processes on a
		// shared machine hold the core (it does count their cache
		// pollution, and the collector's work during the seed).
		slices.Sort(cpus)
		b.ReportMetric(float64(cpus[len(cpus)/2].Microseconds())/1000, "median-cpu-ms/seed")
	}
	n := float64(seed - 1)
	el := b.Elapsed().Seconds()
	if cpu1, ok := processCPU(); ok && cpuOK {
		// CPU time is steadier than wall time on a shared machine; it
		// includes the GC and porcupine's own worker goroutines.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/n, "cpu-ms/seed")
	}
	b.ReportMetric(n/el, "seeds/s")
	b.ReportMetric(1000*el/n, "ms/seed")
	b.ReportMetric(virtual.Seconds()/el, "speedup")
	b.ReportMetric(check.Seconds()/el, "check-share")
	b.ReportMetric(float64(ops)/n, "ops/seed")
}
