package concurrency

import (
	"errors"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// Election is leader election, as etcd's concurrency.Election: every
// candidate puts its key under the prefix, and the leader is the key with
// the lowest create revision. A leader's term is that create revision:
// it names the leadership uniquely and grows from one leader to the next.
type Election struct {
	s      *Session
	prefix string
	key    string
	rev    int64 // create revision of key (the term) while leader
	leader bool
	at     int64
	cancel func()
}

// NewElection is an election on prefix (a "/" is appended, as etcd does).
func NewElection(s *Session, prefix string) *Election {
	return &Election{s: s, prefix: prefix + "/"}
}

// Key is the candidate's key (empty before Campaign).
func (e *Election) Key() string { return e.key }

// Term is the create revision of the candidate's key while it leads (0
// otherwise).
func (e *Election) Term() int64 {
	if !e.leader {
		return 0
	}
	return e.rev
}

// ElectedAt is the store revision of the read that found the candidate
// first.
func (e *Election) ElectedAt() int64 { return e.at }

// IsLeader is the candidate's belief that it leads (see the package doc
// on why it may be stale).
func (e *Election) IsLeader() bool { return e.leader && !e.s.over }

// Prefix is the election's key prefix (with the trailing "/").
func (e *Election) Prefix() string { return e.prefix }

// Campaign puts value as a candidate and calls done with nil once the
// candidate leads, or with ErrSessionExpired or ErrCanceled. A candidate
// that campaigns again keeps its key (and place) and proclaims value.
func (e *Election) Campaign(value string, done func(error)) {
	e.key = keyFor(e.prefix, e.s.lease)
	enqueue(e.s, e.key, value, func(rev int64, existed bool, old string, err error) {
		if err != nil {
			done(err)
			return
		}
		e.rev = rev
		wait := func() {
			e.cancel = waitTurn(e.s, e.prefix, e.key, rev, func(o Owner, err error) {
				e.cancel = nil
				if err != nil {
					e.withdraw()
					done(err)
					return
				}
				e.leader, e.at = true, o.Revision
				done(nil)
			})
		}
		if existed && old != value {
			e.put(value, func(err error) {
				if err != nil {
					done(err)
					return
				}
				wait()
			})
			return
		}
		wait()
	})
}

// Cancel stops a waiting Campaign (its done gets ErrCanceled).
func (e *Election) Cancel() {
	if e.cancel != nil {
		e.cancel()
	}
}

// guarded runs ops only if the candidate's key still has the create
// revision it had: the key, not the candidate's belief, says who leads.
func (e *Election) guarded(ops []api.TxnOp, done func(ok bool, err error)) {
	k := []byte(e.key)
	txn := &api.TxnRequest{
		Compares: []api.Compare{{Key: k, Target: api.TargetCreate, Result: api.CompareEqual, CreateRevision: e.rev}},
		Success:  ops,
	}
	e.s.c.Txn(txn, client.CallOptions{}, func(r *api.TxnResponse, _ api.Header, err error) {
		if err != nil {
			done(false, err)
			return
		}
		done(r.Succeeded, nil)
	})
}

// put sets the candidate's value under the guard.
func (e *Election) put(value string, done func(error)) {
	op := api.TxnOp{Put: &api.PutRequest{Key: []byte(e.key), Value: []byte(value), Lease: e.s.lease}}
	e.guarded([]api.TxnOp{op}, func(ok bool, err error) {
		if err == nil && !ok {
			e.leader = false
			err = ErrNotLeader
		}
		done(err)
	})
}

// Proclaim changes the leader's value without a new election. done gets
// ErrNotLeader if the candidate does not lead (its key is gone), or the
// request's error (a timeout leaves the outcome unknown).
func (e *Election) Proclaim(value string, done func(error)) {
	if !e.leader {
		e.s.clk.After(0, func() { done(ErrNotLeader) })
		return
	}
	e.put(value, done)
}

// LeaderTxn runs ops only while the candidate's key is the one it won
// with: the way a leader writes leader-only state safely. done gets
// ErrNotLeader if the guard failed.
func (e *Election) LeaderTxn(ops []api.TxnOp, done func(error)) {
	if !e.leader {
		e.s.clk.After(0, func() { done(ErrNotLeader) })
		return
	}
	e.guarded(ops, func(ok bool, err error) {
		if err == nil && !ok {
			e.leader = false
			err = ErrNotLeader
		}
		done(err)
	})
}

// Resign gives up leadership by deleting the key (guarded by its create
// revision). done (may be nil) gets the outcome.
func (e *Election) Resign(done func(error)) {
	if !e.leader {
		if done != nil {
			e.s.clk.After(0, func() { done(nil) })
		}
		return
	}
	e.leader = false
	del := api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(e.key)}}
	e.guarded([]api.TxnOp{del}, func(_ bool, err error) {
		if done != nil {
			done(err)
		}
	})
}

