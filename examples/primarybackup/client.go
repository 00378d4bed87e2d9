package primarybackup

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Client is a client process of the register. Writes go to the primary;
// a read goes to a replica drawn at random (the nearest, say), and to the
// primary if that replica refuses it. It is also the system's client
// adapter (harness.Client).
type Client struct {
	h       host.Host
	servers []host.NodeID
	primary host.NodeID
	timeout time.Duration
	nextID  uint64
	pending map[uint64]*call // by request ID (looked up only, never iterated)
}

type call struct {
	msg   Msg
	done  func(Msg, error)
	timer host.Timer
}

// ErrTimeout: no answer within the client's timeout; the outcome of a
// write is then unknown.
var ErrTimeout = errors.New("primarybackup: request timed out")

// ErrFailed: the primary did not make the write.
var ErrFailed = errors.New("primarybackup: write failed")

// NewClient builds a client on h of the replicas servers.
func NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) *Client {
	return &Client{h: h, servers: servers, primary: slices.Min(servers), timeout: timeout, pending: map[uint64]*call{}}
}

// Write writes value to the register; done gets nil once it is durable on
// the primary.
func (c *Client) Write(value string, done func(error)) {
	if len(value) > MaxValue {
		done(fmt.Errorf("%w: value of %d bytes (at most %d)", ErrFailed, len(value), MaxValue))
		return
	}
	c.do(c.primary, Msg{Kind: KindWrite, Value: value}, func(_ Msg, err error) { done(err) })
}

// Read reads the register (harness.Client).
func (c *Client) Read(done func(string, error)) {
	c.ReadVersion(func(_ uint64, v string, err error) { done(v, err) })
}

// ReadVersion reads the register with its version.
func (c *Client) ReadVersion(done func(version uint64, value string, err error)) {
	to := c.servers[c.h.Rand().IntN(len(c.servers))]
	c.do(to, Msg{Kind: KindRead}, func(m Msg, err error) { done(m.Version, m.Value, err) })
}

// do sends m to a replica and calls done with the answer, once.
func (c *Client) do(to host.NodeID, m Msg, done func(Msg, error)) {
	c.nextID++
	m.ID = c.nextID
	cl := &call{msg: m, done: done}
	c.pending[m.ID] = cl
	cl.timer = c.h.After(c.timeout, func() {
		if c.pending[m.ID] == cl {
			delete(c.pending, m.ID)
			done(Msg{}, ErrTimeout)
		}
	})
	c.h.Send(to, m.Encode())
}

// Receive takes a reply.
func (c *Client) Receive(from host.NodeID, p []byte) {
	m, err := Decode(p)
	if err != nil || m.Kind != KindReply {
		return
	}
	cl := c.pending[m.ID]
	if cl == nil {
		return // late or duplicated
	}
	switch m.Status {
	case StatusNotPrimary:
		c.h.Send(c.primary, cl.msg.Encode()) // the same request, to the primary
		return
	case StatusFailed:
		err = ErrFailed
	}
	delete(c.pending, m.ID)
	cl.timer.Stop()
	cl.done(m, err)
}
