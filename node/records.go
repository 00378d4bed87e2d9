package node

import (
	"fmt"

	"github.com/seedkv/seedkv/mvcc"
)

// SetBeforeCompact registers f, called on the loop just before the
// replica applies a compaction that will succeed (rev above the store's
// last compaction and at most its current revision), while the store
// still holds the history the compaction drops. The gRPC server records
// etcd's compaction hash there, as etcd does when it compacts. nil
// unregisters.
func (n *Node) SetBeforeCompact(f func(rev int64)) { n.beforeCompact = f }

// EachRecord calls f with every record the replica's store holds up to
// rev (mvcc.Store.EachRecord).
func (n *Node) EachRecord(rev int64, f func(r *mvcc.Record) bool) error {
	if n.sm == nil {
		return fmt.Errorf("node %d: no state", n.id)
	}
	return n.sm.store.EachRecord(rev, f)
}

// LastCompaction is the store's mvcc.Store.LastCompaction (-1 before any
// compaction, or without state).
func (n *Node) LastCompaction() int64 {
	if n.sm == nil {
		return -1
	}
	return n.sm.store.LastCompaction()
}
