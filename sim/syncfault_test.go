package sim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// TestSyncFaultLosesCoveredWritesForGood models fsyncgate: the writes a
// failed sync covered stay readable until a crash, a retried sync then
// succeeds, and still they never become durable; later writes do.
func TestSyncFaultLosesCoveredWritesForGood(t *testing.T) {
	w, d := newTestDisk(t)
	f, err := d.Create("a")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("good"), 0)
	require.NoError(t, err)
	f.Sync(func(err error) { require.NoError(t, err) })
	require.True(t, w.RunUntilIdle(0))

	_, err = f.WriteAt([]byte("LOST"), 4)
	require.NoError(t, err)
	var names []string
	d.SetSyncFault(func(name string) bool { names = append(names, name); return true })
	var got error
	f.Sync(func(err error) { got = err })
	require.True(t, w.RunUntilIdle(0))
	require.ErrorIs(t, got, host.ErrIO)
	require.Equal(t, []string{"a"}, names)
	cur, _ := d.Contents("a")
	require.Equal(t, "goodLOST", string(cur), "the volatile view keeps the failed write until a crash")

	d.SetSyncFault(nil)
	got = nil
	f.Sync(func(err error) { got = err })
	require.True(t, w.RunUntilIdle(0))
	require.NoError(t, got, "the retried fsync succeeds...")
	dur, _ := d.DurableBytes("a")
	require.Equal(t, "good", string(dur), "...but the failed write is not durable")

	_, err = f.WriteAt([]byte("next"), 8)
	require.NoError(t, err)
	f.Sync(func(err error) { require.NoError(t, err) })
	require.True(t, w.RunUntilIdle(0))
	dur, _ = d.DurableBytes("a")
	require.Equal(t, "good\x00\x00\x00\x00next", string(dur), "a later write is durable, leaving a hole")

	d.Crash()
	cur, _ = d.Contents("a")
	require.Equal(t, string(dur), string(cur), "a crash leaves the durable view")
}

// TestSyncFaultFailsWaitingSyncs: a sync of the same file in flight when
// one fails reports the error too; syncs of other files and syncs issued
// afterwards are unaffected.
func TestSyncFaultFailsWaitingSyncs(t *testing.T) {
	w, d := newTestDisk(t)
	a, _ := d.Create("a")
	b, _ := d.Create("b")
	_, _ = a.WriteAt([]byte("1"), 0)
	var errs [3]error
	calls := [3]bool{}
	a.Sync(func(err error) { errs[0], calls[0] = err, true })
	_, _ = a.WriteAt([]byte("2"), 1)
	a.Sync(func(err error) { errs[1], calls[1] = err, true })
	_, _ = b.WriteAt([]byte("x"), 0)
	b.Sync(func(err error) { errs[2], calls[2] = err, true })
	failures := 0
	d.SetSyncFault(func(name string) bool {
		if name == "a" && failures == 0 {
			failures++
			return true
		}
		return false
	})
	require.True(t, w.RunUntilIdle(0))
	require.Equal(t, [3]bool{true, true, true}, calls)
	require.ErrorIs(t, errs[0], host.ErrIO)
	require.ErrorIs(t, errs[1], host.ErrIO)
	require.NoError(t, errs[2])
	require.Equal(t, 1, failures, "the hook decided one failure; the other sync saw it")
	durA, _ := d.DurableBytes("a")
	require.Empty(t, durA)
	durB, _ := d.DurableBytes("b")
	require.Equal(t, "x", string(durB))
	require.Zero(t, d.SyncsInFlight())

	_, _ = a.WriteAt([]byte("3"), 2)
	a.Sync(func(err error) { errs[0] = err })
	require.True(t, w.RunUntilIdle(0))
	require.NoError(t, errs[0], "a sync issued after the failure is not failed by it")
	durA, _ = d.DurableBytes("a")
	require.Equal(t, "\x00\x003", string(durA))
}

// TestSyncFaultLostSyncNeverCompletes: a crash before the failing sync
// completes loses it like any other sync (the hook is not asked).
func TestSyncFaultLostSyncNeverCompletes(t *testing.T) {
	w, d := newTestDisk(t)
	f, _ := d.Create("a")
	_, _ = f.WriteAt([]byte("data"), 0)
	asked := false
	d.SetSyncFault(func(string) bool { asked = true; return true })
	called := false
	f.Sync(func(error) { called = true })
	d.Crash()
	require.True(t, w.RunUntilIdle(0))
	require.False(t, called)
	require.False(t, asked)
}
