package client

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// fakeServer is a scripted replica: a one-version map store that answers
// NotLeader (with a hint) unless it is the leader, and can go silent.
type fakeServer struct {
	h      host.Host
	leader *host.NodeID // shared: who the leader is
	kv     *map[string]string
	rev    *int64
	silent bool
	got    []*api.Request // every request received
	// leaderHint overrides the hint given with NotLeader.
	leaderHint host.NodeID
	// watches: watchID -> (client, seq, requestID)
	watches map[int64]*fakeWatch
}

type fakeWatch struct {
	client host.NodeID
	id     api.RequestID
	seq    uint64
}

func (s *fakeServer) Receive(from host.NodeID, payload []byte) {
	m, err := api.Decode(payload)
	if err != nil {
		return
	}
	req, ok := m.(*api.Request)
	if !ok {
		return
	}
	s.got = append(s.got, req)
	if s.silent {
		return
	}
	resp := &api.Response{ID: req.ID, Op: req.Body.Op(),
		Header: api.Header{Member: s.h.ID(), Revision: *s.rev}}
	switch b := req.Body.(type) {
	case *api.WatchCreateRequest:
		s.watches[b.WatchID] = &fakeWatch{client: from, id: req.ID}
		resp.Body = &api.WatchCreateResponse{WatchID: b.WatchID}
	case *api.WatchCancelRequest:
		delete(s.watches, b.WatchID)
		return
	default:
		if *s.leader != s.h.ID() {
			resp.Err, resp.Leader = api.CodeNotLeader, *s.leader
			if s.leaderHint != 0 {
				resp.Leader = s.leaderHint
			}
			break
		}
		switch b := req.Body.(type) {
		case *api.PutRequest:
			*s.rev++
			(*s.kv)[string(b.Key)] = string(b.Value)
			resp.Header.Revision = *s.rev
			resp.Body = &api.PutResponse{}
		case *api.RangeRequest:
			r := &api.RangeResponse{}
			if v, ok := (*s.kv)[string(b.Key)]; ok {
				r.KVs = []api.KeyValue{{Key: b.Key, Value: []byte(v)}}
				r.Count = 1
			}
			resp.Body = r
		case *api.CompactRequest:
			resp.Err = api.CodeCompacted
		}
	}
	s.h.Send(from, api.MustEncode(resp))
}

// emit sends a watch message to every open fake watch.
func (s *fakeServer) emit(seqSkip bool, evs ...api.Event) {
	for wid, fw := range s.watches {
		fw.seq++
		if seqSkip {
			fw.seq++
		}
		s.h.Send(fw.client, api.MustEncode(&api.WatchEvents{ID: fw.id, WatchID: wid, Seq: fw.seq,
			Header: api.Header{Member: s.h.ID(), Revision: *s.rev}, Events: evs}))
	}
}

type fixture struct {
	w       *sim.World
	servers map[host.NodeID]*fakeServer
	c       *Client
	leader  host.NodeID
}

func newFixture(t *testing.T, n int, opts Options) *fixture {
	f := &fixture{w: sim.NewWorld(1, sim.DefaultConfig()), servers: map[host.NodeID]*fakeServer{}, leader: 1}
	kv := map[string]string{}
	var rev int64
	var ids []host.NodeID
	for i := 1; i <= n; i++ {
		id := host.NodeID(i)
		ids = append(ids, id)
		require.NoError(t, f.w.AddNode(id, func(h host.Host) host.Process {
			s := &fakeServer{h: h, leader: &f.leader, kv: &kv, rev: &rev, watches: map[int64]*fakeWatch{}}
			f.servers[id] = s
			return s
		}))
	}
	require.NoError(t, f.w.AddNode(100, func(h host.Host) host.Process {
		f.c = New(h, ids, opts)
		return f.c
	}))
	return f
}

type result struct {
	n    int
	err  error
	hdr  api.Header
	kvs  []api.KeyValue
	when time.Duration
}

