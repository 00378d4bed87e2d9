package oshost

import (
	"sync"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Loop runs posted functions one at a time on a single goroutine: the
// event loop of the processes it hosts.
type Loop struct {
	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

// NewLoop starts an event loop.
func NewLoop() *Loop {
	l := &Loop{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Post queues f to run on the loop. It never blocks (the queue is
// unbounded: posters are bounded by their own limits, e.g. a connection's
// read loop waits for nothing but the socket). It reports false if the
// loop is closed, in which case f never runs.
func (l *Loop) Post(f func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// Do runs f on the loop and waits for it. It reports false (without
// running f) if the loop is closed. It must not be called from the loop.
func (l *Loop) Do(f func()) bool {
	ran := make(chan struct{})
	if !l.Post(func() { f(); close(ran) }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-l.done:
		return false
	}
}

// Close stops the loop: functions still queued are dropped and later
// posts are refused. It waits until the function running, if any, ends.
// It must not be called from the loop.
func (l *Loop) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
}

// Done is closed once the loop has stopped.
func (l *Loop) Done() <-chan struct{} { return l.done }

func (l *Loop) run() {
	defer close(l.done)
	for range l.wake {
		for {
			l.mu.Lock()
			if l.closed {
				l.queue = nil
				l.mu.Unlock()
				return
			}
			batch := l.queue
			l.queue = nil
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, f := range batch {
				f()
			}
		}
	}
}

// timer is a host.Timer on a Loop. done is touched only on the loop.
type timer struct {
	t    *time.Timer
	done bool
}

// After runs f on the loop once d has passed (see host.Host.After). It
// must be called on the loop, as must the returned timer's Stop.
func (l *Loop) After(d time.Duration, f func()) host.Timer {
	tm := &timer{}
	tm.t = time.AfterFunc(d, func() {
		l.Post(func() {
			if tm.done {
				return
			}
			tm.done = true
			f()
		})
	})
	return tm
}

// Stop implements host.Timer.
func (tm *timer) Stop() bool {
	if tm.done {
		return false
	}
	tm.done = true
	tm.t.Stop()
	return true
}
