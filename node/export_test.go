package node

import "github.com/seedkv/seedkv/mvcc"

// StoreForTest exposes the replica's mvcc store to external tests.
func (n *Node) StoreForTest() *mvcc.Store { return n.sm.store }
