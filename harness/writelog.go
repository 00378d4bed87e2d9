package harness

import (
	"fmt"

	"github.com/seedkv/seedkv/host"

	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
)

// writeLogBatch is how many events one pass over a store's history reads.
const writeLogBatch = 1024

// writeLogOf replays a store's history as the checker's write log: every
// change since the empty store or the compaction revision, grouped by
// revision.
func writeLogOf(s *mvcc.Store) ([]lin.LogEntry, error) {
	all := []byte{0}
	w, err := s.Watch(all, all, max(2, s.CompactRevision()), false) // [\x00, end of key space)
	if err != nil {
		return nil, err
	}
	defer w.Cancel()
	var log []lin.LogEntry
	for {
		evs, err := w.Events(writeLogBatch)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return log, nil
		}
		for _, e := range evs {
			log = lin.AppendChange(log, e.KV.ModRevision, e.KV.Key, e.KV.Value, e.Type == mvcc.EventDelete)
		}
	}
}

// writeLog is the committed write log: the revisions the replicas may
// have compacted from the harness's own watch (see compact.go), the rest
// from the most advanced running replica (all agree once converged), read
// from the replica if it can list it, else with a watch; nil if no replica
// can be inspected. disagree reports a replica log that differs from what
// the cluster served (checked after lost writes, which explain it).
func (r *seedRun) writeLog() (log []lin.LogEntry, disagree, err error) {
	id := r.mostAdvanced()
	if id == 0 {
		return nil, nil, nil
	}
	r.logSource = id
	in := r.inspectorOf(r.w.Process(id))
	rev, _, err := in.KVHash()
	if err != nil {
		return nil, nil, fmt.Errorf("write log of replica %d: %v", id, err)
	}
	// The cluster may still change (a lease expires): the watches stop
	// recording now, and the log is read at least as far as they got, so
	// that every event they recorded can be checked.
	r.watchesFrozen = true
	for _, ws := range r.watches {
		if n := len(ws.events); n > 0 {
			rev = max(rev, ws.events[n-1].Revision())
		}
	}
	r.logFrom = 2
	if r.logWatch != nil {
		r.logFrom = max(2, r.logWatch.maxRequested()+1)
	}
	tail, err := r.replicaLog(id, in, rev)
	if err != nil {
		return nil, nil, err
	}
	if r.logWatch == nil {
		return tail, nil, nil
	}
	log, gap, disagree := combine(r.logWatch.log, tail, r.logFrom, id)
	// The checks read log from now on (the world has stopped): let the
	// watched one go, so that a long run does not hold both at its peak.
	r.logWatch.log = nil
	acked := 0
	for _, c := range r.logWatch.comp {
		if c.acked {
			acked++
		}
	}
	r.notef("compaction: %d requested, %d acknowledged; write log below revision %d from the harness's watch, the rest from replica %d",
		len(r.logWatch.comp), acked, r.logFrom, id)
	return log, disagree, gap
}

// replicaLog is replica id's own write log from revision r.logFrom up to
// store revision rev.
func (r *seedRun) replicaLog(id host.NodeID, in Inspector, rev int64) ([]lin.LogEntry, error) {
	if wl, ok := in.(WriteLogger); ok {
		log, err := wl.WriteLog()
		if err != nil {
			return nil, fmt.Errorf("write log of replica %d: %v", id, err)
		}
		return log, nil
	}
	if !r.servesKV() {
		return nil, nil // no write log: its checks report skipped
	}
	return r.readWriteLog(id, r.logFrom, rev)
}
