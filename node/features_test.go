package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/wal"
)

// do sends one request through the default client and waits.
func (c *cluster) do(body api.RequestBody, opts client.CallOptions) (*api.Response, error) {
	var resp *api.Response
	var err error
	done := false
	c.cl.Do(body, opts, func(r *api.Response, e error) { resp, err, done = r, e, true })
	c.runUntil(10*time.Second, func() bool { return done })
	require.True(c.t, done)
	return resp, err
}

func TestSerializableReadsNeverGoBackwardsOnAMember(t *testing.T) {
	c := newCluster(t, 3, 31, Config{SnapshotEntries: 30, CatchUpEntries: 5})
	c.waitLeader(5 * time.Second)
	last := map[host.NodeID]int64{}
	r := c.w.Rand("ser")
	for round := range 40 {
		// A burst of writes in flight while every member is read.
		for i := range 5 {
			c.cl.Put(fmt.Appendf(nil, "s%d", i), fmt.Appendf(nil, "%d", round), putOpts(), func(*putResp, hdr, error) {})
		}
		c.w.RunFor(time.Duration(r.IntN(5)) * time.Millisecond)
		if round%10 == 5 { // and now and then a crash/restart
			victim := c.ids[r.IntN(len(c.ids))]
			require.NoError(t, c.w.Crash(victim))
			c.w.RunFor(50 * time.Millisecond)
			require.NoError(t, c.w.Restart(victim))
		}
		for _, id := range c.ids {
			res, h, err := c.get("s0", client.RangeOptions{Serializable: true,
				CallOptions: client.CallOptions{Member: id}})
			if err != nil {
				continue // a restarted member not caught up yet refuses
			}
			require.NotNil(t, res)
			require.GreaterOrEqual(t, h.Revision, last[id], "member %d went backwards", id)
			last[id] = h.Revision
		}
	}
	c.converged(10 * time.Second)
}

func TestWatchDeliversEveryEventInOrder(t *testing.T) {
	c := newCluster(t, 3, 32, Config{SnapshotEntries: 50, CatchUpEntries: 5})
	c.waitLeader(5 * time.Second)
	watcher := c.addClient(200, client.Options{})
	var got []api.Event
	var errs []error
	w := watcher.Watch([]byte("/w/"), client.WatchOptions{End: []byte("/w0"), PrevKV: true},
		func(u client.WatchUpdate) {
			if u.Err != nil {
				errs = append(errs, u.Err)
			}
			got = append(got, u.Events...)
		})
	c.w.RunFor(100 * time.Millisecond)
	var revs []int64
	for i := range 60 {
		h := c.mustPut(fmt.Sprintf("/w/%d", i%5), fmt.Sprintf("%d", i))
		revs = append(revs, h.Revision)
		c.mustPut("/other", "x") // outside the range
		if i == 30 {
			// Kill the member serving the watch: it resumes elsewhere.
			require.NoError(t, c.w.Crash(w.Member()))
		}
	}
	resp, err := c.do(&api.DeleteRangeRequest{Key: []byte("/w/"), End: []byte("/w0")}, client.CallOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(5), resp.Body.(*api.DeleteRangeResponse).Deleted)
	require.True(t, c.runUntil(10*time.Second, func() bool { return len(got) >= 65 }), "got %d events", len(got))
	require.Empty(t, errs)
	require.Len(t, got, 65)
	for i, rev := range revs {
		require.Equal(t, rev, got[i].Revision(), "event %d", i)
		require.Equal(t, api.EventPut, got[i].Type)
		require.Equal(t, fmt.Sprintf("%d", i), string(got[i].KV.Value))
		if i >= 5 {
			require.NotNil(t, got[i].PrevKV)
			require.Equal(t, fmt.Sprintf("%d", i-5), string(got[i].PrevKV.Value))
		}
	}
	// The delete of five keys is one revision, five events.
	for _, e := range got[60:] {
		require.Equal(t, api.EventDelete, e.Type)
		require.Equal(t, got[60].Revision(), e.Revision())
	}
	require.Positive(t, watcher.Stats().WatchResumes)
	c.converged(5 * time.Second)
}

