package workloads

import (
	"time"

	"github.com/seedkv/seedkv/host"
)

// pausable wraps a client process's host so that the whole process can be
// paused: a stop-the-world pause, as a garbage collector or SIGSTOP makes
// one. While paused, its timers that come due and the messages that
// arrive wait; on resume they run in the order they came. Its clock runs
// on, so the process sees the jump, and nothing it believed before the
// pause is re-checked unless its code does so.
type pausable struct {
	host.Host
	sched  func(time.Duration, func()) // the world's scheduler: runs even while paused
	paused bool
	held   []func()
}

func newPausable(h host.Host, sched func(time.Duration, func())) *pausable {
	return &pausable{Host: h, sched: sched}
}

// After runs f after d, or at the end of a pause that d ends in.
func (p *pausable) After(d time.Duration, f func()) host.Timer {
	return p.Host.After(d, func() { p.run(f) })
}

// run runs f now, or holds it until the pause ends.
func (p *pausable) run(f func()) {
	if p.paused {
		p.held = append(p.held, f)
		return
	}
	f()
}

// pause stops the process for d (a pause already running is extended
// if d ends later; the earlier end just finds it still running).
func (p *pausable) pause(d time.Duration) {
	p.paused = true
	p.sched(d, p.resume)
}

func (p *pausable) resume() {
	if !p.paused {
		return
	}
	p.paused = false
	for len(p.held) > 0 && !p.paused {
		f := p.held[0]
		p.held = p.held[1:]
		f()
	}
}
