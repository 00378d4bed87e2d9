package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// pauseRec is a process that notes what reaches it, with its local time.
type pauseRec struct {
	h   host.Host
	got []string
}

func (r *pauseRec) Receive(from host.NodeID, p []byte) {
	r.got = append(r.got, string(p)+"@"+r.h.Now().Sub(Epoch).String())
}

// TestPauseFreezesAndResumesWithBacklog: a paused node runs no timer,
// processes no message and hears of no sync until it resumes; then the
// backlog runs at once, in order. Its peers run on meanwhile.
func TestPauseFreezesAndResumesWithBacklog(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Net = NetConfig{Base: time.Millisecond}
	cfg.Disk.SyncJitter = 0
	w := NewWorld(1, cfg)
	var a, b *pauseRec
	require.NoError(t, w.AddNode(1, func(h host.Host) host.Process { a = &pauseRec{h: h}; return a }))
	require.NoError(t, w.AddNode(2, func(h host.Host) host.Process { b = &pauseRec{h: h}; return b }))
	ticks := 0
	var tick func()
	tick = func() { ticks++; a.h.After(10*time.Millisecond, tick) }
	a.h.After(10*time.Millisecond, tick)
	f, err := a.h.FS().Create("f")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("data"), 0)
	require.NoError(t, err)
	synced := false
	f.Sync(func(err error) { require.NoError(t, err); synced = true })

	require.NoError(t, w.Pause(1))
	require.True(t, w.Paused(1))
	b.h.Send(1, []byte("m1"))
	b.h.Send(1, []byte("m2"))
	a.h.Send(2, []byte("from-a")) // its code is frozen, but a send already made goes out
	w.RunFor(100 * time.Millisecond)
	require.Zero(t, ticks, "no timer fires while paused")
	require.Empty(t, a.got, "no delivery while paused")
	require.False(t, synced, "no sync callback while paused")
	require.Len(t, b.got, 1, "the peer runs on")
	require.Equal(t, []byte("data"), durable(t, w, 1, "f"), "the sync itself completed")

	w.Resume(1)
	require.False(t, w.Paused(1))
	w.RunFor(0)
	require.Equal(t, []string{"m1@100ms", "m2@100ms"}, a.got, "backlog delivered at resume, in order")
	require.True(t, synced)
	require.Equal(t, 1, ticks, "the timer that fell due fires once at resume")
	w.RunFor(25 * time.Millisecond)
	require.Equal(t, 3, ticks, "and ticks on from there")
}

func durable(t *testing.T, w *World, id host.NodeID, name string) []byte {
	t.Helper()
	f := w.Disk(id).files[name]
	require.NotNil(t, f)
	return f.durable
}

// TestCrashWhilePausedDropsBacklog: a crash of a paused node drops what it
// never processed; the restarted node is not paused.
func TestCrashWhilePausedDropsBacklog(t *testing.T) {
	w := NewWorld(2, DefaultConfig())
	var procs []*pauseRec
	start := func(h host.Host) host.Process { r := &pauseRec{h: h}; procs = append(procs, r); return r }
	require.NoError(t, w.AddNode(1, start))
	require.NoError(t, w.AddNode(2, func(h host.Host) host.Process { return &pauseRec{h: h} }))
	require.NoError(t, w.Pause(1))
	require.NoError(t, w.Net().Send(2, 1, []byte("lost")))
	w.RunFor(10 * time.Millisecond)
	require.NoError(t, w.Crash(1))
	require.NoError(t, w.Restart(1))
	require.False(t, w.Paused(1))
	w.Resume(1) // harmless
	w.RunFor(10 * time.Millisecond)
	require.Len(t, procs, 2)
	require.Empty(t, procs[0].got)
	require.Empty(t, procs[1].got)
	require.ErrorIs(t, w.Pause(99), ErrUnknownNode)
}
