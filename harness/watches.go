package harness

import (
	"errors"
	"fmt"
	"time"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
)

// checkWatches checks every watch stream against the committed write log.
func (r *seedRun) checkWatches(entries []lin.LogEntry) error {
	if len(r.watches) == 0 {
		return nil
	}
	log, err := lin.NewWriteLog(entries)
	if err != nil {
		return fmt.Errorf("watch: write log: %v", err)
	}
	events := 0
	for i, ws := range r.watches {
		s := ws.stream()
		if r.logWatch != nil {
			s.MayCompact = r.logWatch.maxRequested()
		}
		events += len(s.Events)
		if ws.stale != "" {
			return r.watchFailure(i, ws, errors.New(ws.stale), entries)
		}
		if err := lin.CheckWatch(&s, log); err != nil {
			return r.watchFailure(i, ws, err, entries)
		}
		if err := r.checkWatchEnd(ws); err != nil {
			return r.watchFailure(i, ws, err, entries)
		}
	}
	r.notef("watches: %d streams, %d events checked against %d log revisions", len(r.watches), events, len(entries))
	return nil
}

// stream converts a watch as the client saw it into the checker's terms.
func (ws *watchStream) stream() lin.WatchStream {
	s := lin.WatchStream{Key: ws.key, Prefix: true, StartRevision: ws.start, PrevKV: ws.prevKV,
		Events: make([]lin.WatchEvent, 0, len(ws.events))}
	for i := range ws.events {
		e := &ws.events[i]
		we := lin.WatchEvent{Revision: e.KV.ModRevision, Type: lin.EventPut, Key: keyString(e.KV.Key),
			Value: string(e.KV.Value), Batch: ws.batches[i]}
		if e.Type == api.EventDelete {
			we.Type = lin.EventDelete
			we.Value = ""
		}
		if e.PrevKV != nil {
			p := e.PrevKV
			we.PrevKV = &lin.KV{Key: keyString(p.Key), Value: string(p.Value), ModRevision: p.ModRevision,
				CreateRevision: p.CreateRevision, Version: p.Version}
		}
		s.Events = append(s.Events, we)
	}
	return s
}

// checkWatchEnd requires a watch that ended with ErrCompacted to have
// asked for a revision that a compaction requested by then covers: a
// watch above the compaction point must be unaffected. The compaction
// revision the end reported (etcd's compact_revision, where a client
// restarts) must be one that covers the watch's position and that was
// requested by then.
func (r *seedRun) checkWatchEnd(ws *watchStream) error {
	if !errors.Is(ws.err, api.ErrCompacted) {
		return nil
	}
	want := ws.errNext
	if want == 0 {
		want = ws.start
	}
	c := r.logWatch.requestedBefore(ws.errAt)
	switch {
	case want >= c:
		return fmt.Errorf("watch: ErrCompacted at %v for revision %d, but no compaction above it was requested by then (highest: %d)",
			time.Duration(ws.errAt), want, c)
	case ws.compactRev <= want || ws.compactRev > c:
		return fmt.Errorf("watch: ErrCompacted at %v for revision %d reported compact revision %d, want one in (%d, %d] (the compactions requested by then)",
			time.Duration(ws.errAt), want, ws.compactRev, want, c)
	}
	return nil
}
