package wal

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// TestSyncErrorIsFatal: a failed fsync fails every Sync that waited on it
// and leaves the WAL unusable for good: no later Save or Sync succeeds (a
// retried fsync would succeed without the dropped records: fsyncgate). A
// restart finds exactly what was synced before the failure.
func TestSyncErrorIsFatal(t *testing.T) {
	world := sim.NewWorld(3, sim.DefaultConfig())
	d := world.AddDisk(1)
	w, err := Create(d, testMeta, Options{Preallocate: 4096})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1, Commit: 1}, ents(1, 3, 1)))
	var got []error
	record := func(err error) { got = append(got, err) }
	w.Sync(record)
	world.RunUntilIdle(0)

	require.NoError(t, w.Save(HardState{Term: 2, Commit: 3}, ents(4, 6, 2)))
	failing := true
	d.SetSyncFault(func(string) bool { return failing })
	w.Sync(record)
	require.NoError(t, w.Save(HardState{}, ents(7, 7, 2)))
	w.Sync(record) // waits for the failing one
	world.RunUntilIdle(0)
	failing = false
	require.Len(t, got, 3)
	require.NoError(t, got[0])
	require.ErrorIs(t, got[1], host.ErrIO)
	require.ErrorIs(t, got[2], host.ErrIO, "a Sync waiting on a failed fsync fails too")

	require.ErrorIs(t, w.Save(HardState{}, ents(8, 8, 2)), host.ErrIO, "the error sticks")
	w.Sync(record)
	world.RunUntilIdle(0)
	require.ErrorIs(t, got[3], host.ErrIO, "a retried Sync must not succeed")

	d.Crash()
	_, rep, err := Open(d, Options{})
	require.NoError(t, err)
	require.Equal(t, ents(1, 3, 1), rep.Entries, "only what was synced before the failure")
	require.Equal(t, HardState{Term: 1, Commit: 1}, rep.HardState)
}

// TestOSSyncErrorIsErrIO: every failed fsync of the OS file system is
// host.ErrIO, ENOSPC too (it must not read as a full disk to wait out: the
// dropped pages stay lost), but for a closed handle.
func TestOSSyncErrorIsErrIO(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error
	}{
		{&os.PathError{Op: "fdatasync", Path: "x", Err: syscall.EIO}, host.ErrIO},
		{&os.PathError{Op: "fdatasync", Path: "x", Err: syscall.ENOSPC}, host.ErrIO},
		{os.ErrClosed, host.ErrClosed},
	} {
		got := syncErr(c.err)
		require.ErrorIs(t, got, c.want, "%v", c.err)
		require.Equal(t, c.want == host.ErrIO, errors.Is(got, host.ErrIO))
		require.False(t, errors.Is(got, host.ErrNoSpace), "%v must not read as a full disk", c.err)
	}
	require.NoError(t, syncErr(nil))
}
