package harness

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Watch streams that stop. The watch checks hold what a stream delivered
// to the write log (order, no gap or repeat up to its last event, the
// promise of each progress notification), but not that it goes on
// delivering: a stream left on a state machine that no longer changes (a
// replica that installed a leader's snapshot and kept its watchers on the
// old store, etcd's watchable store restored without its watchers) sends
// progress notifications at its old revision for ever, each one true, and
// no event after it; the client, hearing from it, never resumes.
//
// So once the run is over (the replicas converged), every workload watch
// still open must account, within watchSettle, for every revision the
// most advanced replica had reached then: by an event at or past it, or a
// progress notification that says so. Healthy streams are there already
// or within a network delay; one silent on a stopped replica resumes on
// another within the client's stream timeout (1.5 s) and its retries.
//
// The wait runs after the trace hash is taken (run), so it changes no
// seed's hash, and only as long as some stream is behind. Only seedkv's
// own node is held to it (it sends a progress notification on a stream
// quiet for node.Config.ProgressInterval; a system that does not, such as
// the tests' fake clusters, cannot account for revisions without events).

// watchSettle is how long open watch streams get to catch up with the
// replicas once the run is over.
const watchSettle = 5 * time.Second

// position is the highest revision a stream has accounted for: its last
// event's or the last progress notification's.
func (ws *watchStream) position() int64 {
	p := ws.progress
	if n := len(ws.events); n > 0 {
		p = max(p, ws.events[n-1].Revision())
	}
	return p
}

// stalledWatch returns the first stream still open whose position is
// below rev (-1: none). Only a stream that has had a progress
// notification can account for revisions that wrote nothing in its
// range; a system that never sends one (the tests' fake store, or one a
// researcher plugs in) would have every quiet stream counted stalled, so
// streams without one are not held to it.
func stalledWatch(ws []*watchStream, rev int64) int {
	for i, s := range ws {
		if s.err == nil && s.progress > 0 && s.position() < rev {
			return i
		}
	}
	return -1
}

// settleWatches waits, up to watchSettle, for every open workload watch to
// reach the revision the most advanced replica is at now, and fails the
// run naming the first that does not.
func (r *seedRun) settleWatches() {
	if r.failure != "" || r.overBudget || len(r.watches) == 0 {
		return
	}
	if s, ok := r.sys.(seedkvSystem); !ok || !s.protocolAware() {
		return // only seedkv's node promises progress notifications
	}
	id := r.mostAdvanced()
	in := r.inspectorOf(r.w.Process(id))
	if in == nil {
		return
	}
	rev, _, err := in.KVHash()
	if err != nil {
		return
	}
	start := r.w.Elapsed()
	for {
		i := stalledWatch(r.watches, rev)
		if i < 0 {
			return
		}
		if r.w.Elapsed()-start >= watchSettle {
			r.failf("%s", watchStallReason(i, r.watches[i], id, rev, start, watchSettle))
			return
		}
		if !r.runFor(10 * time.Millisecond) {
			return
		}
	}
}

// watchStallReason says which stream stalled and where.
func watchStallReason(i int, ws *watchStream, id host.NodeID, rev int64, at, wait time.Duration) string {
	last := "no event"
	if n := len(ws.events); n > 0 {
		last = fmt.Sprintf("its last event at revision %d", ws.events[n-1].Revision())
	}
	from := "replica ?"
	if n := len(ws.members); n > 0 {
		from = fmt.Sprintf("replica %d", ws.members[n-1])
	}
	return fmt.Sprintf("watch stalled: watch %d (client %d, %q from revision %d) accounts only up to revision %d (%s, from %s; progress notified up to %d), "+
		"but replica %d was at revision %d when the run ended at %v, and the stream did not catch up within %v",
		i, ws.client, ws.key, ws.start, ws.position(), last, from, ws.progress, id, rev, at, wait)
}
