package concurrency

import (
	"errors"
	"maps"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// Follower keeps a local copy of every key under a prefix the way a
// Kubernetes informer (its reflector) or a configuration watcher does:
// list, then watch from the list's revision + 1, applying each revision's
// events as one step; a watch that ends because its start was compacted
// starts over with a new list, and Relist starts over on demand (an
// informer's periodic resync).
type Follower struct {
	c      *client.Client
	prefix string
	opts   FollowOptions
	cache  map[string]api.KeyValue
	w      *client.Watcher
	lists  int
	closed bool
	// paused is the revision to resume from while the watch is down
	// (0: not paused).
	paused int64
}

// FollowOptions are the callbacks of a Follower; each may be nil.
type FollowOptions struct {
	// Listed is called after every list with its revision and result.
	Listed func(rev int64, kvs []api.KeyValue)
	// Applied is called after each revision's events are applied: the
	// cache is then the store's prefix at rev.
	Applied func(rev int64)
	// Event is called with every event, before it is applied.
	Event func(api.Event)
}

// Follow starts following prefix through c.
func Follow(c *client.Client, prefix string, opts FollowOptions) *Follower {
	f := &Follower{c: c, prefix: prefix, opts: opts}
	f.list()
	return f
}

// list reads the prefix and watches from there.
func (f *Follower) list() {
	if f.closed {
		return
	}
	f.lists++
	f.c.Range([]byte(f.prefix), client.RangeOptions{End: PrefixEnd(f.prefix)}, func(r *api.RangeResponse, h api.Header, err error) {
		if f.closed {
			return
		}
		if err != nil {
			f.list() // reads have no effect: just try again
			return
		}
		f.cache = make(map[string]api.KeyValue, len(r.KVs))
		for _, kv := range r.KVs {
			f.cache[string(kv.Key)] = kv
		}
		if f.opts.Listed != nil {
			f.opts.Listed(h.Revision, r.KVs)
		}
		f.w = f.c.Watch([]byte(f.prefix), client.WatchOptions{End: PrefixEnd(f.prefix), StartRevision: h.Revision + 1}, f.onUpdate)
	})
}

func (f *Follower) onUpdate(u client.WatchUpdate) {
	if f.closed {
		return
	}
	if u.Err != nil {
		f.w = nil
		if errors.Is(u.Err, api.ErrCompacted) {
			f.list()
		}
		return
	}
	for i, ev := range u.Events {
		if f.opts.Event != nil {
			f.opts.Event(ev)
		}
		switch ev.Type {
		case api.EventPut:
			f.cache[string(ev.KV.Key)] = ev.KV
		case api.EventDelete:
			delete(f.cache, string(ev.KV.Key))
		}
		if i+1 == len(u.Events) || u.Events[i+1].Revision() != ev.Revision() {
			if f.opts.Applied != nil {
				f.opts.Applied(ev.Revision())
			}
		}
	}
}

// Relist drops the watch and starts over with a new list (an informer's
// resync). A follower whose first list has not been answered yet just
// waits for it.
func (f *Follower) Relist() {
	if f.closed || f.w == nil {
		return
	}
	f.w.Cancel()
	f.w = nil
	f.list()
}

// Pause drops the watch, as a broken watch connection does; the cache
// stays as it is until Resume. A follower between a list and its watch,
// or paused already, is left alone.
func (f *Follower) Pause() {
	if f.closed || f.w == nil || f.paused != 0 {
		return
	}
	f.paused = f.w.NextRevision()
	f.w.Cancel()
	f.w = nil
}

// Resume watches again from the next revision the dropped watch would
// have delivered, as a Kubernetes reflector restarts its watch from its
// last resource version; if that revision was compacted meanwhile, the
// watch ends with ErrCompacted and the follower relists.
func (f *Follower) Resume() {
	if f.closed || f.paused == 0 {
		return
	}
	from := f.paused
	f.paused = 0
	f.w = f.c.Watch([]byte(f.prefix), client.WatchOptions{End: PrefixEnd(f.prefix), StartRevision: from}, f.onUpdate)
}

// Close stops the follower; no callback runs after it.
func (f *Follower) Close() {
	f.closed = true
	if f.w != nil {
		f.w.Cancel()
		f.w = nil
	}
}

// CaughtUp reports whether the follower has applied every revision up to
// rev.
func (f *Follower) CaughtUp(rev int64) bool {
	return f.w != nil && f.w.NextRevision() > rev
}

// Next is the next revision the follower's watch will apply (0: none).
func (f *Follower) Next() int64 {
	if f.w == nil {
		return 0
	}
	return f.w.NextRevision()
}

// Lists counts the lists the follower made.
func (f *Follower) Lists() int { return f.lists }

// Listed reports whether a list has been answered (the cache exists).
func (f *Follower) Listed() bool { return f.cache != nil }

// Len is the number of keys in the cache.
func (f *Follower) Len() int { return len(f.cache) }

// Get is the cached key (false: not in the cache).
func (f *Follower) Get(key string) (api.KeyValue, bool) {
	kv, ok := f.cache[key]
	return kv, ok
}

// Snapshot copies the cache.
func (f *Follower) Snapshot() map[string]api.KeyValue { return maps.Clone(f.cache) }
