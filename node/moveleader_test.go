package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// MoveLeader hands leadership to the target voter and answers once it
// leads; acknowledged writes survive; bad targets are refused.
func TestMoveLeader(t *testing.T) {
	c := newCluster(t, 3, 41, Config{})
	old := c.waitLeader(5 * time.Second)
	acked := c.writeMany("before", 10)
	target := host.NodeID(1)
	if target == old {
		target = 2
	}
	_, err := c.do(&api.MoveLeaderRequest{Target: target}, client.CallOptions{})
	require.NoError(t, err)
	require.Equal(t, target, c.leader(), "the target leads once the transfer is answered")
	c.mustPut("after", "move")
	c.checkAcked(acked)

	_, err = c.do(&api.MoveLeaderRequest{Target: 9}, client.CallOptions{})
	require.ErrorIs(t, err, api.ErrMemberNotFound)
	resp, err := c.do(&api.MoveLeaderRequest{Target: target}, client.CallOptions{})
	require.NoError(t, err, "moving to the leader itself succeeds at once")
	require.Equal(t, target, resp.Header.Member)
	c.converged(5 * time.Second)
}

// A transfer the target cannot finish (it is down) fails instead of
// hanging, and the cluster keeps its leader.
func TestMoveLeaderToACrashedVoterFails(t *testing.T) {
	c := newCluster(t, 3, 42, Config{})
	old := c.waitLeader(5 * time.Second)
	target := host.NodeID(1)
	if target == old {
		target = 2
	}
	require.NoError(t, c.w.Crash(target))
	_, err := c.do(&api.MoveLeaderRequest{Target: target}, client.CallOptions{Member: old, Timeout: 5 * time.Second})
	require.ErrorIs(t, err, api.ErrUnavailable)
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.mustPut("still", "writable")
}
