package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// maxWatchesPerClient bounds the watch streams one client opens.
const maxWatchesPerClient = 2

// workClient drives one client process: one operation at a time, a random
// think time between operations, until the workload phase ends.
type workClient struct {
	r       *seedRun
	id      int // the history's client ID
	nid     host.NodeID
	c       *client.Client
	gen     *gen
	rng     *rand.Rand
	watches int
	lastRev int64  // highest header revision seen
	nextFn  func() // c.next, made once: think runs once per operation
	// extra counts the operations issued without waiting for the one
	// before (pipelined); each ends its chain when it is answered.
	extra int
}

// pipelineOneIn: one operation in this many is followed at once by the
// client's next one, without waiting for its answer, as etcd clients
// multiplex requests on one connection. The client then has two requests
// outstanding, so a server's per-client dedup state (the FinishedBelow
// watermark and the applied request IDs above it) holds a gap that late
// duplicates and retries run into.
const pipelineOneIn = 8

// think waits a random pause (mean ThinkTime), then runs the next op.
func (c *workClient) think() {
	d := time.Duration(0)
	if t := c.r.cfg.ThinkTime; t > 0 {
		d = time.Duration(c.rng.Int64N(2*int64(t) + 1))
	}
	if c.nextFn == nil {
		c.nextFn = c.next
	}
	c.r.w.Schedule(d, c.nextFn)
}

func (c *workClient) next() {
	if c.r.workloadOver() || !c.r.w.Alive(c.nid) {
		return
	}
	c.gen.lastRev = c.lastRev
	c.gen.compacted = c.r.logWatch.ackedBefore(c.r.now())
	s := c.gen.next(c.r.now())
	if s.kind == opWatch {
		c.openWatch()
		c.think()
		return
	}
	c.issue(s)
	if c.extra == 0 && c.rng.IntN(pipelineOneIn) == 0 {
		// At once (the next instant), so that both requests are in flight
		// together: the second tells the replicas the client is not done
		// with the first (FinishedBelow), often after the first applied.
		c.extra++
		c.r.w.Schedule(0, c.nextFn)
	}
}

// opEnded continues the client's operations after one ended, unless it
// was one of two in flight: then the other goes on alone.
func (c *workClient) opEnded() {
	if c.extra > 0 {
		c.extra--
		return
	}
	c.think()
}

// issue sends step s, recording it in the history if it is checked.
func (c *workClient) issue(s step) {
	s.call = c.r.now()
	if s.kind == opLeaseRevoke {
		c.r.leases.revoking(s.lease.id, s.call)
	}
	if p, ok := s.body.(*api.PutRequest); ok && strings.HasPrefix(string(p.Key), leasePrefix) {
		c.r.leases.putValue(string(p.Value), p.Lease)
	}
	hid := -1
	if s.checked {
		hid = c.r.hist.Call(c.id, c.r.now(), s.input)
		c.r.ops++
	}
	c.r.timeline.sample(c.r)
	c.r.record("call", c.nid, s.body.Op(), int64(hid), 0)
	s.reqID, s.low = c.c.NextRequestID(), c.c.FinishedBelow()
	var opts client.CallOptions
	if s.past != nil && s.past.latest {
		opts.Member = c.r.pinTarget(c.rng) // check_serialreads.go
	}
	c.c.Do(s.body, opts, func(resp *api.Response, err error) {
		c.done(s, hid, resp, err)
	})
}