func TestWatchFromCompactedRevisionFails(t *testing.T) {
	c := newCluster(t, 3, 33, Config{})
	c.waitLeader(5 * time.Second)
	var rev int64
	for i := range 10 {
		rev = c.mustPut("k", fmt.Sprint(i)).Revision
	}
	_, err := c.do(&api.CompactRequest{Revision: rev - 2}, client.CallOptions{})
	require.NoError(t, err)
	var upd *client.WatchUpdate
	c.cl.Watch([]byte("k"), client.WatchOptions{StartRevision: 2}, func(u client.WatchUpdate) { upd = &u })
	require.True(t, c.runUntil(5*time.Second, func() bool { return upd != nil }))
	require.ErrorIs(t, upd.Err, api.ErrCompacted)
	// Reading the compacted past fails; the recent past works.
	_, _, err = c.get("k", client.RangeOptions{Revision: 2})
	require.ErrorIs(t, err, api.ErrCompacted)
	res, _, err := c.get("k", client.RangeOptions{Revision: rev - 1})
	require.NoError(t, err)
	require.Equal(t, "8", string(res.KVs[0].Value))
	_, _, err = c.get("k", client.RangeOptions{Revision: rev + 100})
	require.ErrorIs(t, err, api.ErrFutureRevision)
	c.converged(5 * time.Second)
}

func TestTxnCompareAndSwap(t *testing.T) {
	c := newCluster(t, 3, 34, Config{})
	c.waitLeader(5 * time.Second)
	c.mustPut("lock", "free")
	cas := func(from, to string) bool {
		resp, err := c.do(&api.TxnRequest{
			Compares: []api.Compare{{Key: []byte("lock"), Target: api.TargetValue, Result: api.CompareEqual, Value: []byte(from)}},
			Success:  []api.TxnOp{{Put: &api.PutRequest{Key: []byte("lock"), Value: []byte(to)}}},
			Failure:  []api.TxnOp{{Range: &api.RangeRequest{Key: []byte("lock")}}},
		}, client.CallOptions{})
		require.NoError(t, err)
		return resp.Body.(*api.TxnResponse).Succeeded
	}
	require.True(t, cas("free", "a"))
	require.False(t, cas("free", "b"))
	require.Equal(t, "a", c.mustGet("lock"))
	require.True(t, cas("a", "free"))
	c.converged(5 * time.Second)
}

func TestLeasesExpireByLeaderDecision(t *testing.T) {
	c := newCluster(t, 3, 35, Config{})
	l := c.waitLeader(5 * time.Second)
	grant := func(ttl int64) int64 {
		resp, err := c.do(&api.LeaseGrantRequest{TTL: ttl}, client.CallOptions{})
		require.NoError(t, err)
		return resp.Body.(*api.LeaseGrantResponse).ID
	}
	short, kept := grant(2), grant(2)
	for _, id := range []int64{short, kept} {
		_, err := c.do(&api.PutRequest{Key: fmt.Appendf(nil, "lease%d", id), Value: []byte("v"), Lease: id}, client.CallOptions{})
		require.NoError(t, err)
	}
	// Keep one lease alive across a leader crash; let the other lapse.
	for range 8 {
		c.w.RunFor(500 * time.Millisecond)
		_, err := c.do(&api.LeaseKeepAliveRequest{ID: kept}, client.CallOptions{})
		if err != nil {
			require.ErrorIs(t, err, client.ErrTimeout) // the leader crash
		}
		if l != 0 && c.w.Elapsed() > 3*time.Second {
			require.NoError(t, c.w.Crash(l))
			l = 0
		}
	}
	require.Equal(t, "", c.mustGet(fmt.Sprintf("lease%d", short)), "expired lease's key deleted")
	require.Equal(t, "v", c.mustGet(fmt.Sprintf("lease%d", kept)), "kept-alive lease survives a leader change")
	_, err := c.do(&api.LeaseKeepAliveRequest{ID: short}, client.CallOptions{})
	require.ErrorIs(t, err, api.ErrLeaseNotFound)
	c.converged(5 * time.Second)
	_, err = c.do(&api.LeaseRevokeRequest{ID: kept}, client.CallOptions{})
	require.NoError(t, err)
	require.Equal(t, "", c.mustGet(fmt.Sprintf("lease%d", kept)))
	c.converged(5 * time.Second)
}

