package harness

import (
	"fmt"
	"math"
	"runtime/debug"
	"testing"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
)

// BenchmarkCheckerScaling reports the revision checker's CPU time per
// operation on histories of real runs from about 1k to 1M operations, with
// the write log's hints, as runs check them: seed 1 run for 30 s (about
// 1k ops) and that history tiled 16 and 1,000 times (up to 1M ops, the
// same shape: ratio-1M/1k), and seed 1 run for 5 min and for 1 h (read
// answers kept as digests, as long runs keep them): longer runs hold more
// keys, so their reads answer more and cost more per operation
// (ratio-max/min, the dearest size over the cheapest). The target: within
// 2x from 1k to 1M. The runs hold simrun's memory limit; the checks run
// with the default GC target and no limit (a 1M-op history is about 500
// MB live: under the limit the collector would run all the time), each
// tiling built only while it is checked.
func BenchmarkCheckerScaling(b *testing.B) {
	limit := debug.SetMemoryLimit(MemoryLimitPerWorker)
	defer debug.SetMemoryLimit(limit)
	type sized struct {
		name  string
		ops   []lin.Op
		hints lin.RevisionHints
		tiles int // > 0: ops and hints are this many tiles of sized 0
	}
	var hs []sized
	for _, d := range []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour} {
		cfg := DefaultConfig()
		cfg.Duration = d
		h, hints := realHistoriesHinted(b, cfg, 1)
		hs = append(hs, sized{name: d.String(), ops: h[0], hints: hints[0]})
	}
	for _, n := range []int{16, (1 << 20) / len(hs[0].ops)} {
		hs = append(hs, sized{name: fmt.Sprintf("30s-x%d", n), tiles: n})
	}
	debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	cpu := make([]time.Duration, len(hs))
	checked := make([]int, len(hs))
	size := make([]int, len(hs))
	for b.Loop() {
		for k, h := range hs {
			if h.tiles > 0 {
				h.ops, h.hints = tileHinted(hs[0].ops, hs[0].hints, h.tiles)
			}
			if v := lin.CheckRevisionsHinted(h.ops, 0, h.hints); v.Verdict != lin.Pass {
				b.Fatalf("%s: %v %s", h.name, v.Verdict, v.Reason)
			}
			size[k] = len(h.ops)
			reps := max(1, (1<<20)/len(h.ops)) // about 1M ops checked per size
			c0, ok := processCPU()
			if !ok {
				b.Skip("no process CPU time on this platform")
			}
			for range reps {
				lin.CheckRevisionsHinted(h.ops, 0, h.hints)
			}
			c1, _ := processCPU()
			cpu[k] += c1 - c0
			checked[k] += reps * len(h.ops)
		}
	}
	lo, hi := 0.0, 0.0
	per := make([]float64, len(hs))
	for k, h := range hs {
		per[k] = float64(cpu[k].Nanoseconds()) / float64(checked[k])
		b.ReportMetric(per[k], fmt.Sprintf("cpu-ns/op-%s-%dk", h.name, size[k]/1000))
		if lo == 0 || per[k] < lo {
			lo = per[k]
		}
		hi = max(hi, per[k])
	}
	b.ReportMetric(per[len(hs)-1]/per[0], "ratio-1M/1k")
	b.ReportMetric(hi/lo, "ratio-max/min")
}

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
