package harness

import (
	"slices"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
)

// fakeCluster is a test double for a cluster: every replica serves every
// request at once from one shared mvcc.Store, so the cluster is trivially
// linearizable. With stale set, serializable reads are answered from an
// older revision, which the checker must catch.
type fakeCluster struct {
	s        *mvcc.Store
	stale    bool
	bug      fakeBug
	storming bool
	nextID   int64
	watchers []*fakeWatch
}

type fakeWatch struct {
	r      *fakeReplica
	client host.NodeID
	reqID  api.RequestID
	id     int64
	w      *mvcc.Watcher
	seq    uint64
}

type fakeReplica struct {
	c *fakeCluster
	h host.Host
}

// fakeBug is a deliberate defect of a fake cluster, to show that the
// harness catches it.
type fakeBug int

const (
	bugNone           fakeBug = iota
	bugLoseWrite              // acknowledge a put without applying it
	bugPanic                  // panic while serving a request
	bugDiverge                // one replica reports a different hash
	bugDropEvents             // a watch stream skips an event
	lossy                     // not a bug: drop a tenth of requests or answers
	bugStorm                  // two replicas bounce messages forever
	bugEarlyExpiry            // leases expire at half their TTL
	bugDeafKeepAlive          // keep-alives are acknowledged but leave the lease expired
	bugFakeCompaction         // compactions are acknowledged but drop nothing
	bugCompactedAbove         // reads of the past above the compaction point fail as compacted
	bugPastIsPresent          // reads of the past answer with the current state
)

func newFakeCluster(stale bool) *fakeCluster {
	return &fakeCluster{s: mvcc.New(mvcc.Config{}), stale: stale}
}

// fakeConfig returns cfg running a fresh fake cluster in every run.
func fakeConfig(cfg Config, stale bool) Config { return buggyConfig(cfg, stale, bugNone) }

// buggyConfig is fakeConfig with a deliberate defect.
func buggyConfig(cfg Config, stale bool, bug fakeBug) Config {
	// The fake applies a duplicated request twice (it has no request-ID
	// dedup), and its message storm must not be cut short by loss; it
	// serves at once, so it runs the workload these tests were sized for.
	cfg.Adjust = func(s *Scenario) {
		s.Net.Loss, s.Net.Duplicate = 0, 0
		s.ClientsPerNode, s.Workload = 3, DefaultScenario().Workload
	}
	cfg.Cluster = func() ReplicaFunc {
		c := newFakeCluster(stale)
		c.bug = bug
		return func(h host.Host, _ []host.NodeID) host.Process { return &fakeReplica{c: c, h: h} }
	}
	return cfg
}

func (r *fakeReplica) Receive(from host.NodeID, payload []byte) {
	if r.c.bug == bugStorm {
		if len(payload) > 0 && payload[0] == 0xEE {
			r.h.Send(from, payload) // bounce it back at once
			return
		}
		if r.c.s.CurrentRevision() >= 50 && !r.c.storming {
			r.c.storming = true
			r.h.Send(r.h.ID()%5+1, append([]byte{0xEE}, make([]byte, 32<<10)...))
		}
	}
	msg, err := api.Decode(payload)
	if err != nil {
		return
	}
	req, ok := msg.(*api.Request)
	if !ok {
		return
	}
	if r.c.bug == lossy && r.h.Rand().IntN(20) == 0 {
		return // request lost
	}
	r.expireLeases()
	resp := r.serve(from, req)
	if r.c.bug == lossy && r.h.Rand().IntN(20) == 0 {
		r.c.notify()
		return // answer lost
	}
	resp.ID, resp.Op = req.ID, req.Body.Op()
	resp.Header.Member = r.h.ID()
	r.h.Send(from, api.MustEncode(resp))
	r.c.notify()
}

