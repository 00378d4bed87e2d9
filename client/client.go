// Package client is seedkv's client library. A Client is itself a simulated
// process (it implements host.Process): it is built from a host.Host and
// the list of server IDs, sends api-encoded requests over the (faulty)
// network and delivers each outcome to a callback on its event loop.
//
// Rules that keep histories honest (a linearizability checker relies on
// them):
//
//   - Every request is bounded by a timeout (Options.RequestTimeout or the
//     per-call Timeout). When it passes, the callback gets ErrTimeout: the
//     outcome is unknown. The client never guesses it and never re-sends a
//     write whose attempt went unanswered.
//   - A write is retried only when a server said it did not act on it:
//     CodeNotLeader (retry at the hinted leader at once, at most once per
//     server per request, else at the next server), CodeUnavailable or
//     CodeTooManyRequests (retry at the next server after
//     Options.RetryBackoff). A retry reuses the request ID, so even
//     a stray duplicate is deduplicated by the replicas (see
//     api.Request.FinishedBelow).
//   - A read may be re-sent to the next server when an attempt stays
//     unanswered for Options.ReadAttemptTimeout: reads have no effect.
//   - Callbacks run on the client's event loop, never inside the call that
//     started the request, and exactly once per request.
//
// Watches (Client.Watch) are resumable streams: the client checks the
// per-stream sequence numbers and a silence timeout, and on a gap, a
// silent or canceled stream it re-creates the watch on another member from
// the last delivered revision + 1, dropping any event it already
// delivered. The callback sees every event once, in revision order. Each
// stream has its own watch ID and create request ID, and messages of any
// other (older, duplicated) stream are ignored.
package client

import (
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/internal/invariant"
)

// Errors of the client itself (server verdicts are api.ErrXxx sentinels).
var (
	// ErrTimeout: no final answer within the request timeout. For a write
	// the outcome is unknown: it may or may not have been applied.
	ErrTimeout = errors.New("client: request timed out, outcome unknown")
	// ErrNoServers: the client was built without servers.
	ErrNoServers = errors.New("client: no servers")
	// ErrWatchClosed: the watch was canceled by the caller.
	ErrWatchClosed = errors.New("client: watch closed")
)

// Defaults for zero Options fields.
const (
	DefaultRequestTimeout     = 2 * time.Second
	DefaultReadAttemptTimeout = 300 * time.Millisecond
	DefaultRetryBackoff       = 25 * time.Millisecond
	DefaultWatchStreamTimeout = 1500 * time.Millisecond
)

