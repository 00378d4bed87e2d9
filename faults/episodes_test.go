package faults

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runSpecs runs the nemesis with specs on a 5-node cluster for d and
// returns its episode log and the number of crash injections traced.
func runSpecs(t *testing.T, seed uint64, specs []Spec, d time.Duration) ([]FaultSchedule, int, uint64) {
	t.Helper()
	w, ids := newCluster(t, seed, 5)
	var trace bytes.Buffer
	w.SetTraceWriter(&trace)
	n, err := NewFromSpecs(w, ids, specs, w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(d))
	w.RunFor(d)
	return n.Schedule(), strings.Count(trace.String(), "fault/crash"), w.TraceHash()
}

// TestEpisodeSkipAndCap: skipped episodes keep their slot but inject
// nothing, the cap stops the schedule, and the log says which episodes
// were injected.
func TestEpisodeSkipAndCap(t *testing.T) {
	spec := Spec{Name: Crash, Gap: Duration(100 * time.Millisecond), Hold: Duration(50 * time.Millisecond)}
	all, crashes, _ := runSpecs(t, 3, []Spec{spec}, 3*time.Second)
	require.Len(t, all, 1)
	require.Equal(t, Crash, all[0].Name)
	require.Greater(t, all[0].Begun, 8)
	require.Len(t, all[0].Injected, all[0].Begun, "crash is never refused with one fault on 5 nodes")
	require.GreaterOrEqual(t, crashes, all[0].Begun, "each injection crashes one or two replicas")

	capped := spec
	capped.MaxEpisodes, capped.Skip = 6, []int{0, 2, 3}
	got, crashes, _ := runSpecs(t, 3, []Spec{capped}, 3*time.Second)
	require.Equal(t, 6, got[0].Begun)
	require.Equal(t, []int{1, 4, 5}, got[0].Injected)
	require.GreaterOrEqual(t, crashes, 3)
	require.LessOrEqual(t, crashes, 6, "at most two replicas of five per injection")
}

// TestEpisodeFieldsZeroKeepRuns: a spec whose cap is at least the
// episodes that begin, with no skips, is the same run as one without.
func TestEpisodeFieldsZeroKeepRuns(t *testing.T) {
	spec := Spec{Name: Crash, Gap: Duration(100 * time.Millisecond), Hold: Duration(50 * time.Millisecond)}
	log, _, hash := runSpecs(t, 5, []Spec{spec}, 2*time.Second)
	spec.MaxEpisodes = log[0].Begun + 1
	_, _, again := runSpecs(t, 5, []Spec{spec}, 2*time.Second)
	require.Equal(t, hash, again)
	spec.MaxEpisodes = log[0].Begun - 1
	_, _, fewer := runSpecs(t, 5, []Spec{spec}, 2*time.Second)
	require.NotEqual(t, hash, fewer)
}

func TestEpisodeFieldsValidate(t *testing.T) {
	base := Spec{Name: Crash, Gap: Duration(100 * time.Millisecond), Hold: Duration(50 * time.Millisecond)}
	for _, tc := range []struct {
		max  int
		skip []int
		err  string
	}{
		{0, nil, ""},
		{3, []int{0, 2}, ""},
		{-1, nil, "max_episodes"},
		{MaxEpisodeIndex + 1, nil, "max_episodes"},
		{0, []int{-1}, "skip[0]"},
		{0, []int{MaxEpisodeIndex}, "skip[0]"},
		{0, []int{1, 1}, "skip[1]"},
		{0, []int{3, 2}, "skip[1]"},
	} {
		s := base
		s.MaxEpisodes, s.Skip = tc.max, tc.skip
		err := s.Validate("faults[0]")
		if tc.err == "" {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, ErrBadSpec)
		require.Contains(t, err.Error(), "faults[0]."+tc.err)
	}
}
