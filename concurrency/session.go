// Package concurrency holds client-side recipes built on seedkv's client,
// in the shape of etcd's clientv3/concurrency: a Session (a lease kept
// alive), a Mutex (a distributed lock whose fencing token is the lock
// key's create revision) and an Election (campaign, proclaim, resign,
// observe).
//
// Like package client, everything here is callback-based and runs on one
// simulated process's event loop: no goroutines, no locks, no wall clock.
// Every callback runs later on that loop, never inside the call that
// started the operation. Waiting is done with watches, never by polling.
//
// The recipes keep etcd's semantics, including its weak spot: a Session
// believes its lease alive until the TTL has passed since the last
// keep-alive answer arrived (by the process's own clock), while the store
// expires it by the leader's clock from when the keep-alive was applied.
// A process that is paused, cut off or whose clock runs slow can therefore
// still believe it holds a Mutex that the store has already given to
// another. Only a resource that checks the fencing token (Mutex.Token) is
// safe against that (see the lock workload in package workloads).
package concurrency

import (
	"errors"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// Errors of the recipes.
var (
	// ErrSessionExpired: the session's lease is gone (the store said so,
	// or the TTL passed without a keep-alive answer), or the session was
	// closed.
	ErrSessionExpired = errors.New("concurrency: session expired")
	// ErrNotLeader: a Proclaim or Resign by a candidate that is not (or
	// no longer) the leader.
	ErrNotLeader = errors.New("concurrency: election: not leader")
	// ErrNoLeader: Leader found no candidate under the prefix.
	ErrNoLeader = errors.New("concurrency: election: no leader")
	// ErrLocked: TryLock found the mutex held by another session.
	ErrLocked = errors.New("concurrency: mutex: locked by another session")
	// ErrCanceled: the operation was canceled by its caller.
	ErrCanceled = errors.New("concurrency: canceled")
	// ErrNotHeld: Unlock of a mutex that is not held.
	ErrNotHeld = errors.New("concurrency: mutex: not held")
)

// Clock is what the recipes need of their process: its clock and timers.
// A host.Host is one.
type Clock interface {
	Now() time.Time
	After(d time.Duration, f func()) host.Timer
}

// DefaultTTL is the session lease TTL in seconds when none is given
// (etcd's default is 60; simulated runs last seconds).
const DefaultTTL = 5

// SessionOptions tune a Session.
type SessionOptions struct {
	// TTL of the lease in seconds (0: DefaultTTL).
	TTL int64
	// KeepAliveEvery is the pause between keep-alives (0: a third of the
	// TTL, as etcd).
	KeepAliveEvery time.Duration
	// GrantFor bounds the retries of an unanswered or refused grant (0:
	// DefaultGrantFor).
	GrantFor time.Duration
}

// DefaultGrantFor is how long NewSession retries the grant by default.
const DefaultGrantFor = 10 * time.Second

// Session is a lease kept alive by periodic keep-alives until it is
// closed or lost. Keys written by the recipes are attached to it, so they
// disappear when the session's process stops renewing it.
type Session struct {
	c     *client.Client
	clk   Clock
	ttl   int64
	every time.Duration
	lease int64

	deadline time.Time  // the local belief: alive until then
	expiry   host.Timer // fires at deadline
	ka       host.Timer // next keep-alive
	inFlight bool       // a keep-alive awaits its answer
	over     bool       // expired or closed
	onDone   []func()
}

// NewSession grants a lease and starts keeping it alive. done gets the
// session, or the error of the grant (a timed-out grant is retried until
// SessionOptions.GrantFor has passed; a lease granted by an unanswered
// attempt just expires).
func NewSession(c *client.Client, clk Clock, opts SessionOptions, done func(*Session, error)) {
	s := &Session{c: c, clk: clk, ttl: opts.TTL, every: opts.KeepAliveEvery}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.every <= 0 {
		s.every = time.Duration(s.ttl) * time.Second / 3
	}
	if opts.GrantFor <= 0 {
		opts.GrantFor = DefaultGrantFor
	}
	s.grant(clk.Now().Add(opts.GrantFor), done)
}

func (s *Session) grant(giveUp time.Time, done func(*Session, error)) {
	s.c.LeaseGrant(s.ttl, 0, client.CallOptions{}, func(r *api.LeaseGrantResponse, _ api.Header, err error) {
		switch {
		case err == nil && r != nil:
			s.lease = r.ID
			s.renewed(r.TTL)
			done(s, nil)
		case retryable(err) && s.clk.Now().Before(giveUp):
			s.grant(giveUp, done)
		default:
			if err == nil {
				err = api.ErrInternal
			}
			done(nil, err)
		}
	})
}

// retryable reports whether a failed request may simply be tried again:
// it timed out (unknown outcome) or the cluster refused it for now.
func retryable(err error) bool {
	return errors.Is(err, client.ErrTimeout) || errors.Is(err, api.ErrUnavailable) ||
		errors.Is(err, api.ErrNotLeader) || errors.Is(err, api.ErrTooManyRequests)
}

// Lease is the session's lease ID.
func (s *Session) Lease() int64 { return s.lease }

// TTL is the lease TTL in seconds.
func (s *Session) TTL() int64 { return s.ttl }

// Client is the client the session uses.
func (s *Session) Client() *client.Client { return s.c }

// Clock is the session's process clock.
func (s *Session) Clock() Clock { return s.clk }

// Deadline is when the session believes its lease expires, by its own
// clock (etcd's rule: the last keep-alive answer's arrival plus the TTL).
func (s *Session) Deadline() time.Time { return s.deadline }

// Done reports whether the session is over (lost or closed).
func (s *Session) Done() bool { return s.over }

// OnDone registers f to run once when the session ends (at once, on the
// event loop, if it has ended already).
func (s *Session) OnDone(f func()) {
	if s.over {
		s.clk.After(0, f)
		return
	}
	s.onDone = append(s.onDone, f)
}

// renewed moves the local deadline ttl seconds past now and schedules
// the next keep-alive.
func (s *Session) renewed(ttl int64) {
	if s.over {
		return
	}
	if ttl <= 0 {
		s.end()
		return
	}
	s.deadline = s.clk.Now().Add(time.Duration(ttl) * time.Second)
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.expiry = s.clk.After(time.Duration(ttl)*time.Second, s.end)
	if s.ka == nil {
		s.ka = s.clk.After(s.every, s.keepAlive)
	}
}

// keepAlive sends one keep-alive (unless one is in flight) and schedules
// the next.
func (s *Session) keepAlive() {
	s.ka = nil
	if s.over {
		return
	}
	s.ka = s.clk.After(s.every, s.keepAlive)
	if s.inFlight {
		return
	}
	s.inFlight = true
	// Like etcd's keep-alive stream, an attempt is given up only when the
	// lease would be over anyway.
	opts := client.CallOptions{Timeout: time.Duration(s.ttl) * time.Second}
	s.c.LeaseKeepAlive(s.lease, opts, func(r *api.LeaseKeepAliveResponse, _ api.Header, err error) {
		s.inFlight = false
		switch {
		case err == nil && r != nil:
			s.renewed(r.TTL)
		case errors.Is(err, api.ErrLeaseNotFound):
			s.end() // the store expired it
		}
	})
}

// end marks the session over and runs the OnDone callbacks.
func (s *Session) end() {
	if s.over {
		return
	}
	s.over = true
	for _, t := range []host.Timer{s.ka, s.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	fns := s.onDone
	s.onDone = nil
	for _, f := range fns {
		f()
	}
}

// Close ends the session and revokes its lease (deleting every key the
// recipes attached to it). done (may be nil) gets the revoke's outcome.
func (s *Session) Close(done func(error)) {
	wasOver := s.over
	s.end()
	if wasOver && s.lease == 0 {
		if done != nil {
			s.clk.After(0, func() { done(nil) })
		}
		return
	}
	s.c.LeaseRevoke(s.lease, client.CallOptions{}, func(_ api.Header, err error) {
		if errors.Is(err, api.ErrLeaseNotFound) {
			err = nil
		}
		if done != nil {
			done(err)
		}
	})
}
