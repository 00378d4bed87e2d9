package node

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// A configuration a replica applied survives its restart. Regression for
// `simrun -nodes 3 -faults all -seed 728`: the survivors of a removal
// applied it (and the removed member was shut down), then each restarted
// with the commit index covering the removal lost (it had not been
// synced), so with the old configuration, which still counts the removed
// member; one of them then recovered from corruption (a recovering
// replica grants no vote) and the other two stayed pre-candidates for
// good, though they are a quorum of the configuration they had applied.
func TestAppliedRemovalSurvivesRestart(t *testing.T) {
	c := newCluster(t, 4, 728, Config{})
	l := c.waitLeader(5 * time.Second)
	require.NotZero(t, l)
	acked := c.writeMany("r", 5)
	var removed host.NodeID
	for _, id := range c.ids {
		if id != l {
			removed = id
			break
		}
	}
	_, err := c.do(&api.MemberRemoveRequest{ID: removed}, client.CallOptions{})
	require.NoError(t, err)
	require.NoError(t, c.w.Crash(removed)) // a removed member shuts down
	rest := slices.DeleteFunc(slices.Clone(c.ids), func(id host.NodeID) bool { return id == removed })
	c.ids = rest
	want := make([]uint64, len(rest))
	for i, id := range rest {
		want[i] = uint64(id)
	}
	ok := c.runUntil(5*time.Second, func() bool {
		for _, id := range rest {
			if !slices.Equal(c.nodes[id].confState.Voters, want) {
				return false
			}
		}
		return true
	})
	require.True(t, ok, "the removal was not applied everywhere: %s", c.describe())
	c.w.RunFor(time.Second) // heartbeats only: nothing else to sync

	// Every survivor crashes and restarts; then the old leader finds its
	// WAL corrupt and recovers from the others, granting no vote.
	disk := c.w.Disk(l)
	seg := lastSegment(t, disk)
	for _, id := range rest {
		require.NoError(t, c.w.Crash(id))
	}
	corruptFile(t, disk, seg, 0.5)
	for _, id := range rest {
		require.NoError(t, c.w.Restart(id))
	}
	c.w.RunFor(300 * time.Millisecond) // committed entries re-applied (on the first tick), no election yet
	for _, id := range rest {
		if id != l {
			require.Equal(t, want, c.nodes[id].confState.Voters,
				"replica %d fell back to an older configuration after its restart", id)
		}
	}
	require.NotZero(t, c.waitLeader(5*time.Second), "no leader: %s", c.describe())
	c.waitRecovered(l)
	c.checkAcked(acked)
	c.mustPut("after", "restart")
	c.converged(10 * time.Second)
}
