package harness

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLongSeedHeap runs seed 1 (then 2, ...) for one virtual hour
// with 5 nodes and reports the live heap after a full collection at 10,
// 30 and 60 virtual minutes (heap-MB-10m, -30m, -60m), their ratio
// (heap-60m/10m: flat is 1), the highest live heap during the checks
// after the run (heap-MB-checks: the peak a process sees) and the CPU
// seconds per seed. The soft
// memory limit is off (simrun sets one per worker; here the figures are
// what the run keeps, not what the collector was pushed to).
// BENCH_WINDOW=off measures the whole-history run instead; BENCH_SEED=S
// starts at seed S (S, S+1, ... with -benchtime Nx); BENCH_NODES=N runs
// N replicas (0: drawn per seed, as simrun does without -nodes);
// BENCH_HEAPPROFILE=prefix writes a heap profile at each mark
// (prefix-10m0s.pprof, ...) for `go tool pprof -sample_index=inuse_space`.
func BenchmarkLongSeedHeap(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(1 << 62)
	cfg := DefaultConfig()
	cfg.Duration, cfg.Nodes = time.Hour, 5
	if w := HistoryWindow(os.Getenv("BENCH_WINDOW")); w != "" {
		cfg.Window = w
	}
	marks := []time.Duration{10 * time.Minute, 30 * time.Minute, 60 * time.Minute}
	heap := make([]float64, len(marks))
	failed := 0
	atCheck, atStage := 0.0, ""
	if s := os.Getenv("BENCH_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BENCH_NODES=%q: %v", s, err)
		}
		cfg.Nodes = n
	}
	first := uint64(1)
	if s := os.Getenv("BENCH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			b.Fatalf("BENCH_SEED=%q: %v", s, err)
		}
		first = n
	}
	cpu0, _ := processCPU()
	for i := 0; i < b.N; i++ {
		seed := first + uint64(i)
		next := 0
		sliceHook = func(elapsed time.Duration) {
			if next < len(marks) && elapsed >= marks[next] {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heap[next] = max(heap[next], float64(ms.HeapAlloc)/(1<<20))
				writeHeapProfile(b, marks[next].String())
				next++
			}
		}
		checkHook = func(stage string) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if mb := float64(ms.HeapAlloc) / (1 << 20); mb > atCheck {
				atCheck, atStage = mb, stage
				writeHeapProfile(b, "check")
			}
		}
		res := Run(cfg, seed)
		sliceHook, checkHook = nil, nil
		if res.Verdict != Pass {
			failed++
			b.Logf("seed %d: %v: %.200s", seed, res.Verdict, res.Reason)
		}
		b.Logf("seed %d: window %s", seed, res.window)
	}
	for k, m := range marks {
		b.ReportMetric(heap[k], "heap-MB-"+m.String())
	}
	b.ReportMetric(atCheck, "heap-MB-checks")
	b.Logf("the checks' live heap peaked at %.1f MB after %s", atCheck, atStage)
	if heap[0] > 0 {
		b.ReportMetric(heap[2]/heap[0], "heap-60m/10m")
	}
	cpu1, _ := processCPU()
	b.ReportMetric((cpu1-cpu0).Seconds()/float64(b.N), "cpu-s/seed")
	b.ReportMetric(float64(failed), "failed-seeds")
}

// writeHeapProfile writes the live heap's profile at a mark when
// BENCH_HEAPPROFILE names a file prefix.
func writeHeapProfile(b *testing.B, mark string) {
	prefix := os.Getenv("BENCH_HEAPPROFILE")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "-" + mark + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