func TestQuotaRefusesWritesButNotReadsDeletesCompaction(t *testing.T) {
	c := newCluster(t, 3, 36, Config{QuotaBytes: 8 << 10})
	c.waitLeader(5 * time.Second)
	big := string(make([]byte, 500))
	var full bool
	var lastRev int64
	for i := range 40 {
		h, err := c.put(fmt.Sprintf("q%d", i), big)
		if err != nil {
			require.ErrorIs(t, err, api.ErrNoSpace)
			full = true
			break
		}
		lastRev = h.Revision
	}
	require.True(t, full, "quota never hit")
	require.True(t, c.runUntil(time.Second, func() bool {
		for _, id := range c.ids {
			if !c.nodes[id].Alarm() {
				return false
			}
		}
		return true
	}), "every replica raises the alarm")
	require.Equal(t, big, c.mustGet("q0"), "reads work")
	_, err := c.do(&api.DeleteRangeRequest{Key: []byte("q"), End: []byte("r")}, client.CallOptions{})
	require.NoError(t, err, "deletes work")
	_, err = c.do(&api.CompactRequest{Revision: lastRev + 1}, client.CallOptions{})
	require.NoError(t, err, "compaction works")
	c.mustPut("after", "small")
	c.converged(5 * time.Second)
}

// rawClient sends hand-made payloads, to test the servers' duplicate
// handling without the client library's discipline.
type rawClient struct {
	h      host.Host
	resp   []*api.Response
	events []*api.WatchEvents
}

func (r *rawClient) Receive(_ host.NodeID, p []byte) {
	if m, err := api.Decode(p); err == nil {
		switch m := m.(type) {
		case *api.Response:
			r.resp = append(r.resp, m)
		case *api.WatchEvents:
			r.events = append(r.events, m)
		}
	}
}

func TestDuplicatedWatchCreateDoesNotRestartTheStream(t *testing.T) {
	c := newCluster(t, 3, 40, Config{})
	c.waitLeader(5 * time.Second)
	c.mustPut("w", "0")
	raw := &rawClient{}
	require.NoError(t, c.w.AddNode(300, func(h host.Host) host.Process { raw.h = h; return raw }))
	create := api.MustEncode(&api.Request{ID: 5, Body: &api.WatchCreateRequest{WatchID: 1, Key: []byte("w"), StartRevision: 2}})
	raw.h.Send(1, create)
	c.w.RunFor(50 * time.Millisecond)
	c.mustPut("w", "1")
	c.w.RunFor(50 * time.Millisecond)
	raw.h.Send(1, create) // a late duplicate
	c.w.RunFor(50 * time.Millisecond)
	c.mustPut("w", "2")
	c.w.RunFor(50 * time.Millisecond)
	var revs []int64
	for i, m := range raw.events {
		require.Equal(t, uint64(i+1), m.Seq)
		for _, e := range m.Events {
			revs = append(revs, e.Revision())
		}
	}
	require.Equal(t, []int64{2, 3, 4}, revs, "each event once, in order")
	c.converged(5 * time.Second)
}

