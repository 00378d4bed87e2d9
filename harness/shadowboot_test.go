package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/wal"
)

// TestOpenDurableSeesTheVote: a shadow boot reads back the hard state and
// entries a WAL synced, and a vote left out of the hard state record shows
// as not durable.
func TestOpenDurableSeesTheVote(t *testing.T) {
	fs := &memFS{files: map[string][]byte{}}
	w, err := wal.Create(fs, wal.Metadata{NodeID: 1, ClusterID: 1}, wal.Options{})
	require.NoError(t, err)
	require.NoError(t, w.SaveSnapshot(wal.SnapshotMarker{Index: 1, Term: 1}))
	require.NoError(t, w.Save(wal.HardState{Term: 5, Commit: 1}, []wal.Entry{{Index: 2, Term: 5}}))
	w.Sync(func(err error) { require.NoError(t, err) })

	rep, ok, err := openDurable(fs.files)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, voteDurable(rep.HardState, 5, 3), "no vote saved yet")
	require.True(t, voteDurable(rep.HardState, 4, 3), "a later term covers an older vote")
	term, held := replayTerm(rep, 2)
	require.True(t, held)
	require.Equal(t, uint64(5), term)

	require.NoError(t, w.Save(wal.HardState{Term: 5, Vote: 3, Commit: 1}, nil))
	w.Sync(func(err error) { require.NoError(t, err) })
	rep, _, err = openDurable(fs.files)
	require.NoError(t, err)
	require.True(t, voteDurable(rep.HardState, 5, 3))
	require.False(t, voteDurable(rep.HardState, 5, 2))
}

// TestOpenDurableRefusesAHole: records written after a hole (an append
// at the wrong offset after a repaired torn tail) make the durable WAL
// unopenable, which the shadow boot reports.
func TestOpenDurableRefusesAHole(t *testing.T) {
	fs := &memFS{files: map[string][]byte{}}
	w, err := wal.Create(fs, wal.Metadata{NodeID: 1, ClusterID: 1}, wal.Options{})
	require.NoError(t, err)
	require.NoError(t, w.SaveSnapshot(wal.SnapshotMarker{Index: 1, Term: 1}))
	require.NoError(t, w.Save(wal.HardState{Term: 2, Commit: 1}, []wal.Entry{{Index: 2, Term: 2, Data: []byte("x")}}))
	w.Sync(func(err error) { require.NoError(t, err) })
	_, ok, err := openDurable(fs.files)
	require.True(t, ok)
	require.NoError(t, err)

	names, _ := fs.List()
	require.Len(t, names, 1)
	good := fs.files[names[0]]
	// The same records again after 600 zero bytes.
	fs.files[names[0]] = append(append(append([]byte(nil), good...), make([]byte, 600)...), good[len(good)/2:]...)
	_, ok, err = openDurable(fs.files)
	require.True(t, ok)
	require.ErrorContains(t, err, "corrupt")
}
