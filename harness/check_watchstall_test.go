package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// TestWatchStall: a stream accounts for a revision by an event at or past
// it or by a progress notification; an open stream below the replicas'
// revision is stalled, one that ended (an error) is not.
func TestWatchStall(t *testing.T) {
	put := func(rev int64) api.Event {
		return api.Event{Type: api.EventPut, KV: api.KeyValue{Key: []byte("/k/1"), ModRevision: rev}}
	}
	fresh := &watchStream{key: "/k/", start: 0}
	require.EqualValues(t, 0, fresh.position())

	byEvent := &watchStream{key: "/k/", start: 2}
	byEvent.noteProgress(client.WatchUpdate{Progress: 4, Member: 1})
	byEvent.events = append(byEvent.events, put(9))
	byEvent.members = append(byEvent.members, 1)
	require.EqualValues(t, 9, byEvent.position())

	byProgress := &watchStream{key: "/", start: 3}
	byProgress.events = append(byProgress.events, put(5))
	byProgress.noteProgress(client.WatchUpdate{Progress: 12, Member: 2})
	require.EqualValues(t, 12, byProgress.position())

	ended := &watchStream{key: "/", start: 1, err: api.ErrCompacted}

	ws := []*watchStream{byProgress, ended, byEvent}
	require.Equal(t, -1, stalledWatch(ws, 9), "every open stream is at 9 or past it")
	require.Equal(t, 2, stalledWatch(ws, 10), "the stream whose last event is at 9")
	require.Equal(t, 0, stalledWatch(ws, 13), "the first one behind")
	require.Equal(t, -1, stalledWatch([]*watchStream{ended}, 100), "an ended stream is not waited for")
	quiet := &watchStream{key: "/k/", start: 1}
	quiet.events = append(quiet.events, put(4))
	require.Equal(t, -1, stalledWatch([]*watchStream{quiet}, 10),
		"a stream that never had a progress notification cannot account for revisions outside its range")

	why := watchStallReason(2, byEvent, 3, 10, 7*time.Second, watchSettle)
	require.Contains(t, why, "watch stalled: watch 2")
	require.Contains(t, why, "up to revision 9")
	require.Contains(t, why, "from replica 1")
	require.Contains(t, why, "replica 3 was at revision 10")
}