// TestDuplicatedWatchCreateFromNowKeepsItsRevision: the answer to a
// duplicated create of a watch from "now" carries the revision the stream
// was created at, not the current one: a client that gets only the late
// answer (the first one lost, or overtaken) resumes its position from it,
// and would skip the events in between (TestSeeds seed 547 with watches
// from "now": the duplicate's answer, at revision 5, overtook the
// original's, at 4, and the event at 5 came after it).
func TestDuplicatedWatchCreateFromNowKeepsItsRevision(t *testing.T) {
	c := newCluster(t, 3, 41, Config{})
	c.waitLeader(5 * time.Second)
	c.mustPut("w", "0")
	raw := &rawClient{}
	require.NoError(t, c.w.AddNode(300, func(h host.Host) host.Process { raw.h = h; return raw }))
	create := api.MustEncode(&api.Request{ID: 5, Body: &api.WatchCreateRequest{WatchID: 1, Key: []byte("w")}})
	raw.h.Send(1, create)
	c.w.RunFor(50 * time.Millisecond)
	c.mustPut("w", "1")
	c.w.RunFor(50 * time.Millisecond)
	raw.h.Send(1, create) // a late duplicate
	c.w.RunFor(50 * time.Millisecond)
	require.Len(t, raw.resp, 2)
	require.Equal(t, api.CodeOK, raw.resp[1].Err)
	require.Equal(t, raw.resp[0].Header.Revision, raw.resp[1].Header.Revision, "the stream's creation revision, both times")
	require.Len(t, raw.events, 1)
	require.Equal(t, raw.resp[0].Header.Revision+1, raw.events[0].Events[0].Revision(), "the first event is past it")
	c.converged(5 * time.Second)
}

func TestDuplicatedWriteAppliesOnce(t *testing.T) {
	c := newCluster(t, 3, 37, Config{SnapshotEntries: 10, CatchUpEntries: 2})
	l := c.waitLeader(5 * time.Second)
	raw := &rawClient{}
	require.NoError(t, c.w.AddNode(300, func(h host.Host) host.Process { raw.h = h; return raw }))
	send := func(id, fb api.RequestID, val string) {
		raw.h.Send(l, api.MustEncode(&api.Request{ID: id, FinishedBelow: fb,
			Body: &api.PutRequest{Key: []byte("dup"), Value: []byte(val)}}))
	}
	send(1, 1, "a")
	send(1, 1, "a") // a duplicate while the first is in flight
	c.w.RunFor(200 * time.Millisecond)
	send(1, 1, "a") // a late duplicate, after it was applied
	c.w.RunFor(200 * time.Millisecond)
	send(2, 2, "b")
	c.w.RunFor(200 * time.Millisecond)
	c.writeMany("filler", 30) // snapshots carry the sessions
	send(1, 3, "a")           // below the watermark: refused
	send(2, 3, "b")
	c.w.RunFor(200 * time.Millisecond)
	res, _, err := c.get("dup", client.RangeOptions{})
	require.NoError(t, err)
	require.Equal(t, "b", string(res.KVs[0].Value))
	require.Equal(t, int64(2), res.KVs[0].Version, "two distinct writes, each applied once")
	require.Len(t, raw.resp, 2, "each request answered once")
	c.converged(5 * time.Second)
}

func TestMemberList(t *testing.T) {
	c := newCluster(t, 3, 38, Config{})
	c.waitLeader(5 * time.Second)
	resp, err := c.do(&api.MemberListRequest{}, client.CallOptions{})
	require.NoError(t, err)
	require.Len(t, resp.Body.(*api.MemberResponse).Members, 3)
	_, err = c.do(&api.MemberRemoveRequest{ID: 9}, client.CallOptions{})
	require.ErrorIs(t, err, api.ErrMemberNotFound)
	_, err = c.do(&api.MemberAddRequest{ID: 2}, client.CallOptions{})
	require.ErrorIs(t, err, api.ErrMemberExists)
	c.converged(5 * time.Second)
}

