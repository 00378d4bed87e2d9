package linearizability

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// noise is linearizable traffic on other keys, interleaved with a
// violation: the witness must leave it out.
func noise(h []Op, from int64, n int) []Op {
	rev := from
	made := map[string]KV{}
	for i := 0; i < n; i++ {
		rev++
		t := int64(1000 + 100*i)
		key := fmt.Sprintf("/n%d", i%3)
		k, ok := made[key]
		if !ok {
			k = KV{Key: key, CreateRevision: rev}
		}
		k.Value, k.ModRevision, k.Version = fmt.Sprintf("n%d", i), rev, k.Version+1
		made[key] = k
		h = append(h, op(7, t, t+10, Put(key, k.Value), wrote(rev)), op(8, t+20, t+30, Get(key), got(rev, k)))
	}
	return h
}

// Each kind of violation shrinks to the few operations that contradict
// each other, whatever else the history holds.
func TestMinimalWitnessTable(t *testing.T) {
	cas := func(num int64, v string) Input {
		return CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: num}, v)
	}
	cases := []struct {
		name string
		h    []Op
		want []int // the witness
	}{
		{"stale header revision", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 20, 30, Put("/k", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
		}, []int{1, 2}},
		{"stale value at a fresh header", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 20, 30, Put("/k", "v2"), wrote(2)),
			op(1, 25, 50, Get("/k"), got(2, kv("/k", "v1", 1, 1, 1))),
		}, []int{1, 2}},
		{"lost write", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Put("/j", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(2)),
		}, []int{0, 2}}, // put /j at revision 2 wrote no /k: not needed
		{"read from the future", []Op{
			op(1, 0, 10, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
			op(0, 20, 30, Put("/k", "v1"), wrote(1)),
		}, []int{0, 1}},
		{"two writes claim one revision", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 0, 10, Put("/j", "v2"), wrote(1)),
		}, []int{0, 1}},
		{"cas succeeded twice on one version", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, cas(1, "v2"), Output{Succeeded: true, Revision: 2}),
			op(2, 40, 50, cas(1, "v3"), Output{Succeeded: true, Revision: 3}),
		}, []int{0, 1, 2}}, // without put 0, /k's version after cas 1 is unknown
		{"a revision above every write", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 20, 30, Get("/k"), got(1<<60)),
		}, []int{1}},
		{"a read of a value never written at its revision", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Get("/k"), got(1, kv("/k", "v9", 1, 1, 1))),
		}, []int{0, 1}},
		{"a revision no write could create", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 30, 40, Put("/k", "v2"), wrote(3)),
			unknown(1, 50, Delete("/z")), // called after put 1 saw revision 3
		}, []int{1}},
		{"delete of a missing key", []Op{
			op(0, 0, 10, Put("/j", "v1"), wrote(1)),
			op(0, 20, 30, Delete("/k"), Output{Deleted: 1, Revision: 2}),
		}, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range [][]Op{tc.h, noise(slices.Clone(tc.h), maxRevision(tc.h), 12)} {
				require.Equal(t, Fail, CheckRevisions(h, 0).Verdict)
				w, err := MinimalWitness(h)
				require.NoError(t, err)
				require.Equal(t, tc.want, w.Ops, w.Reason)
				require.NotEmpty(t, w.Reason)
				// The reason names the op that failed (the last of the
				// witness here); the harness lists them all.
				require.Contains(t, w.Reason, fmt.Sprintf("op %d ", w.Ops[len(w.Ops)-1]))
				require.Equal(t, Fail, CheckWitness(h, w.Ops).Verdict)
			}
		})
	}
}

func maxRevision(h []Op) int64 {
	var m int64
	for _, o := range h {
		if o.Output.Revision < 1<<32 {
			m = max(m, o.Output.Revision)
		}
	}
	return m
}

// A witness check trusts nothing about a key a left-out write may have
// written, and everything about a key none did.
func TestCheckWitnessLeftOutWrites(t *testing.T) {
	h := []Op{
		op(0, 0, 10, Put("/k", "v1"), wrote(1)),
		op(0, 20, 30, Put("/k", "v2"), wrote(2)),
		op(1, 40, 50, Get("/k"), got(2, kv("/k", "v2", 2, 1, 2))),
		op(0, 60, 70, Put("/j", "w"), wrote(3)),
		op(1, 80, 90, Get("/k"), got(3, kv("/k", "v2", 2, 1, 2))),
		unknown(2, 95, Delete("/k")),
		op(1, 200, 210, Get("/k"), got(4)),
	}
	require.Equal(t, Pass, CheckRevisions(h, 0).Verdict)
	for _, ids := range [][]int{{0, 2}, {0, 4}, {2, 4}, {0, 1, 2, 3, 4}, {0, 6}, {1, 6}, {0, 1, 2, 3, 4, 5, 6}} {
		require.Equal(t, Pass, CheckWitness(h, ids).Verdict, "%v", ids)
	}
	// Made to read v1 at revision 2: put 0 and the read alone pass (put 1,
	// left out, may have written anything), with put 1 they fail.
	bad := slices.Clone(h)
	bad[2].Output = got(2, kv("/k", "v1", 1, 1, 1))
	require.Equal(t, Pass, CheckWitness(bad, []int{0, 2}).Verdict)
	require.Equal(t, Fail, CheckWitness(bad, []int{1, 2}).Verdict)
	// The unknown delete may be what emptied /k at revision 4; had it
	// deleted another key, nothing could have.
	gone := slices.Clone(h)
	gone[5].Input = Delete("/j")
	r := CheckWitness(gone, []int{4, 6})
	require.Equal(t, Fail, r.Verdict)
	require.Contains(t, r.Reason, "no write left out touched /k")
	require.Equal(t, Unknown, CheckWitness(h, []int{99}).Verdict)
}

