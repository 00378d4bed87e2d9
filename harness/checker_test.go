package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

// realHistories runs seeds and returns their settled client histories,
// as the checkers see them.
func realHistories(t testing.TB, cfg Config, seeds ...uint64) [][]lin.Op {
	hs, _ := realHistoriesHinted(t, cfg, seeds...)
	return hs
}

// realHistoriesHinted is realHistories with the write log's hints the
// revision checker got with each history.
func realHistoriesHinted(t testing.TB, cfg Config, seeds ...uint64) ([][]lin.Op, []lin.RevisionHints) {
	var hs [][]lin.Op
	var hints []lin.RevisionHints
	historyHook = func(ops []lin.Op, h lin.RevisionHints) {
		hs, hints = append(hs, slices.Clone(ops)), append(hints, h)
	}
	defer func() { historyHook = nil }()
	for _, s := range seeds {
		res := Run(cfg, s)
		require.Equal(t, Pass, res.Verdict, "seed %d: %s", s, res.Reason)
	}
	require.Len(t, hs, len(seeds))
	return hs, hints
}

// tile repeats a history n times, one copy after another in time and in
// revisions, each copy on its own keys (prefixed "/t<j>") with its own
// values: a long history with the shape of a real one. Compares on
// revisions keep their meaning (0 stays "absent").
func tile(h []lin.Op, n int) []lin.Op {
	var maxRev, span int64
	for i := range h {
		if !h[i].Failed && !h[i].Unknown {
			maxRev = max(maxRev, h[i].Output.Revision)
		}
		span = max(span, h[i].Call)
		if h[i].Return != lin.UnknownReturn {
			span = max(span, h[i].Return)
		}
	}
	span++
	out := make([]lin.Op, 0, n*len(h))
	for j := 0; j < n; j++ {
		pre, dr, dt := fmt.Sprintf("/t%d", j), int64(j)*maxRev, int64(j)*span
		for _, op := range h {
			out = append(out, shiftOp(op, pre, dr, dt))
		}
	}
	return out
}

// shiftOp moves one operation into copy (pre, revisions +dr, times +dt).
func shiftOp(op lin.Op, pre string, dr, dt int64) lin.Op {
	rev := func(r int64) int64 {
		if r > 0 {
			return r + dr
		}
		return r
	}
	kvs := func(in []lin.KV) []lin.KV {
		if in == nil {
			return nil
		}
		out := make([]lin.KV, len(in))
		for i, kv := range in {
			out[i] = lin.KV{Key: pre + kv.Key, Value: pre + kv.Value, ModRevision: rev(kv.ModRevision), CreateRevision: rev(kv.CreateRevision), Version: kv.Version}
		}
		return out
	}
	txnOps := func(in []lin.TxnOp) []lin.TxnOp {
		out := make([]lin.TxnOp, len(in))
		for i, t := range in {
			out[i] = lin.TxnOp{Kind: t.Kind, Key: pre + t.Key, Value: pre + t.Value}
		}
		return out
	}
	in := op.Input
	in.Key, in.Value = pre+in.Key, pre+in.Value
	in.Compares = slices.Clone(in.Compares)
	for i := range in.Compares {
		c := &in.Compares[i]
		c.Key = pre + c.Key
		switch c.Target {
		case lin.TargetValue:
			c.Value = pre + c.Value
		case lin.TargetModRevision, lin.TargetCreateRevision:
			c.Num = rev(c.Num)
		}
	}
	in.Then, in.Else = txnOps(in.Then), txnOps(in.Else)
	op.Input = in
	op.Call += dt
	if op.Return != lin.UnknownReturn {
		op.Return += dt
	}
	if !op.Failed && !op.Unknown {
		out := op.Output
		out.Revision += dr // a header revision: 0 is the empty store, which copy j starts from at dr
		out.KVs = kvs(out.KVs)
		out.TxnKVs = make([][]lin.KV, len(op.Output.TxnKVs))
		for i, k := range op.Output.TxnKVs {
			out.TxnKVs[i] = kvs(k)
		}
		op.Output = out
	}
	return op
}