// done handles the outcome of step s (history op hid, -1 if unchecked).
func (c *workClient) done(s step, hid int, resp *api.Response, err error) {
	if resp != nil {
		c.r.record("return", c.nid, resp.Op, int64(hid), resp.Header.Revision<<8|int64(resp.Err))
		c.r.noteAnswer(hid, resp.Header.Member)
		c.r.revs.note(s.body.Op(), resp, c.r.now())
	} else {
		c.r.record("timeout", c.nid, s.body.Op(), int64(hid), 0)
	}
	c.r.timeline.sample(c.r)
	if s.kind == opPastRead {
		c.pastDone(&s, resp)
	}
	switch {
	case err == nil:
		if linearizableRead(s.body) {
			c.r.safety.checkRead(c.id, time.Duration(s.call), resp.Header)
			c.r.checkReadRev(c.id, s.call, resp.Header)
		}
		c.answered(s, hid, resp)
		return
	case resp != nil && noEffect(resp.Err):
		if hid >= 0 {
			c.r.hist.Fail(hid, c.r.now(), resp.Err.String())
		}
		if resp.Err == api.CodeLeaseNotFound && s.kind == opLeasePut && s.lease != nil {
			c.r.leases.gone(s.lease.id, c.r.now())
		}
		c.gen.learn(&s, nil, false)
	case errors.Is(err, client.ErrTimeout) || resp != nil:
		// No answer in time, or an answer that does not say the request
		// did nothing: the outcome is unknown.
		if hid >= 0 {
			c.r.hist.Timeout(hid)
			if c.r.window != nil {
				c.r.window.timedOut(c, hid, s.reqID)
			}
		}
		c.gen.learn(&s, nil, false)
	default:
		c.r.failf("client %d: %s: %v", c.id, s.kind, err)
		if hid >= 0 {
			c.r.hist.Timeout(hid)
		}
	}
	c.opEnded()
}

// answered handles a successful answer.
func (c *workClient) answered(s step, hid int, resp *api.Response) {
	c.lastRev = max(c.lastRev, resp.Header.Revision)
	c.r.leases.seen.note(c.r.now(), resp.Header.Revision)
	if s.kind == opLeasePut && !s.checked {
		g, ok := resp.Body.(*api.LeaseGrantResponse)
		if !ok {
			c.r.failf("client %d: lease grant answered with %T", c.id, resp.Body)
			return
		}
		c.r.leases.granted(g.ID, c.id, time.Duration(s.ttl)*time.Second, s.call)
		put := c.gen.putUnder(g.ID, s.ttl, c.r.now())
		c.r.leases.keyed(g.ID, put.lease.key)
		if c.gen.keepAlive {
			c.keepAlive(put.lease, 1+c.rng.IntN(maxKeepAliveRounds))
		}
		c.issue(put)
		return
	}
	if hid >= 0 {
		out, err := output(&s, resp)
		if err != nil {
			c.r.failf("client %d: %v", c.id, err)
			c.r.hist.Timeout(hid)
			return
		}
		c.r.hist.Return(hid, c.r.now(), out)
		if c.r.window != nil && s.input.Kind == lin.KindPut {
			c.r.window.fence(c, s.low, out.Revision+revBase)
		}
		c.gen.learn(&s, &out, true)
		if s.kind == opLeasePut && s.lease != nil {
			s.lease.attached = true
		}
	}
	c.opEnded()
}

// noEffect reports whether an error code guarantees the request did
// nothing (api documents these as refusals); anything else is unknown.
func noEffect(code api.ErrorCode) bool {
	switch code {
	case api.CodeNotLeader, api.CodeCompacted, api.CodeFutureRevision, api.CodeNoSpace,
		api.CodeLeaseNotFound, api.CodeLeaseExists, api.CodeInvalid, api.CodeUnavailable,
		api.CodeTooManyRequests:
		return true
	}
	return false
}

// watchStream is one watch as its client saw it: every event delivered,
// in order, and how it ended.
type watchStream struct {
	client   int
	key, end string
	start    int64
	prevKV   bool
	opened   int64
	events   []api.Event
	batches  []int         // batches[i]: which delivery carried events[i]
	members  []host.NodeID // members[j-1]: which replica sent delivery j
	updates  int
	err      error
	errAt    int64 // when err came
	errNext  int64 // the revision the watch was to deliver next then (0: start)
	// compactRev is the compaction revision an ErrCompacted end reported.
	compactRev int64
	// progress is the highest revision a progress notification said was
	// sent in full; stale names the first event that came at or below
	// it afterwards (a broken promise: a client resuming from there, or
	// a cache serving reads at it, misses that event).
	progress int64
	stale    string
	w        *client.Watcher
}

