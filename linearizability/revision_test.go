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

// Each violation gets a reason naming the operations that contradict
// each other.
func TestRevisionViolationsNameTheirWitness(t *testing.T) {
	cases := []struct {
		name string
		h    []Op
		want []string // substrings of the reason
	}{
		{"stale read", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 20, 30, Put("/k", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
		}, []string{"op 1 ", "op 2 ", "later revision (2 > 1)"}},
		{"lost write", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Put("/j", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(2)),
		}, []string{"op 2 ", "read [none]", "/k=v1@1"}},
		{"read of a value never written", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Get("/k"), got(1, kv("/k", "v9", 1, 1, 1))),
		}, []string{"op 1 ", "v9"}},
		{"read from the future", []Op{
			op(1, 0, 10, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
			op(0, 20, 30, Put("/k", "v1"), wrote(1)),
		}, []string{"op 0 ", "op 1 ", "created revision 1"}},
		{"two writes claim one revision", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 0, 10, Put("/j", "v2"), wrote(1)),
		}, []string{"op 0 ", "op 1 ", "both created revision 1"}},
		{"a revision nobody created", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			unknown(2, 5, Delete("/z")),
			op(1, 20, 30, Put("/k", "v2"), wrote(3)),
		}, []string{"revision 2", "created by no write", "op 2 "}},
		{"cas succeeded twice on one version", []Op{
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: 1}, "v2"), Output{Succeeded: true, Revision: 2}),
			op(2, 40, 50, CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: 1}, "v3"), Output{Succeeded: true, Revision: 3}),
		}, []string{"op 2 ", "wrong branch"}},
		{"a huge revision", []Op{
			op(0, 0, 10, Get("/k"), got(1<<60)),
		}, []string{"op 0 ", "only 0 writes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckRevisions(tc.h, 0)
			require.Equal(t, Fail, r.Verdict, r.Reason)
			for _, w := range tc.want {
				require.Contains(t, r.Reason, w)
			}
			require.Equal(t, Fail, Check(StoreModel(), tc.h, 10*time.Second), "porcupine disagrees")
		})
	}
}

// Unknown writes and delete-only transactions fill gaps, chosen by search;
// a choice that looks fine at first but is refuted later is undone.
func TestRevisionGapsAreSearched(t *testing.T) {
	revoke := func(key string) Input { return Input{Kind: KindTxn, Then: []TxnOp{{Kind: KindDelete, Key: key}}} }
	h := []Op{
		op(0, 0, 10, Put("/a", "v1"), wrote(1)),
		op(0, 20, 30, Put("/b", "v2"), wrote(2)),
		unknown(1, 40, Delete("/a")),
		unknown(2, 40, Delete("/b")),
		// Revision 3 is a gap: either delete fits; only /b's survives the read.
		op(3, 100, 110, Range("/"), got(3, kv("/a", "v1", 1, 1, 1))),
		// A revoke that deleted nothing sits at rev 3 ...
		op(4, 120, 130, revoke("/b"), Output{Succeeded: true, Revision: 3}),
		// ... and one that did creates rev 4.
		op(4, 140, 150, revoke("/a"), Output{Succeeded: true, Revision: 4}),
		op(3, 160, 170, Range("/"), got(4)),
	}
	r := CheckRevisions(h, 0)
	require.Equal(t, Pass, r.Verdict, r.Reason)
	require.Equal(t, Pass, Check(StoreModel(), h, 10*time.Second))

	// The read at revision 3 now sees neither: no single delete explains it.
	bad := append([]Op(nil), h...)
	bad[4] = op(3, 100, 110, Range("/"), got(3))
	r = CheckRevisions(bad, 0)
	require.Equal(t, Fail, r.Verdict)
	require.Contains(t, r.Reason, "revision 3")
	require.Equal(t, Fail, Check(StoreModel(), bad, 10*time.Second))
}

// The budget counts steps, so the same history and budget always give the
// same verdict; too small a budget is Unknown, never Pass.
func TestRevisionBudgetIsSteps(t *testing.T) {
	var h []Op
	n := 6
	for i := 0; i < n; i++ {
		h = append(h, op(0, int64(i*10), int64(i*10+5), Put(fmt.Sprintf("/k%d", i), "v"+fmt.Sprint(i)), wrote(int64(2*i+1))))
		h = append(h, unknown(1, 0, Delete(fmt.Sprintf("/x%d", i))))
		h = append(h, unknown(1, 0, Put(fmt.Sprintf("/y%d", i), "w"+fmt.Sprint(i))))
	}
	// Every other revision is a gap the unknown puts fill, but the final
	// read sees none of their keys: the search must try them all.
	h = append(h, op(2, 1000, 1010, Range("/y"), got(int64(2*n))))
	for _, budget := range []int64{20, 200} {
		a, b := CheckRevisions(h, budget), CheckRevisions(h, budget)
		require.Equal(t, a.Verdict, b.Verdict)
		require.Equal(t, a.Reason, b.Reason)
		require.Equal(t, Unknown, a.Verdict)
		require.Contains(t, a.Reason, "budget")
	}
	require.Equal(t, Fail, CheckRevisions(h, 1<<20).Verdict)
}

