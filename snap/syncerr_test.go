package snap

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// TestSaveSyncErrorFails: a Save whose fsync fails reports the error and
// leaves neither the snapshot nor its temp file: the bytes the failed sync
// covered may never be durable, so the file must never be used.
func TestSaveSyncErrorFails(t *testing.T) {
	w, d := simDisk(7)
	saveNow(t, w, d, 10, 2, []byte("ten"))
	d.SetSyncFault(func(string) bool { return true })
	var got error
	called := false
	Save(d, 20, 3, []byte("twenty"), func(err error) { got, called = err, true })
	w.RunUntilIdle(0)
	d.SetSyncFault(nil)
	require.True(t, called)
	require.ErrorIs(t, got, host.ErrIO)
	names, err := d.List()
	require.NoError(t, err)
	require.Equal(t, []string{Name(10, 2)}, names, "no file of the failed save is left")
	d.Crash()
	s, err := LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, uint64(10), s.Index)
	require.Empty(t, s.Skipped)
}