// withdraw deletes the candidate's key after a failed campaign.
func (e *Election) withdraw() {
	e.s.c.Delete([]byte(e.key), client.DeleteOptions{}, func(*api.DeleteRangeResponse, api.Header, error) {})
}

// Leader reads the current leader: done gets ErrNoLeader if there is
// no candidate.
func (e *Election) Leader(done func(Owner, error)) {
	Leader(e.s.c, e.prefix, done)
}

// Leader reads the leader of the election on prefix (with its trailing
// "/") through c.
func Leader(c *client.Client, prefix string, done func(Owner, error)) {
	c.Range([]byte(prefix), client.RangeOptions{End: PrefixEnd(prefix)}, func(r *api.RangeResponse, h api.Header, err error) {
		if err != nil {
			done(Owner{}, err)
			return
		}
		first, _ := firstOf(r.KVs, 0)
		if first == nil {
			done(Owner{Revision: h.Revision}, ErrNoLeader)
			return
		}
		done(Owner{Key: string(first.Key), Value: string(first.Value), CreateRevision: first.CreateRevision, Revision: h.Revision}, nil)
	})
}

// Observer follows an election's leader: see Observe.
type Observer struct {
	c      *client.Client
	prefix string
	fn     func(Owner)
	keys   map[string]api.KeyValue
	last   Owner
	w      *client.Watcher
	closed bool
}

// Observe reads the election on prefix (with its trailing "/") and then
// watches it, calling fn every time the leader (its key, create revision
// or value) changes, with the store revision at which it did. fn sees no
// leader as an Owner with an empty Key.
func Observe(c *client.Client, prefix string, fn func(Owner)) *Observer {
	o := &Observer{c: c, prefix: prefix, fn: fn}
	o.start()
	return o
}

// Close stops the observer; fn is not called again.
func (o *Observer) Close() {
	o.closed = true
	if o.w != nil {
		o.w.Cancel()
	}
}

func (o *Observer) start() {
	o.c.Range([]byte(o.prefix), client.RangeOptions{End: PrefixEnd(o.prefix)}, func(r *api.RangeResponse, h api.Header, err error) {
		if o.closed {
			return
		}
		if err != nil {
			o.start() // nothing else to do: reads have no effect
			return
		}
		o.keys = make(map[string]api.KeyValue, len(r.KVs))
		for _, kv := range r.KVs {
			o.keys[string(kv.Key)] = kv
		}
		o.report(h.Revision)
		o.w = o.c.Watch([]byte(o.prefix), client.WatchOptions{End: PrefixEnd(o.prefix), StartRevision: h.Revision + 1}, o.onUpdate)
	})
}

func (o *Observer) onUpdate(u client.WatchUpdate) {
	if o.closed {
		return
	}
	if u.Err != nil {
		o.w = nil
		if errors.Is(u.Err, api.ErrCompacted) {
			o.start()
		}
		return
	}
	// Apply one revision at a time, reporting after each.
	for i, ev := range u.Events {
		switch ev.Type {
		case api.EventPut:
			o.keys[string(ev.KV.Key)] = ev.KV
		case api.EventDelete:
			delete(o.keys, string(ev.KV.Key))
		}
		if i+1 == len(u.Events) || u.Events[i+1].Revision() != ev.Revision() {
			o.report(ev.Revision())
		}
	}
}

// report calls fn if the leader changed.
func (o *Observer) report(rev int64) {
	var first *api.KeyValue
	for k := range o.keys { // order-free: the minimum is unique (create revisions differ)
		kv := o.keys[k]
		if first == nil || kv.CreateRevision < first.CreateRevision {
			first = &kv
		}
	}
	cur := Owner{Revision: rev}
	if first != nil {
		cur.Key, cur.Value, cur.CreateRevision = string(first.Key), string(first.Value), first.CreateRevision
	}
	if cur.Key == o.last.Key && cur.Value == o.last.Value && cur.CreateRevision == o.last.CreateRevision && o.last.Revision != 0 {
		return
	}
	o.last = cur
	o.fn(cur)
}
