package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

func TestEventOrder(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	var got []int
	w.After(2*time.Millisecond, func() { got = append(got, 3) })
	w.After(time.Millisecond, func() { got = append(got, 1) })
	w.After(time.Millisecond, func() { got = append(got, 2) }) // same time: insertion order
	stopped := w.After(time.Millisecond, func() { got = append(got, 99) })
	w.After(-time.Second, func() { got = append(got, 0) }) // negative counts as 0
	require.True(t, stopped.Stop())
	require.False(t, stopped.Stop())
	require.True(t, w.RunUntilIdle(0))
	require.Equal(t, []int{0, 1, 2, 3}, got)
	require.Equal(t, 2*time.Millisecond, w.Elapsed())
	require.Equal(t, Epoch.Add(2*time.Millisecond), w.Now())
	require.Equal(t, uint64(4), w.Events())
	require.False(t, w.Step())
}

func TestTimerStopManyKeepsHeap(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	r := w.Rand("t")
	var timers []*Timer
	var fired []int64
	for range 500 {
		timers = append(timers, w.After(time.Duration(r.IntN(1000)), func() { fired = append(fired, int64(w.Elapsed())) }))
	}
	for i := 0; i < len(timers); i += 3 {
		require.True(t, timers[i].Stop())
	}
	require.True(t, w.RunUntilIdle(0))
	require.Len(t, fired, 500-167)
	for i := 1; i < len(fired); i++ {
		require.LessOrEqual(t, fired[i-1], fired[i])
	}
}

func TestRunUntilAndFor(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	n := 0
	var tick func()
	tick = func() { n++; w.Schedule(time.Millisecond, tick) }
	w.Schedule(0, tick)
	w.RunFor(10 * time.Millisecond)
	require.Equal(t, 11, n) // at 0, 1, ..., 10 ms
	require.Equal(t, 10*time.Millisecond, w.Elapsed())
	w.RunUntil(Epoch.Add(5 * time.Millisecond)) // the past: nothing
	require.Equal(t, 11, n)
	require.False(t, w.RunUntilIdle(5))
	require.Equal(t, 16, n)
}

func TestRandStreams(t *testing.T) {
	a, b := NewWorld(9, DefaultConfig()), NewWorld(9, DefaultConfig())
	require.Same(t, a.Rand("x"), a.Rand("x"))
	_ = a.Rand("y").Uint64() // drawing from y does not shift x
	require.Equal(t, b.Rand("x").Uint64(), a.Rand("x").Uint64())
	require.NotEqual(t, a.Rand("x").Uint64(), a.Rand("z").Uint64())
	require.NotEqual(t, NewWorld(10, DefaultConfig()).Rand("x").Uint64(), NewWorld(9, DefaultConfig()).Rand("x").Uint64())
}

// ticker is a process whose timer counts ticks and keeps a Sync pending.
type ticker struct {
	h     host.Host
	ticks int
	syncs int
}

func (p *ticker) Receive(host.NodeID, []byte) {}

func TestCrashCancelsTimersAndSyncs(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	var incs []*ticker
	require.NoError(t, w.AddNode(1, func(h host.Host) host.Process {
		p := &ticker{h: h}
		incs = append(incs, p)
		var tick func()
		tick = func() { p.ticks++; h.After(time.Millisecond, tick) }
		h.After(time.Millisecond, tick)
		f, err := h.FS().Create("f" + string(rune('0'+len(incs))))
		require.NoError(t, err)
		_, _ = f.WriteAt([]byte("x"), 0)
		f.Sync(func(error) { p.syncs++ })
		return p
	}))
	first := incs[0]
	pending := first.h.After(time.Hour, func() { t.Fatal("cancelled timer fired") })
	w.RunFor(5 * time.Millisecond)
	require.Equal(t, 5, first.ticks)
	require.Equal(t, 1, first.syncs)

	fs := first.h.FS()
	f, err := fs.Open("f1")
	require.NoError(t, err)
	f.Sync(func(error) { first.syncs++ })
	require.NoError(t, w.Crash(1))
	require.ErrorIs(t, w.Crash(1), ErrNodeDown)
	require.False(t, w.Alive(1))
	require.Nil(t, w.Process(1))
	require.False(t, pending.Stop(), "a crash cancels timers")
	_, err = fs.List()
	require.ErrorIs(t, err, host.ErrClosed)
	_, err = f.WriteAt([]byte("y"), 0)
	require.ErrorIs(t, err, host.ErrClosed)
	_, err = w.Disk(1).Create("z")
	require.ErrorIs(t, err, ErrNodeDown, "a crashed node's disk is down")
	w.RunFor(10 * time.Millisecond)
	require.Equal(t, 5, first.ticks)
	require.Equal(t, 1, first.syncs, "pending sync of a crashed incarnation never completes")

	require.NoError(t, w.Restart(1))
	require.ErrorIs(t, w.Restart(1), ErrNodeUp)
	require.Len(t, incs, 2)
	w.RunFor(5 * time.Millisecond)
	require.Equal(t, 5, first.ticks)
	require.Equal(t, 5, incs[1].ticks)
	names, err := incs[1].h.FS().List()
	require.NoError(t, err)
	require.Equal(t, []string{"f1", "f2"}, names, "the disk survives, metadata included")
	require.NotSame(t, first.h, incs[1].h)
}

