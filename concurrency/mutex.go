package concurrency

import (
	"errors"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// Mutex is a distributed lock, as etcd's concurrency.Mutex: Lock puts the
// session's key under the prefix and waits until it has the lowest create
// revision. The holder's fencing token is that create revision: tokens of
// successive holders increase, so a resource that refuses a token below
// the highest it has seen refuses a former holder that does not know it
// lost the lock.
type Mutex struct {
	s      *Session
	prefix string
	key    string
	rev    int64 // create revision of key while held or waiting
	held   bool
	at     int64 // store revision at which the lock was seen held
	cancel func()
}

// NewMutex is a mutex on prefix (a "/" is appended, as etcd does).
func NewMutex(s *Session, prefix string) *Mutex {
	return &Mutex{s: s, prefix: prefix + "/"}
}

// Key is the holder's (or waiter's) key; empty before Lock.
func (m *Mutex) Key() string { return m.key }

// Token is the fencing token of the current hold: the key's create
// revision (0 if not held).
func (m *Mutex) Token() int64 {
	if !m.held {
		return 0
	}
	return m.rev
}

// HeldAt is the store revision of the read that found the lock held.
func (m *Mutex) HeldAt() int64 { return m.at }

// Held reports whether the last Lock succeeded and no Unlock followed.
// It is the holder's belief: the store may have expired the session
// since (see the package doc).
func (m *Mutex) Held() bool { return m.held && !m.s.over }

// Prefix is the mutex's key prefix (with the trailing "/").
func (m *Mutex) Prefix() string { return m.prefix }

// Lock acquires the mutex and calls done with nil once held, or with
// ErrSessionExpired (the session ended while waiting) or ErrCanceled.
// A failed Lock removes its key.
func (m *Mutex) Lock(done func(error)) {
	m.key = keyFor(m.prefix, m.s.lease)
	enqueue(m.s, m.key, "", func(rev int64, _ bool, _ string, err error) {
		if err != nil {
			done(err)
			return
		}
		m.rev = rev
		m.cancel = waitTurn(m.s, m.prefix, m.key, rev, func(o Owner, err error) {
			m.cancel = nil
			if err != nil {
				m.release(nil)
				done(err)
				return
			}
			m.held, m.at = true, o.Revision
			done(nil)
		})
	})
}

// TryLock takes the mutex only if nobody holds it: done gets ErrLocked
// otherwise (and the key is removed again).
func (m *Mutex) TryLock(done func(error)) {
	m.key = keyFor(m.prefix, m.s.lease)
	enqueue(m.s, m.key, "", func(rev int64, _ bool, _ string, err error) {
		if err != nil {
			done(err)
			return
		}
		m.rev = rev
		m.s.c.Range([]byte(m.prefix), client.RangeOptions{End: PrefixEnd(m.prefix)}, func(r *api.RangeResponse, h api.Header, err error) {
			if err != nil {
				m.release(nil)
				done(err)
				return
			}
			if first, _ := firstOf(r.KVs, rev); first == nil || first.CreateRevision != rev {
				m.release(nil)
				done(ErrLocked)
				return
			}
			m.held, m.at = true, h.Revision
			done(nil)
		})
	})
}

// Cancel stops a Lock that is waiting (its done gets ErrCanceled).
func (m *Mutex) Cancel() {
	if m.cancel != nil {
		m.cancel()
	}
}

// Unlock releases the mutex by deleting its key. done (may be nil) gets
// nil once the key is gone, ErrNotHeld if Lock never succeeded.
func (m *Mutex) Unlock(done func(error)) {
	if !m.held {
		if done != nil {
			m.s.clk.After(0, func() { done(ErrNotHeld) })
		}
		return
	}
	m.held = false
	m.release(done)
}

// release deletes the key, retrying unknown outcomes while the session
// lives (a delete of our own key is idempotent).
func (m *Mutex) release(done func(error)) {
	key := m.key
	m.s.c.Delete([]byte(key), client.DeleteOptions{}, func(_ *api.DeleteRangeResponse, _ api.Header, err error) {
		if retryable(err) && !m.s.over {
			m.release(done)
			return
		}
		if errors.Is(err, client.ErrTimeout) {
			err = nil // the session is over: its lease takes the key with it
		}
		if done != nil {
			done(err)
		}
	})
}