// agree checks h with both checkers and requires the same verdict, unless
// porcupine could not decide in its time.
func agree(t require.TestingT, h []Op, what string) Verdict {
	want := Check(StoreModel(), h, 20*time.Second)
	r := CheckRevisions(h, 0)
	if want != Unknown {
		require.Equal(t, want, r.Verdict, "%s: revision checker: %s\nhistory:\n%s", what, r.Reason, dumpOps(h))
	}
	if r.Verdict == Fail {
		require.NotEmpty(t, r.Reason)
	}
	return r.Verdict
}

func dumpOps(h []Op) string {
	s := ""
	for i, o := range h {
		ret := fmt.Sprint(o.Return)
		if o.Return == UnknownReturn {
			ret = "?"
		}
		s += fmt.Sprintf("%d c%d [%d,%s] %s\n", i, o.ClientID, o.Call, ret, describeOp(&o.Input, &o.Output, o.Unknown))
	}
	return s
}

// mutate is mutateOnce with answers kept well-formed: only reads answer
// keys, and a transaction's reads answer only its branch's gets (the model ignores the slots of
// puts and deletes, porcupine's pre-check does not: the two would
// disagree on answers no store gives).
func mutate(rng *rand.Rand, h []Op) ([]Op, string) {
	out, what := mutateOnce(rng, h)
	for i := range out {
		o := &out[i]
		if o.Input.Kind != KindGet && o.Input.Kind != KindRange {
			o.Output.KVs = nil
		}
		branch := o.Input.Else
		if o.Output.Succeeded {
			branch = o.Input.Then
		}
		for k := range o.Output.TxnKVs {
			if k >= len(branch) || branch[k].Kind != KindGet {
				o.Output.TxnKVs = slices.Clone(o.Output.TxnKVs)
				o.Output.TxnKVs[k] = nil
			}
		}
	}
	return out, what
}

// mutateOnce breaks one thing about a history the way a buggy store would: a
// stale or garbled answer, a lost or duplicated effect, a shifted time.
func mutateOnce(rng *rand.Rand, h []Op) ([]Op, string) {
	out := make([]Op, len(h))
	copy(out, h)
	if len(out) == 0 {
		return out, "empty"
	}
	i := rng.IntN(len(out))
	o := &out[i]
	switch rng.IntN(9) {
	case 0:
		o.Output.Revision += int64(rng.IntN(3)) - 1
		return out, "revision nudged"
	case 1:
		j := rng.IntN(len(out))
		o.Output, out[j].Output = out[j].Output, o.Output
		return out, "outputs swapped"
	case 2:
		if len(o.Output.KVs) > 0 {
			o.Output.KVs = append([]KV(nil), o.Output.KVs...)
			k := &o.Output.KVs[rng.IntN(len(o.Output.KVs))]
			switch rng.IntN(3) {
			case 0:
				k.Value += "x"
			case 1:
				k.Version++
			default:
				k.ModRevision--
			}
			return out, "read garbled"
		}
		o.Output.KVs = nil
		return out, "read emptied"
	case 3:
		o.Output.Succeeded = !o.Output.Succeeded
		return out, "branch flipped"
	case 4:
		o.Output.Deleted = 1 - o.Output.Deleted
		return out, "deleted flipped"
	case 5:
		o.Unknown, o.Return = true, UnknownReturn
		return out, "outcome lost"
	case 6:
		d := int64(rng.IntN(200)) - 100
		o.Call += d
		if o.Return != UnknownReturn {
			o.Return += d
		}
		return out, "times shifted"
	case 7:
		if o.Return != UnknownReturn {
			o.Return = o.Call + (o.Return-o.Call)/3
		}
		return out, "return earlier"
	default:
		return append(out[:i:i], out[i+1:]...), "op dropped"
	}
}

// The revision checker and porcupine agree on thousands of small random
// histories: linearizable ones (some outcomes unknown) and mutations of
// them, which are mostly not.
func TestRevisionAgreesWithPorcupine(t *testing.T) {
	fails := 0
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, rapid.Bool().Draw(t, "multiKey"))
		cfg.ops = rapid.IntRange(1, 40).Draw(t, "ops")
		seed := rapid.Uint64().Draw(t, "seed")
		rng := rand.New(rand.NewPCG(seed, 3))
		h := genHistory(rng, cfg)
		require.Equal(t, Pass, agree(t, h, "generated"))
		for m := 0; m < 5; m++ {
			bad, what := mutate(rng, h)
			if agree(t, bad, what) == Fail {
				fails++
			}
			h = bad
		}
	})
	require.Positive(t, fails, "no mutation was ever caught")
}

