package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

func TestTraceFilterBadValuesExit2(t *testing.T) {
	fakeSeeds(t, nil, nil)
	for _, args := range [][]string{
		{"-trace", "-trace-from", "soon"},
		{"-trace", "-trace-from", "-1s"},
		{"-trace", "-trace-to", "1"},
		{"-trace", "-trace-to", "0s"},
		{"-trace", "-trace-from", "2s", "-trace-to", "1s"},
		{"-trace", "-trace-from", "2s", "-trace-to", "2s"},
		{"-trace", "-trace-node", ""},
		{"-trace", "-trace-node", "0"},
		{"-trace", "-trace-node", "1,,2"},
		{"-trace", "-trace-node", "x"},
		{"-trace", "-trace-node", "-3"},
		{"-trace-node", "1"}, // selects lines of no trace
		{"-trace-from", "1s", "-json"},
	} {
		code, out, errOut := runArgs(args...)
		require.Equal(t, exitUsage, code, "%v", args)
		require.Empty(t, out, "%v", args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: %q", args, errOut)
		require.True(t, strings.HasPrefix(errOut, "simrun: -trace"), "%v: %q", args, errOut)
	}
}

func TestTraceFilterFlagsReachTheHarness(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want sim.TraceFilter
	}{
		{[]string{"-trace"}, sim.TraceFilter{}},
		{[]string{"-trace", "-trace-from", "1.5s"}, sim.TraceFilter{From: 1500 * time.Millisecond}},
		{[]string{"-out", "x", "-trace-to", "300ms"}, sim.TraceFilter{To: 300 * time.Millisecond}},
		{[]string{"-trace", "-trace-from", "1s", "-trace-to", "2s", "-trace-node", "3, 1001"},
			sim.TraceFilter{From: time.Second, To: 2 * time.Second, Nodes: []host.NodeID{3, 1001}}},
	} {
		o, err := parseArgs(tc.args)
		require.NoError(t, err, "%v", tc.args)
		require.Equal(t, tc.want, o.cfg.TraceFilter, "%v", tc.args)
		require.NotContains(t, o.replayCommand(1), "-trace", "a filter does not change the run")
	}
}

// checkTraceLines fails unless every line of text is a trace line within
// [from, to) at node or involving it (or a world event other than a timer).
func checkTraceLines(t *testing.T, text string, from, to time.Duration, node uint64) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 3, line)
		at, err := time.ParseDuration(f[0])
		require.NoError(t, err, line)
		require.True(t, at >= from && at < to, line)
		id := "node=" + strconv.FormatUint(node, 10)
		involved := f[1] == id || len(f) > 3 && (f[3] == "to="+strconv.FormatUint(node, 10) || f[3] == "from="+strconv.FormatUint(node, 10))
		require.True(t, involved || f[1] == "node=0" && f[2] != "timer", line)
		n++
	}
	return n
}

func TestTraceFiltersOnARealSeed(t *testing.T) {
	code, out, _ := runArgs("-seeds", "1", "-seed", "1", "-parallel", "1", "-trace", "-trace-from", "2s", "-trace-to", "2.5s", "-trace-node", "2")
	require.Equal(t, exitPass, code)
	_, trace, ok := strings.Cut(out, "== trace of seed 1\n")
	require.True(t, ok)
	trace, _, _ = strings.Cut(trace, "seed=1 verdict=")
	require.Greater(t, checkTraceLines(t, trace, 2*time.Second, 2500*time.Millisecond, 2), 10)
}

func TestTraceFiltersApplyToOutTrace(t *testing.T) {
	dir := t.TempDir()
	// A stale-read failure (see README, "A failing seed").
	code, _, _ := runArgs("-seeds", "1", "-seed", "1", "-parallel", "1", "-nodes", "5", "-faults", "partition", "-reads", "serializable",
		"-out", dir, "-trace-from", "3s", "-trace-to", "4s", "-trace-node", "1")
	require.Equal(t, exitFail, code, "seed 1 of -faults partition -reads serializable was a stale read: pick another failing seed")
	trace, err := os.ReadFile(filepath.Join(dir, "seed-1", "trace.txt"))
	require.NoError(t, err)
	require.Greater(t, checkTraceLines(t, string(trace), 3*time.Second, 4*time.Second, 1), 10)
}
