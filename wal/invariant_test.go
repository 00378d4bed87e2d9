package wal

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/internal/invariant"
)

// TestInvariantNoAckWithoutSync: an fsync completion that arrives when no
// fsync is in flight (a disk that reports one twice, say) would
// acknowledge records that are not durable: the WAL refuses it.
func TestInvariantNoAckWithoutSync(t *testing.T) {
	fs, _ := tempFS(t)
	w, err := Create(fs, testMeta, Options{})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1}, ents(1, 3, 1)))
	syncNow(t, w)
	require.NoError(t, w.Save(HardState{Term: 1}, ents(4, 4, 1)))
	acked := false
	w.waiting = append(w.waiting, func(error) { acked = true }) // saved, not flushed
	defer func() {
		err, ok := recover().(error)
		require.True(t, ok, "no invariant violation")
		require.True(t, errors.Is(err, invariant.ErrViolated), "%v", err)
		require.Contains(t, err.Error(), "no fsync in flight")
		require.False(t, acked, "acknowledged without a sync")
	}()
	w.synced(nil) // a second completion of the sync above
}
