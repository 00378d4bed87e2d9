package concurrency

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/sim"
)

// world is a small simulated cluster of real replicas with client
// processes, for the recipes' tests.
type world struct {
	t   *testing.T
	w   *sim.World
	ids []host.NodeID
}

// proc is one client process: its client and host.
type proc struct {
	c *client.Client
	h host.Host
}

func newWorld(t *testing.T, seed uint64, replicas int) *world {
	tw := &world{t: t, w: sim.NewWorld(seed, sim.DefaultConfig())}
	for i := 1; i <= replicas; i++ {
		tw.ids = append(tw.ids, host.NodeID(i))
	}
	for _, id := range tw.ids {
		require.NoError(t, tw.w.AddNode(id, func(h host.Host) host.Process {
			return node.Start(h, node.Config{Members: tw.ids})
		}))
	}
	return tw
}

func (tw *world) client(id host.NodeID) *proc {
	p := &proc{}
	require.NoError(tw.t, tw.w.AddNode(id, func(h host.Host) host.Process {
		p.h = h
		p.c = client.New(h, tw.ids, client.Options{RequestTimeout: 500 * time.Millisecond})
		return p.c
	}))
	return p
}

// until runs the world until cond holds, failing the test after max.
func (tw *world) until(max time.Duration, what string, cond func() bool) {
	tw.t.Helper()
	end := tw.w.Elapsed() + max
	for !cond() {
		if tw.w.Elapsed() >= end {
			tw.t.Fatalf("%s: not within %v", what, max)
		}
		tw.w.RunFor(5 * time.Millisecond)
	}
}

// session opens a session on p and waits for it.
func (tw *world) session(p *proc, ttl int64) *Session {
	tw.t.Helper()
	var s *Session
	var err error
	NewSession(p.c, p.h, SessionOptions{TTL: ttl}, func(got *Session, e error) { s, err = got, e })
	tw.until(10*time.Second, "session", func() bool { return s != nil || err != nil })
	require.NoError(tw.t, err)
	return s
}

func TestMutexExcludesAndHandsOver(t *testing.T) {
	tw := newWorld(t, 1, 3)
	const n = 4
	var ms []*Mutex
	for i := range n {
		p := tw.client(host.NodeID(100 + i))
		ms = append(ms, NewMutex(tw.session(p, 5), "/lock/a"))
	}
	holders := map[int]bool{}
	var order []int
	var tokens []int64
	for i, m := range ms {
		m.Lock(func(err error) {
			require.NoError(t, err)
			holders[i] = true
			require.Len(t, holders, 1, "two holders at once")
			order = append(order, i)
			tokens = append(tokens, m.Token())
		})
	}
	for round := range n {
		tw.until(10*time.Second, "next holder", func() bool { return len(order) == round+1 })
		tw.w.RunFor(200 * time.Millisecond) // nobody else may get in meanwhile
		require.Len(t, holders, 1)
		i := order[round]
		delete(holders, i)
		released := false
		ms[i].Unlock(func(err error) { require.NoError(t, err); released = true })
		tw.until(5*time.Second, "unlock", func() bool { return released })
	}
	require.Len(t, order, n)
	for k := 1; k < n; k++ {
		require.Greater(t, tokens[k], tokens[k-1], "fencing tokens must grow: %v", tokens)
	}
}

func TestMutexWaitsByWatchNotPolling(t *testing.T) {
	tw := newWorld(t, 2, 3)
	a, b := tw.client(100), tw.client(101)
	ma, mb := NewMutex(tw.session(a, 5), "/lock/b"), NewMutex(tw.session(b, 5), "/lock/b")
	got := 0
	ma.Lock(func(err error) { require.NoError(t, err); got++ })
	tw.until(5*time.Second, "a holds", func() bool { return got == 1 })
	bWaiting := false
	mb.Lock(func(err error) { require.NoError(t, err); got++ })
	tw.until(5*time.Second, "b queued", func() bool { bWaiting = mb.Key() != "" && mb.rev != 0; return bWaiting })
	tw.w.RunFor(100 * time.Millisecond)
	sent := b.c.Stats().Sent
	tw.w.RunFor(3 * time.Second) // b waits; keep-alives only
	// 3 s of waiting: about 3 keep-alives (every TTL/3 = 1.67 s) and no reads.
	require.LessOrEqual(t, b.c.Stats().Sent-sent, uint64(4), "a waiting Lock must not poll")
	require.Equal(t, 1, got)
	ma.Unlock(nil)
	tw.until(5*time.Second, "b holds", func() bool { return got == 2 })
	require.Greater(t, mb.Token(), ma.rev)
}

func TestLockPassesOnWhenHolderDies(t *testing.T) {
	tw := newWorld(t, 3, 3)
	a, b := tw.client(100), tw.client(101)
	ma, mb := NewMutex(tw.session(a, 1), "/lock/c"), NewMutex(tw.session(b, 1), "/lock/c")
	var aOK, bOK bool
	ma.Lock(func(err error) { require.NoError(t, err); aOK = true })
	tw.until(5*time.Second, "a holds", func() bool { return aOK })
	mb.Lock(func(err error) { require.NoError(t, err); bOK = true })
	tw.w.RunFor(300 * time.Millisecond)
	require.False(t, bOK)
	require.NoError(t, tw.w.Crash(100)) // a stops renewing: the store expires its lease
	tw.until(5*time.Second, "b holds after a's lease expired", func() bool { return bOK })
	require.Greater(t, mb.Token(), ma.Token())
}