func (f *fixture) put(key, val string, res *result) {
	f.c.Put([]byte(key), []byte(val), PutOptions{}, func(_ *api.PutResponse, h api.Header, err error) {
		res.n++
		res.err, res.hdr, res.when = err, h, f.w.Elapsed()
	})
}

func TestNotLeaderRedirectsToHint(t *testing.T) {
	f := newFixture(t, 3, Options{})
	f.leader = 3
	f.c.leader = 1 // stale guess
	var res result
	f.put("a", "1", &res)
	require.Zero(t, res.n, "callback must not run inside the call")
	f.w.RunFor(time.Second)
	require.Equal(t, 1, res.n)
	require.NoError(t, res.err)
	require.Equal(t, host.NodeID(3), res.hdr.Member)
	require.Equal(t, host.NodeID(3), f.c.Leader())
	require.Len(t, f.servers[1].got, 1)
	require.Len(t, f.servers[3].got, 1)
	require.Equal(t, f.servers[1].got[0].ID, f.servers[3].got[0].ID, "a retry reuses the request ID")
}

func TestWriteTimeoutIsUnknownAndNotResent(t *testing.T) {
	f := newFixture(t, 3, Options{RequestTimeout: 500 * time.Millisecond})
	f.c.leader = 1
	f.servers[1].silent = true
	var res result
	f.put("a", "1", &res)
	f.w.RunFor(2 * time.Second)
	require.Equal(t, 1, res.n)
	require.ErrorIs(t, res.err, ErrTimeout)
	require.Equal(t, 500*time.Millisecond, res.when)
	total := 0
	for _, s := range f.servers {
		total += len(s.got)
	}
	require.Equal(t, 1, total, "an unanswered write must never be re-sent")
	require.Zero(t, f.c.Outstanding())
	require.NotEqual(t, host.NodeID(1), f.c.Leader(), "a timeout drops the leader guess")
}

func TestReadFailsOverToNextServer(t *testing.T) {
	f := newFixture(t, 3, Options{ReadAttemptTimeout: 100 * time.Millisecond})
	f.leader = 2
	f.c.leader = 1
	f.c.rr = 0
	f.servers[1].silent = true
	var res result
	f.put("k", "v", &res) // the write times out at the silent server
	var got result
	f.c.Get([]byte("k"), RangeOptions{}, func(r *api.RangeResponse, h api.Header, err error) {
		got.n++
		got.err = err
		if r != nil {
			got.kvs = r.KVs
		}
	})
	f.w.RunFor(3 * time.Second)
	require.Equal(t, 1, got.n)
	require.NoError(t, got.err)
	require.ErrorIs(t, res.err, ErrTimeout)
}

func TestServerErrorIsTyped(t *testing.T) {
	f := newFixture(t, 1, Options{})
	var gotErr error
	calls := 0
	f.c.Compact(5, CallOptions{}, func(_ api.Header, err error) { calls++; gotErr = err })
	f.w.RunFor(time.Second)
	require.Equal(t, 1, calls)
	require.ErrorIs(t, gotErr, api.ErrCompacted)
	var se *ServerError
	require.True(t, errors.As(gotErr, &se))
}

func TestFinishedBelowAdvances(t *testing.T) {
	f := newFixture(t, 1, Options{})
	var res [3]result
	for i := range res {
		f.put("k", "v", &res[i])
	}
	f.w.RunFor(time.Second)
	var last result
	f.put("k", "v", &last)
	f.w.RunFor(time.Second)
	got := f.servers[1].got
	require.Len(t, got, 4)
	require.Equal(t, api.RequestID(1), got[0].FinishedBelow)
	require.Equal(t, api.RequestID(4), got[3].FinishedBelow, "requests 1-3 are finished")
}

