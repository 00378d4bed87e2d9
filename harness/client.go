package harness

import (
	"errors"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// errTimeout is what a request gets when no answer came in time: its
// outcome is unknown.
var errTimeout = errors.New("request timed out")

// maxPending bounds the requests one client has in flight (a client runs
// one operation at a time, plus its watches).
const maxPending = 64

// clientProc is a simulated client process: it sends encoded requests to
// replicas over the simulated network (so client links suffer network
// faults too), matches answers to requests by ID and gives up on a request
// after its timeout.
type clientProc struct {
	h       host.Host
	nextID  api.RequestID
	pending map[api.RequestID]*pendingReq
	watch   func(from host.NodeID, ev *api.WatchEvents) // watch stream messages
	record  func(kind string, payload []byte)           // folds call/return into the trace
}

type pendingReq struct {
	timer host.Timer
	done  func(*api.Response, error)
}

func newClientProc(h host.Host, record func(string, []byte)) *clientProc {
	return &clientProc{h: h, pending: make(map[api.RequestID]*pendingReq), record: record}
}

// do sends body to replica to and calls done exactly once: with the answer,
// or with errTimeout after timeout.
func (c *clientProc) do(to host.NodeID, body api.RequestBody, timeout time.Duration, done func(*api.Response, error)) {
	if len(c.pending) >= maxPending {
		done(nil, errors.New("too many requests in flight"))
		return
	}
	c.nextID++
	id := c.nextID
	payload := api.MustEncode(&api.Request{ID: id, FinishedBelow: c.finishedBelow(id), Body: body})
	c.record("call", payload)
	p := &pendingReq{done: done}
	p.timer = c.h.After(timeout, func() {
		delete(c.pending, id)
		c.record("timeout", nil)
		done(nil, errTimeout)
	})
	c.pending[id] = p
	c.h.Send(to, payload)
}

// finishedBelow is the lowest request ID still in flight (id itself if
// none is): the client is done with every ID below it, which lets replicas
// refuse late duplicates of those.
func (c *clientProc) finishedBelow(id api.RequestID) api.RequestID {
	low := id
	for p := range c.pending { // min is order-independent
		low = min(low, p)
	}
	return low
}

// Receive implements host.Process: answers and watch events from replicas.
// Undecodable payloads and answers to forgotten requests are dropped, as a
// real client drops what it cannot use.
func (c *clientProc) Receive(from host.NodeID, payload []byte) {
	msg, err := api.Decode(payload)
	if err != nil {
		c.record("garbage", payload)
		return
	}
	switch m := msg.(type) {
	case *api.Response:
		p := c.pending[m.ID]
		if p == nil {
			return // late (after timeout) or duplicated
		}
		delete(c.pending, m.ID)
		p.timer.Stop()
		c.record("return", payload)
		p.done(m, nil)
	case *api.WatchEvents:
		c.record("watch", payload)
		if c.watch != nil {
			c.watch(from, m)
		}
	}
}
