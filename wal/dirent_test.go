package wal

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/sim"
)

// TestSegmentsSurviveLostDirents: a completed Sync covers the directory
// entries of the segments it wrote (the WAL syncs the directory after a
// cut, as etcd does), so a crash that loses unsynced directory changes
// loses nothing synced. Without the directory sync the first segment
// vanishes and Open finds no WAL.
func TestSegmentsSurviveLostDirents(t *testing.T) {
	world := sim.NewWorld(3, sim.DefaultConfig())
	d := world.AddDisk(1)
	w, err := Create(d, testMeta, Options{SegmentSize: 512})
	require.NoError(t, err)
	var want []Entry
	for i := uint64(1); i <= 40; i += 4 {
		batch := ents(i, i+3, 1)
		want = append(want, batch...)
		require.NoError(t, w.Save(HardState{Term: 1, Commit: i}, batch))
		synced := false
		w.Sync(func(err error) { require.NoError(t, err); synced = true })
		world.RunUntilIdle(0)
		require.True(t, synced)
	}
	require.Greater(t, len(w.Segments()), 2, "the test needs several segments")
	d.Crash()
	d.LoseDirents()
	_, rep, err := Open(d, Options{SegmentSize: 512})
	require.NoError(t, err)
	require.Equal(t, want, rep.Entries)
}