func TestPinnedMemberGetsNotLeader(t *testing.T) {
	f := newFixture(t, 3, Options{})
	var res result
	f.c.Put([]byte("a"), []byte("b"), PutOptions{CallOptions: CallOptions{Member: 2}},
		func(_ *api.PutResponse, _ api.Header, err error) { res.n++; res.err = err })
	f.w.RunFor(time.Second)
	require.Equal(t, 1, res.n)
	require.ErrorIs(t, res.err, api.ErrNotLeader)
}

func TestEncodeErrorIsAsync(t *testing.T) {
	f := newFixture(t, 1, Options{})
	var res result
	f.c.Put(make([]byte, api.MaxKeySize+1), nil, PutOptions{}, func(_ *api.PutResponse, _ api.Header, err error) {
		res.n++
		res.err = err
	})
	require.Zero(t, res.n)
	f.w.RunFor(time.Millisecond)
	require.Equal(t, 1, res.n)
	require.ErrorIs(t, res.err, api.ErrInvalid)
}

func ev(rev int64, key string) api.Event {
	return api.Event{Type: api.EventPut, KV: api.KeyValue{Key: []byte(key), ModRevision: rev}}
}

func TestWatchResumesAfterGapWithoutDuplicates(t *testing.T) {
	f := newFixture(t, 3, Options{})
	f.c.leader = 1
	var got []int64
	var members []host.NodeID
	w := f.c.Watch([]byte("k"), WatchOptions{StartRevision: 1}, func(u WatchUpdate) {
		require.NoError(t, u.Err)
		for _, e := range u.Events {
			got = append(got, e.Revision())
		}
		members = append(members, u.Member)
	})
	f.w.RunFor(100 * time.Millisecond)
	require.Len(t, f.servers[1].watches, 1)
	f.servers[1].emit(false, ev(1, "k"), ev(2, "k"))
	f.w.RunFor(100 * time.Millisecond)
	f.servers[1].emit(true, ev(3, "k")) // seq skips: a gap
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, host.NodeID(2), w.Member(), "resumed on another member")
	require.Empty(t, f.servers[1].watches, "old stream canceled")
	creates := 0
	for _, r := range f.servers[2].got {
		if wc, ok := r.Body.(*api.WatchCreateRequest); ok {
			creates++
			require.Equal(t, int64(3), wc.StartRevision, "resume from last delivered + 1")
		}
	}
	require.Equal(t, 1, creates)
	// The new member replays from 2 (overlap): only 3 and 4 are new.
	f.servers[2].emit(false, ev(2, "k"), ev(3, "k"), ev(4, "k"))
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, []int64{1, 2, 3, 4}, got)
	require.Equal(t, int64(5), w.NextRevision())
	w.Cancel()
	f.servers[2].emit(false, ev(5, "k"))
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, []int64{1, 2, 3, 4}, got)
}

// TestWatchRawShowsRepeatsAndProgress: with Raw, a stream's repeat of a
// revision already delivered or covered by a progress notification
// reaches the callback (a checker must see a faulty server's repeats),
// and so does each progress notification.
func TestWatchRawShowsRepeatsAndProgress(t *testing.T) {
	f := newFixture(t, 1, Options{})
	f.c.leader = 1
	var got, progress []int64
	w := f.c.Watch([]byte("k"), WatchOptions{StartRevision: 1, Raw: true}, func(u WatchUpdate) {
		require.NoError(t, u.Err)
		if u.Progress != 0 {
			require.Empty(t, u.Events)
			progress = append(progress, u.Progress)
		}
		for _, e := range u.Events {
			got = append(got, e.Revision())
		}
	})
	f.w.RunFor(100 * time.Millisecond)
	f.servers[1].emit(false, ev(1, "k"), ev(2, "k"))
	f.w.RunFor(100 * time.Millisecond)
	*f.servers[1].rev = 4
	f.servers[1].emit(false) // progress: everything up to 4 was sent
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, []int64{4}, progress)
	require.Equal(t, int64(5), w.NextRevision())
	f.servers[1].emit(false, ev(2, "k"), ev(3, "k")) // a repeat, and 3 after the promise
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, []int64{1, 2, 2, 3}, got)
	require.Equal(t, int64(5), w.NextRevision(), "never moves back")
}

