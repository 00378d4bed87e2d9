package concurrency

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// A queue is what Mutex and Election share: every contender puts one key
// under a prefix (attached to its session's lease) and the contender whose
// key has the lowest create revision is first. A contender waits for its
// turn by watching its predecessor (the key created just before its own)
// until that key is deleted, then looks again: each delete wakes one
// contender, with no polling.

// PrefixEnd is etcd's range end for "every key with this prefix".
func PrefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// keyFor is a session's key under a queue prefix (etcd: prefix + lease
// in hex).
func keyFor(prefix string, lease int64) string {
	return prefix + strconv.FormatInt(lease, 16)
}

// Owner is the first contender of a queue as one read saw it.
type Owner struct {
	Key            string
	Value          string
	CreateRevision int64
	// Revision is the store revision of the read.
	Revision int64
}

// firstOf returns the key with the lowest create revision, and the key
// created last before rev (the predecessor of a key created at rev).
func firstOf(kvs []api.KeyValue, rev int64) (first, pred *api.KeyValue) {
	for i := range kvs {
		kv := &kvs[i]
		if first == nil || kv.CreateRevision < first.CreateRevision {
			first = kv
		}
		if kv.CreateRevision < rev && (pred == nil || kv.CreateRevision > pred.CreateRevision) {
			pred = kv
		}
	}
	return first, pred
}

// enqueue puts key under the queue with value, attached to the session's
// lease, unless it is there already (a retry of an unanswered attempt, or
// a second Lock by the same session). done gets the key's create
// revision and whether the key already existed (and its value then).
func enqueue(s *Session, key, value string, done func(rev int64, existed bool, old string, err error)) {
	k := []byte(key)
	txn := &api.TxnRequest{
		Compares: []api.Compare{{Key: k, Target: api.TargetCreate, Result: api.CompareEqual, CreateRevision: 0}},
		Success:  []api.TxnOp{{Put: &api.PutRequest{Key: k, Value: []byte(value), Lease: s.lease}}},
		Failure:  []api.TxnOp{{Range: &api.RangeRequest{Key: k}}},
	}
	s.c.Txn(txn, client.CallOptions{}, func(r *api.TxnResponse, h api.Header, err error) {
		switch {
		case s.over:
			done(0, false, "", ErrSessionExpired)
		case retryable(err):
			// Unknown or refused: the compare makes a second try safe.
			enqueue(s, key, value, done)
		case err != nil:
			done(0, false, "", err)
		case r.Succeeded:
			done(h.Revision, false, "", nil)
		case len(r.Responses) == 1 && r.Responses[0].Range != nil && len(r.Responses[0].Range.KVs) == 1:
			kv := r.Responses[0].Range.KVs[0]
			done(kv.CreateRevision, true, string(kv.Value), nil)
		default:
			// The compare said the key exists, the read in the same
			// transaction did not find it: the store broke its contract.
			done(0, false, "", fmt.Errorf("%w: queue key %s: create revision compare failed but the key is absent", api.ErrInternal, key))
		}
	})
}

// waiter waits for one contender's turn.
type waiter struct {
	s      *Session
	prefix string
	key    string
	rev    int64 // create revision of key
	done   func(Owner, error)
	w      *client.Watcher
	over   bool
}

// waitTurn calls done with the queue's first key (the contender's own)
// once every key created before rev is deleted, or with an error:
// ErrSessionExpired if the session ends or the contender's key is gone
// (its lease expired while it waited: etcd's Jepsen 3.4.3 bug was to
// grant the lock then anyway), ErrCanceled after cancel.
func waitTurn(s *Session, prefix, key string, rev int64, done func(Owner, error)) (cancel func()) {
	wt := &waiter{s: s, prefix: prefix, key: key, rev: rev, done: done}
	s.OnDone(func() { wt.finish(Owner{}, ErrSessionExpired) })
	wt.look()
	return func() { wt.finish(Owner{}, ErrCanceled) }
}

func (wt *waiter) finish(o Owner, err error) {
	if wt.over {
		return
	}
	wt.over = true
	if wt.w != nil {
		wt.w.Cancel()
		wt.w = nil
	}
	wt.done(o, err)
}

// look reads the queue and either finishes or watches the predecessor.
func (wt *waiter) look() {
	if wt.over {
		return
	}
	opts := client.RangeOptions{End: PrefixEnd(wt.prefix)}
	wt.s.c.Range([]byte(wt.prefix), opts, func(r *api.RangeResponse, h api.Header, err error) {
		if wt.over {
			return
		}
		switch {
		case retryable(err):
			wt.look()
			return
		case err != nil:
			wt.finish(Owner{}, err)
			return
		}
		first, pred := firstOf(r.KVs, wt.rev)
		switch {
		case first == nil || !hasKey(r.KVs, wt.key, wt.rev):
			wt.finish(Owner{}, ErrSessionExpired)
		case pred == nil:
			wt.finish(Owner{Key: string(first.Key), Value: string(first.Value),
				CreateRevision: first.CreateRevision, Revision: h.Revision}, nil)
		default:
			wt.watchDelete(string(pred.Key), h.Revision+1)
		}
	})
}

// hasKey reports whether kvs hold key with create revision rev.
func hasKey(kvs []api.KeyValue, key string, rev int64) bool {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.CreateRevision == rev
		}
	}
	return false
}

// watchDelete watches key from rev until it is deleted, then looks again.
func (wt *waiter) watchDelete(key string, from int64) {
	wt.w = wt.s.c.Watch([]byte(key), client.WatchOptions{StartRevision: from}, func(u client.WatchUpdate) {
		if wt.over {
			return
		}
		if u.Err != nil {
			// Compacted or refused: the watch is over; read afresh.
			wt.w = nil
			if errors.Is(u.Err, api.ErrCompacted) {
				wt.look()
				return
			}
			wt.finish(Owner{}, u.Err)
			return
		}
		for _, e := range u.Events {
			if e.Type == api.EventDelete {
				wt.w.Cancel()
				wt.w = nil
				wt.look()
				return
			}
		}
	})
}
