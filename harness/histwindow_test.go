package harness

import (
	"strings"
	"testing"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
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

// A timed-out write is fenced only by a later acknowledged put of its own
// client issued with a FinishedBelow watermark above its request ID, and
// only while the write log has not settled it.
func TestFenceNeedsTheWatermarkPastTheWrite(t *testing.T) {
	hw := &histWindow{puts: map[string]int{"c1.1": 10, "c1.2": 11}}
	c, other := &workClient{id: 1}, &workClient{id: 2}
	hw.open = map[int][]timedOutWrite{1: {{id: 10, reqID: 5, value: "c1.1"}, {id: 11, reqID: 6, value: "c1.2"}}}
	hw.fence(other, 100, 50) // another client's put says nothing of these
	require.Empty(t, hw.fenced)
	hw.fence(c, 5, 60) // issued while request 5 was still open
	require.Empty(t, hw.fenced)
	hw.fence(c, 6, 70)
	require.Equal(t, []timedOutWrite{{id: 10, reqID: 5, value: "c1.1", rev: 70}}, hw.fenced)
	require.Len(t, hw.open[1], 1)
	delete(hw.puts, "c1.2") // the write log showed it meanwhile
	hw.fence(c, 9, 80)
	require.Len(t, hw.fenced, 1)
	require.Empty(t, hw.open)
}

// A long run settles most of its timed-out writes early, with the verdict,
// reason, checks and trace hash of the whole history; and a write settled
// early that shows in the write log after all makes the window undecided
// (the run is then checked again with the whole history).
func TestFencedWritesSettleEarly(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Duration = 90 * time.Second
	r, err := newSeedRun(cfg, 1)
	require.NoError(t, err)
	r.windowMode = windowAuto
	var res Result
	r.run(&res)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	hw := r.window
	require.NotNil(t, hw)
	require.Greater(t, len(hw.early), len(hw.puts), "most timed-out writes are settled early")
	whole := runMode(cfg, 1, windowOff)
	require.Equal(t, whole.Verdict, res.Verdict)
	require.Equal(t, whole.Reason, res.Reason)
	require.Equal(t, whole.TraceHash, res.TraceHash)
	require.Equal(t, whole.Checks, res.Checks)

	// The same run, with the value of a write settled early put into
	// the final write log after everything else.
	r, err = newSeedRun(cfg, 1)
	require.NoError(t, err)
	r.windowMode = windowAuto
	var late string
	r.run(&Result{})
	for v := range r.window.early { // any one will do
		late = v
		break
	}
	require.NotEmpty(t, late)
	require.Empty(t, r.window.w.Undecided())
	r.window.lateEffects([]lin.LogEntry{{Revision: 1 << 40, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: late}}}})
	require.Contains(t, r.window.w.Undecided(), "settled as no effect")
}

// A failing windowed run whose window decided the history is
// linearizable, and whose failing checks read no history, keeps its
// result instead of running again with the whole history; that result is
// the whole-history run's (verdict, reason, every check, trace hash, ops).
// Other failing windowed runs are run again, as before.
func TestFailingWindowedRunsKeepTheWholeHistoryOutcome(t *testing.T) {
	requireNode(t)
	liars := testConfig()
	liars.Faults = "none"
	liars.ObservedCluster = liarCluster(4, 5)
	lost := testConfig()
	lost.Faults = "lose-synced"
	stood, failed := 0, 0
	for _, cfg := range []Config{liars, lost} {
		for seed := uint64(1); seed <= 25; seed++ {
			whole := runMode(cfg, seed, windowOff)
			win := runMode(cfg, seed, windowAlways)
			require.Equal(t, whole.Verdict, win.Verdict, "seed %d: %s / %s", seed, whole.Reason, win.Reason)
			require.Equal(t, whole.Reason, win.Reason, "seed %d", seed)
			require.Equal(t, whole.Checks, win.Checks, "seed %d", seed)
			require.Equal(t, whole.TraceHash, win.TraceHash, "seed %d", seed)
			require.Equal(t, whole.Ops, win.Ops, "seed %d", seed)
			require.Equal(t, whole.Witness, win.Witness, "seed %d", seed)
			if whole.Verdict != Pass {
				failed++
				if strings.HasPrefix(win.window, "decided") {
					stood++
					require.True(t, windowOutcomeStands(&win))
				}
			}
		}
	}
	t.Logf("%d failing seeds, %d of them kept the window's result", failed, stood)
	require.Positive(t, stood, "some failing seeds are decided in the window")
}
