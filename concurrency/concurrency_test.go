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

// TestSessionCloseRevokes: closing a session deletes its keys at once
// (the lease is revoked), so the next waiter takes the lock without
// waiting for the TTL.
func TestSessionCloseRevokes(t *testing.T) {
	tw := newWorld(t, 6, 3)
	a, b := tw.client(100), tw.client(101)
	sa := tw.session(a, 10)
	ma, mb := NewMutex(sa, "/lock/e"), NewMutex(tw.session(b, 10), "/lock/e")
	var aOK, bOK bool
	ma.Lock(func(err error) { require.NoError(t, err); aOK = true })
	tw.until(5*time.Second, "a holds", func() bool { return aOK })
	mb.Lock(func(err error) { require.NoError(t, err); bOK = true })
	closed := false
	sa.Close(func(err error) { require.NoError(t, err); closed = true })
	tw.until(5*time.Second, "close", func() bool { return closed })
	var found *bool
	a.c.Get([]byte(ma.Key()), client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
		require.NoError(t, err)
		f := len(r.KVs) > 0
		found = &f
	})
	tw.until(5*time.Second, "read", func() bool { return found != nil })
	require.False(t, *found, "the closed session's key is still there")
	tw.until(2*time.Second, "b holds well before a's 10 s TTL", func() bool { return bOK })
}

// TestWaiterRereadsAfterPredecessorGivesUp: when the waiter in front
// gives up (a Lock cancelled), the waiter behind it must not take the
// lock while the holder still has it.
func TestWaiterRereadsAfterPredecessorGivesUp(t *testing.T) {
	tw := newWorld(t, 7, 3)
	ps := []*proc{tw.client(100), tw.client(101), tw.client(102)}
	var ms []*Mutex
	for _, p := range ps {
		ms = append(ms, NewMutex(tw.session(p, 5), "/lock/f"))
	}
	held := make([]bool, 3)
	var errs [3]error
	lock := func(i int) {
		ms[i].Lock(func(err error) { errs[i] = err; held[i] = err == nil })
		tw.until(5*time.Second, "queued", func() bool { return ms[i].rev != 0 })
	}
	lock(0)
	tw.until(5*time.Second, "0 holds", func() bool { return held[0] })
	lock(1)
	lock(2)
	tw.w.RunFor(200 * time.Millisecond)
	ms[1].Cancel() // 1 gives up: its key, 2's predecessor, is deleted
	tw.until(5*time.Second, "1 cancelled", func() bool { return errs[1] != nil })
	tw.w.RunFor(500 * time.Millisecond)
	require.False(t, held[2], "2 took the lock while 0 holds it")
	ms[0].Unlock(nil)
	tw.until(5*time.Second, "2 holds after 0 unlocked", func() bool { return held[2] })
}

// TestCampaignAgainWaitsItsTurn: a second Campaign of a session whose key
// is already queued (a resumed campaign) still waits for its turn.
func TestCampaignAgainWaitsItsTurn(t *testing.T) {
	tw := newWorld(t, 8, 3)
	a, b := tw.client(100), tw.client(101)
	ea := NewElection(tw.session(a, 5), "/election/g")
	sb := tw.session(b, 5)
	eb1, eb2 := NewElection(sb, "/election/g"), NewElection(sb, "/election/g")
	won := 0
	ea.Campaign("a", func(err error) { require.NoError(t, err); won++ })
	tw.until(5*time.Second, "a leads", func() bool { return won == 1 })
	eb1.Campaign("b", func(error) {})
	tw.until(5*time.Second, "b queued", func() bool { return eb1.rev != 0 })
	bLeads := false
	eb2.Campaign("b2", func(err error) { bLeads = err == nil })
	tw.w.RunFor(time.Second)
	require.False(t, bLeads, "b's resumed campaign leads while a does")
	require.True(t, ea.IsLeader())
}

