package harness

import "github.com/seedkv/seedkv/host"

// defaultReplica starts the real replica. Until package node exists it
// panics, which Run reports as a failing verdict.
func defaultReplica(h host.Host, peers []host.NodeID) host.Process {
	panic("harness: no replica implementation yet (package node)")
}

// haveNode says whether defaultReplica is the real node yet.
const haveNode = false