func (r *fakeReplica) serve(from host.NodeID, req *api.Request) *api.Response {
	s := r.c.s
	resp := &api.Response{Header: api.Header{Revision: s.CurrentRevision()}}
	fail := func(err error) *api.Response {
		resp.Err, resp.Body = api.CodeInternal, nil
		switch {
		case err == mvcc.ErrLeaseNotFound:
			resp.Err = api.CodeLeaseNotFound
		case err == mvcc.ErrCompacted:
			resp.Err = api.CodeCompacted
		case err == mvcc.ErrFutureRevision:
			resp.Err = api.CodeFutureRevision
		}
		return resp
	}
	switch b := req.Body.(type) {
	case *api.PutRequest:
		if r.c.bug == bugLoseWrite && r.h.Rand().IntN(100) == 0 {
			resp.Header.Revision, resp.Body = s.CurrentRevision()+1, &api.PutResponse{}
			return resp
		}
		if r.c.bug == bugPanic && s.CurrentRevision() > 300 {
			panic("fake replica: deliberate panic")
		}
		rev, _, err := s.Put(b.Key, b.Value, b.Lease, false)
		if err != nil {
			return fail(err)
		}
		resp.Header.Revision, resp.Body = rev, &api.PutResponse{}
	case *api.RangeRequest:
		rev := b.Revision
		switch {
		case rev != 0 && r.c.bug == bugPastIsPresent && rev >= s.CompactRevision():
			rev = 0
		case rev != 0 && r.c.bug == bugCompactedAbove && s.CompactRevision() > 1:
			return fail(mvcc.ErrCompacted)
		case rev == 0 && b.Serializable && r.c.stale:
			rev = max(1, s.CurrentRevision()-int64(r.h.Rand().IntN(3)))
		}
		rr, err := s.Range(b.Key, b.End, mvcc.RangeOptions{Revision: rev, Limit: b.Limit,
			CountOnly: b.CountOnly, KeysOnly: b.KeysOnly})
		if err != nil {
			return fail(err)
		}
		if rev != 0 && b.Revision == 0 {
			resp.Header.Revision = rev
		}
		resp.Body = &api.RangeResponse{KVs: fromMVCC(rr.KVs), Count: rr.Count, More: rr.More}
	case *api.DeleteRangeRequest:
		n, rev, _, err := s.DeleteRange(b.Key, b.End, false)
		if err != nil {
			return fail(err)
		}
		resp.Header.Revision, resp.Body = rev, &api.DeleteRangeResponse{Deleted: n}
	case *api.TxnRequest:
		tr, err := s.Txn(toMVCCTxn(b))
		if err != nil {
			return fail(err)
		}
		body := &api.TxnResponse{Succeeded: tr.Succeeded}
		for _, or := range tr.Responses {
			var o api.TxnOpResponse
			switch or.Kind {
			case mvcc.OpRange:
				o.Range = &api.RangeResponse{KVs: fromMVCC(or.Range.KVs), Count: or.Range.Count}
			case mvcc.OpPut:
				o.Put = &api.PutResponse{}
			case mvcc.OpDeleteRange:
				o.DeleteRange = &api.DeleteRangeResponse{Deleted: or.Deleted}
			}
			body.Responses = append(body.Responses, o)
		}
		resp.Header.Revision, resp.Body = tr.Revision, body
	case *api.LeaseGrantRequest:
		r.c.nextID++
		ttl := time.Duration(b.TTL) * time.Second
		if r.c.bug == bugEarlyExpiry {
			ttl /= 2
		}
		if err := s.LeaseGrant(r.c.nextID, ttl, r.h.Now()); err != nil {
			return fail(err)
		}
		resp.Body = &api.LeaseGrantResponse{ID: r.c.nextID, TTL: b.TTL}
	case *api.CompactRequest:
		if r.c.bug != bugFakeCompaction {
			if err := s.Compact(b.Revision); err != nil {
				return fail(err)
			}
		}
		resp.Body = &api.CompactResponse{}
	case *api.LeaseKeepAliveRequest:
		now := r.h.Now()
		if r.c.bug == bugDeafKeepAlive {
			now = time.Time{}
		}
		ttl, err := s.LeaseKeepAlive(b.ID, now)
		if err != nil {
			return fail(err)
		}
		if r.c.bug == bugEarlyExpiry {
			ttl *= 2 // the granted TTL, as the grant's answer said: the bug is only the early expiry
		}
		resp.Body = &api.LeaseKeepAliveResponse{ID: b.ID, TTL: int64(ttl / time.Second)}
	case *api.LeaseRevokeRequest:
		rev, err := s.LeaseRevoke(b.ID)
		if err != nil {
			return fail(err)
		}
		resp.Header.Revision, resp.Body = rev, &api.LeaseRevokeResponse{}
	case *api.WatchCreateRequest:
		w, err := s.Watch(b.Key, b.End, b.StartRevision, b.PrevKV)
		if err != nil {
			resp = fail(err)
			if err == mvcc.ErrCompacted {
				// As etcd: the compaction revision, where to restart.
				resp.Body = &api.WatchCreateResponse{WatchID: b.WatchID, CompactRevision: s.CompactRevision()}
			}
			return resp
		}
		r.c.watchers = append(r.c.watchers, &fakeWatch{r: r, client: from, reqID: req.ID, id: b.WatchID, w: w})
		resp.Body = &api.WatchCreateResponse{WatchID: b.WatchID}
	case *api.WatchCancelRequest:
		// A client cancels the stream it resumes from (a silent one: the
		// fake sends no progress notifications); kept, the streams of
		// every resume would all be sent every event, a storm.
		r.c.watchers = slices.DeleteFunc(r.c.watchers, func(fw *fakeWatch) bool {
			return fw.client == from && fw.id == b.WatchID
		})
		resp.Body = &api.WatchCancelResponse{WatchID: b.WatchID}
	default:
		resp.Err = api.CodeInvalid
	}
	return resp
}