func TestSessionEndsWhenStoreForgetsLease(t *testing.T) {
	tw := newWorld(t, 4, 3)
	a := tw.client(100)
	s := tw.session(a, 5)
	ended := false
	s.OnDone(func() { ended = true })
	revoked := false
	a.c.LeaseRevoke(s.Lease(), client.CallOptions{}, func(_ api.Header, err error) { require.NoError(t, err); revoked = true })
	tw.until(5*time.Second, "revoke", func() bool { return revoked })
	tw.until(5*time.Second, "session notices", func() bool { return ended })
	require.True(t, s.Done())
}

func TestTryLock(t *testing.T) {
	tw := newWorld(t, 5, 3)
	a, b := tw.client(100), tw.client(101)
	ma, mb := NewMutex(tw.session(a, 5), "/lock/d"), NewMutex(tw.session(b, 5), "/lock/d")
	var ea, eb error
	da, db := false, false
	ma.TryLock(func(err error) { ea, da = err, true })
	tw.until(5*time.Second, "a trylock", func() bool { return da })
	require.NoError(t, ea)
	mb.TryLock(func(err error) { eb, db = err, true })
	tw.until(5*time.Second, "b trylock", func() bool { return db })
	require.ErrorIs(t, eb, ErrLocked)
	require.False(t, mb.Held())
}

func TestElectionCampaignProclaimResignObserve(t *testing.T) {
	tw := newWorld(t, 6, 3)
	obs := tw.client(99)
	var seen []Owner
	Observe(obs.c, "/elect/x/", func(o Owner) { seen = append(seen, o) })
	var es []*Election
	leaders := []int{}
	for i := range 3 {
		p := tw.client(host.NodeID(100 + i))
		e := NewElection(tw.session(p, 5), "/elect/x")
		es = append(es, e)
		e.Campaign(fmt.Sprintf("cand-%d", i), func(err error) {
			require.NoError(t, err)
			leaders = append(leaders, i)
		})
	}
	for round := range 3 {
		tw.until(10*time.Second, "leader", func() bool { return len(leaders) == round+1 })
		tw.w.RunFor(100 * time.Millisecond)
		require.Len(t, leaders, round+1, "two leaders at once")
		e := es[leaders[round]]
		done := false
		e.Proclaim(fmt.Sprintf("proclaimed-%d", round), func(err error) { require.NoError(t, err); done = true })
		tw.until(5*time.Second, "proclaim", func() bool { return done })
		done = false
		e.Resign(func(err error) { require.NoError(t, err); done = true })
		tw.until(5*time.Second, "resign", func() bool { return done })
		var perr error
		e.Proclaim("late", func(err error) { perr = err })
		tw.until(time.Second, "proclaim after resign", func() bool { return perr != nil })
		require.ErrorIs(t, perr, ErrNotLeader)
	}
	tw.w.RunFor(500 * time.Millisecond)
	// The observer saw each leader and its proclaimed value, terms growing.
	var terms []int64
	proclaimed := 0
	for _, o := range seen {
		if o.Key == "" {
			continue
		}
		if len(terms) == 0 || terms[len(terms)-1] != o.CreateRevision {
			terms = append(terms, o.CreateRevision)
		}
		if len(o.Value) > 11 && o.Value[:11] == "proclaimed-" {
			proclaimed++
		}
	}
	require.Len(t, terms, 3, "observed: %+v", seen)
	require.Less(t, terms[0], terms[1])
	require.Less(t, terms[1], terms[2])
	require.Equal(t, 3, proclaimed, "observed: %+v", seen)
	require.Empty(t, seen[len(seen)-1].Key, "after the last resign there is no leader")
}

func TestLeaderTxnIsGuarded(t *testing.T) {
	tw := newWorld(t, 7, 3)
	a := tw.client(100)
	s := tw.session(a, 5)
	e := NewElection(s, "/elect/y")
	won := false
	e.Campaign("a", func(err error) { require.NoError(t, err); won = true })
	tw.until(5*time.Second, "campaign", func() bool { return won })
	// Someone deletes the leader's key behind its back (as a lease expiry would).
	gone := false
	a.c.Delete([]byte(e.Key()), client.DeleteOptions{}, func(_ *api.DeleteRangeResponse, _ api.Header, err error) {
		require.NoError(t, err)
		gone = true
	})
	tw.until(5*time.Second, "delete", func() bool { return gone })
	var err error
	done := false
	e.LeaderTxn([]api.TxnOp{{Put: &api.PutRequest{Key: []byte("/work"), Value: []byte("x")}}}, func(e error) { err, done = e, true })
	tw.until(5*time.Second, "leader txn", func() bool { return done })
	require.ErrorIs(t, err, ErrNotLeader)
	require.False(t, e.IsLeader())
}
