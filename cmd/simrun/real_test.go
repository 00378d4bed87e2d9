package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRealSeedsPass runs a few real seeds end to end (no fake harness).
func TestRealSeedsPass(t *testing.T) {
	code, out, errOut := runArgs("-seeds", "3", "-faults", "crash,partition")
	require.Equal(t, exitPass, code, out+errOut)
	require.True(t, strings.HasPrefix(out, "seeds=3 passed=3 failed=0 unknown=0 "), out)
}

// TestRealStaleReadLeavesArtifacts finds a stale read with serializable
// reads under partitions and checks the artifacts it leaves.
func TestRealStaleReadLeavesArtifacts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs fifteen seeds, a few of which fail")
	}
	dir := t.TempDir()
	code, out, _ := runArgs("-seeds", "15", "-nodes", "5", "-reads", "serializable", "-faults", "partition", "-out", dir, "-json")
	require.Equal(t, exitFail, code)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	seedDir := filepath.Join(dir, entries[0].Name())
	for _, f := range []string{"summary.txt", "trace.txt", "history.txt", "history.html"} {
		st, err := os.Stat(filepath.Join(seedDir, f))
		require.NoError(t, err, f)
		require.Positive(t, st.Size(), f)
	}
	html, err := os.ReadFile(filepath.Join(seedDir, "history.html"))
	require.NoError(t, err)
	require.Contains(t, string(html), "fault: partition", "the visualisation shows the faults")
	require.Contains(t, out, `"replay":"go run ./cmd/simrun -seeds 1 -seed `)
	require.NotContains(t, out, "NONDETERMINISM", "the artifact run must replay the failing run exactly")
}
