package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Compaction during a run. The harness reads the write log through its
// own watch of the whole key space from the first revision (the log
// watcher), and a compactor compacts, every Config.CompactEvery on
// average, at a random revision the log watcher already holds, as
// Kubernetes compacts behind its watch cache: so the log stays complete
// however much history the replicas drop, and reads and watches at
// compacted revisions really happen.
const logClient host.NodeID = 2002

// compaction is one compaction request and its outcome.
type compaction struct {
	rev       int64 // store revision asked for
	call, ret int64 // virtual times; ret is 0 while unanswered
	acked     bool  // the cluster answered OK
	refused   bool  // the cluster answered that it did nothing
}

// logWatcher is the harness's watch of every change from revision 2.
type logWatcher struct {
	r   *seedRun
	c   *client.Client
	w   *client.Watcher
	rng *rand.Rand
	// log is every change the watch delivered, held compactly: a long
	// run keeps it whole till its end checks (nil once writeLog has
	// combined it into the final log).
	log  *lin.LogBuffer
	err  error
	comp []compaction
}

// startCompactor adds the log watcher's client and, if compaction is on,
// starts the watch and the compaction cadence.
func (r *seedRun) startCompactor() {
	if r.cfg.CompactEvery <= 0 || !r.kvOnly("compaction") {
		return
	}
	lw := &logWatcher{r: r, rng: r.w.Rand("compact"), log: &lin.LogBuffer{}}
	r.logWatch = lw
	must(r.w.AddNode(logClient, func(h host.Host) host.Process {
		lw.c = client.New(h, r.servers(), client.Options{RequestTimeout: r.cfg.RequestTimeout})
		return lw.c
	}))
	all := []byte{0}
	lw.w = lw.c.Watch(all, client.WatchOptions{End: all, StartRevision: 2}, lw.onUpdate)
	lw.schedule()
}

// onUpdate appends delivered events to the log.
func (lw *logWatcher) onUpdate(u client.WatchUpdate) {
	if u.Err != nil {
		lw.err = u.Err
	}
	if lw.log == nil {
		lw.log = &lin.LogBuffer{}
	}
	for _, e := range u.Events {
		lw.log.Append(e.Revision(), e.KV.Key, e.KV.Value, e.Type == api.EventDelete)
	}
	if n := len(u.Events); n > 0 {
		lw.r.leases.seen.note(lw.r.now(), u.Events[n-1].Revision())
	}
}

// appendEvents folds watch events into a write log.
func appendEvents(log []lin.LogEntry, evs []api.Event) []lin.LogEntry {
	for _, e := range evs {
		log = lin.AppendChange(log, e.Revision(), e.KV.Key, e.KV.Value, e.Type == api.EventDelete)
	}
	return log
}

// entries is the log as []LogEntry (a copy of its entries; the strings
// are shared), for the in-run HashKV probes.
func (lw *logWatcher) entries() []lin.LogEntry { return lw.log.Entries() }

// held is the highest revision the log watcher holds completely.
func (lw *logWatcher) held() int64 { return lw.w.NextRevision() - 1 }

// maxRequested is the highest compaction revision requested (0: none).
func (lw *logWatcher) maxRequested() int64 {
	m := int64(0)
	for _, c := range lw.comp {
		m = max(m, c.rev)
	}
	return m
}

// schedule arms the next compaction, a uniform gap in [0.5, 1.5] x
// CompactEvery away.
func (lw *logWatcher) schedule() {
	every := int64(lw.r.cfg.CompactEvery)
	lw.r.w.Schedule(time.Duration(every/2+lw.rng.Int64N(every+1)), lw.compact)
}

// compact asks for a compaction at a revision above the last one asked
// for and at most what the log watcher holds: half the time a uniform one,
// half the time the highest.
func (lw *logWatcher) compact() {
	if lw.r.workloadOver() {
		return
	}
	defer lw.schedule()
	lw.compactNow()
}

// compactNow asks for one compaction (see compact), recorded for the
// checks like every other.
func (lw *logWatcher) compactNow() {
	lo, hi := lw.maxRequested()+1, lw.held()
	if lw.err != nil {
		return
	}
	if hi < max(lo, 2) {
		lw.retryLost()
		return
	}
	lo = max(lo, 2)
	rev := lo + lw.rng.Int64N(hi-lo+1)
	if lw.rng.IntN(2) == 0 {
		// Right behind the head: a lagging replica then applies the
		// compaction in the same batch as the writes before it, while
		// its watchers are still behind them (the path where a watcher
		// must be canceled with ErrCompacted).
		rev = hi
	}
	lw.request(rev)
}

