package node

import (
	"errors"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
)

// Watches are served by any member from its own applied state. Each
// stream numbers its messages (Seq from 1, no gaps) and never splits one
// revision across messages, so a client that resumes from "last delivered
// revision + 1" elsewhere neither loses nor repeats an event. A stream
// that has nothing to say for Config.ProgressInterval gets a progress
// notification (no events, Header.Revision = every event up to there was
// sent), which also lets the client tell a quiet stream from a dead one.

type watchKey struct {
	client host.NodeID
	id     int64
}

type stream struct {
	key      watchKey
	reqID    api.RequestID
	w        *mvcc.Watcher
	wkey     []byte
	end      []byte
	prevKV   bool
	seq      uint64
	lastSent time.Time
	dead     bool
	// created is the store revision the stream was created at: a
	// stream from "now" sends nothing at or below it. A duplicated
	// create is answered with it again, not with the current revision
	// (a client that got only that answer would take every event up to
	// the current revision as sent, and skip the ones in between).
	created int64
}

func (n *Node) onWatchCreate(key reqKey, r *api.WatchCreateRequest) {
	wk := watchKey{key.client, r.WatchID}
	if old := n.watchByID[wk]; old != nil {
		if old.reqID == key.id {
			// The network duplicated the create: the stream exists and
			// must not restart (its sequence numbers would start over).
			// Answer again in case the first answer was the one lost.
			hdr := n.header()
			hdr.Revision = old.created
			n.reply(key, &api.Response{ID: key.id, Op: api.OpWatchCreate, Header: hdr,
				Body: &api.WatchCreateResponse{WatchID: r.WatchID}})
			return
		}
		n.removeStream(old)
	}
	if len(n.watchByID) >= MaxWatchStreams {
		n.replyErr(key, api.OpWatchCreate, api.CodeTooManyRequests, "too many watch streams")
		return
	}
	mw, err := n.sm.store.Watch(r.Key, r.End, r.StartRevision, r.PrevKV)
	if err != nil {
		resp := &api.Response{ID: key.id, Op: api.OpWatchCreate}
		n.finishResponse(resp, err)
		if resp.Err == api.CodeCompacted {
			resp.Body = &api.WatchCreateResponse{WatchID: r.WatchID, CompactRevision: n.sm.store.CompactRevision()}
		}
		n.reply(key, resp)
		return
	}
	st := &stream{key: wk, reqID: key.id, w: mw, wkey: r.Key, end: r.End, prevKV: r.PrevKV,
		lastSent: n.h.Now(), created: n.sm.store.CurrentRevision()}
	n.watches = append(n.watches, st)
	n.watchByID[wk] = st
	n.reply(key, &api.Response{ID: key.id, Op: api.OpWatchCreate, Header: n.header(),
		Body: &api.WatchCreateResponse{WatchID: r.WatchID}})
	n.drain(st)
}

func (n *Node) onWatchCancel(key reqKey, r *api.WatchCancelRequest) {
	st := n.watchByID[watchKey{key.client, r.WatchID}]
	if st == nil {
		n.replyErr(key, api.OpWatchCancel, api.CodeWatchNotFound, "")
		return
	}
	n.removeStream(st)
	n.reply(key, &api.Response{ID: key.id, Op: api.OpWatchCancel, Header: n.header(),
		Body: &api.WatchCancelResponse{WatchID: r.WatchID}})
}

func (n *Node) removeStream(st *stream) {
	st.dead = true
	st.w.Cancel()
	delete(n.watchByID, st.key)
	// n.watches is compacted lazily in drainWatches.
}

// drainWatches sends every stream its new events.
func (n *Node) drainWatches() {
	kept := n.watches[:0]
	for _, st := range n.watches {
		if st.dead {
			continue
		}
		n.drain(st)
		if !st.dead {
			kept = append(kept, st)
		}
	}
	clear(n.watches[len(kept):])
	n.watches = kept
}

// drain sends a stream's pending events, whole revisions per message.
func (n *Node) drain(st *stream) {
	for !st.dead && st.w.Pending() {
		evs, err := st.w.AppendEvents(n.evs[:0], MaxWatchBatch)
		for err == nil && len(evs) > 0 && st.w.NextRevision() == evs[len(evs)-1].KV.ModRevision {
			// The batch stopped inside a revision: take the rest of it.
			had := len(evs)
			evs, err = st.w.AppendEvents(evs, MaxWatchBatch)
			if len(evs) == had {
				break
			}
		}
		n.evs = evs[:0]
		if err != nil {
			clear(evs)
			n.cancelStream(st, err)
			return
		}
		if len(evs) == 0 {
			return
		}
		// The batch is encoded into its payload before anything else can
		// drain: the buffers (events, their api form, the message) are
		// the node's, reused for every batch.
		n.apiEvs = appendAPIEvents(n.apiEvs[:0], evs)
		n.wev = api.WatchEvents{Events: n.apiEvs}
		n.sendEvents(st, &n.wev)
		clear(evs) // keep no keys or values alive in the buffers
		clear(n.apiEvs)
		n.wev = api.WatchEvents{}
	}
}

// cancelStream ends a stream on the server's initiative.
func (n *Node) cancelStream(st *stream, err error) {
	msg := &api.WatchEvents{Canceled: true, Err: codeOf(err)}
	if errors.Is(err, mvcc.ErrCompacted) {
		msg.CompactRevision = n.sm.store.CompactRevision()
	}
	n.sendEvents(st, msg)
	n.removeStream(st)
}

func (n *Node) sendEvents(st *stream, msg *api.WatchEvents) {
	st.seq++
	msg.ID, msg.WatchID, msg.Seq = st.reqID, st.key.id, st.seq
	msg.Header = n.header()
	if len(msg.Events) == 0 && !msg.Canceled {
		msg.Header.Revision = st.w.NextRevision() - 1 // progress: all sent up to here
	}
	b, err := n.enc.Encode(msg)
	if err != nil {
		// Events too large for one message: end the stream; the client
		// resumes and the limit is reported.
		st.seq--
		if !msg.Canceled {
			n.cancelStream(st, err)
		}
		return
	}
	st.lastSent = n.h.Now()
	n.h.Send(st.key.client, b)
}

// watchProgress sends progress notifications on quiet streams.
func (n *Node) watchProgress(now time.Time) {
	for _, st := range n.watches {
		if !st.dead && !st.w.Pending() && now.Sub(st.lastSent) >= n.cfg.ProgressInterval {
			n.sendEvents(st, &api.WatchEvents{})
		}
	}
}

// rebindWatches moves every stream to a state machine installed from a
// snapshot, at the revision it had reached.
func (n *Node) rebindWatches() {
	for _, st := range n.watches {
		if st.dead {
			continue
		}
		next := st.w.NextRevision()
		mw, err := n.sm.store.Watch(st.wkey, st.end, next, st.prevKV)
		if err != nil {
			n.cancelStream(st, err)
			continue
		}
		st.w = mw
	}
}

// appendAPIEvents appends evs in their api form to out.
func appendAPIEvents(out []api.Event, evs []mvcc.Event) []api.Event {
	for i := range evs {
		e := &evs[i]
		t := api.EventPut
		if e.Type == mvcc.EventDelete {
			t = api.EventDelete
		}
		out = append(out, api.Event{Type: t, KV: apiKV(&e.KV), PrevKV: apiKVPtr(e.PrevKV)})
	}
	return out
}
