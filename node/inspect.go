package node

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/mvcc"
)

// Read-only views of the local state machine for a server in the same
// process (package server: etcd's LeaseTimeToLive, LeaseLeases and Status
// are answered from the member's own state, as etcd does). Like every
// method of Node they must be called on the node's event loop.

// LeaseTimeToLive describes lease id as this replica has applied it; the
// remaining time is counted from the replicated deadline (the leader's
// clock stamped in the log), not this replica's own lease clock.
func (n *Node) LeaseTimeToLive(id int64) (mvcc.LeaseInfo, error) {
	if n.sm == nil {
		return mvcc.LeaseInfo{}, fmt.Errorf("node %d: no state", n.id)
	}
	now := n.h.Now()
	info, err := n.sm.store.LeaseTimeToLive(id, now)
	if err != nil {
		return info, err
	}
	if dl, ok := n.sm.leaseDeadline[id]; ok {
		info.Remaining = time.Duration(dl - now.UnixNano())
	}
	return info, nil
}

// Leases returns the IDs of the leases this replica has applied, sorted.
func (n *Node) Leases() []int64 {
	if n.sm == nil {
		return nil
	}
	return n.sm.store.Leases()
}

// StoreSize is the mvcc store's size in its quota units, and the quota.
func (n *Node) StoreSize() (size, quota int64) {
	if n.sm == nil {
		return 0, 0
	}
	return n.sm.store.Size(), n.sm.store.Quota()
}