func TestMemberAddJoinAndRemove(t *testing.T) {
	c := newCluster(t, 3, 39, Config{SnapshotEntries: 20, CatchUpEntries: 5})
	c.waitLeader(5 * time.Second)
	acked := c.writeMany("m", 30)
	resp, err := c.do(&api.MemberAddRequest{ID: 4}, client.CallOptions{})
	require.NoError(t, err)
	require.Len(t, resp.Body.(*api.MemberResponse).Members, 4)
	c.join(t, 4)
	c.converged(10 * time.Second)
	require.Len(t, c.nodes[4].confState.Voters, 4)
	// Remove a founding member; the four-member cluster shrinks to three.
	resp, err = c.do(&api.MemberRemoveRequest{ID: 1}, client.CallOptions{})
	require.NoError(t, err)
	require.Len(t, resp.Body.(*api.MemberResponse).Members, 3)
	require.NoError(t, c.w.Crash(1))
	c.ids = c.ids[1:]
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.mustPut("after", "remove")
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// A new leader renews every lease by its TTL when it takes over, but it
// applies the previous term's entries only afterwards: a grant the old
// leader committed just before it was cut off, applied by the new leader
// after its promotion, must keep the promotion's renewal, not expire TTL
// after the old leader's stamp (etcd refreshes a lease granted on the
// primary from its apply time).
func TestLeaseGrantAppliedAfterPromotionKeepsRenewal(t *testing.T) {
	c := newCluster(t, 3, 41, Config{})
	old := c.waitLeader(5 * time.Second)
	require.NotZero(t, old)
	c.mustPut("warm", "up")
	c.w.RunFor(300 * time.Millisecond) // every replica applied all so far
	last := func(n *Node) uint64 { i, _ := n.ms.LastIndex(); return i }
	id := int64(last(c.nodes[old])) + 1 // the grant's ID is its log index
	c.cl.Do(&api.LeaseGrantRequest{TTL: 2}, client.CallOptions{}, func(*api.Response, error) {})
	// Once the followers hold the grant, cut the old leader's messages to
	// them: their acknowledgements still commit it at the old leader, but
	// they never learn that it committed.
	var followers []host.NodeID
	for _, f := range c.ids {
		if f != old {
			followers = append(followers, f)
		}
	}
	require.True(t, c.runUntilStep(time.Second, 100*time.Microsecond, func() bool {
		for _, f := range followers {
			if last(c.nodes[f]) < uint64(id) {
				return false
			}
		}
		return true
	}))
	for _, f := range followers {
		c.w.Net().Cut(old, f)
	}
	var nl host.NodeID
	require.True(t, c.runUntil(5*time.Second, func() bool {
		nl = c.leader()
		return nl != 0 && nl != old && c.nodes[nl].AppliedIndex() >= uint64(id)
	}))
	n := c.nodes[nl]
	require.Greater(t, n.promotedAt, int64(0))
	info, err := n.StoreForTest().LeaseTimeToLive(id, time.Unix(0, n.promotedAt))
	require.NoError(t, err, "the grant is applied on the new leader")
	require.GreaterOrEqual(t, info.Remaining, 2*time.Second,
		"the lease expires no earlier than the TTL after the new leader's promotion")
}

// withoutReplacedSuffix keeps the log a local snapshot leaves (entries of
// its term or newer) and drops a stale suffix a received snapshot replaced.
func TestWithoutReplacedSuffix(t *testing.T) {
	es := func(from, to, term uint64) []wal.Entry {
		var out []wal.Entry
		for i := from; i <= to; i++ {
			out = append(out, wal.Entry{Index: i, Term: term})
		}
		return out
	}
	m := &wal.SnapshotMarker{Index: 5, Term: 3}
	cases := []struct {
		name string
		m    *wal.SnapshotMarker
		in   []wal.Entry
		want []wal.Entry
	}{
		{"no marker keeps all", nil, es(1, 4, 1), es(1, 4, 1)},
		{"local snapshot keeps its log", m, es(6, 8, 3), es(6, 8, 3)},
		{"newer terms kept", m, append(es(6, 6, 3), es(7, 8, 4)...), append(es(6, 6, 3), es(7, 8, 4)...)},
		{"stale suffix dropped", m, es(6, 8, 2), nil},
		{"stale from the middle", m, append(es(6, 6, 3), es(7, 8, 2)...), es(6, 6, 3)},
		{"nothing after the marker", m, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := withoutReplacedSuffix(c.m, c.in)
			if len(c.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, c.want, got)
		})
	}
}

