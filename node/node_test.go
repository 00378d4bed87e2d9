package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClusterWritesAndReads(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", size), func(t *testing.T) {
			c := newCluster(t, size, uint64(size), Config{})
			require.NotZero(t, c.waitLeader(5*time.Second), "no leader: %s", c.describe())
			var lastRev int64
			for i := range 50 {
				h := c.mustPut(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i))
				require.Greater(t, h.Revision, lastRev, "revisions increase")
				lastRev = h.Revision
				require.Equal(t, fmt.Sprintf("v%d", i), c.mustGet(fmt.Sprintf("k%d", i%7)),
					"a linearizable read sees the latest write")
			}
			c.converged(5 * time.Second)
			for _, id := range c.ids {
				rev, _ := c.nodes[id].Hash()
				require.Equal(t, lastRev, rev, "replica %d applied every write", id)
			}
		})
	}
}

// TestDeterministic runs the same faulty scenario twice: the world's trace
// hash (every event, message and disk operation) must be the same.
func TestDeterministic(t *testing.T) {
	run := func() uint64 {
		c := newCluster(t, 3, 77, Config{SnapshotEntries: 20, CatchUpEntries: 5})
		c.w.Net().SetDuplicate(0.05)
		c.waitLeader(5 * time.Second)
		c.writeMany("d", 30)
		require.NoError(t, c.w.Crash(2))
		c.writeMany("e", 30)
		require.NoError(t, c.w.Restart(2))
		c.converged(5 * time.Second)
		return c.w.TraceHash()
	}
	require.Equal(t, run(), run())
}
