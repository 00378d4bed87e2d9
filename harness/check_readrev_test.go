package harness

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTimedRevsSearchLikeSlices notes random (time, revision) pairs as
// the run does (times never decrease, revisions a running maximum; some
// times repeat, some gaps need long varints) into revMarks and revSeen,
// and into two plain slices, and asks every search of each at every
// point in between and at the ends: the answers are the plain slices'.
func TestTimedRevsSearchLikeSlices(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 2))
		var marks revMarks
		var seen revSeen
		var at, rev []int64
		now, r := int64(rng.IntN(1000)), int64(rng.IntN(3))
		for range rng.IntN(400) {
			switch rng.IntN(4) {
			case 0: // the same time
			case 1:
				now += int64(rng.Uint32()) << rng.IntN(20)
			default:
				now += int64(rng.IntN(1e7))
			}
			nr := r + int64(rng.IntN(3)) - 1
			if rng.IntN(50) == 0 {
				nr += int64(rng.Uint32())
			}
			marks.note(now, nr)
			seen.note(now, nr)
			if len(rev) == 0 || nr > rev[len(rev)-1] {
				at, rev = append(at, now), append(rev, nr)
			}
			r = max(r, nr)
		}
		for k := range at {
			for _, q := range []int64{at[k] - 1, at[k], at[k] + 1} {
				i := sort.Search(len(at), func(i int) bool { return at[i] >= q })
				gotRev, gotAt := marks.before(q)
				if i == 0 {
					require.Zero(t, gotRev)
					require.Zero(t, gotAt)
				} else {
					require.Equal(t, rev[i-1], gotRev, "seed %d: before(%d)", seed, q)
					require.Equal(t, at[i-1], gotAt)
				}
			}
			for _, q := range []int64{rev[k] - 1, rev[k], rev[k] + 1} {
				i := sort.Search(len(rev), func(i int) bool { return rev[i] >= q })
				gotAt, ok := seen.by(q)
				require.Equal(t, i < len(rev), ok, "seed %d: by(%d)", seed, q)
				if ok {
					require.Equal(t, at[i], gotAt, "seed %d: by(%d)", seed, q)
				}
			}
		}
		if _, ok := seen.by(r + 1); ok {
			t.Fatalf("seed %d: a revision above every one noted was seen", seed)
		}
	}
}