// With PromoteCatchUp, a learner that has not caught up (here: not even
// started) is not promoted; once it has joined and caught up, it is.
// Without it, the promotion goes through at once.
func TestPromoteCatchUp(t *testing.T) {
	c := newCluster(t, 3, 40, Config{PromoteCatchUp: true})
	c.waitLeader(5 * time.Second)
	c.writeMany("p", 10)
	_, err := c.do(&api.MemberAddRequest{ID: 4, Learner: true}, client.CallOptions{})
	require.NoError(t, err)
	_, err = c.do(&api.MemberAddRequest{ID: 4}, client.CallOptions{})
	var se *client.ServerError
	require.ErrorAs(t, err, &se)
	require.Equal(t, api.CodeInvalid, se.Response.Err)
	require.Equal(t, ErrLearnerNotReady.Error(), se.Response.Detail)
	c.join(t, 4)
	c.converged(10 * time.Second)
	resp, err := c.do(&api.MemberAddRequest{ID: 4}, client.CallOptions{})
	require.NoError(t, err)
	for _, m := range resp.Body.(*api.MemberResponse).Members {
		require.False(t, m.Learner, "member %d", m.ID)
	}

	off := newCluster(t, 3, 41, Config{})
	off.waitLeader(5 * time.Second)
	_, err = off.do(&api.MemberAddRequest{ID: 4, Learner: true}, client.CallOptions{})
	require.NoError(t, err)
	_, err = off.do(&api.MemberAddRequest{ID: 4}, client.CallOptions{})
	require.NoError(t, err)
}

// A new cluster started from an mvcc snapshot (a restore from backup)
// serves its keys at their revisions, takes writes after them, and lets a
// restored lease lapse one TTL after the first leader took over.
func TestInitialStore(t *testing.T) {
	src := mvcc.New(mvcc.Config{})
	now := time.Unix(1000, 0)
	require.NoError(t, src.LeaseGrant(7, 2*time.Second, now))
	_, _, err := src.Put([]byte("kept"), []byte("v"), 0, false)
	require.NoError(t, err)
	_, _, err = src.Put([]byte("leased"), []byte("v"), 7, false)
	require.NoError(t, err)
	c := newCluster(t, 3, 42, Config{InitialStore: src.Snapshot()})
	c.waitLeader(5 * time.Second)
	require.Equal(t, "v", c.mustGet("kept"))
	h := c.mustPut("new", "w")
	require.Equal(t, src.CurrentRevision()+1, h.Revision)
	c.w.RunFor(4 * time.Second)
	require.Equal(t, "", c.mustGet("leased"), "the restored lease expired")
	require.Equal(t, "v", c.mustGet("kept"))
	c.converged(5 * time.Second)

	bad := newCluster(t, 1, 43, Config{InitialStore: []byte("not a snapshot")})
	stopped, reason := bad.nodes[1].Stopped()
	require.True(t, stopped)
	require.Contains(t, reason, "initial store")
}

// join starts replica id, already added as a member, joining the cluster.
func (c *cluster) join(t *testing.T, id host.NodeID) {
	joinCfg := c.cfg
	joinCfg.Join = true
	require.NoError(t, c.w.AddNode(id, func(h host.Host) host.Process {
		n := Start(h, joinCfg).(*Node)
		c.nodes[id] = n
		return n
	}))
	c.ids = append(c.ids, id)
}
