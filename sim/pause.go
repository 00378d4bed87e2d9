package sim

import (
	"fmt"

	"github.com/seedkv/seedkv/host"
)

// Pause freezes node id's process, as a stop-the-world garbage collection,
// a SIGSTOP or a VM migration would: while paused its timers do not fire,
// messages to it are not processed and its completed syncs are not
// reported (their data is durable all the same), while every other node's
// clock runs on. Its own clock runs on too, so it sees the time jump when
// it resumes. What fell due waits in a backlog that Resume delivers, in
// order. A crash of a paused node drops the backlog; its restart is not
// paused.
func (w *World) Pause(id host.NodeID) error {
	n := w.node(id)
	switch {
	case n == nil:
		return fmt.Errorf("%w: pause %d", ErrUnknownNode, id)
	case !n.alive:
		return fmt.Errorf("%w: pause %d", ErrNodeDown, id)
	case n.paused:
		return nil
	}
	n.paused = true
	w.trace(kPause, id, n.inc, 0)
	return nil
}

// Resume unfreezes node id: its backlog (timers that fell due, messages
// that arrived, sync completions) runs from now on, in the order it fell
// due, before anything later. Resuming a node that is not paused (or is
// down) does nothing.
func (w *World) Resume(id host.NodeID) {
	n := w.node(id)
	if n == nil || !n.paused {
		return
	}
	n.paused = false
	w.trace(kResume, id, n.inc, uint64(len(n.backlog)))
	for _, e := range n.backlog {
		if e.inc != n.inc {
			continue // from before a crash
		}
		e.at = w.now
		w.push(e)
	}
	clear(n.backlog)
	n.backlog = n.backlog[:0]
}

// Paused reports whether node id is paused.
func (w *World) Paused(id host.NodeID) bool {
	n := w.node(id)
	return n != nil && n.paused
}
