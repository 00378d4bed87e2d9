package faults

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSyncErrorFailsOneSyncThenRestarts: each disk-sync-error episode
// fails at most one fsync of one replica, booked down from the start, and
// crashes and restarts that replica at the end; the schedule ends with
// every replica up.
func TestSyncErrorFailsOneSyncThenRestarts(t *testing.T) {
	var trace bytes.Buffer
	w, n, _ := runNemesis(t, 9, 5, Of(DiskSyncError), 8*time.Second, &trace)
	w.RunFor(9 * time.Second)
	failed, exits, fails := 0, 0, 0
	for _, l := range strings.Split(trace.String(), "\n") {
		switch {
		case strings.Contains(l, "fault/"+DiskSyncError+"/exit"):
			exits++
		case strings.Contains(l, "fault/"+DiskSyncError):
			failed++
		case strings.Contains(l, " sync-failed "):
			fails++
		}
	}
	require.Positive(t, failed, "no fsync failed in 8s")
	require.Equal(t, failed, exits, "every replica whose fsync failed is crashed and restarted")
	require.Equal(t, failed, fails, "one failed sync per episode (writer syncs one at a time)")
	require.Empty(t, n.Down())
	for _, id := range w.Nodes() {
		require.True(t, w.Alive(id))
	}
	episodes := n.Episodes()
	require.NotEmpty(t, episodes)
	for _, e := range episodes {
		require.Equal(t, DiskSyncError, e.Name)
	}
}

// TestSyncErrorBooksVictimDown: a replica whose fsync failed counts
// against the crash budget until it is restarted, so the nemesis never
// has a majority down with crashes beside it.
func TestSyncErrorBooksVictimDown(t *testing.T) {
	w, ids := newCluster(t, 10, 3)
	failures := 0
	w.SetTraceWriter(writerFunc(func(p []byte) {
		if strings.Contains(string(p), "fault/"+DiskSyncError+" ") {
			failures++
		}
	}))
	n, err := New(w, ids, Of(DiskSyncError, Crash), w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(8*time.Second))
	worst, downAfterFailure := 0, 0
	lines := 0
	var probe func()
	probe = func() {
		worst = max(worst, len(n.Unavailable()))
		if failures > lines {
			lines = failures
			if len(n.Down()) > 0 {
				downAfterFailure++
			}
		}
		w.Schedule(time.Millisecond, probe)
	}
	w.Schedule(0, probe)
	w.RunFor(9 * time.Second)
	require.Equal(t, 1, worst, "3 replicas: at most one down")
	require.Positive(t, lines, "no fsync failed")
	require.Equal(t, lines, downAfterFailure, "a failed fsync books its replica down")
}
