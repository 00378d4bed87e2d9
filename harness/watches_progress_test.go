package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// TestWatchProgressPromise: an event at or below a revision a progress
// notification covered breaks the stream's promise and is named; events
// above it are fine, and progress updates are not counted as deliveries.
func TestWatchProgressPromise(t *testing.T) {
	put := func(rev int64) api.Event {
		return api.Event{Type: api.EventPut, KV: api.KeyValue{Key: []byte("/k/1"), ModRevision: rev}}
	}
	ws := &watchStream{}
	require.False(t, ws.noteProgress(client.WatchUpdate{Events: []api.Event{put(3)}, Member: 2}))
	require.True(t, ws.noteProgress(client.WatchUpdate{Progress: 5, Member: 2}))
	require.True(t, ws.noteProgress(client.WatchUpdate{Progress: 4, Member: 2}), "an older promise stays covered")
	require.False(t, ws.noteProgress(client.WatchUpdate{Events: []api.Event{put(6)}, Member: 2}))
	require.Empty(t, ws.stale)
	require.False(t, ws.noteProgress(client.WatchUpdate{Events: []api.Event{put(5), put(7)}, Member: 3}))
	require.Contains(t, ws.stale, "event at revision 5")
	require.Contains(t, ws.stale, "up to revision 5")
}