func TestClockRate(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	var h host.Host
	require.NoError(t, w.AddNode(1, func(hh host.Host) host.Process { h = hh; return procFunc(nil) }))
	require.NoError(t, w.SetClockRate(1, 2))
	fired := time.Duration(0)
	h.After(10*time.Millisecond, func() { fired = w.Elapsed() })
	w.RunFor(20 * time.Millisecond)
	require.Equal(t, 5*time.Millisecond, fired)
	require.Equal(t, Epoch.Add(40*time.Millisecond), h.Now())
	require.NoError(t, w.SetClockRate(1, 1))
	w.RunFor(10 * time.Millisecond)
	require.Equal(t, Epoch.Add(50*time.Millisecond), h.Now(), "local clock stays continuous")
	require.ErrorIs(t, w.SetClockRate(1, 0), ErrBadConfig)
	require.ErrorIs(t, w.SetClockRate(7, 1), ErrUnknownNode)
}

func TestAddNodeBadInput(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	start := func(h host.Host) host.Process { return procFunc(nil) }
	require.ErrorIs(t, w.AddNode(0, start), ErrBadNodeID)
	require.ErrorIs(t, w.AddNode(1, nil), ErrBadConfig)
	require.NoError(t, w.AddNode(1, start))
	require.ErrorIs(t, w.AddNode(1, start), ErrNodeExists)
	require.ErrorIs(t, w.Crash(2), ErrUnknownNode)
	require.ErrorIs(t, w.Restart(2), ErrUnknownNode)
	require.Equal(t, []host.NodeID{1}, w.Nodes())
}

func TestRecordFoldsIntoHash(t *testing.T) {
	a, b := NewWorld(1, DefaultConfig()), NewWorld(1, DefaultConfig())
	require.Equal(t, a.TraceHash(), b.TraceHash())
	a.Record("call", 1, []byte("put x"))
	b.Record("call", 1, []byte("put y"))
	require.NotEqual(t, a.TraceHash(), b.TraceHash())
}

func TestTraceHashAllocFree(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	p := []byte("payload")
	allocs := testing.AllocsPerRun(100, func() { w.Record("call", 1, p) })
	require.Zero(t, allocs)
}

// Nodes and disks are found by ID whether the ID is in the dense range
// or beyond it, and unknown IDs find nothing; a disk added first is the
// one its node gets.
func TestNodeAndDiskLookup(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	start := func(h host.Host) host.Process { return procFunc(func(host.NodeID, []byte) {}) }
	d7 := w.AddDisk(7)
	ids := []host.NodeID{1, 7, 1001, denseIDs - 1, denseIDs, 1 << 40}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, start), "node %d", id)
	}
	require.Same(t, d7, w.Disk(7))
	for _, id := range ids {
		require.True(t, w.Alive(id), "node %d", id)
		require.NotNil(t, w.Process(id), "node %d", id)
		require.NotNil(t, w.Disk(id), "node %d", id)
		require.Equal(t, id, w.Disk(id).ID())
		require.Equal(t, id, w.node(id).id)
	}
	for _, id := range []host.NodeID{0, 2, 1000, denseIDs + 1, 1<<40 + 1} {
		require.False(t, w.Alive(id), "node %d", id)
		require.Nil(t, w.Disk(id), "disk %d", id)
		require.Nil(t, w.node(id), "node %d", id)
	}
	require.ErrorIs(t, w.AddNode(denseIDs, start), ErrNodeExists)
	require.ErrorIs(t, w.AddNode(7, start), ErrNodeExists)
}