// Agreement over a fixed, larger sample, so a regression shows as a seed.
func TestRevisionAgreesWithPorcupineSeeds(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	var pass, fail, nothing int
	for seed := 0; seed < n; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 4))
		cfg := genConfig{clients: 1 + rng.IntN(5), ops: 1 + rng.IntN(30), keys: 1 + rng.IntN(4), multiKey: rng.IntN(2) == 0, unknown: rng.Float64() * 0.3}
		h := genHistory(rng, cfg)
		for i := range h {
			if o := &h[i]; !o.Unknown && onlyDeletes(o) && o.Output.DeletedKnown && o.Output.Deleted == 0 {
				nothing++ // a guarded delete-only txn that deleted nothing
			}
		}
		if rng.IntN(2) == 0 {
			h, _ = mutate(rng, h)
		}
		if agree(t, h, fmt.Sprintf("seed %d", seed)) == Pass {
			pass++
		} else {
			fail++
		}
	}
	t.Logf("%d pass, %d fail; %d delete-only txns that deleted nothing", pass, fail, nothing)
	require.Positive(t, pass)
	require.Positive(t, fail)
	require.Positive(t, nothing)
}

// Hints from a write log order the search: with them a history whose gaps
// the first candidates fill wrongly is confirmed within a small budget;
// without them the search backtracks through the orders of the unknown
// writes. Wrong hints cost steps, never the verdict.
func TestRevisionHintsOrderTheSearch(t *testing.T) {
	const n = 7
	var h []Op
	hints, wrong := RevisionHints{}, RevisionHints{}
	var kvs []KV
	for i := 0; i < n; i++ {
		// Unknown puts, called in order i, took effect in the reverse order.
		key, rev := fmt.Sprintf("/y%d", i), int64(n-i)
		h = append(h, unknown(1, int64(i), Put(key, "w"+fmt.Sprint(i))))
		hints[rev] = []string{key}
		wrong[int64(i+1)] = []string{key}
		kvs = append(kvs, kv(key, "w"+fmt.Sprint(i), rev, rev, 1))
	}
	// Only the final read tells the order.
	h = append(h, op(2, 1000, 1010, Range("/y"), got(n, kvs...)))
	budget := int64(20 * len(h))
	r := CheckRevisionsHinted(h, budget, hints)
	require.Equal(t, Pass, r.Verdict, r.Reason)
	require.Equal(t, Unknown, CheckRevisions(h, budget).Verdict)
	require.Equal(t, Unknown, CheckRevisionsHinted(h, budget, wrong).Verdict)
	require.Equal(t, Pass, CheckRevisionsHinted(h, 0, wrong).Verdict)
	require.Equal(t, Pass, Check(StoreModel(), h, 20*time.Second))
}

// At a hinted gap the search first takes a candidate that changes exactly
// the hinted keys: a delete-only transaction called earlier that deletes
// one of them changes the store too, but taking it would be refuted only
// by the final read, after every order of the later gaps was tried.
func TestRevisionHintsPreferTheExactChange(t *testing.T) {
	const n = 6
	dels := func(keys ...string) Input {
		in := Input{Kind: KindTxn}
		for _, k := range keys {
			in.Then = append(in.Then, TxnOp{Kind: KindDelete, Key: k})
		}
		return in
	}
	var h []Op
	hints := RevisionHints{}
	for i := 0; i < n; i++ {
		a, b := fmt.Sprintf("/a%d", i), fmt.Sprintf("/b%d", i)
		h = append(h,
			op(0, int64(20*i), int64(20*i+5), Put(a, "v"), wrote(int64(2*i+1))),
			op(0, int64(20*i+10), int64(20*i+15), Put(b, "v"), wrote(int64(2*i+2))))
		// Revision 2n+1+i: /a<i> and /b<i> deleted at once.
		hints[int64(2*n+1+i)] = []string{a, b}
	}
	for i := 0; i < n; i++ {
		a, b := fmt.Sprintf("/a%d", i), fmt.Sprintf("/b%d", i)
		h = append(h, unknown(1, int64(1000+i), dels(a)), unknown(2, int64(2000+i), dels(a, b)))
	}
	h = append(h, op(3, 5000, 5010, Range("/"), got(3*n)))
	budget := int64(4 * len(h))
	r := CheckRevisionsHinted(h, budget, hints)
	require.Equal(t, Pass, r.Verdict, r.Reason)
	require.Equal(t, Unknown, CheckRevisions(h, budget).Verdict, "without hints the first candidates are wrong")
	require.Equal(t, Pass, CheckRevisions(h, 0).Verdict)

	// A read of a value never written: no order explains it, and the
	// search says so after trying them all.
	bad := slices.Clone(h)
	bad[len(bad)-1] = op(3, 5000, 5010, Range("/"), got(3*n, kv("/b0", "x", 2, 2, 1)))
	r = CheckRevisionsHinted(bad, 0, hints)
	require.Equal(t, Fail, r.Verdict)
	require.Contains(t, r.Reason, fmt.Sprintf("at revision %d the store holds", 3*n))
	require.Equal(t, Fail, CheckRevisions(bad, 0).Verdict)
}
