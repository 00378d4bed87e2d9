package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFailedSnapshotReportReprobes: a leader told that the snapshot it
// sent a follower failed (ReportSnapshot(id, false), the node's report of
// a stream nobody acknowledged) leaves snapshot state for that follower
// and probes it again, so the follower gets a new snapshot and catches up;
// without the report the lost snapshot would hold it in snapshot state.
func TestFailedSnapshotReportReprobes(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	c.isolate(3)
	for i := range 20 {
		require.NoError(t, c.propose(1, string(rune('a'+i))))
	}
	for _, id := range []uint64{1, 2} {
		n := c.nodes[id]
		_, err := n.storage.CreateSnapshot(n.lastApp, n.cs, encodeSM(n.applied))
		require.NoError(t, err)
		require.NoError(t, n.storage.Compact(n.lastApp))
	}
	c.heal()
	c.drop = func(m Message) bool { return m.Type == MsgSnap } // the stream is lost
	c.tickAll(3)
	require.Equal(t, StateSnapshot, c.status(1).Progress[3].State)
	require.Zero(t, c.snaps[3])

	c.nodes[1].rn.ReportSnapshot(3, false)
	c.handle(1)
	require.Equal(t, StateProbe, c.status(1).Progress[3].State, "a failed snapshot must not keep the follower in snapshot state")

	c.drop = nil
	c.tickAll(3)
	require.Equal(t, 1, c.snaps[3], "3 gets a new snapshot")
	require.NoError(t, c.propose(1, "after"))
	require.Equal(t, c.appliedData(1), c.appliedData(3))
}
