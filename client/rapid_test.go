package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// chaosServer answers each request at random: OK, NotLeader (with a random
// hint), Unavailable, or not at all.
type chaosServer struct {
	h      host.Host
	t      *rapid.T
	seen   map[api.RequestID]int // attempts per request ID
	refuse map[api.RequestID]int // refusals (no effect) per request ID
	// minOpen returns the smallest request ID the client still waits on.
	minOpen func() api.RequestID
}

func (s *chaosServer) Receive(from host.NodeID, p []byte) {
	m, err := api.Decode(p)
	if err != nil {
		return
	}
	req, ok := m.(*api.Request)
	if !ok {
		return
	}
	if _, ok := req.Body.(*api.PutRequest); !ok {
		return
	}
	require.LessOrEqual(s.t, req.FinishedBelow, s.minOpen(), "FinishedBelow past an open request")
	s.seen[req.ID]++
	resp := &api.Response{ID: req.ID, Op: api.OpPut, Header: api.Header{Member: s.h.ID()}}
	switch s.h.Rand().IntN(4) {
	case 0:
		resp.Body = &api.PutResponse{}
	case 1:
		resp.Err, resp.Leader = api.CodeNotLeader, host.NodeID(1+s.h.Rand().IntN(3))
		s.refuse[req.ID]++
	case 2:
		resp.Err = api.CodeUnavailable
		s.refuse[req.ID]++
	default:
		return // silence
	}
	s.h.Send(from, api.MustEncode(resp))
}

// TestClientProperties: every write gets exactly one outcome, is sent once
// plus once per refusal (never re-sent after silence), and FinishedBelow
// never passes a request still open.
func TestClientProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := sim.NewWorld(rapid.Uint64().Draw(rt, "seed"), sim.DefaultConfig())
		seen, refuse := map[api.RequestID]int{}, map[api.RequestID]int{}
		var c *Client
		minOpen := func() api.RequestID {
			for id := c.low; id < c.nextID; id++ {
				if c.pending[id] != nil {
					return id
				}
			}
			return c.nextID
		}
		ids := []host.NodeID{1, 2, 3}
		for _, id := range ids {
			require.NoError(rt, w.AddNode(id, func(h host.Host) host.Process {
				return &chaosServer{h: h, t: rt, seen: seen, refuse: refuse, minOpen: minOpen}
			}))
		}
		require.NoError(rt, w.AddNode(100, func(h host.Host) host.Process {
			c = New(h, ids, Options{RequestTimeout: time.Second, ReadAttemptTimeout: 100 * time.Millisecond,
				RetryBackoff: 5 * time.Millisecond})
			return c
		}))
		outcomes := map[int]int{}
		n := rapid.IntRange(1, 40).Draw(rt, "writes")
		for i := range n {
			c.Put([]byte("k"), []byte("v"), PutOptions{}, func(_ *api.PutResponse, _ api.Header, err error) {
				outcomes[i]++
			})
			w.RunFor(time.Duration(rapid.IntRange(0, 50).Draw(rt, "gap")) * time.Millisecond)
		}
		w.RunFor(2 * time.Second)
		require.Len(rt, outcomes, n)
		for i, k := range outcomes {
			require.Equal(rt, 1, k, "write %d outcomes", i)
		}
		for id, k := range seen {
			require.LessOrEqual(rt, k, 1+refuse[id], "request %d re-sent without a refusal", id)
		}
		require.Zero(rt, c.Outstanding())
	})
}
