package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// failNextSync makes the next file sync of id's disk whose name has suffix
// fail with host.ErrIO (fsyncgate: its writes are never durable), once.
func failNextSync(c *cluster, id host.NodeID, suffix string) *bool {
	fired := new(bool)
	c.w.Disk(id).SetSyncFault(func(name string) bool {
		if *fired || !strings.HasSuffix(name, suffix) {
			return false
		}
		*fired = true
		return true
	})
	return fired
}

// requireHalted checks that id halted on an I/O error, restartably: no
// StopFile keeps it down.
func requireHalted(t *testing.T, c *cluster, id host.NodeID) {
	t.Helper()
	stopped, why := c.nodes[id].Stopped()
	require.True(t, stopped, "a failed fsync must stop the replica")
	require.True(t, strings.HasPrefix(why, HaltPrefix), why)
	_, err := c.w.Disk(id).Open(StopFile)
	require.ErrorIs(t, err, host.ErrNotExist, "a halt must not stop the replica for good")
}

// restartAfterHalt crashes and restarts id (the crash drops what only
// the page cache held) and checks that it came back up, undamaged.
func restartAfterHalt(t *testing.T, c *cluster, id host.NodeID) {
	t.Helper()
	c.w.Disk(id).SetSyncFault(nil)
	require.NoError(t, c.w.Crash(id))
	require.NoError(t, c.w.Restart(id))
	c.w.RunFor(10 * time.Millisecond)
	stopped, why := c.nodes[id].Stopped()
	require.False(t, stopped, why)
	recovering, cause := c.nodes[id].Recovering()
	require.False(t, recovering, "a failed fsync is no damage: %s", cause)
}

// TestWALSyncErrorHaltsFollowerAndRestartLosesNothing: a follower whose WAL
// fsync fails halts (it acknowledges nothing the sync covered); the
// cluster goes on without it, and once restarted it catches up with no
// acknowledged write lost.
func TestWALSyncErrorHaltsFollowerAndRestartLosesNothing(t *testing.T) {
	c := newCluster(t, 3, 41, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("a", 5)
	f := followerOf(c, l)
	fired := failNextSync(c, f, ".wal")
	for k, v := range c.writeMany("b", 10) {
		acked[k] = v
	}
	require.True(t, *fired)
	requireHalted(t, c, f)
	restartAfterHalt(t, c, f)
	for k, v := range c.writeMany("c", 5) {
		acked[k] = v
	}
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// TestWALSyncErrorHaltsLeader: the leader's failed fsync halts it; a new
// leader takes over and the old one rejoins after a restart.
func TestWALSyncErrorHaltsLeader(t *testing.T) {
	c := newCluster(t, 3, 42, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("a", 5)
	fired := failNextSync(c, l, ".wal")
	for k, v := range c.writeMany("b", 5) {
		acked[k] = v
	}
	require.True(t, *fired)
	requireHalted(t, c, l)
	require.True(t, c.runUntil(10*time.Second, func() bool { nl := c.leader(); return nl != 0 && nl != l }))
	for k, v := range c.writeMany("c", 5) {
		acked[k] = v
	}
	restartAfterHalt(t, c, l)
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// TestSnapshotSyncErrorHalts: a failed fsync of a snapshot file halts the
// replica; the file is never used, and the restart finds no damage.
func TestSnapshotSyncErrorHalts(t *testing.T) {
	c := newCluster(t, 3, 43, Config{SnapshotEntries: 8, CatchUpEntries: 2})
	l := c.waitLeader(5 * time.Second)
	f := followerOf(c, l)
	fired := failNextSync(c, f, ".snap.tmp")
	acked := c.writeMany("a", 30)
	require.True(t, *fired)
	requireHalted(t, c, f)
	restartAfterHalt(t, c, f)
	for k, v := range c.writeMany("b", 10) {
		acked[k] = v
	}
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// TestHardStateCopySyncErrorHalts: a failed fsync of the hard state copy
// (written before a vote or a new term is acknowledged) halts the replica.
func TestHardStateCopySyncErrorHalts(t *testing.T) {
	c := newCluster(t, 3, 44, Config{})
	l := c.waitLeader(5 * time.Second)
	f := followerOf(c, l)
	fired := failNextSync(c, f, HardStateFile)
	// A new term makes every replica rewrite its copy.
	require.NoError(t, c.w.Crash(l))
	require.True(t, c.runUntil(10*time.Second, func() bool { return *fired }))
	requireHalted(t, c, f)
	require.NoError(t, c.w.Restart(l))
	restartAfterHalt(t, c, f)
	require.NotZero(t, c.waitLeader(10*time.Second))
	c.mustPut("k", "v")
	c.converged(10 * time.Second)
}

// TestWALSyncErrorSendsNothing: once its WAL fsync failed, a replica sends
// no message at all (no acknowledgement of what the sync covered, no vote)
// until it is restarted.
func TestWALSyncErrorSendsNothing(t *testing.T) {
	for _, seed := range []uint64{45, 46, 47} {
		c := newCluster(t, 3, seed, Config{})
		l := c.waitLeader(5 * time.Second)
		c.writeMany("a", 3)
		f := followerOf(c, l)
		fired := failNextSync(c, f, ".wal")
		var after []string
		c.w.Net().OnSend(func(from, _ host.NodeID, p []byte) {
			if from == f && *fired {
				after = append(after, fmt.Sprintf("%x", p[:min(len(p), 8)]))
			}
		})
		c.writeMany("b", 10)
		require.True(t, *fired)
		requireHalted(t, c, f)
		require.Empty(t, after, "seed %d: replica %d sent after its fsync failed", seed, f)
	}
}

// TestReceivedSnapshotSyncErrorHalts: a follower whose save of a snapshot
// received from the leader fails halts, records no marker for it, and
// restarts undamaged.
func TestReceivedSnapshotSyncErrorHalts(t *testing.T) {
	c := newCluster(t, 3, 48, Config{SnapshotEntries: 8, CatchUpEntries: 2})
	l := c.waitLeader(5 * time.Second)
	f := followerOf(c, l)
	c.w.Net().Isolate(f)
	acked := c.writeMany("a", 30)
	first, _ := c.nodes[l].ms.FirstIndex()
	require.Greater(t, first, c.nodes[f].applied+1, "the leader compacted past the follower")
	fired := failNextSync(c, f, ".snap.tmp")
	c.w.Net().Heal()
	require.True(t, c.runUntil(5*time.Second, func() bool { return *fired }), "no snapshot save on %d", f)
	c.w.RunFor(100 * time.Millisecond)
	requireHalted(t, c, f)
	restartAfterHalt(t, c, f)
	for k, v := range c.writeMany("b", 5) {
		acked[k] = v
	}
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}
