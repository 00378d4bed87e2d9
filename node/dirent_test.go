package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A replica recovering from a corrupt WAL keeps recovering across a crash
// that loses every directory change not synced (lose-dirent, beyond the
// model): its recovery mark and the removal of its damaged files are
// durable before it relies on them, so it restarts recovering (granting
// no vote) instead of finding its damaged log again, or no mark at all.
func TestRecoverySurvivesLostDirents(t *testing.T) {
	c := newCluster(t, 3, 15, Config{})
	l := c.waitLeader(5 * time.Second)
	c.writeMany("d", 10)
	victim := followerOf(c, l)
	disk := crashWithRottenWAL(t, c, victim, 0.5)
	// Cut off from everyone: it cannot leave recovery.
	for _, id := range c.ids {
		c.w.Net().Cut(id, victim)
		c.w.Net().Cut(victim, id)
	}
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(500 * time.Millisecond)
	recovering, cause := c.nodes[victim].Recovering()
	require.True(t, recovering)
	require.Contains(t, cause, "corrupt")

	require.NoError(t, c.w.Crash(victim))
	disk.LoseDirents()
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(100 * time.Millisecond)
	n := c.nodes[victim]
	recovering, cause = n.Recovering()
	require.True(t, recovering, "the recovery mark was lost")
	require.Equal(t, "recovery in progress at restart", cause)
	require.Positive(t, n.voteFloor)
}
