package sim

import (
	"time"

	"github.com/seedkv/seedkv/host"
)

// ClockOffset is how far node id's local clock is ahead of the world's
// (negative: behind), now: the drift its clock rates accumulated. Checks
// that compare times stamped by different nodes' clocks (lease expiry)
// bound their slack by it. An unknown node has offset 0.
func (w *World) ClockOffset(id host.NodeID) time.Duration {
	n := w.node(id)
	if n == nil {
		return 0
	}
	return time.Duration(n.localNow(w.now) - w.now)
}
