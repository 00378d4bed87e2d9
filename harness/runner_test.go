package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunManyWithReportsInSeedOrder(t *testing.T) {
	seeds := []uint64{9, 3, 7, 1, 5, 2, 8, 4, 6, 10}
	for _, parallel := range []int{0, 1, 3, 8, 50} {
		var got []uint64
		RunManyWith(func(s uint64) Result {
			time.Sleep(time.Duration(s%3) * time.Millisecond) // finish out of order
			return Result{Seed: s}
		}, seeds, parallel, func(r Result) bool { got = append(got, r.Seed); return true })
		require.Equal(t, seeds, got, "parallel %d", parallel)
	}
}

func TestRunManyWithStopsWhenAsked(t *testing.T) {
	seeds := make([]uint64, 100)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	var got []uint64
	RunManyWith(func(s uint64) Result { return Result{Seed: s} }, seeds, 4,
		func(r Result) bool { got = append(got, r.Seed); return len(got) < 5 })
	require.Equal(t, []uint64{0, 1, 2, 3, 4}, got)
}

func TestRunManyWithNoSeeds(t *testing.T) {
	RunManyWith(func(uint64) Result { panic("not called") }, nil, 4, func(Result) bool { panic("not called") })
}
