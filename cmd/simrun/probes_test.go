package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/probe"
	"github.com/stretchr/testify/require"
)

// fakeProbes makes every seed pass, hitting the probes named by hits.
func fakeProbes(t *testing.T, hits func(seed uint64) []string) {
	t.Helper()
	old := runSeed
	t.Cleanup(func() { runSeed = old })
	runSeed = func(cfg harness.Config, seed uint64) harness.Result {
		require.True(t, cfg.Probes, "simrun collects probes")
		r := harness.Result{Seed: seed, Verdict: harness.Pass, Probes: map[string]uint32{}}
		for _, h := range hits(seed) {
			r.Probes[h]++
		}
		return r
	}
}

func TestProbesReportCountsSeedsAndFirstSeed(t *testing.T) {
	all := probe.All()
	require.GreaterOrEqual(t, len(all), 40)
	a, b := all[0].Name, all[1].Name
	fakeProbes(t, func(seed uint64) []string {
		if seed%2 == 0 {
			return []string{a, b}
		}
		return []string{a}
	})
	code, out, _ := runArgs("-seeds", "5", "-seed", "3", "-probes", "-parallel", "2")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^`+a+` +5 +3  `, out)
	require.Regexp(t, `(?m)^`+b+` +2 +4  `, out)
	require.Contains(t, out, "missed="+itoa(len(all)-2))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRequireProbesFailsOnAMissedProbe(t *testing.T) {
	all := probe.All()
	fakeProbes(t, func(uint64) []string {
		var names []string
		for _, p := range all[1:] {
			names = append(names, p.Name)
		}
		return names
	})
	code, _, errOut := runArgs("-seeds", "2", "-require-probes")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "1 probes never reached: "+all[0].Name)
	fakeProbes(t, func(uint64) []string {
		var names []string
		for _, p := range all {
			names = append(names, p.Name)
		}
		return names
	})
	code, _, _ = runArgs("-seeds", "2", "-require-probes")
	require.Equal(t, 0, code)
}

func TestJSONLineCarriesProbes(t *testing.T) {
	fakeProbes(t, func(uint64) []string { return []string{"raft/became-leader", "raft/became-leader"} })
	code, out, _ := runArgs("-seeds", "1", "-json")
	require.Equal(t, 0, code)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &rec))
	require.Equal(t, map[string]any{"raft/became-leader": 2.0}, rec["probes"])
}

func TestExploreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-budget", "10"},
		{"-corpus", "x"},
		{"-explore", "-budget", "0"},
		{"-explore", "-budget", "soon"},
		{"-explore", "-budget", "-3m"},
		{"-explore", "-seeds", "3"},
		{"-explore", "-scenario", "f.json"},
	} {
		code, out, errOut := runArgs(args...)
		require.Equal(t, 2, code, "%v: %s", args, out)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: %q", args, errOut)
	}
}

// TestExploreWritesCorpusAndReplaysFailures runs a tiny real exploration:
// the corpus lands in the directory, and a second exploration resumes it.
func TestExploreWritesCorpus(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runArgs("-explore", "-budget", "4", "-duration", "1s", "-parallel", "2", "-corpus", dir)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "explore: search_seed=1 runs=4")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.Contains(t, string(b), `"scenario"`)
	code, out, _ = runArgs("-explore", "-budget", "2", "-duration", "1s", "-corpus", dir)
	require.Equal(t, 0, code, out)
}
