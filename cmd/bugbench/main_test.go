package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seedkv/seedkv/bugbench"
	"github.com/stretchr/testify/require"
)

func TestParseArgsDefaults(t *testing.T) {
	o, err := parseArgs(nil)
	require.NoError(t, err)
	require.Equal(t, 1000, o.seeds)
	require.Equal(t, uint64(1), o.seed)
	require.Equal(t, 2, o.parallel)
	require.Len(t, o.bugs, len(bugbench.All()))
	require.False(t, o.all || o.unit || o.targeted || o.json || o.requireCaught)

	o, err = parseArgs([]string{"-seeds", "100", "-seed", "7", "-bugs", "mvcc-prevkv-self,raft-double-vote",
		"-flags", "-nodes 3 -faults crash", "-all", "-json"})
	require.NoError(t, err)
	require.Equal(t, 100, o.seeds)
	require.Equal(t, uint64(7), o.seed)
	require.Len(t, o.bugs, 2)
	require.Equal(t, []string{"-nodes", "3", "-faults", "crash"}, o.extra)
	require.True(t, o.all && o.json)
}

func TestBadUsageIsOneLineAndExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-seeds", "0"},
		{"-seeds", "x"},
		{"-seed", "0"},
		{"-parallel", "0"},
		{"-parallel", "99"},
		{"-timeout", "-1s"},
		{"-bugs", "no-such-bug"},
		{"-flags", "-seeds 5"},
		{"-flags", "-json"},
		{"-flags", "-corpus x"},
		{"-corpus", "x"},
		{"-nope"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		require.Equal(t, exitUsage, code, "args %q", args)
		require.Empty(t, stdout.String(), "args %q", args)
		require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "args %q: %q", args, stderr.String())
	}
}

func TestHelpAndList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-h"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "usage: bugbench")

	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"-list"}, &stdout, &stderr))
	for _, b := range bugbench.All() {
		require.Contains(t, stdout.String(), b.Name)
	}
}

func f(x float64) *float64 { return &x }

func TestMedianWithMisses(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want *float64
	}{
		{nil, nil},
		{[]float64{5}, f(5)},
		{[]float64{-1}, nil},
		{[]float64{9, 1, 3}, f(3)},
		{[]float64{9, 1, 3, 7}, f(5)},
		{[]float64{1, -1, -1}, nil},         // most missed: the median is a miss
		{[]float64{1, 2, -1}, f(2)},         // misses sort last
		{[]float64{1, 2, -1, -1}, nil},      // the upper middle is a miss
		{[]float64{4, 2, 8, -1, 1}, f(4)},   // 1 2 4 8 miss
		{[]float64{100, 1, 1, 1, -1}, f(1)}, // unsorted input
	} {
		got := medianWithMisses(tc.in)
		if tc.want == nil {
			require.Nil(t, got, "%v", tc.in)
			continue
		}
		require.NotNil(t, got, "%v", tc.in)
		require.Equal(t, *tc.want, *got, "%v", tc.in)
	}
}

func TestComputeScoreCountsFromFirstSeed(t *testing.T) {
	results := []bugResult{
		{Name: "a", Default: &simResult{Caught: true, First: 101}},
		{Name: "b", Default: &simResult{Caught: true, First: 110}, Unit: &unitResult{Caught: true}},
		{Name: "c", Default: &simResult{}, Targeted: &simResult{Caught: true, First: 150}},
		{Name: "d", Error: "build: broken"},
		{Name: "e", Default: &simResult{}, Equivalent: "cannot show"},
		{Name: "f", Default: &simResult{Caught: true, First: 100}, Equivalent: "argued wrongly"},
	}
	s := computeScore(results, 100)
	require.Equal(t, 2, s.Equivalent)
	require.Equal(t, 1, s.EquivalentCaught)
	require.Equal(t, 2, s.Caught)
	require.Equal(t, 3, s.Total)
	require.Equal(t, 1, s.Errors)
	require.Equal(t, 3, s.TargetedCaught)
	require.Equal(t, 1, s.UnitCaught)
	require.Equal(t, 11.0, *s.MedianFirst) // 2, 11, miss
	require.Equal(t, 6.5, *s.MedianFirstCaught)
}

