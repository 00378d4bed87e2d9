package server

import (
	"bytes"
	"errors"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// progressWatchID is the watch ID of a response to a progress request
// (clientv3's InvalidWatchID).
const progressWatchID = -1

// Reasons a watch is canceled, in etcd's words.
const (
	reasonDuplicate  = "mvcc: duplicate watch ID provided on the WatchStream"
	reasonEmptyRange = "mvcc: watcher range is empty"
)

type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchEntry is one watch of a stream. Its fields other than id, filters
// and prevKV are touched on the event loop only.
type watchEntry struct {
	id             int64
	noPut, noDel   bool
	progressNotify bool
	fragment       bool  // split large responses, as etcd's sendFragments
	start          int64 // first revision of the watch
	reqStart       int64 // the start revision asked for (0: none)
	w              *client.Watcher
	sentSince      bool // a response went out since the last progress tick
	// compacted: the watch was canceled by compaction and stays on the
	// stream until the client cancels it, as in etcd (its watcher stays
	// in the stream's set, unsynced, holding back progress answers and
	// its ID).
	compacted bool
}

// next is the next revision the watch will deliver (on the loop).
func (e *watchEntry) next() int64 {
	if e.w != nil && e.w.NextRevision() != 0 {
		return e.w.NextRevision()
	}
	return e.start
}

// wstream is one Watch stream: many watches, one ordered queue of
// responses that a sender goroutine writes to the gRPC stream.
type wstream struct {
	s      *Server
	stream pb.Watch_WatchServer

	mu       sync.Mutex
	queue    []*pb.WatchResponse
	wake     chan struct{}
	overflow bool
	closed   bool
	watches  map[int64]*watchEntry
	nextID   int64
}

// Watch implements etcd's Watch service: a bidirectional stream of create,
// cancel and progress requests, answered with events and notices.
func (ws *watchServer) Watch(stream pb.Watch_WatchServer) error {
	st := &wstream{s: ws.s, stream: stream, wake: make(chan struct{}, 1), watches: make(map[int64]*watchEntry)}
	recvErr := make(chan error, 1)
	go func() { recvErr <- st.recvLoop() }()
	err := st.sendLoop(recvErr)
	st.shutdown()
	return err
}

func (st *wstream) recvLoop() error {
	for {
		req, err := st.stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case req.GetCreateRequest() != nil:
			st.create(req.GetCreateRequest())
		case req.GetCancelRequest() != nil:
			st.cancel(req.GetCancelRequest().WatchId)
		case req.GetProgressRequest() != nil:
			st.progress()
		}
	}
}

// push queues a response for the sender. Called on the loop or by the
// receiver; never blocks.
func (st *wstream) push(r *pb.WatchResponse) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	if len(st.queue) >= MaxWatchQueue {
		st.overflow = true
	} else {
		st.queue = append(st.queue, r)
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

var errSlowWatcher = status.Error(codes.ResourceExhausted, "etcdserver: watch stream fell too far behind")

// sendLoop writes queued responses until the client goes away, a send
// fails, or the queue overflows. It also ticks progress notifications.
func (st *wstream) sendLoop(recvErr <-chan error) error {
	tick := time.NewTicker(st.s.cfg.ProgressNotifyInterval)
	defer tick.Stop()
	for {
		st.mu.Lock()
		batch, overflow := st.queue, st.overflow
		st.queue = nil
		st.mu.Unlock()
		if overflow {
			return errSlowWatcher
		}
		for _, r := range batch {
			if err := st.stream.Send(r); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-st.wake:
		case err := <-recvErr:
			return err
		case <-st.stream.Context().Done():
			return st.stream.Context().Err()
		case <-tick.C:
			st.s.cfg.Loop.Post(st.progressTick)
		}
	}
}

// shutdown cancels every watch of the stream.
func (st *wstream) shutdown() {
	st.mu.Lock()
	st.closed = true
	entries := make([]*watchEntry, 0, len(st.watches))
	for _, e := range st.watches {
		entries = append(entries, e)
	}
	st.watches = nil
	st.mu.Unlock()
	st.s.cfg.Loop.Post(func() {
		for _, e := range entries {
			if e.w != nil {
				e.w.Cancel()
			}
		}
	})
}

func (st *wstream) create(c *pb.WatchCreateRequest) {
	st.mu.Lock()
	if st.closed { // the stream ended while this request was in flight
		st.mu.Unlock()
		return
	}
	id := c.WatchId
	if id == 0 { // clientv3.AutoWatchID: the server picks
		for st.watches[st.nextID] != nil {
			st.nextID++
		}
		id = st.nextID
		st.nextID++
	} else if st.watches[id] != nil {
		st.mu.Unlock()
		st.refuse(reasonDuplicate)
		return
	}
	if len(c.RangeEnd) > 0 && !(len(c.RangeEnd) == 1 && c.RangeEnd[0] == 0) && bytes.Compare(c.Key, c.RangeEnd) >= 0 {
		st.mu.Unlock()
		st.refuse(reasonEmptyRange)
		return
	}
	e := &watchEntry{id: id, progressNotify: c.ProgressNotify, fragment: c.Fragment, reqStart: c.StartRevision}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			e.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			e.noDel = true
		}
	}
	st.watches[id] = e
	st.mu.Unlock()
	st.s.cfg.Loop.Post(func() { st.start(e, c) })
}

