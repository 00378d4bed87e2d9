package linearizability

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLogBufferHoldsWhatAppendChangeBuilds appends the same random changes
// (short and empty keys and values, deletes, texts longer than a chunk,
// several changes per revision) to a LogBuffer and with AppendChange, and
// reads back every entry, range and search the same.
func TestLogBufferHoldsWhatAppendChangeBuilds(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var want []LogEntry
		var b LogBuffer
		rev := int64(1)
		for range 3000 {
			if rng.IntN(3) > 0 {
				rev += 1 + int64(rng.IntN(2)) // revisions may skip
			}
			key := fmt.Sprintf("/k/%d", rng.IntN(50))
			value := fmt.Sprintf("c%d.%d", rng.IntN(9), rng.IntN(100000))
			switch rng.IntN(40) {
			case 0:
				key, value = "", ""
			case 1:
				value = strings.Repeat("v", arenaChunk+rng.IntN(3*arenaChunk))
			case 2:
				key = strings.Repeat("k", arenaChunk-rng.IntN(8))
			}
			deleted := rng.IntN(4) == 0
			want = AppendChange(want, rev, []byte(key), []byte(value), deleted)
			b.Append(rev, []byte(key), []byte(value), deleted)
		}
		require.Equal(t, want, b.Entries(), "seed %d", seed)
		require.Equal(t, len(want), b.Len())
		require.Equal(t, want[len(want)-1].Revision, b.Last())
		var scratch []Change
		for i := range want {
			require.Equal(t, want[i], b.Entry(i, &scratch))
			require.Equal(t, i, b.Search(want[i].Revision))
			if i > 0 && want[i-1].Revision < want[i].Revision-1 {
				require.Equal(t, i, b.Search(want[i].Revision-1))
			}
		}
		require.Equal(t, len(want), b.Search(rev+1))
		lo := rng.IntN(len(want) - 1)
		hi := lo + 1 + rng.IntN(len(want)-lo)
		got := b.AppendEntries(nil, lo, hi)
		require.Equal(t, want[lo:hi], got)
		require.Empty(t, b.AppendEntries(nil, lo, lo))
		// An append to one entry's changes leaves the next one as it was.
		if len(got) > 1 {
			got[0].Changes = append(got[0].Changes, Change{Key: "x"})
			require.Equal(t, want[lo+1], got[1])
		}
	}
	var nilBuf *LogBuffer
	require.Zero(t, nilBuf.Len())
	require.Zero(t, nilBuf.Last())
	require.Zero(t, nilBuf.Search(5))
	require.Nil(t, nilBuf.Entries())
}

// TestLogBufferAllocations: reading entries back into a scratch slice
// allocates nothing (the strings are slices of the text chunks).
func TestLogBufferAllocations(t *testing.T) {
	var b LogBuffer
	for i := range 10000 {
		b.Append(int64(i+2), fmt.Appendf(nil, "/k/%d", i%100), fmt.Appendf(nil, "c%d.%d", i%15, i), i%5 == 0)
	}
	var scratch []Change
	allocs := testing.AllocsPerRun(10, func() {
		for i := range b.Len() {
			b.Entry(i, &scratch)
		}
	})
	require.Zero(t, allocs)
}

// TestLogBufferRevisionsOutOfOrder: revisions that go back or repeat
// after another (no watch delivers them, but the log holds what it is
// given) come back as AppendChange keeps them, and Search probes them
// as a binary search over the entries does.
func TestLogBufferRevisionsOutOfOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var want []LogEntry
	var b LogBuffer
	for range 2000 {
		rev := int64(2 + rng.IntN(40))
		want = AppendChange(want, rev, []byte("/k"), []byte("v"), rng.IntN(2) == 0)
		b.Append(rev, []byte("/k"), []byte("v"), want[len(want)-1].Changes[len(want[len(want)-1].Changes)-1].Type == EventDelete)
	}
	require.Equal(t, want, b.Entries())
	for rev := int64(0); rev < 45; rev++ {
		require.Equal(t, sort.Search(len(want), func(i int) bool { return want[i].Revision >= rev }), b.Search(rev))
	}
}
