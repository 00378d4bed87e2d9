package oshost

import (
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Host is host.Host for one process on a Loop: the wall clock, timers on
// the loop, the Net for messages and an OS directory for files.
type Host struct {
	id   host.NodeID
	loop *Loop
	net  *Net
	fs   host.FS
	rnd  *rand.Rand
}

// NewHost builds the host of process id. fs may be nil for a process that
// keeps no files (a client). Its randomness is seeded from the wall clock:
// a real process has no seed to replay.
func NewHost(id host.NodeID, loop *Loop, n *Net, fs host.FS) *Host {
	seed := uint64(time.Now().UnixNano())
	return &Host{id: id, loop: loop, net: n, fs: fs, rnd: rand.New(rand.NewPCG(seed, uint64(id)))}
}

// ID implements host.Host.
func (h *Host) ID() host.NodeID { return h.id }

// Now implements host.Host: the wall clock.
func (h *Host) Now() time.Time { return time.Now() }

// After implements host.Host: f runs on the loop.
func (h *Host) After(d time.Duration, f func()) host.Timer { return h.loop.After(d, f) }

// Send implements host.Host.
func (h *Host) Send(to host.NodeID, payload []byte) { h.net.Send(h.id, to, payload) }

// FS implements host.Host.
func (h *Host) FS() host.FS { return h.fs }

// Rand implements host.Host.
func (h *Host) Rand() *rand.Rand { return h.rnd }