// TestFollowerAppliesWholeRevisions: a follower's cache after each
// revision it applies, and after each list, is the store's prefix at that
// revision, through multi-key transactions, deletes and a relist.
func TestFollowerAppliesWholeRevisions(t *testing.T) {
	tw := newWorld(t, 9, 3)
	w, r := tw.client(100), tw.client(101)
	type state struct {
		rev int64
		kvs map[string]api.KeyValue
	}
	var states []state
	var f *Follower
	f = Follow(r.c, "/conf/", FollowOptions{
		Listed:  func(rev int64, _ []api.KeyValue) { states = append(states, state{rev, f.Snapshot()}) },
		Applied: func(rev int64) { states = append(states, state{rev, f.Snapshot()}) },
	})
	tw.until(5*time.Second, "listed", func() bool { return f.Listed() })
	write := func(ops ...api.TxnOp) {
		done := false
		w.c.Txn(&api.TxnRequest{Success: ops}, client.CallOptions{}, func(_ *api.TxnResponse, _ api.Header, err error) {
			require.NoError(t, err)
			done = true
		})
		tw.until(5*time.Second, "write", func() bool { return done })
	}
	put := func(k, v string) api.TxnOp { return api.TxnOp{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}} }
	for i := range 6 {
		v := fmt.Sprint(i)
		write(put("/conf/a", v), put("/conf/b", v), put("/other", v))
		if i == 2 {
			write(api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte("/conf/a")}})
			f.Relist()
		}
	}
	tw.until(5*time.Second, "caught up", func() bool { return len(states) > 0 && f.CaughtUp(states[len(states)-1].rev) })
	tw.w.RunFor(100 * time.Millisecond)
	require.GreaterOrEqual(t, f.Lists(), 2)
	require.Greater(t, len(states), 6)
	for _, s := range states {
		var got *api.RangeResponse
		r.c.Range([]byte("/conf/"), client.RangeOptions{End: PrefixEnd("/conf/"), Revision: s.rev}, func(resp *api.RangeResponse, _ api.Header, err error) {
			require.NoError(t, err)
			got = resp
		})
		tw.until(5*time.Second, "read", func() bool { return got != nil })
		require.Len(t, s.kvs, len(got.KVs), "revision %d", s.rev)
		for _, kv := range got.KVs {
			c, ok := s.kvs[string(kv.Key)]
			require.True(t, ok, "revision %d: %s missing", s.rev, kv.Key)
			require.Equal(t, string(kv.Value), string(c.Value), "revision %d: %s", s.rev, kv.Key)
			require.Equal(t, kv.ModRevision, c.ModRevision, "revision %d: %s", s.rev, kv.Key)
		}
	}
	f.Close()
}

// TestFollowerRelistsAfterCompaction: a follower whose watch dropped and
// whose resume point was compacted meanwhile lists again, and its cache
// is the store's prefix, changes made while it was away included.
func TestFollowerRelistsAfterCompaction(t *testing.T) {
	tw := newWorld(t, 10, 3)
	w, r := tw.client(100), tw.client(101)
	f := Follow(r.c, "/obj/", FollowOptions{})
	tw.until(5*time.Second, "listed", func() bool { return f.Listed() })
	var last int64
	put := func(k, v string) {
		done := false
		w.c.Put([]byte(k), []byte(v), client.PutOptions{}, func(_ *api.PutResponse, h api.Header, err error) {
			require.NoError(t, err)
			last, done = h.Revision, true
		})
		tw.until(5*time.Second, "put", func() bool { return done })
	}
	put("/obj/a", "1")
	tw.until(5*time.Second, "applied", func() bool { return f.CaughtUp(last) })
	lists := f.Lists()
	f.Pause()
	put("/obj/b", "2") // made while the follower is away
	put("/other", "x")
	put("/other", "y")
	compacted := false
	w.c.Compact(last, client.CallOptions{}, func(_ api.Header, err error) { require.NoError(t, err); compacted = true })
	tw.until(5*time.Second, "compact", func() bool { return compacted })
	f.Resume()
	put("/obj/c", "3")
	tw.until(5*time.Second, "caught up", func() bool { return f.CaughtUp(last) })
	require.Greater(t, f.Lists(), lists, "the compacted resume lists again")
	for _, k := range []string{"/obj/a", "/obj/b", "/obj/c"} {
		_, ok := f.Get(k)
		require.True(t, ok, "%s missing from the cache", k)
	}
	require.Equal(t, 3, f.Len())
}

// TestLeaderIsLowestCreateRevision: Leader names the candidate that
// campaigned first even when another candidate's key sorts before it.
func TestLeaderIsLowestCreateRevision(t *testing.T) {
	tw := newWorld(t, 11, 3)
	a, b := tw.client(100), tw.client(101)
	sa, sb := tw.session(a, 5), tw.session(b, 5)
	ea, eb := NewElection(sa, "/election/h"), NewElection(sb, "/election/h")
	first, second, firstKey := ea, eb, keyFor("/election/h/", sa.Lease())
	if keyFor("/election/h/", sa.Lease()) < keyFor("/election/h/", sb.Lease()) {
		first, second, firstKey = eb, ea, keyFor("/election/h/", sb.Lease()) // the leader's key must sort last
	}
	won := false
	first.Campaign("leader", func(err error) { require.NoError(t, err); won = true })
	tw.until(5*time.Second, "first leads", func() bool { return won })
	second.Campaign("follower", func(error) {})
	tw.until(5*time.Second, "second queued", func() bool { return second.rev != 0 })
	var got *Owner
	Leader(a.c, "/election/h/", func(o Owner, err error) { require.NoError(t, err); got = &o })
	tw.until(5*time.Second, "leader read", func() bool { return got != nil })
	require.Equal(t, firstKey, got.Key)
	require.Equal(t, "leader", got.Value)
}
