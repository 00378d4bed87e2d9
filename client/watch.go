package client

import (
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// WatchOptions are the options of Watch.
type WatchOptions struct {
	// End watches [key, End) instead of the single key.
	End []byte
	// StartRevision replays history from this revision (0: from the
	// revision the serving member is at when the watch is created).
	StartRevision int64
	// PrevKV asks for each event's previous key-value.
	PrevKV bool
	// Member pins the watch (and every resume) to one member.
	Member host.NodeID
	// Raw hands the callback every event the current stream sends, also
	// one at or below a revision already delivered or covered by a
	// progress notification (which only a faulty server sends: the
	// client drops those otherwise), and reports each progress
	// notification as an update with Progress set, as well as the
	// creation revision of a watch from "now" (nothing at or below it
	// may come). For checkers.
	Raw bool
}

// WatchUpdate is one delivery to a watch callback.
type WatchUpdate struct {
	// Events are new events, in revision order, none delivered before.
	Events []api.Event
	// Member is the member whose stream carried them.
	Member host.NodeID
	// Err, when set, is final: the watch is over. api.ErrCompacted means
	// the next revision to deliver was compacted (CompactRevision says
	// up to where); the caller must start a new watch.
	Err             error
	CompactRevision int64
	// Progress, with WatchOptions.Raw, is a progress notification: the
	// member says every event up to this revision was sent. Such an
	// update carries no events.
	Progress int64
}

// Watcher is a resumable watch started by Client.Watch.
type Watcher struct {
	c    *Client
	key  []byte
	opts WatchOptions
	fn   func(WatchUpdate)

	next     int64 // next revision to deliver (0: not known yet)
	watchID  int64 // current stream
	member   host.NodeID
	seq      uint64 // last sequence number seen on the current stream
	createID api.RequestID
	timer    host.Timer // create-answer or silence timeout
	// expired is the timeout's callback for the stream armedID (made
	// once per stream, not at every arm: a stream re-arms at every
	// batch of events).
	expired func()
	armedID int64
	closed  bool
}

// Watch starts a watch on key (or [key, opts.End)) and calls fn with each
// batch of new events. Every event is delivered once, in revision order,
// across stream breaks and member changes; fn's last call may carry a
// final error.
func (c *Client) Watch(key []byte, opts WatchOptions, fn func(WatchUpdate)) *Watcher {
	w := &Watcher{c: c, key: key, opts: opts, fn: fn, next: opts.StartRevision}
	switch {
	case opts.Member != 0:
		w.member = opts.Member
	case len(c.servers) == 0:
		c.h.After(0, func() { w.end(WatchUpdate{Err: ErrNoServers}) })
		return w
	case c.leader != 0:
		w.member = c.leader
	default:
		w.member = c.servers[c.rr%len(c.servers)]
	}
	w.open()
	return w
}

// NextRevision is the next revision the watch will deliver: every event
// before it has been delivered (0 if not known yet).
func (w *Watcher) NextRevision() int64 { return w.next }

// Member is the member currently serving the watch.
func (w *Watcher) Member() host.NodeID { return w.member }

// Cancel stops the watch; fn is not called again.
func (w *Watcher) Cancel() {
	if w.closed {
		return
	}
	w.closed = true
	w.closeStream()
}

// open creates a new stream on w.member from w.next.
func (w *Watcher) open() {
	c := w.c
	c.nextWatchID++
	w.watchID = c.nextWatchID
	w.seq = 0
	w.createID = c.nextID
	c.nextID++
	c.watches[w.watchID] = w
	c.watchCreates[w.createID] = w
	req := &api.Request{ID: w.createID, FinishedBelow: c.finishedBelow(), Body: &api.WatchCreateRequest{
		WatchID: w.watchID, Key: w.key, End: w.opts.End, StartRevision: w.next, PrevKV: w.opts.PrevKV}}
	b, err := c.enc.Encode(req)
	if err != nil {
		c.h.After(0, func() { w.end(WatchUpdate{Err: err}) })
		return
	}
	c.stats.Sent++
	c.h.Send(w.member, b)
	w.arm(c.opts.ReadAttemptTimeout)
}

// arm (re)starts the timeout after which the stream counts as broken.
func (w *Watcher) arm(d time.Duration) {
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.expired == nil || w.armedID != w.watchID {
		id := w.watchID
		w.armedID = id
		w.expired = func() {
			if !w.closed && w.watchID == id {
				w.timer = nil
				w.resume()
			}
		}
	}
	w.timer = w.c.h.After(d, w.expired)
}

// closeStream forgets the current stream and asks its member to drop it.
func (w *Watcher) closeStream() {
	c := w.c
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	delete(c.watches, w.watchID)
	delete(c.watchCreates, w.createID)
	id := c.nextID
	c.nextID++
	req := &api.Request{ID: id, FinishedBelow: c.finishedBelow(), Body: &api.WatchCancelRequest{WatchID: w.watchID}}
	c.h.Send(w.member, c.enc.MustEncode(req))
}

// resume moves the watch to a new stream, on the next member unless
// pinned, from the last delivered revision + 1.
func (w *Watcher) resume() {
	c := w.c
	c.stats.WatchResumes++
	w.closeStream()
	if w.opts.Member == 0 {
		w.member = c.nextServer(w.member)
	}
	w.open()
}

// nextServer is the server after id in the list.
func (c *Client) nextServer(id host.NodeID) host.NodeID {
	for i, s := range c.servers {
		if s == id {
			return c.servers[(i+1)%len(c.servers)]
		}
	}
	return c.servers[c.rr%len(c.servers)]
}

func (w *Watcher) end(u WatchUpdate) {
	if w.closed {
		return
	}
	w.closed = true
	w.closeStream()
	w.fn(u)
}

func (w *Watcher) onCreated(from host.NodeID, r *api.Response) {
	c := w.c
	delete(c.watchCreates, r.ID)
	if w.closed || r.ID != w.createID || from != w.member {
		return
	}
	switch r.Err {
	case api.CodeOK:
		if w.next == 0 {
			w.next = r.Header.Revision + 1
			if w.opts.Raw {
				// A watch from "now" gets nothing at or below the
				// revision it was created at: to a checker, that is a
				// progress notification.
				w.fn(WatchUpdate{Member: from, Progress: r.Header.Revision})
			}
		}
		w.arm(c.opts.WatchStreamTimeout)
	case api.CodeCompacted:
		w.c.probes.Hit(probeWatchCompacted)
		var compact int64
		if b, ok := r.Body.(*api.WatchCreateResponse); ok {
			compact = b.CompactRevision
		}
		w.end(WatchUpdate{Member: from, Err: &ServerError{Response: r}, CompactRevision: compact})
	case api.CodeInvalid:
		w.end(WatchUpdate{Member: from, Err: &ServerError{Response: r}})
	default:
		// The member cannot serve it now: try elsewhere after a pause.
		w.arm(c.opts.RetryBackoff)
	}
}

func (w *Watcher) onEvents(from host.NodeID, m *api.WatchEvents) {
	if w.closed || from != w.member || m.ID != w.createID {
		return // not the current stream
	}
	if m.Seq != w.seq+1 {
		w.c.probes.Hit(probeWatchGap)
		w.resume() // a lost or reordered message: the stream has a gap
		return
	}
	w.seq = m.Seq
	if m.Canceled {
		if m.Err == api.CodeCompacted {
			w.c.probes.Hit(probeWatchCompacted)
			w.end(WatchUpdate{Member: from, Err: api.ErrCompacted, CompactRevision: m.CompactRevision})
		} else {
			w.resume()
		}
		return
	}
	w.arm(w.c.opts.WatchStreamTimeout)
	if len(m.Events) == 0 {
		// Progress: every event up to the header revision was sent.
		if m.Header.Revision+1 > w.next {
			w.next = m.Header.Revision + 1
		}
		if w.opts.Raw {
			w.fn(WatchUpdate{Member: from, Progress: m.Header.Revision})
		}
		return
	}
	evs := m.Events
	for !w.opts.Raw && len(evs) > 0 && w.next != 0 && evs[0].Revision() < w.next {
		// At or below what the stream's start, an earlier event or a
		// progress notification covered: a faulty server's repeat.
		evs = evs[1:]
	}
	if len(evs) == 0 {
		return
	}
	w.next = max(w.next, evs[len(evs)-1].Revision()+1)
	w.fn(WatchUpdate{Events: evs, Member: from})
}