// refuse answers a create request that makes no watch, as etcd does:
// created and canceled at once, watch ID -1, with the reason.
func (st *wstream) refuse(reason string) {
	st.s.cfg.Loop.Post(func() {
		st.push(&pb.WatchResponse{Header: st.s.localHeader(), WatchId: progressWatchID, Created: true,
			Canceled: true, CancelReason: reason})
	})
}

// start opens the watch on the local replica (on the loop). A watch from
// revision 0 starts after the replica's current revision, as in etcd.
func (st *wstream) start(e *watchEntry, c *pb.WatchCreateRequest) {
	hdr := st.s.localHeader()
	e.start = c.StartRevision
	if e.start <= 0 {
		e.start = hdr.Revision + 1
	}
	st.push(&pb.WatchResponse{Header: hdr, WatchId: e.id, Created: true})
	e.w = st.s.cfg.Client.Watch(c.Key, client.WatchOptions{End: c.RangeEnd, StartRevision: e.start,
		PrevKV: c.PrevKv, Member: st.s.cfg.Node.Status().ID}, func(u client.WatchUpdate) { st.deliver(e, u) })
}

// deliver turns one watch update into a response (on the loop).
func (st *wstream) deliver(e *watchEntry, u client.WatchUpdate) {
	if u.Err != nil {
		r := &pb.WatchResponse{Header: st.s.localHeader(), WatchId: e.id, Canceled: true}
		if errors.Is(u.Err, api.ErrCompacted) {
			// etcd's answer: the compaction revision, no reason, and a
			// header at revision 0 (its watcher's response has none).
			// The watch stays on the stream until the client cancels it.
			r.CompactRevision = u.CompactRevision
			r.Header.Revision = 0
			e.compacted = true
		} else {
			st.forget(e.id)
			r.CancelReason = u.Err.Error()
		}
		st.push(r)
		return
	}
	evs := make([]*mvccpb.Event, 0, len(u.Events))
	var rev int64
	for i := range u.Events {
		ev := &u.Events[i]
		rev = ev.Revision()
		if (ev.Type == api.EventPut && e.noPut) || (ev.Type == api.EventDelete && e.noDel) {
			continue
		}
		pe := &mvccpb.Event{Kv: pbKV(&ev.KV), PrevKv: pbKVPtr(ev.PrevKV)}
		if ev.Type == api.EventDelete {
			pe.Type = mvccpb.DELETE
		}
		evs = append(evs, pe)
	}
	if len(evs) == 0 {
		return
	}
	hdr := st.s.localHeader()
	hdr.Revision = max(hdr.Revision, rev)
	e.sentSince = true
	r := &pb.WatchResponse{Header: hdr, WatchId: e.id, Events: evs}
	if !e.fragment {
		st.push(r)
		return
	}
	for _, f := range fragments(r, MaxRecvBytes) {
		st.push(f)
	}
}

