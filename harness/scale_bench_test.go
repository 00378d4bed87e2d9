package harness

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
)

// BenchmarkCheckerScaling reports the revision checker's CPU time per
// operation on histories of real runs from about 3k to 1M operations, with
// the write log's hints, as runs check them: seed 1 run for 30 s (about
// 3k ops), 5 min and 1 h (read answers kept as digests, as long runs keep
// them), and for 1 h with realClients clients instead of the seed's 15
// (about 1M ops: ratio-1M/1k, the 1M run over the 30 s one); and the 30 s
// history tiled 16 times and to about 1M ops (the same shape on
// independent keys: ratio-1M-tiled/1k). Longer runs hold more keys, so
// their reads answer more and cost more per operation (ratio-max/min, the
// dearest size over the cheapest). The target: within 2x from 1k to 1M.
//
// Each history is built (run, or tiled) only when its turn comes and
// dropped after it, and the heap is collected before its checks, so a
// check pays for collecting its own history and garbage, as in a run, not
// for the other sizes' (a 1M-op history is a few hundred MB live). The
// runs hold simrun's memory limit but the 1M one (its history alone is
// above it: under the limit the collector would run all the time); the
// checks run with the default GC target and no limit. Setup takes a few
// minutes (the 1 h runs).
func BenchmarkCheckerScaling(b *testing.B) {
	limit := debug.SetMemoryLimit(MemoryLimitPerWorker)
	defer debug.SetMemoryLimit(limit)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	run := func(d time.Duration, clients int) func() ([]lin.Op, lin.RevisionHints) {
		return func() ([]lin.Op, lin.RevisionHints) {
			cfg := DefaultConfig()
			cfg.Duration, cfg.Clients = d, clients
			if clients > 0 {
				debug.SetMemoryLimit(math.MaxInt64)
				defer debug.SetMemoryLimit(MemoryLimitPerWorker)
			}
			h, hints := realHistoriesHinted(b, cfg, 1)
			return h[0], hints[0]
		}
	}
	var base []lin.Op // the 30 s history, which the tiled rows repeat
	var baseHints lin.RevisionHints
	tiled := func(n int) func() ([]lin.Op, lin.RevisionHints) {
		return func() ([]lin.Op, lin.RevisionHints) {
			if n == 0 { // about 1M ops
				n = (1 << 20) / len(base)
			}
			return tileHinted(base, baseHints, n)
		}
	}
	type sized struct {
		name  string
		build func() ([]lin.Op, lin.RevisionHints)
	}
	rows := []sized{
		{"30s", run(30*time.Second, 0)},
		{"5m0s", run(5*time.Minute, 0)},
		{"1h0m0s", run(time.Hour, 0)},
		{fmt.Sprintf("1h0m0s-c%d", realClients), run(time.Hour, realClients)},
		{"30s-x16", tiled(16)},
		{"30s-tiled", tiled(0)},
	}
	const first, real1M, tiled1M = 0, 3, 5
	cpu := make([]time.Duration, len(rows))
	checked := make([]int, len(rows))
	size := make([]int, len(rows))
	for b.Loop() {
		for k, r := range rows {
			b.StopTimer()
			h, hints := r.build()
			if k == first {
				base, baseHints = h, hints
			}
			debug.SetMemoryLimit(math.MaxInt64)
			if v := lin.CheckRevisionsHinted(h, 0, hints); v.Verdict != lin.Pass {
				b.Fatalf("%s: %v %s", r.name, v.Verdict, v.Reason)
			}
			runtime.GC()
			b.StartTimer()
			size[k] = len(h)
			reps := max(1, (1<<20)/len(h)) // about 1M ops checked per size
			c0, ok := processCPU()
			if !ok {
				b.Skip("no process CPU time on this platform")
			}
			for range reps {
				lin.CheckRevisionsHinted(h, 0, hints)
			}
			c1, _ := processCPU()
			debug.SetMemoryLimit(MemoryLimitPerWorker)
			cpu[k] += c1 - c0
			checked[k] += reps * len(h)
		}
		base, baseHints = nil, nil
	}
	lo, hi := 0.0, 0.0
	per := make([]float64, len(rows))
	for k, r := range rows {
		per[k] = float64(cpu[k].Nanoseconds()) / float64(checked[k])
		b.ReportMetric(per[k], fmt.Sprintf("cpu-ns/op-%s-%dk", r.name, size[k]/1000))
		if lo == 0 || per[k] < lo {
			lo = per[k]
		}
		hi = max(hi, per[k])
	}
	b.ReportMetric(per[real1M]/per[first], "ratio-1M/1k")
	b.ReportMetric(per[tiled1M]/per[first], "ratio-1M-tiled/1k")
	b.ReportMetric(hi/lo, "ratio-max/min")
}

// realClients is the number of clients of BenchmarkCheckerScaling's
// 1M-op run: seed 1 at 1 h with its 15 clients makes about 390k ops.
const realClients = 40

// tileHinted is tile with the hints tiled alike.
func tileHinted(h []lin.Op, hints lin.RevisionHints, n int) ([]lin.Op, lin.RevisionHints) {
	var maxRev int64
	for i := range h {
		if !h[i].Failed && !h[i].Unknown {
			maxRev = max(maxRev, h[i].Output.Revision)
		}
	}
	out := lin.RevisionHints{}
	for j := 0; j < n; j++ {
		pre := fmt.Sprintf("/t%d", j)
		for rev, keys := range hints {
			ks := make([]string, len(keys))
			for i, k := range keys {
				ks[i] = pre + k
			}
			out[rev+int64(j)*maxRev] = ks
		}
	}
	return tile(h, n), out
}

// BenchmarkClusterSizeRatio runs the same seeds at 5 and at 51 replicas
// with the same 15 clients and reports the CPU and wall time per virtual
// second per replica of each and their ratio (target: 51 nodes at most 2x
// 5 nodes). CPU time is the figure to trust on a shared machine.
func BenchmarkClusterSizeRatio(b *testing.B) {
	requireNode(b)
	sizes := []int{5, 51}
	var cpu, wall [2]time.Duration
	var perReplica [2]float64 // virtual replica-seconds
	seed := uint64(1)
	for b.Loop() {
		for k, nodes := range sizes {
			cfg := testConfig()
			cfg.Nodes, cfg.Clients = nodes, 15
			c0, ok := processCPU()
			if !ok {
				b.Skip("no process CPU time on this platform")
			}
			r := Run(cfg, seed)
			c1, _ := processCPU()
			if r.Verdict != Pass {
				b.Fatalf("seed %d at %d nodes: %s: %s", seed, nodes, r.Verdict, firstLine(r.Reason))
			}
			cpu[k] += c1 - c0
			wall[k] += r.Wall
			perReplica[k] += r.Virtual.Seconds() * float64(nodes)
		}
		seed++
	}
	var cpuPer, wallPer [2]float64
	for k, nodes := range sizes {
		cpuPer[k] = float64(cpu[k].Microseconds()) / 1000 / perReplica[k]
		wallPer[k] = float64(wall[k].Microseconds()) / 1000 / perReplica[k]
		b.ReportMetric(cpuPer[k], fmt.Sprintf("cpu-ms/virtual-s/replica-%d", nodes))
		b.ReportMetric(wallPer[k], fmt.Sprintf("ms/virtual-s/replica-%d", nodes))
	}
	b.ReportMetric(cpuPer[1]/cpuPer[0], "cpu-ratio-51/5")
	b.ReportMetric(wallPer[1]/wallPer[0], "wall-ratio-51/5")
}