// expireLeases revokes the leases that have expired by this replica's
// clock (the fake has one store, so one clock decides).
func (r *fakeReplica) expireLeases() {
	for _, id := range r.c.s.ExpiredLeases(r.h.Now()) {
		_, _ = r.c.s.LeaseRevoke(id)
	}
}

// notify sends every watcher its new events.
func (c *fakeCluster) notify() {
	for _, fw := range c.watchers {
		evs, err := fw.w.Events(1 << 20)
		if err != nil || len(evs) == 0 {
			continue
		}
		if c.bug == bugDropEvents && len(evs) > 1 {
			evs = evs[1:]
		}
		fw.seq++
		msg := &api.WatchEvents{ID: fw.reqID, WatchID: fw.id, Seq: fw.seq,
			Header: api.Header{Revision: c.s.CurrentRevision(), Member: fw.r.h.ID()}}
		for _, e := range evs {
			ev := api.Event{Type: api.EventPut, KV: fromMVCC([]mvcc.KeyValue{e.KV})[0]}
			if e.Type == mvcc.EventDelete {
				ev.Type = api.EventDelete
			}
			if e.PrevKV != nil {
				p := fromMVCC([]mvcc.KeyValue{*e.PrevKV})[0]
				ev.PrevKV = &p
			}
			msg.Events = append(msg.Events, ev)
		}
		fw.r.h.Send(fw.client, api.MustEncode(msg))
	}
}

func fromMVCC(in []mvcc.KeyValue) []api.KeyValue {
	out := make([]api.KeyValue, len(in))
	for i, kv := range in {
		out[i] = api.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
			ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
	}
	return out
}

func toMVCCOps(ops []api.TxnOp) []mvcc.Op {
	out := make([]mvcc.Op, len(ops))
	for i, o := range ops {
		switch {
		case o.Range != nil:
			out[i] = mvcc.OpGet(o.Range.Key, o.Range.End, mvcc.RangeOptions{})
		case o.Put != nil:
			out[i] = mvcc.OpPutKV(o.Put.Key, o.Put.Value, o.Put.Lease, false)
		case o.DeleteRange != nil:
			out[i] = mvcc.OpDelete(o.DeleteRange.Key, o.DeleteRange.End, false)
		}
	}
	return out
}

func toMVCCTxn(t *api.TxnRequest) mvcc.TxnRequest {
	out := mvcc.TxnRequest{Success: toMVCCOps(t.Success), Failure: toMVCCOps(t.Failure)}
	for _, c := range t.Compares {
		mc := mvcc.Compare{Key: c.Key, RangeEnd: c.End, Value: c.Value}
		switch c.Target {
		case api.TargetVersion:
			mc.Target, mc.Number = mvcc.CompareVersion, c.Version
		case api.TargetCreate:
			mc.Target, mc.Number = mvcc.CompareCreateRevision, c.CreateRevision
		case api.TargetMod:
			mc.Target, mc.Number = mvcc.CompareModRevision, c.ModRevision
		case api.TargetValue:
			mc.Target = mvcc.CompareValue
		case api.TargetLease:
			mc.Target, mc.Number = mvcc.CompareLease, c.Lease
		}
		mc.Result = [...]mvcc.CompareResult{mvcc.Equal, mvcc.Greater, mvcc.Less, mvcc.NotEqual}[c.Result]
		out.Compares = append(out.Compares, mc)
	}
	return out
}

// The fake implements Inspector over the shared store.

func (r *fakeReplica) AppliedIndex() uint64 { return uint64(r.c.s.CurrentRevision()) }

func (r *fakeReplica) KVHash() (int64, uint64, error) {
	h, err := r.c.s.Hash(0)
	if r.c.bug == bugDiverge && r.h.ID() == 3 {
		h++
	}
	return r.c.s.CurrentRevision(), h, err
}

func (r *fakeReplica) WriteLog() ([]lin.LogEntry, error) { return writeLogOf(r.c.s) }
