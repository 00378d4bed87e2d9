package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDroppedExpireIsProposedAgain: when raft drops a proposal batch, the
// leases of an expire command in it are no longer marked as proposed, so
// the next tick's expireLeases proposes them again instead of waiting
// PendingTimeout; other commands leave the marks alone.
func TestDroppedExpireIsProposedAgain(t *testing.T) {
	now := time.Unix(100, 0)
	n := &Node{revoking: map[int64]time.Time{5: now, 7: now, 9: now}}
	n.retryExpire(appendExpireCmd(nil, now.UnixNano(), []int64{5, 7}))
	require.Equal(t, map[int64]time.Time{9: now}, n.revoking)
	n.retryExpire([]byte("not an expire command"))
	require.Equal(t, map[int64]time.Time{9: now}, n.revoking)
}