// noteProgress notes a progress notification (true: u is one) or checks
// u's events against the last one.
func (ws *watchStream) noteProgress(u client.WatchUpdate) bool {
	if u.Progress != 0 {
		ws.progress = max(ws.progress, u.Progress)
		return true
	}
	if ws.stale == "" && len(u.Events) > 0 && u.Events[0].Revision() <= ws.progress {
		ws.stale = fmt.Sprintf("event at revision %d (key %q) from replica %d came after a progress notification said every event up to revision %d was sent",
			u.Events[0].Revision(), u.Events[0].KV.Key, u.Member, ws.progress)
	}
	return false
}

// openWatch opens a watch from a revision the client has seen (so that
// part of it replays history), or from "now", on the contended keys or on
// everything.
func (c *workClient) openWatch() {
	if c.watches >= maxWatchesPerClient || len(c.r.watches) >= c.r.cfg.Watches {
		return
	}
	c.watches++
	prefix := kvPrefix
	if c.rng.IntN(2) == 0 {
		prefix = keyRoot
	}
	start := int64(0)
	// A quarter from "now" (the serving member's next revision, etcd's
	// watch without a revision: the creation answer's revision is a
	// progress promise, client.WatchOptions.Raw), the rest from a
	// revision the client has seen (part of it replays history).
	if c.lastRev > 1 && c.rng.IntN(4) != 0 {
		start = 2 + c.rng.Int64N(c.lastRev-1) // revision 1 is the empty store
	}
	if comp := c.gen.compacted; comp >= 2 && comp <= c.lastRev && c.rng.IntN(4) == 0 {
		start = comp // from the compaction revision: etcd's restart point after ErrCompacted
	}
	ws := &watchStream{client: c.id, key: prefix, end: string(prefixEnd(prefix)), start: start,
		prevKV: c.rng.IntN(2) == 0, opened: c.r.now()}
	c.r.watches = append(c.r.watches, ws)
	ws.w = c.c.Watch([]byte(ws.key), client.WatchOptions{End: []byte(ws.end), StartRevision: start, PrevKV: ws.prevKV, Raw: true},
		func(u client.WatchUpdate) {
			if c.r.watchesFrozen {
				return // the write log is being read: see writeLog
			}
			if ws.noteProgress(u) {
				return
			}
			ws.updates++
			ws.members = append(ws.members, u.Member)
			for range u.Events {
				ws.batches = append(ws.batches, ws.updates)
			}
			ws.events = append(ws.events, u.Events...)
			if u.Err != nil {
				ws.err, ws.errAt, ws.compactRev = u.Err, c.r.now(), u.CompactRevision
				if ws.w != nil {
					ws.errNext = ws.w.NextRevision()
				}
			}
		})
}

// failf records a harness-level failure (the first one wins).
func (r *seedRun) failf(format string, args ...any) {
	if r.failure == "" {
		r.failure = fmt.Sprintf(format, args...)
	}
}

// record folds a client event into the trace: the operation, its history
// index and a digest of the answer. (The request and answer bytes are in
// the trace already, as the network's send and delivery events.)
func (r *seedRun) record(kind string, node host.NodeID, op api.Op, hid, digest int64) {
	// Record only hashes the bytes unless a tracer sees them: then they
	// are fresh, else r's scratch buffer (every call and return is
	// recorded).
	var b []byte
	if !r.w.Tracing() {
		b = r.recBuf[:0]
	}
	b = append(b, byte(op))
	b = binary.AppendVarint(b, hid)
	b = binary.AppendVarint(b, digest)
	r.w.Record(kind, node, b)
	if !r.w.Tracing() {
		r.recBuf = b
	}
}