// fakeMeasure replaces the measurement with canned results.
func fakeMeasure(t *testing.T, byName map[string]bugResult) {
	t.Helper()
	old := measureBug
	measureBug = func(o *options, b bugbench.Bug, _ io.Writer) bugResult {
		r := byName[b.Name]
		r.Name, r.Group, r.Package, r.Equivalent = b.Name, string(b.Group), b.Package(), b.Equivalent
		return r
	}
	t.Cleanup(func() { measureBug = old })
}

func TestRunReportsTableJSONAndExitStatus(t *testing.T) {
	all := bugbench.All()
	a, b := all[0].Name, all[1].Name
	fakeMeasure(t, map[string]bugResult{
		a: {Default: &simResult{Caught: true, First: 3, Failing: []uint64{3}, SeedsRun: 3, Reason: "linearizability: nope"}},
		b: {Default: &simResult{SeedsRun: 100, Failing: []uint64{}}},
	})
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	args := []string{"-root", root, "-bugs", a + "," + b, "-seeds", "100"}

	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(args, &stdout, &stderr))
	out := stdout.String()
	require.Contains(t, out, a)
	require.Contains(t, out, "linearizability: nope")
	require.Contains(t, out, "score: caught=1/2 median_first_failing_seed=>100 median_over_caught=3 seeds=100")
	require.Contains(t, stderr.String(), "[2/2")

	stdout.Reset()
	require.Equal(t, exitFail, run(append(args, "-require-caught"), &stdout, &stderr))

	stdout.Reset()
	require.Equal(t, exitOK, run(append(args, "-json"), &stdout, &stderr))
	var rep struct {
		Seeds int `json:"seeds"`
		Bugs  []struct {
			Bug     string `json:"bug"`
			Default struct {
				Caught bool   `json:"caught"`
				First  uint64 `json:"first_failing_seed"`
			} `json:"default"`
		} `json:"bugs"`
		Score struct {
			Caught int      `json:"caught"`
			Total  int      `json:"total"`
			Median *float64 `json:"median_first_failing_seed"`
		} `json:"score"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep))
	require.Equal(t, 100, rep.Seeds)
	require.Len(t, rep.Bugs, 2)
	require.Equal(t, a, rep.Bugs[0].Bug)
	require.True(t, rep.Bugs[0].Default.Caught)
	require.Equal(t, uint64(3), rep.Bugs[0].Default.First)
	require.Equal(t, 1, rep.Score.Caught)
	require.Nil(t, rep.Score.Median)
}

// TestRequireCaughtScoresEquivalentMutantsApart: a missed equivalent
// mutant does not fail -require-caught and is not in the total; one that
// is caught does fail it, since its argument no longer holds.
func TestRequireCaughtScoresEquivalentMutantsApart(t *testing.T) {
	const eq, real = "wal-release-unsynced-marker", "wal-sync-early"
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	args := []string{"-root", root, "-bugs", eq + "," + real, "-seeds", "100", "-require-caught"}
	caught := bugResult{Default: &simResult{Caught: true, First: 2, Failing: []uint64{2}, SeedsRun: 2}}
	missed := bugResult{Default: &simResult{SeedsRun: 100, Failing: []uint64{}}}

	fakeMeasure(t, map[string]bugResult{eq: missed, real: caught})
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(args, &stdout, &stderr))
	require.Contains(t, stdout.String(), "score: caught=1/1 ")
	require.Contains(t, stdout.String(), "equivalent=1 equivalent_caught=0")
	require.Contains(t, stdout.String(), "no (equivalent)")

	fakeMeasure(t, map[string]bugResult{eq: caught, real: caught})
	stdout.Reset()
	require.Equal(t, exitFail, run(args, &stdout, &stderr))
	require.Contains(t, stdout.String(), "equivalent=1 equivalent_caught=1")
}

func TestRunFailsOnAnUnmeasurableBug(t *testing.T) {
	name := bugbench.All()[0].Name
	fakeMeasure(t, map[string]bugResult{name: {Error: "build: syntax error"}})
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitFail, run([]string{"-root", root, "-bugs", name}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "ERROR")
	require.Contains(t, stdout.String(), "errors=1")
}

// fakeSimrun writes a shell script that prints the given lines, one per
// 10 ms, then exits with status code.
func fakeSimrun(t *testing.T, lines []string, code int) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, l := range lines {
		b.WriteString("printf '%s\\n' '" + l + "'\nsleep 0.01\n")
	}
	if code != 0 {
		b.WriteString("echo 'panic: boom' >&2\n")
	}
	b.WriteString("exit " + string(rune('0'+code)) + "\n")
	path := filepath.Join(t.TempDir(), "simrun")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o755))
	return path
}

func seedJSON(seed int, verdict, reason string) string {
	b, _ := json.Marshal(seedLine{Seed: uint64(seed), Verdict: verdict, Reason: reason})
	return string(b)
}

func TestRunSimStopsAtFirstFailureUnlessAll(t *testing.T) {
	lines := []string{
		seedJSON(1, "pass", ""),
		seedJSON(2, "unknown", "check budget"),
		seedJSON(3, "fail", "linearizability: bad\nmore detail"),
		seedJSON(4, "pass", ""),
		seedJSON(5, "fail", "watch: gap"),
	}
	bin := fakeSimrun(t, lines, 1)
	o := &options{seeds: 5, seed: 1, timeout: time.Minute}
	r := runSim(o, bin, nil)
	require.True(t, r.Caught)
	require.Equal(t, uint64(3), r.First)
	require.Equal(t, []uint64{3}, r.Failing)
	require.Equal(t, 3, r.SeedsRun)
	require.Equal(t, 1, r.Unknown)
	require.Equal(t, "linearizability: bad", r.Reason)

	o.all = true
	r = runSim(o, bin, nil)
	require.Equal(t, []uint64{3, 5}, r.Failing)
	require.Equal(t, 5, r.SeedsRun)
	require.Equal(t, uint64(3), r.First)
}

func TestRunSimCountsACrashAsCaught(t *testing.T) {
	bin := fakeSimrun(t, []string{seedJSON(1, "pass", ""), seedJSON(2, "pass", "")}, 2)
	r := runSim(&options{seeds: 10, seed: 1, timeout: time.Minute}, bin, nil)
	require.True(t, r.Caught)
	require.Equal(t, uint64(3), r.First)
	require.Equal(t, "simrun exited abnormally: panic: boom", r.Reason)

	bin = fakeSimrun(t, []string{seedJSON(1, "pass", ""), seedJSON(2, "pass", "")}, 0)
	r = runSim(&options{seeds: 2, seed: 1, timeout: time.Minute}, bin, nil)
	require.False(t, r.Caught)
	require.Equal(t, 2, r.SeedsRun)
}

func TestRunSimTimesOut(t *testing.T) {
	bin := fakeSimrun(t, []string{seedJSON(1, "pass", ""), seedJSON(2, "pass", ""), seedJSON(3, "pass", "")}, 0)
	r := runSim(&options{seeds: 3, seed: 1, timeout: 15 * time.Millisecond}, bin, nil)
	require.False(t, r.Caught)
	require.True(t, r.TimedOut)
}

func TestCopyModuleSkipsGit(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, ".git", "objects"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("ref"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "p"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module m\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "p", "a.go"), []byte("package p\n"), 0o644))
	files, err := walkFiles(src)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"go.mod", filepath.Join("p", "a.go")}, files)
	out := filepath.Join(dst, "copy")
	require.NoError(t, copyModule(src, out))
	got, err := os.ReadFile(filepath.Join(out, "p", "a.go"))
	require.NoError(t, err)
	require.Equal(t, "package p\n", string(got))
	_, err = os.Stat(filepath.Join(out, ".git"))
	require.True(t, os.IsNotExist(err))
}

func TestUnitReason(t *testing.T) {
	out := "=== RUN TestX\n    x_test.go:9: boom\n--- FAIL: TestX (0.00s)\nFAIL\n"
	require.Equal(t, "--- FAIL: TestX (0.00s)", unitReason(out))
	require.Equal(t, "panic: bad", unitReason("ok\npanic: bad\n"))
	require.Equal(t, "# pkg", unitReason("# pkg\nx.go:1: syntax error\n"))
}