// retryLost asks again for the last compaction when it was answered
// without effect known (a timeout, or an error that does not say it did
// nothing) and there is nothing newer to compact, as an operator's
// compactor retries: a store that filled its quota writes no new
// revision, so a compaction lost in a fault was never asked again and the
// store stayed full after the heal (seed 427 at -nodes 15).
func (lw *logWatcher) retryLost() {
	n := len(lw.comp)
	if n == 0 {
		return
	}
	if last := lw.comp[n-1]; last.ret != 0 && !last.acked && !last.refused {
		lw.request(last.rev)
	}
}

// request asks for a compaction at rev, recorded for the checks.
func (lw *logWatcher) request(rev int64) {
	i := len(lw.comp)
	lw.comp = append(lw.comp, compaction{rev: rev, call: lw.r.now()})
	lw.r.record("call", logClient, api.OpCompact, -1, rev)
	lw.c.Compact(rev, client.CallOptions{}, func(h api.Header, err error) {
		c := &lw.comp[i]
		c.ret = lw.r.now()
		switch {
		case err == nil:
			c.acked = true
			lw.r.leases.seen.note(c.ret, h.Revision)
			lw.r.hashProbe()
		case errors.Is(err, client.ErrTimeout):
		default:
			var se *client.ServerError
			c.refused = errors.As(err, &se) && noEffect(se.Response.Err)
		}
		lw.r.record("return", logClient, api.OpCompact, -1, rev)
	})
}

// ackedBefore is the highest compaction revision acknowledged before time
// t (0: none): every linearizable read called after t sees it.
func (lw *logWatcher) ackedBefore(t int64) int64 {
	m := int64(0)
	if lw == nil {
		return 0
	}
	for _, c := range lw.comp {
		if c.acked && c.ret < t {
			m = max(m, c.rev)
		}
	}
	return m
}

// requestedBefore is the highest compaction revision that may have taken
// effect by time t: asked for before t and not refused (0: none).
func (lw *logWatcher) requestedBefore(t int64) int64 {
	m := int64(0)
	if lw == nil {
		return 0
	}
	for _, c := range lw.comp {
		if c.call < t && !c.refused {
			m = max(m, c.rev)
		}
	}
	return m
}

// combine joins the log watcher's log (for the revisions below from,
// which the replicas may have compacted) with a replica's own log of the
// rest (tail; entries below from are only compared). It also reports,
// separately, where the two disagree: a replica whose history differs
// from what the cluster served before has lost or rewritten a write.
func combine(watched *lin.LogBuffer, tail []lin.LogEntry, from int64, member host.NodeID) (log []lin.LogEntry, gap, disagree error) {
	n := 0
	for i := range watched.Len() {
		if watched.Revision(i) < from {
			n++
		}
	}
	for _, e := range tail {
		if e.Revision >= from {
			n++
		}
	}
	if n > 0 {
		log = make([]lin.LogEntry, 0, n)
	}
	for i := 0; i < watched.Len(); { // the entries below from, in runs
		j := i
		for j < watched.Len() && watched.Revision(j) < from {
			j++
		}
		log = watched.AppendEntries(log, i, j)
		i = j + 1
	}
	if n := len(log); from > 2 && (n == 0 || log[n-1].Revision != from-1) {
		last := int64(1)
		if n > 0 {
			last = log[n-1].Revision
		}
		gap = fmt.Errorf("write log: the harness's watch holds revisions up to %d only, replicas may have compacted to %d", last, from-1)
	}
	j := 0
	var scratch []lin.Change
	for _, e := range tail {
		for j < watched.Len() && watched.Revision(j) < e.Revision {
			j++
		}
		if disagree == nil && j < watched.Len() && watched.Revision(j) == e.Revision {
			if w := watched.Entry(j, &scratch); !slices.Equal(w.Changes, e.Changes) {
				disagree = fmt.Errorf("write log: at revision %d the cluster served %s, but replica %d holds %s",
					e.Revision, describeChanges(w.Changes), member, describeChanges(e.Changes))
			}
		}
		if e.Revision >= from {
			log = append(log, e)
		}
	}
	return log, gap, disagree
}
