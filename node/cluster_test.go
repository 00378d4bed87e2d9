package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// cluster is a test cluster of real replicas on a simulated world.
type cluster struct {
	t     testing.TB
	w     *sim.World
	ids   []host.NodeID
	nodes map[host.NodeID]*Node // latest incarnation of each replica
	cfg   Config
	cl    *client.Client // the default client (ID 100)
	clID  host.NodeID
}

func newCluster(t testing.TB, size int, seed uint64, cfg Config) *cluster {
	c := &cluster{t: t, w: sim.NewWorld(seed, sim.DefaultConfig()), nodes: map[host.NodeID]*Node{}}
	for i := 1; i <= size; i++ {
		c.ids = append(c.ids, host.NodeID(i))
	}
	cfg.Members = c.ids
	c.cfg = cfg
	for _, id := range c.ids {
		require.NoError(t, c.w.AddNode(id, c.start))
	}
	c.cl = c.addClient(100, client.Options{})
	c.clID = 100
	return c
}

func (c *cluster) start(h host.Host) host.Process {
	n := Start(h, c.cfg).(*Node)
	c.nodes[h.ID()] = n
	return n
}

func (c *cluster) addClient(id host.NodeID, opts client.Options) *client.Client {
	var cl *client.Client
	require.NoError(c.t, c.w.AddNode(id, func(h host.Host) host.Process {
		cl = client.New(h, c.ids, opts)
		return cl
	}))
	return cl
}

// leader returns the live leader with the highest term, or 0.
func (c *cluster) leader() host.NodeID {
	var best host.NodeID
	var term uint64
	for _, id := range c.ids {
		n := c.nodes[id]
		if !c.w.Alive(id) || n.stopped {
			continue
		}
		st := n.Status()
		if st.Role == raft.RoleLeader && st.Term >= term {
			best, term = id, st.Term
		}
	}
	return best
}

// waitLeader runs the world until there is a leader, at most max.
func (c *cluster) waitLeader(max time.Duration) host.NodeID {
	deadline := c.w.Elapsed() + max
	for c.w.Elapsed() < deadline {
		if l := c.leader(); l != 0 {
			return l
		}
		c.w.RunFor(10 * time.Millisecond)
	}
	return 0
}

// runUntil runs the world until cond holds or max passes.
func (c *cluster) runUntil(max time.Duration, cond func() bool) bool {
	deadline := c.w.Elapsed() + max
	for c.w.Elapsed() < deadline {
		if cond() {
			return true
		}
		c.w.RunFor(5 * time.Millisecond)
	}
	return cond()
}

// runUntilStep is runUntil in steps of step (to stop right after an
// event).
func (c *cluster) runUntilStep(max, step time.Duration, cond func() bool) bool {
	deadline := c.w.Elapsed() + max
	for c.w.Elapsed() < deadline {
		if cond() {
			return true
		}
		c.w.RunFor(step)
	}
	return cond()
}

// put writes key=val through the default client and waits for the answer.
func (c *cluster) put(key, val string) (api.Header, error) {
	var hdr api.Header
	var err error
	done := false
	c.cl.Put([]byte(key), []byte(val), client.PutOptions{}, func(_ *api.PutResponse, h api.Header, e error) {
		hdr, err, done = h, e, true
	})
	c.runUntil(10*time.Second, func() bool { return done })
	require.True(c.t, done, "put never finished")
	return hdr, err
}

// mustPut puts until it succeeds: a test may retry a timed-out put of
// the same value (unlike a client library, it knows that is harmless).
func (c *cluster) mustPut(key, val string) api.Header {
	for range 5 {
		h, err := c.put(key, val)
		if errors.Is(err, client.ErrTimeout) {
			continue
		}
		require.NoError(c.t, err, "put %s", key)
		return h
	}
	c.t.Fatalf("put %s: timed out 5 times: %s", key, c.describe())
	return api.Header{}
}

// get reads key through the default client.
func (c *cluster) get(key string, opts client.RangeOptions) (*api.RangeResponse, api.Header, error) {
	var resp *api.RangeResponse
	var hdr api.Header
	var err error
	done := false
	c.cl.Get([]byte(key), opts, func(r *api.RangeResponse, h api.Header, e error) {
		resp, hdr, err, done = r, h, e, true
	})
	c.runUntil(10*time.Second, func() bool { return done })
	require.True(c.t, done, "get never finished")
	return resp, hdr, err
}

func (c *cluster) mustGet(key string) string {
	r, _, err := c.get(key, client.RangeOptions{})
	require.NoError(c.t, err)
	if len(r.KVs) == 0 {
		return ""
	}
	return string(r.KVs[0].Value)
}

// converged waits until every live, running replica has applied the same
// revision, then checks their hashes are equal.
func (c *cluster) converged(max time.Duration) {
	ok := c.runUntil(max, func() bool {
		var rev int64 = -1
		for _, id := range c.live() {
			r, _ := c.nodes[id].Hash()
			if rev >= 0 && r != rev {
				return false
			}
			rev = r
		}
		return true
	})
	require.True(c.t, ok, "replicas did not converge: %s", c.describe())
	var want uint64
	var wantRev int64
	for i, id := range c.live() {
		rev, h := c.nodes[id].Hash()
		if i == 0 {
			want, wantRev = h, rev
			continue
		}
		require.Equal(c.t, wantRev, rev)
		require.Equal(c.t, want, h, "replica %d hash differs at revision %d", id, rev)
	}
	c.checkLogs()
}

// checkLogs checks that replicas agree on every committed index they
// both still hold.
func (c *cluster) checkLogs() {
	type ent struct {
		term uint64
		data string
	}
	seen := map[uint64]ent{}
	for _, id := range c.live() {
		first, ents := c.nodes[id].CommittedLog()
		for i, e := range ents {
			require.Equal(c.t, first+uint64(i), e.Index)
			if prev, ok := seen[e.Index]; ok {
				require.Equal(c.t, prev, ent{e.Term, string(e.Data)}, "replica %d disagrees at index %d", id, e.Index)
			}
			seen[e.Index] = ent{e.Term, string(e.Data)}
		}
	}
}

func (c *cluster) live() []host.NodeID {
	var out []host.NodeID
	for _, id := range c.ids {
		if c.w.Alive(id) && !c.nodes[id].stopped {
			out = append(out, id)
		}
	}
	return out
}

func (c *cluster) describe() string {
	s := ""
	for _, id := range c.ids {
		st := c.nodes[id].Status()
		s += fmt.Sprintf("[%d alive=%v role=%v term=%d lead=%d commit=%d applied=%d rev=%d stopped=%v %s] ",
			id, c.w.Alive(id), st.Role, st.Term, st.Leader, st.Commit, st.Applied, st.Revision, st.Stopped, st.Reason)
	}
	return s
}

type putResp = api.PutResponse
type hdr = api.Header

func putOpts() client.PutOptions { return client.PutOptions{} }
