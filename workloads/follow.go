package workloads

import (
	"errors"
	"maps"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/concurrency"
)

// follower keeps a local copy of every key under a prefix the way a
// Kubernetes informer does: list, then watch from the list's revision + 1,
// applying each revision's events as one step; a watch that ends (its
// start was compacted) starts over with a new list.
type follower struct {
	c      *client.Client
	prefix string
	cache  map[string]api.KeyValue
	w      *client.Watcher
	// listed is called after every list with its revision and result.
	listed func(rev int64, kvs []api.KeyValue)
	// applied is called after each revision's events are applied.
	applied func(rev int64)
	// event, if set, is called with every event applied.
	event func(api.Event)
	// lists counts the lists made.
	lists int
}

func follow(c *client.Client, prefix string, listed func(int64, []api.KeyValue), applied func(int64)) *follower {
	f := &follower{c: c, prefix: prefix, listed: listed, applied: applied}
	f.list()
	return f
}

// list reads the prefix and watches from there.
func (f *follower) list() {
	f.lists++
	f.c.Range([]byte(f.prefix), client.RangeOptions{End: concurrency.PrefixEnd(f.prefix)}, func(r *api.RangeResponse, h api.Header, err error) {
		if err != nil {
			f.list() // reads have no effect: just try again
			return
		}
		f.cache = make(map[string]api.KeyValue, len(r.KVs))
		for _, kv := range r.KVs {
			f.cache[string(kv.Key)] = kv
		}
		if f.listed != nil {
			f.listed(h.Revision, r.KVs)
		}
		f.w = f.c.Watch([]byte(f.prefix), client.WatchOptions{End: concurrency.PrefixEnd(f.prefix), StartRevision: h.Revision + 1}, f.onUpdate)
	})
}

func (f *follower) onUpdate(u client.WatchUpdate) {
	if u.Err != nil {
		f.w = nil
		if errors.Is(u.Err, api.ErrCompacted) {
			f.list()
		}
		return
	}
	for i, ev := range u.Events {
		if f.event != nil {
			f.event(ev)
		}
		switch ev.Type {
		case api.EventPut:
			f.cache[string(ev.KV.Key)] = ev.KV
		case api.EventDelete:
			delete(f.cache, string(ev.KV.Key))
		}
		if i+1 == len(u.Events) || u.Events[i+1].Revision() != ev.Revision() {
			if f.applied != nil {
				f.applied(ev.Revision())
			}
		}
	}
}

// caughtUp reports whether the follower has applied every revision up to
// rev.
func (f *follower) caughtUp(rev int64) bool {
	return f.w != nil && f.w.NextRevision() > rev
}

// next is the next revision the follower's watch will apply (0: none).
func (f *follower) next() int64 {
	if f.w == nil {
		return 0
	}
	return f.w.NextRevision()
}

// snapshot copies the cache.
func (f *follower) snapshot() map[string]api.KeyValue { return maps.Clone(f.cache) }
