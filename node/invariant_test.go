package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/raft"
)

// TestInvariantAppliedInOrderOnce: an entry handed over with a gap after
// the applied index stops the replica (it cannot apply out of order), and
// an entry at or below it is not applied again.
func TestInvariantAppliedInOrderOnce(t *testing.T) {
	c := newCluster(t, 3, 40, Config{})
	l := c.waitLeader(5 * time.Second)
	c.mustPut("k", "v")
	n := c.nodes[followerOf(c, l)]
	rev, _ := n.Hash()
	again := []raft.Entry{{Index: n.applied, Term: 1, Data: []byte("not a command")}}
	require.True(t, n.apply(again), "an applied entry handed over again")
	r2, _ := n.Hash()
	require.Equal(t, rev, r2, "re-applied")
	gap := []raft.Entry{{Index: n.applied + 2, Term: 1}}
	require.False(t, n.apply(gap))
	stopped, why := n.Stopped()
	require.True(t, stopped)
	require.Contains(t, why, "apply gap")
}