func TestWatchResumesAfterSilence(t *testing.T) {
	f := newFixture(t, 2, Options{WatchStreamTimeout: 300 * time.Millisecond})
	f.c.leader = 1
	var got []int64
	w := f.c.Watch([]byte("k"), WatchOptions{}, func(u WatchUpdate) {
		for _, e := range u.Events {
			got = append(got, e.Revision())
		}
	})
	f.w.RunFor(50 * time.Millisecond)
	require.Equal(t, int64(1), w.NextRevision(), "start revision learned from the create answer")
	f.servers[1].silent = true
	f.w.RunFor(time.Second)
	require.Positive(t, f.c.Stats().WatchResumes)
	created := false
	for _, r := range f.servers[2].got {
		if wc, ok := r.Body.(*api.WatchCreateRequest); ok {
			created = true
			require.Equal(t, int64(1), wc.StartRevision)
		}
	}
	require.True(t, created, "the silent stream moved to member 2")
}

func TestStaleHintsDoNotPingPong(t *testing.T) {
	f := newFixture(t, 3, Options{RequestTimeout: time.Second})
	f.leader = 0 // nobody leads
	// Server 1 and 2 point at each other.
	f.servers[1].leaderHint, f.servers[2].leaderHint = 2, 1
	f.c.leader = 1
	var res result
	f.put("a", "1", &res)
	f.w.RunFor(2 * time.Second)
	require.ErrorIs(t, res.err, ErrTimeout)
	total := 0
	for _, s := range f.servers {
		total += len(s.got)
	}
	// With a 25ms backoff after the first few hops, about 40 tries a second.
	require.Less(t, total, 100, "requests bounced %d times", total)
}

// The watermark never passes a pending request: moved past one (as a
// watermark advanced to "one past the request that just finished" would
// be, over an older request still in flight), the next request a client
// sends is an invariant violation rather than a dedup record the servers
// drop too early.
func TestWatermarkNeverPassesAPendingRequest(t *testing.T) {
	f := newFixture(t, 1, Options{})
	var first, second result
	f.put("a", "1", &first)
	f.put("b", "2", &second)
	require.Equal(t, api.RequestID(1), f.c.finishedBelow(), "both in flight")
	f.c.low = 2 // as if request 2 finished and the watermark jumped over request 1
	require.PanicsWithError(t, "invariant violated: client 100: watermark 2 passes request 1, which has not finished", func() {
		f.c.finishedBelow()
	})
}

// TestWatchRawFromNowReportsCreation: a Raw watch from "now" reports the
// revision its stream was created at as a progress notification (nothing
// at or below it may come), once; one from a given revision does not.
func TestWatchRawFromNowReportsCreation(t *testing.T) {
	f := newFixture(t, 1, Options{})
	f.c.leader = 1
	*f.servers[1].rev = 6
	var progress []int64
	w := f.c.Watch([]byte("k"), WatchOptions{Raw: true}, func(u WatchUpdate) {
		require.NoError(t, u.Err)
		if u.Progress != 0 {
			progress = append(progress, u.Progress)
		}
	})
	f.w.RunFor(100 * time.Millisecond)
	require.Equal(t, []int64{6}, progress)
	require.Equal(t, int64(7), w.NextRevision())

	progress = nil
	f.c.Watch([]byte("k"), WatchOptions{StartRevision: 2, Raw: true}, func(u WatchUpdate) {
		if u.Progress != 0 {
			progress = append(progress, u.Progress)
		}
	})
	f.w.RunFor(100 * time.Millisecond)
	require.Empty(t, progress, "a watch from a revision replays from it: its creation promises nothing")
}
