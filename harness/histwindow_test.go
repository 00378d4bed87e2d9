package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// windowSeeds is how many default seeds TestWindowMatchesWholeHistory runs.
const windowSeeds = 40

// TestWindowMatchesWholeHistory: default seeds checked in a window (forced,
// though they are short) give the verdict, reason, checks and trace hash
// they give with the whole history kept; most are decided by the window
// itself (the rest were run again whole).
func TestWindowMatchesWholeHistory(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	decided, windowed := 0, 0
	for seed := uint64(1); seed <= windowSeeds; seed++ {
		whole := runMode(cfg, seed, windowOff)
		win := runMode(cfg, seed, windowAlways)
		require.Empty(t, whole.window)
		require.Equal(t, whole.Verdict, win.Verdict, "seed %d: %s / %s (%s)", seed, whole.Reason, win.Reason, win.window)
		require.Equal(t, whole.Reason, win.Reason, "seed %d", seed)
		require.Equal(t, whole.TraceHash, win.TraceHash, "seed %d", seed)
		require.Equal(t, whole.Ops, win.Ops, "seed %d", seed)
		require.Equal(t, whole.Checks, win.Checks, "seed %d", seed)
		if win.window != "" {
			windowed++
		}
		if strings.HasPrefix(win.window, "decided") {
			decided++
		} else if win.window != "" {
			t.Logf("seed %d: %s", seed, win.window)
		}
	}
	t.Logf("%d of %d seeds checked in a window, %d decided there", windowed, windowSeeds, decided)
	require.Positive(t, decided)
}

// TestWindowNotForArtifacts: a run that keeps artifacts, or checks with
// porcupine, keeps the whole history.
func TestWindowNotForArtifacts(t *testing.T) {
	requireNode(t)
	for _, cfg := range []Config{
		func() Config { c := testConfig(); c.KeepArtifacts = true; return c }(),
		func() Config { c := testConfig(); c.Checker = CheckBoth; return c }(),
	} {
		res := runMode(cfg, 3, windowAlways)
		require.Empty(t, res.window)
		require.False(t, strings.Contains(string(res.Verdict), "window"))
	}
}

// TestWindowLongRun: a run of five virtual minutes is checked in a window
// (by default, being long), decided there, letting go of most of its
// history as it runs, with the verdict and trace hash of the whole run.
func TestWindowLongRun(t *testing.T) {
	requireNode(t)
	if testing.Short() {
		t.Skip("a long run")
	}
	cfg := testConfig()
	cfg.Duration = 5 * time.Minute
	win := Run(cfg, 1)
	whole := runMode(cfg, 1, windowOff)
	t.Logf("%s", win.window)
	require.True(t, strings.HasPrefix(win.window, "decided"), win.window)
	require.Equal(t, whole.Verdict, win.Verdict)
	require.Equal(t, whole.Reason, win.Reason)
	require.Equal(t, whole.TraceHash, win.TraceHash)
	require.Equal(t, whole.Checks, win.Checks)
}