// A linearizable history, and one whose failure only the whole history
// shows, have no witness.
func TestMinimalWitnessNone(t *testing.T) {
	h := genHistory(rand.New(rand.NewPCG(1, 2)), genConfig{clients: 3, ops: 60, keys: 3, multiKey: true, unknown: 0.1})
	_, err := MinimalWitness(h)
	require.ErrorIs(t, err, ErrNoWitness)
	// Revision 2 was created by no write: the search over the unknown
	// writes says so, no sub-history can.
	gap := []Op{
		op(0, 0, 10, Put("/k", "v1"), wrote(1)),
		unknown(2, 5, Delete("/z")),
		op(1, 20, 30, Put("/k", "v2"), wrote(3)),
	}
	require.Equal(t, Fail, CheckRevisions(gap, 0).Verdict)
	_, err = MinimalWitness(gap)
	require.ErrorIs(t, err, ErrNoWitness)
}

// Sound: no sub-history of a linearizable history fails the witness
// check, so a failing one proves a violation.
func TestPropertyWitnessSound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, rapid.Bool().Draw(t, "multiKey"))
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 5))
		h := genHistory(rng, cfg)
		for k := 0; k < 8; k++ {
			var ids []int
			for i := range h {
				if rng.IntN(3) > 0 {
					ids = append(ids, i)
				}
			}
			r := CheckWitness(h, ids)
			require.Equal(t, Pass, r.Verdict, "%v: %s\n%s", ids, r.Reason, dumpOps(h))
		}
		_, err := MinimalWitness(h)
		require.ErrorIs(t, err, ErrNoWitness)
	})
}

// On broken histories, a witness is found for most failures; it fails
// the witness check, every operation in it is needed (1-minimal), and the
// whole history fails both checkers.
func TestPropertyWitnessMinimal(t *testing.T) {
	var found, failing int
	var sizes []int
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, rapid.Bool().Draw(t, "multiKey"))
		cfg.ops = rapid.IntRange(1, 60).Draw(t, "ops")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 6))
		h := genHistory(rng, cfg)
		for m := rapid.IntRange(1, 3).Draw(t, "mutations"); m > 0; m-- {
			h, _ = mutate(rng, h)
		}
		if CheckRevisions(h, 0).Verdict != Fail {
			return
		}
		failing++
		w, err := MinimalWitness(h)
		if err != nil {
			require.ErrorIs(t, err, ErrNoWitness)
			return
		}
		found++
		sizes = append(sizes, len(w.Ops))
		require.True(t, slices.IsSorted(w.Ops))
		require.Equal(t, Fail, CheckWitness(h, w.Ops).Verdict)
		for j := range w.Ops {
			less := slices.Delete(slices.Clone(w.Ops), j, j+1)
			r := CheckWitness(h, less)
			require.Equal(t, Pass, r.Verdict, "witness %v without op %d still fails: %s\n%s", w.Ops, w.Ops[j], r.Reason, dumpOps(h))
		}
		require.NotEqual(t, Pass, Check(StoreModel(), h, 20*time.Second), "porcupine passes a history with a witness")
	})
	slices.Sort(sizes)
	t.Logf("%d failing histories, %d with a witness; sizes %v", failing, found, sizes)
	require.Positive(t, found)
	require.Greater(t, found*10, failing*7, "a witness for under 70%% of failures")
}

// BenchmarkMinimalWitness shrinks broken 2,000-operation histories (one
// mutation of a linearizable one, 5 clients, 5 keys, 5% unknown outcomes).
func BenchmarkMinimalWitness(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	var hs [][]Op
	for len(hs) < 8 {
		h, _ := mutate(rng, genHistory(rng, genConfig{clients: 5, ops: 2000, keys: 5, unknown: 0.05}))
		if CheckRevisions(h, 0).Verdict != Fail {
			continue
		}
		if _, err := MinimalWitness(h); err == nil {
			hs = append(hs, h)
		}
	}
	checks, size := 0, 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w, err := MinimalWitness(hs[i%len(hs)])
		if err != nil {
			b.Fatal(err)
		}
		checks += w.Checks
		size += len(w.Ops)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/witness")
	b.ReportMetric(float64(checks)/float64(b.N), "checks/witness")
	b.ReportMetric(float64(size)/float64(b.N), "ops/witness")
}