// fragments splits a response as etcd's sendFragments does for a watch
// created with fragment, at etcd's request limit with gRPC overhead
// (MaxRecvBytes): one response if it is smaller than max bytes or
// holds one event; otherwise pieces of as many events as stay below max
// (at least one), each marked Fragment but the last.
func fragments(r *pb.WatchResponse, max int) []*pb.WatchResponse {
	if proto.Size(r) < max || len(r.Events) < 2 {
		return []*pb.WatchResponse{r}
	}
	var out []*pb.WatchResponse
	idx := 0
	for {
		cur := &pb.WatchResponse{Header: r.Header, WatchId: r.WatchId, Fragment: true}
		for _, ev := range r.Events[idx:] {
			cur.Events = append(cur.Events, ev)
			if len(cur.Events) > 1 && proto.Size(cur) >= max {
				cur.Events = cur.Events[:len(cur.Events)-1]
				break
			}
			idx++
		}
		if idx == len(r.Events) {
			cur.Fragment = false
		}
		out = append(out, cur)
		if !cur.Fragment {
			return out
		}
	}
}

func (st *wstream) forget(id int64) {
	st.mu.Lock()
	if st.watches != nil {
		delete(st.watches, id)
	}
	st.mu.Unlock()
}

func (st *wstream) cancel(id int64) {
	st.mu.Lock()
	e := st.watches[id]
	if e != nil {
		delete(st.watches, id)
	}
	st.mu.Unlock()
	if e == nil {
		return
	}
	st.s.cfg.Loop.Post(func() {
		if e.w != nil {
			e.w.Cancel()
		}
		st.push(&pb.WatchResponse{Header: st.s.localHeader(), WatchId: id, Canceled: true})
	})
}

// entries returns the stream's watches (a copy).
func (st *wstream) entries() []*watchEntry {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*watchEntry, 0, len(st.watches))
	for _, e := range st.watches {
		out = append(out, e)
	}
	return out
}

// progress answers a progress request as etcd v3.7.3 does: if every
// watch of the stream has delivered all events up to the store's
// revision, and none starts above it, one response with that revision;
// otherwise none (etcd drops the request; clients ask again). A watch
// canceled by compaction and not yet canceled by the client counts as
// behind (etcd's watcher is then in neither of its synced sets). The
// replica is first asked to confirm each caught-up watch at once
// (Node.WatchProgressNow); its confirmations reach the watches on the
// loop before the check posted after them.
func (st *wstream) progress() {
	st.s.cfg.Loop.Post(func() {
		st.s.cfg.Node.WatchProgressNow(st.s.id)
		st.s.cfg.Loop.Post(st.progressCheck)
	})
}

// progressCheck runs on the loop.
func (st *wstream) progressCheck() {
	if st.isClosed() {
		return
	}
	hdr := st.s.localHeader()
	entries := st.entries()
	for _, e := range entries {
		if e.w == nil || e.compacted || e.next()-1 < hdr.Revision || hdr.Revision < e.reqStart {
			return
		}
	}
	if len(entries) > 0 {
		st.push(&pb.WatchResponse{Header: hdr, WatchId: progressWatchID})
	}
}

func (st *wstream) isClosed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closed
}

// progressTick sends a progress notification to every idle watch that
// asked for them (on the loop).
func (st *wstream) progressTick() {
	for _, e := range st.entries() {
		if !e.progressNotify || e.w == nil || e.compacted {
			continue
		}
		if e.sentSince {
			e.sentSince = false
			continue
		}
		hdr := st.s.localHeader()
		hdr.Revision = e.next() - 1
		if hdr.Revision > 0 {
			st.push(&pb.WatchResponse{Header: hdr, WatchId: e.id})
		}
	}
}