// Options tune a Client; zero fields take the defaults above.
type Options struct {
	// RequestTimeout bounds a request, retries included.
	RequestTimeout time.Duration
	// ReadAttemptTimeout is how long one read attempt may stay unanswered
	// before the read is re-sent to the next server.
	ReadAttemptTimeout time.Duration
	// RetryBackoff is the pause before a retry that has no leader hint.
	RetryBackoff time.Duration
	// WatchStreamTimeout: a watch stream silent this long (servers send
	// progress notifications well within it) is taken as broken.
	WatchStreamTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.ReadAttemptTimeout <= 0 {
		o.ReadAttemptTimeout = DefaultReadAttemptTimeout
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.WatchStreamTimeout <= 0 {
		o.WatchStreamTimeout = DefaultWatchStreamTimeout
	}
	return o
}

// CallOptions tune one request.
type CallOptions struct {
	// Member pins the request to this server: no failover; a NotLeader
	// answer is returned to the caller. Zero lets the client choose.
	Member host.NodeID
	// Timeout overrides Options.RequestTimeout when positive.
	Timeout time.Duration
}

// Stats counts what the client did (for tests and harness reports).
type Stats struct {
	Sent, Retries, Timeouts, Answered, Stale uint64
	WatchResumes                             uint64
}

// Client is a simulated client process. It is not safe for concurrent
// use: like every process it runs on its host's single event loop.
type Client struct {
	h       host.Host
	probes  *probe.Set // coverage probes (nil: none)
	servers []host.NodeID
	opts    Options

	nextID  api.RequestID
	low     api.RequestID // smallest ID not yet finished
	pending map[api.RequestID]*call
	leader  host.NodeID // current leader guess (0: none)
	rr      int         // round-robin position in servers

	nextWatchID  int64
	watches      map[int64]*Watcher         // by current stream's watch ID
	watchCreates map[api.RequestID]*Watcher // by pending create's request ID
	stats        Stats
	enc          api.Chunks // encodes the requests it sends
}

// New builds a client of the given servers on host h. Use it as (part of)
// the start function of a simulated node.
func New(h host.Host, servers []host.NodeID, opts Options) *Client {
	c := &Client{
		h:            h,
		probes:       probe.Of(h),
		servers:      append([]host.NodeID(nil), servers...),
		opts:         opts.withDefaults(),
		nextID:       1,
		low:          1,
		pending:      make(map[api.RequestID]*call),
		watches:      make(map[int64]*Watcher),
		watchCreates: make(map[api.RequestID]*Watcher),
	}
	if len(c.servers) > 0 {
		c.rr = int(h.Rand().Uint64N(uint64(len(c.servers))))
	}
	return c
}

// ID is the client's own node ID.
func (c *Client) ID() host.NodeID { return c.h.ID() }

// Stats returns the counters so far.
func (c *Client) Stats() Stats { return c.stats }

// Leader is the client's current guess of the leader (0: none).
func (c *Client) Leader() host.NodeID { return c.leader }

// Outstanding is the number of requests awaiting an outcome.
func (c *Client) Outstanding() int { return len(c.pending) }

// NextRequestID is the request ID the next Do will give its request.
func (c *Client) NextRequestID() api.RequestID { return c.nextID }

// FinishedBelow is the client's watermark now: every request with a lower
// ID has finished (answered or given up), and each attempt sent from now
// on carries at least this FinishedBelow, so a server that applies one
// refuses those lower IDs for good.
func (c *Client) FinishedBelow() api.RequestID { return c.low }

// call is one request in flight.
type call struct {
	req      api.Request // in the call: one allocation for both
	write    bool
	pinned   host.NodeID
	target   host.NodeID
	deadline host.Timer
	retry    host.Timer // attempt timeout (reads) or backoff
	hops     int        // retries after a refusal
	done     func(*api.Response, error)
}

// Do sends any request and calls done with the final response (Err ==
// CodeOK) or an error: ErrTimeout, an api.ErrXxx sentinel wrapped in a
// *ServerError carrying the response, or an encoding error wrapping
// api.ErrInvalid. The typed methods (Put, Range, ...) are built on it.
func (c *Client) Do(body api.RequestBody, opts CallOptions, done func(*api.Response, error)) {
	id := c.nextID
	c.nextID++
	cl := &call{
		req:    api.Request{ID: id, Body: body},
		write:  body.Op().IsWrite(),
		pinned: opts.Member,
		done:   done,
	}
	c.pending[id] = cl
	if len(c.servers) == 0 && cl.pinned == 0 {
		c.h.After(0, func() { c.finish(cl, nil, ErrNoServers) })
		return
	}
	// Encode once now to fail fast, with the watermark the first attempt
	// carries (nothing between here and its Send moves it): those bytes
	// are the first attempt's. FinishedBelow is refreshed per attempt.
	cl.req.FinishedBelow = c.finishedBelow()
	b, err := c.enc.Encode(&cl.req)
	if err != nil {
		c.h.After(0, func() { c.finish(cl, nil, err) })
		return
	}
	timeout := c.opts.RequestTimeout
	if opts.Timeout > 0 {
		timeout = opts.Timeout
	}
	cl.deadline = c.h.After(timeout, func() { c.expire(cl) })
	cl.target = c.pick(cl)
	c.sendEncoded(cl, b)
}

// pick chooses the server for a new attempt.
func (c *Client) pick(cl *call) host.NodeID {
	if cl.pinned != 0 {
		return cl.pinned
	}
	if c.leader != 0 {
		return c.leader
	}
	return c.servers[c.rr%len(c.servers)]
}

// rotate forgets the leader guess and moves to the next server.
func (c *Client) rotate(from host.NodeID) {
	if c.leader == from {
		c.leader = 0
	}
	if len(c.servers) > 0 && c.servers[c.rr%len(c.servers)] == from {
		c.rr++
	}
}

func (c *Client) send(cl *call) {
	cl.req.FinishedBelow = c.finishedBelow()
	b, err := c.enc.Encode(&cl.req)
	if err != nil { // cannot happen: it encoded in Do
		c.finish(cl, nil, err)
		return
	}
	c.sendEncoded(cl, b)
}

// sendEncoded sends attempt b of cl (its request encoded with the current
// watermark) and arms a read's retry.
func (c *Client) sendEncoded(cl *call, b []byte) {
	c.stats.Sent++
	c.h.Send(cl.target, b)
	if !cl.write && cl.pinned == 0 {
		cl.retry = c.h.After(c.opts.ReadAttemptTimeout, func() {
			cl.retry = nil
			c.probes.Hit(probeReadRetry)
			c.rotate(cl.target)
			cl.target = c.pick(cl)
			c.stats.Retries++
			c.send(cl)
		})
	}
}

func (c *Client) stopRetry(cl *call) {
	if cl.retry != nil {
		cl.retry.Stop()
		cl.retry = nil
	}
}

// expire ends a call whose deadline passed: its outcome is unknown.
func (c *Client) expire(cl *call) {
	cl.deadline = nil
	c.probes.Hit(probeTimeout)
	c.stats.Timeouts++
	// The server we were waiting on may be down or cut off: look elsewhere
	// next time.
	c.rotate(cl.target)
	c.finish(cl, nil, ErrTimeout)
}

// finish delivers the outcome once and retires the request ID.
func (c *Client) finish(cl *call, resp *api.Response, err error) {
	if c.pending[cl.req.ID] != cl {
		return
	}
	delete(c.pending, cl.req.ID)
	c.stopRetry(cl)
	if cl.deadline != nil {
		cl.deadline.Stop()
		cl.deadline = nil
	}
	for c.low < c.nextID && c.pending[c.low] == nil {
		c.low++
	}
	if cl.done != nil {
		cl.done(resp, err)
	}
}

// finishedBelow is the watermark a request carries: every request of this
// client below it has finished, so the servers may forget their
// deduplication records. Invariant: no request still pending is below
// it; a watermark past one would let a late duplicate or a retry of that
// request apply it a second time.
func (c *Client) finishedBelow() api.RequestID {
	if invariant.Checks && !c.pendingFrom(c.low) {
		oldest := c.nextID
		for id := range c.pending {
			oldest = min(oldest, id)
		}
		if oldest < c.low {
			invariant.Violated("client %d: watermark %d passes request %d, which has not finished", c.h.ID(), c.low, oldest)
		}
	}
	return c.low
}

// pendingFrom reports, cheaply, that every pending request is at or above
// low: when the few IDs from low to nextID hold them all. false means
// that it could not tell (finishedBelow then looks at each of them): a
// walk of the pending map at every send cost more than the send.
func (c *Client) pendingFrom(low api.RequestID) bool {
	if low > c.nextID || c.nextID-low > 8 {
		return false
	}
	n := 0
	for id := low; id < c.nextID; id++ {
		if c.pending[id] != nil {
			n++
		}
	}
	return n == len(c.pending)
}

// ServerError is a failed response: Code's sentinel (api.ErrXxx) is what
// errors.Is matches; Response has the header and leader hint.
type ServerError struct {
	Response *api.Response
}

func (e *ServerError) Error() string {
	if e.Response.Detail != "" {
		return fmt.Sprintf("server %d: %v: %s", e.Response.Header.Member, e.Response.Err, e.Response.Detail)
	}
	return fmt.Sprintf("server %d: %v", e.Response.Header.Member, e.Response.Err)
}

// Unwrap returns the api sentinel of the code.
func (e *ServerError) Unwrap() error { return e.Response.Err.Err() }

// Receive handles a payload from the network.
func (c *Client) Receive(from host.NodeID, payload []byte) {
	m, err := api.Decode(payload)
	if err != nil {
		return // garbage or a peer envelope: nothing a client can do with it
	}
	switch m := m.(type) {
	case *api.Response:
		c.onResponse(from, m)
	case *api.WatchEvents:
		if w := c.watches[m.WatchID]; w != nil {
			w.onEvents(from, m)
		}
	}
}

func (c *Client) onResponse(from host.NodeID, r *api.Response) {
	if w := c.watchCreates[r.ID]; w != nil {
		w.onCreated(from, r)
		return
	}
	cl := c.pending[r.ID]
	if cl == nil || r.Op != cl.req.Body.Op() {
		c.stats.Stale++
		c.probes.Hit(probeStaleAnswer)
		return // late answer to a finished request, or a duplicate
	}
	switch r.Err {
	case api.CodeOK:
		c.stats.Answered++
		if r.Body == nil {
			c.finish(cl, r, fmt.Errorf("%w: server %d answered OK without a result", api.ErrInternal, from))
			return
		}
		if cl.write && cl.pinned == 0 {
			c.leader = from
		}
		c.finish(cl, r, nil)
	case api.CodeNotLeader, api.CodeUnavailable, api.CodeTooManyRequests:
		// The server did not act on the request: retrying is safe.
		if from != cl.target {
			return // an earlier attempt's answer; the current one is pending
		}
		if cl.pinned != 0 {
			c.finish(cl, r, &ServerError{Response: r})
			return
		}
		c.retryElsewhere(cl, from, r)
	default:
		c.stats.Answered++
		c.finish(cl, r, &ServerError{Response: r})
	}
}

// retryElsewhere re-sends a request a server refused without acting on it.
func (c *Client) retryElsewhere(cl *call, from host.NodeID, r *api.Response) {
	c.stopRetry(cl)
	c.stats.Retries++
	hint := r.Leader
	cl.hops++
	// Follow a leader hint at once, but only a few times per request:
	// two members with stale views could otherwise bounce it between them.
	if r.Err == api.CodeNotLeader && hint != 0 && hint != from && c.isServer(hint) &&
		cl.hops <= len(c.servers) {
		c.leader = hint
		cl.target = hint
		c.probes.Hit(probeFollowHint)
		c.send(cl)
		return
	}
	c.rotate(from)
	cl.target = c.pick(cl)
	c.probes.Hit(probeRetryBackoff)
	cl.retry = c.h.After(c.opts.RetryBackoff, func() {
		cl.retry = nil
		c.send(cl)
	})
}

func (c *Client) isServer(id host.NodeID) bool {
	for _, s := range c.servers {
		if s == id {
			return true
		}
	}
	return false
}

// SetServers replaces the servers the client talks to (a real member's
// client, after a membership change). A leader guess that is no longer a
// server is forgotten.
func (c *Client) SetServers(servers []host.NodeID) {
	c.servers = append(c.servers[:0:0], servers...)
	if !c.isServer(c.leader) {
		c.leader = 0
	}
	if c.rr >= len(c.servers) {
		c.rr = 0
	}
}