// The checkers agree on real histories and on mutations of them: a stale
// or garbled answer, a lost effect, a shifted time.
func TestCheckersAgreeOnRealHistories(t *testing.T) {
	// Four-second runs: porcupine's search grows steeply with the
	// workload's concurrency (pipelined clients), and a mutation it cannot
	// decide within its budget only costs time; short histories keep it
	// deciding.
	cfg := DefaultConfig()
	cfg.Duration = 4 * time.Second
	hs := realHistories(t, cfg, 1, 2, 3, 4)
	rng := rand.New(rand.NewPCG(7, 7))
	var fails int
	for k, h := range hs {
		require.Equal(t, lin.Pass, lin.CheckRevisions(h, 0).Verdict)
		for m := 0; m < 40; m++ {
			bad := mutateReal(rng, h)
			por := lin.Check(lin.StoreModel(), bad, 5*time.Second)
			rev := lin.CheckRevisions(bad, 0)
			if por != lin.Unknown {
				require.Equal(t, por, rev.Verdict, "seed %d mutation %d: %s", k+1, m, rev.Reason)
			}
			if rev.Verdict == lin.Fail {
				fails++
			}
		}
	}
	require.Greater(t, fails, 40, "mutations of real histories are mostly caught")
}

// mutateReal breaks one completed operation's answer or timing.
func mutateReal(rng *rand.Rand, h []lin.Op) []lin.Op {
	out := slices.Clone(h)
	for {
		o := &out[rng.IntN(len(out))]
		if o.Failed || o.Unknown {
			continue
		}
		switch rng.IntN(4) {
		case 0:
			o.Output.Revision += int64(1 + rng.IntN(3))
		case 1:
			o.Output.Revision--
		case 2:
			if len(o.Output.KVs) == 0 {
				continue
			}
			o.Output.KVs = slices.Clone(o.Output.KVs)
			o.Output.KVs[rng.IntN(len(o.Output.KVs))].Value += "x"
		default:
			if o.Return == lin.UnknownReturn {
				continue
			}
			d := o.Return - o.Call + 1
			o.Call, o.Return = o.Call+d*int64(2+rng.IntN(20)), o.Return+d*int64(2+rng.IntN(20))
			o.Return = max(o.Return, o.Call) // a return before its call is no history at all
		}
		return out
	}
}

// BenchmarkCheckRevisions checks real-run histories tiled to 1k .. 1M
// operations: the revision checker's ns/op stays flat (target: within 2x
// from 1k to 1M). porcupine is measured up to 10k for comparison.
func BenchmarkCheckRevisions(b *testing.B) {
	base := realHistories(b, DefaultConfig(), 3)[0]
	for _, n := range []int{1, 10, 100, 1000} {
		h := tile(base, n)
		if v := lin.CheckRevisions(h, 0); v.Verdict != lin.Pass {
			b.Fatalf("%d tiles: %v %s", n, v.Verdict, v.Reason)
		}
		name := fmt.Sprintf("ops=%dk", len(h)/1000)
		b.Run("revision/"+name, func(b *testing.B) {
			cpu0, _ := processCPU()
			for b.Loop() {
				lin.CheckRevisions(h, 0)
			}
			cpu1, ok := processCPU()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(h)), "ns/op-checked")
			if ok {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N*len(h)), "cpu-ns/op-checked")
			}
		})
		if n <= 10 {
			b.Run("porcupine/"+name, func(b *testing.B) {
				for b.Loop() {
					lin.Check(lin.StoreModel(), h, time.Minute)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(h)), "ns/op-checked")
			})
		}
	}
}

// BenchmarkClusterSize runs default seeds at 5, 15 and 51 replicas with
// the same 15 clients and reports the CPU time per virtual second per
// replica (target: 51 nodes at most 2x 5 nodes). Each replica applies
// every write, so with clients growing with the cluster (the default 3
// per node) the cost per replica grows with the cluster too.
func BenchmarkClusterSize(b *testing.B) {
	requireNode(b)
	for _, nodes := range []int{5, 15, 51} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			cfg := testConfig()
			cfg.Nodes, cfg.Clients = nodes, 15
			var virtual time.Duration
			seed := uint64(1)
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				r := Run(cfg, seed)
				seed++
				if r.Verdict != Pass {
					b.Fatalf("seed %d: %s: %s", r.Seed, r.Verdict, r.Reason)
				}
				virtual += r.Virtual
			}
			perReplica := virtual.Seconds() * float64(nodes)
			b.ReportMetric(b.Elapsed().Seconds()*1000/perReplica, "ms/virtual-s/replica")
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/perReplica, "cpu-ms/virtual-s/replica")
			}
		})
	}
}
