package node

import (
	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// WatchProgressNow sends a progress notification now on every stream of
// client c that has sent every event up to the store's revision, rather
// than after Config.ProgressInterval of quiet: the gRPC server calls it
// to answer etcd's RequestProgress with the current revision. A stream
// still catching up gets nothing (its events will follow).
func (n *Node) WatchProgressNow(c host.NodeID) {
	for _, st := range n.watches {
		if !st.dead && st.key.client == c && !st.w.Pending() {
			n.sendEvents(st, &api.WatchEvents{})
		}
	}
}
