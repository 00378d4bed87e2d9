package harness

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// maxRedirects bounds how often one operation follows a not-leader hint
// before giving up (each hop had no effect, so the retry is safe).
const maxRedirects = 3

// maxWatchesPerClient bounds the watch streams one client opens.
const maxWatchesPerClient = 2

// workClient drives one client process: one operation at a time, a random
// think time between operations, until the workload phase ends.
type workClient struct {
	r         *seedRun
	id        int // the history's client ID
	nid       host.NodeID
	proc      *clientProc
	gen       *gen
	rng       *rand.Rand
	target    host.NodeID // the replica it talks to
	nextWatch int64
	watches   int
	lastRev   int64 // highest header revision seen
}

// start schedules the client's first operation.
func (c *workClient) start() { c.think() }

// think waits a random pause (mean ThinkTime), then runs the next op.
func (c *workClient) think() {
	d := time.Duration(0)
	if t := c.r.cfg.ThinkTime; t > 0 {
		d = time.Duration(c.rng.Int64N(2*int64(t) + 1))
	}
	c.proc.h.After(d, c.next)
}

func (c *workClient) next() {
	if c.r.workloadOver() {
		return
	}
	s := c.gen.next()
	if s.kind == opWatch {
		c.openWatch()
		c.think()
		return
	}
	hid := -1
	if s.checked {
		hid = c.r.hist.Call(c.id, c.r.now(), s.input)
		c.r.ops++
	}
	c.send(s, hid, 0)
}

// send sends step s (history op hid, -1 if unchecked) to the current
// target and handles the answer.
func (c *workClient) send(s step, hid, attempt int) {
	c.proc.do(c.target, s.body, c.r.cfg.RequestTimeout, func(resp *api.Response, err error) {
		switch {
		case err != nil:
			// Timeout: the outcome is unknown; the target may be down or
			// cut off, so try another replica next time.
			c.unknown(s, hid)
			c.retarget(0)
			c.think()
		case resp.Err == api.CodeNotLeader && attempt < maxRedirects:
			c.retarget(resp.Leader)
			c.send(s, hid, attempt+1)
		case resp.Err != api.CodeOK:
			if noEffect(resp.Err) {
				if hid >= 0 {
					c.r.hist.Fail(hid, c.r.now(), resp.Err.String())
				}
				c.gen.learn(&s, nil, false)
			} else {
				c.unknown(s, hid)
			}
			if resp.Err == api.CodeNotLeader || resp.Err == api.CodeUnavailable {
				c.retarget(resp.Leader)
			}
			c.think()
		default:
			c.answered(s, hid, resp)
		}
	})
}

func (c *workClient) unknown(s step, hid int) {
	if hid >= 0 {
		c.r.hist.Timeout(hid)
	}
	c.gen.learn(&s, nil, false)
}

// answered handles a successful answer.
func (c *workClient) answered(s step, hid int, resp *api.Response) {
	c.lastRev = max(c.lastRev, resp.Header.Revision)
	if s.kind == opLeasePut && !s.checked {
		g, ok := resp.Body.(*api.LeaseGrantResponse)
		if !ok {
			c.r.failf("client %d: lease grant answered with %T", c.id, resp.Body)
			return
		}
		next := c.gen.putUnder(g.ID)
		hid := c.r.hist.Call(c.id, c.r.now(), next.input)
		c.r.ops++
		c.send(next, hid, 0)
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
		c.gen.learn(&s, &out, true)
	}
	c.think()
}

// retarget picks the replica for the next request: the hinted leader if
// there is one, else a random replica.
func (c *workClient) retarget(hint host.NodeID) {
	if hint != 0 {
		c.target = hint
		return
	}
	c.target = c.r.replicas[c.rng.IntN(len(c.r.replicas))]
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

// openWatch opens a watch stream from a revision the client has seen (so
// that part of it replays history) on the contended keys or everything.
func (c *workClient) openWatch() {
	if c.watches >= maxWatchesPerClient {
		return
	}
	c.watches++
	c.nextWatch++
	prefix := kvPrefix
	if c.rng.IntN(2) == 0 {
		prefix = keyRoot
	}
	start := int64(0)
	if c.lastRev > 0 {
		start = 1 + c.rng.Int64N(c.lastRev)
	}
	ws := &watchStream{client: c.id, replica: c.target, watchID: c.nextWatch,
		key: prefix, end: string(prefixEnd(prefix)), start: start, prevKV: c.rng.IntN(2) == 0, opened: c.r.now()}
	c.r.watches = append(c.r.watches, ws)
	body := &api.WatchCreateRequest{WatchID: ws.watchID, Key: []byte(ws.key), End: []byte(ws.end),
		StartRevision: start, PrevKV: ws.prevKV}
	c.proc.do(c.target, body, c.r.cfg.RequestTimeout, func(resp *api.Response, err error) {
		switch {
		case err != nil:
			ws.state = "timeout"
		case resp.Err != api.CodeOK:
			ws.state = "refused: " + resp.Err.String()
		default:
			ws.state = "open"
			ws.createRev = resp.Header.Revision
		}
	})
}

// watchStream is one watch as the client saw it.
type watchStream struct {
	client    int
	replica   host.NodeID
	watchID   int64
	key, end  string
	start     int64
	prevKV    bool
	opened    int64
	state     string // "", "open", "timeout", "refused: ..."
	createRev int64
	msgs      []*api.WatchEvents
}

// onWatch routes a watch message to its stream.
func (c *workClient) onWatch(from host.NodeID, ev *api.WatchEvents) {
	for _, ws := range c.r.watches {
		if ws.client == c.id && ws.watchID == ev.WatchID && ws.replica == from {
			ws.msgs = append(ws.msgs, ev)
			return
		}
	}
}

// failf records a harness-level failure (the first one wins).
func (r *seedRun) failf(format string, args ...any) {
	if r.failure == "" {
		r.failure = fmt.Sprintf(format, args...)
	}
}

var _ = lin.Pass
