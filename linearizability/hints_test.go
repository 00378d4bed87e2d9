package linearizability

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Hints order the search and never change its verdict: right, wrong or
// partial hints give the verdict of no hints (the budget unbounded), on
// generated histories with unknown writes, linearizable or mutated.
func TestHintsNeverChangeTheVerdict(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	hinted := 0
	for seed := 0; seed < n; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 6))
		cfg := genConfig{clients: 1 + rng.IntN(5), ops: 1 + rng.IntN(40), keys: 1 + rng.IntN(4), multiKey: rng.IntN(2) == 0, unknown: 0.1 + rng.Float64()*0.4}
		h := genHistory(rng, cfg)
		if rng.IntN(2) == 0 {
			h, _ = mutate(rng, h)
		}
		want := CheckRevisions(h, 0)
		hints := RevisionHints{}
		for rev := int64(1); rev <= int64(len(h)); rev++ {
			if rng.IntN(2) == 0 {
				hints[rev] = []string{fmt.Sprint("/k", rng.IntN(4)), "/nowhere"}[:1+rng.IntN(2)]
			}
		}
		got := CheckRevisionsHinted(h, 0, hints)
		require.Equal(t, want.Verdict, got.Verdict, "seed %d: %s / %s\n%s", seed, want.Reason, got.Reason, dumpOps(h))
		if len(hints) > 0 {
			hinted++
		}
	}
	require.Positive(t, hinted)
}
