package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/stretchr/testify/require"
)

// fakeSeeds replaces the harness with a function of the seed: seeds in fail
// fail, seeds in unknown are unknown, the rest pass.
func fakeSeeds(t *testing.T, fail, unknown map[uint64]bool) {
	t.Helper()
	old := runSeed
	t.Cleanup(func() { runSeed = old })
	runSeed = func(cfg harness.Config, seed uint64) harness.Result {
		r := harness.Result{Seed: seed, Verdict: harness.Pass, TraceHash: seed * 31, Ops: 10,
			Virtual: cfg.Duration, Wall: time.Millisecond, Faults: []string{"crash"}}
		if cfg.TraceWriter != nil {
			cfg.TraceWriter.Write([]byte("event of seed\n"))
		}
		switch {
		case fail[seed]:
			r.Verdict, r.Reason = harness.Fail, "stale read\nsecond line"
		case unknown[seed]:
			r.Verdict, r.Reason = harness.Unknown, "check timed out"
		}
		if cfg.KeepArtifacts {
			r.Artifacts = &harness.Artifacts{Trace: []byte("trace\n"), History: []byte("history\n"), Visualization: []byte("<html>")}
		}
		return r
	}
}

func runArgs(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestBadUsageExits2WithOneLine(t *testing.T) {
	fakeSeeds(t, nil, nil)
	for _, args := range [][]string{
		{"-nope"},
		{"-seeds", "0"},
		{"-seeds", "-3"},
		{"-seeds", "x"},
		{"-seed", "18446744073709551615", "-seeds", "2"},
		{"-parallel", "0"},
		{"-nodes", "-1"},
		{"-nodes", "100"},
		{"-nodes", "52"},
		{"-clients", "-1"},
		{"-clients", "1001"},
		{"-duration", "ten"},
		{"-duration", "0s"},
		{"-faults", "crash,bogus"},
		{"-faults", ""},
		{"-reads", "stale"},
		{"-checker", "z3"},
		{"-workload", "queue"},
		{"-fencing", "maybe"},
		{"-shard", "0/2"},
		{"-shard", "3/2"},
		{"-shard", "1"},
		{"-shard", "a/b"},
		{"extra-argument"},
	} {
		code, out, errOut := runArgs(args...)
		require.Equal(t, exitUsage, code, "%v", args)
		require.Empty(t, out, "%v", args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: %q", args, errOut)
		require.True(t, strings.HasPrefix(errOut, "simrun: "), "%v: %q", args, errOut)
	}
}

func TestLockWorkloadReplay(t *testing.T) {
	code, out, _ := runArgs("-seeds", "10", "-parallel", "2", "-workload", "lock", "-fencing=false", "-faults", "pause,partition,clock-drift")
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "two holders: client ")
	require.Regexp(t, `replay: go run ./cmd/simrun -seeds 1 -seed \d+ -faults pause,partition,clock-drift -workload lock -fencing=false`, out)
}

func TestHelpExits0(t *testing.T) {
	code, _, errOut := runArgs("-h")
	require.Equal(t, exitPass, code)
	require.Contains(t, errOut, "-shard i/n")
}

func TestAllPassPrintsOnlyTheSummary(t *testing.T) {
	fakeSeeds(t, nil, nil)
	code, out, _ := runArgs("-seeds", "20", "-parallel", "3")
	require.Equal(t, exitPass, code)
	require.Equal(t, 1, strings.Count(out, "\n"), out)
	require.Regexp(t, `^seeds=20 passed=20 failed=0 unknown=0 virtual=200.0s wall=\S+s speedup=\d+\n$`, out)
}

func TestDefaultsRunAHundredSeeds(t *testing.T) {
	fakeSeeds(t, nil, nil)
	code, out, _ := runArgs()
	require.Equal(t, exitPass, code)
	require.True(t, strings.HasPrefix(out, "seeds=100 passed=100 "), out)
}

func TestFailingSeedPrintsReasonAndReplay(t *testing.T) {
	fakeSeeds(t, map[uint64]bool{7: true}, nil)
	code, out, _ := runArgs("-seeds", "10", "-nodes", "3", "-faults", "crash,partition", "-parallel", "4")
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "seed=7 verdict=fail")
	require.Contains(t, out, "  reason: stale read\n")
	require.NotContains(t, out, "second line")
	require.Contains(t, out, "  replay: go run ./cmd/simrun -seeds 1 -seed 7 -nodes 3 -faults crash,partition\n")
	require.Contains(t, out, "seeds=10 passed=9 failed=1 unknown=0 ")
}

func TestUnknownSeedExits1(t *testing.T) {
	fakeSeeds(t, nil, map[uint64]bool{3: true})
	code, out, _ := runArgs("-seeds", "5")
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "seeds=5 passed=4 failed=0 unknown=1 ")
}

func TestReplayOneSeedPrintsItsLineAndFullReason(t *testing.T) {
	fakeSeeds(t, map[uint64]bool{42: true}, nil)
	code, out, _ := runArgs("-seeds", "1", "-seed", "42", "-reads", "serializable")
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "seed=42 verdict=fail trace_hash=")
	require.Contains(t, out, "stale read\nsecond line")
	require.Contains(t, out, "replay: go run ./cmd/simrun -seeds 1 -seed 42 -reads serializable")
}

func TestJSONLinesInSeedOrder(t *testing.T) {
	fakeSeeds(t, map[uint64]bool{5: true}, map[uint64]bool{6: true})
	code, out, errOut := runArgs("-json", "-seeds", "40", "-seed", "3", "-parallel", "8")
	require.Equal(t, exitFail, code)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 40)
	for i, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		for _, k := range []string{"seed", "verdict", "reason", "trace_hash", "ops", "virtual_s", "wall_ms", "faults",
			"revision", "modified", "go_version", "flags", "scenario"} {
			require.Contains(t, rec, k)
		}
		require.Equal(t, float64(3+i), rec["seed"])
		require.Len(t, rec["trace_hash"], 16)
		require.Equal(t, runtime.Version(), rec["go_version"])
		require.Equal(t, []any{"-json", "-seeds", "40", "-seed", "3", "-parallel", "8"}, rec["flags"])
		require.NotEmpty(t, rec["revision"])
	}
	require.Contains(t, lines[2], `"verdict":"fail"`)
	require.Contains(t, lines[2], `"replay":"go run ./cmd/simrun -seeds 1 -seed 5"`)
	require.Contains(t, lines[3], `"verdict":"unknown"`)
	require.Contains(t, errOut, "seeds=40 passed=38 failed=1 unknown=1 ")
}

func TestShardsPartitionTheSeeds(t *testing.T) {
	fakeSeeds(t, nil, nil)
	seen := map[float64]int{}
	for i := 1; i <= 3; i++ {
		_, out, _ := runArgs("-json", "-seeds", "10", "-shard", []string{"", "1/3", "2/3", "3/3"}[i])
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec))
			seen[rec["seed"].(float64)]++
		}
	}
	require.Len(t, seen, 10)
	for s, n := range seen {
		require.Equal(t, 1, n, "seed %v", s)
	}
}

func TestOutWritesArtifactsOfFailingSeeds(t *testing.T) {
	fakeSeeds(t, map[uint64]bool{2: true}, nil)
	dir := t.TempDir()
	code, out, _ := runArgs("-seeds", "3", "-out", dir)
	require.Equal(t, exitFail, code)
	seedDir := filepath.Join(dir, "seed-2")
	require.Contains(t, out, "artifacts: "+seedDir)
	for _, f := range []string{"summary.txt", "trace.txt", "history.txt", "history.html", "report.html"} {
		_, err := os.Stat(filepath.Join(seedDir, f))
		require.NoError(t, err, f)
	}
	summary, err := os.ReadFile(filepath.Join(seedDir, "summary.txt"))
	require.NoError(t, err)
	require.Contains(t, string(summary), "replay: go run ./cmd/simrun -seeds 1 -seed 2")
	require.Contains(t, string(summary), "\ngo: "+runtime.Version()+"\n")
	require.Contains(t, string(summary), "\nflags: -seeds 3 -out "+dir+"\n")
	require.Regexp(t, `\nrevision: (unknown|[0-9a-f]{40}( \(modified\))?)\n`, string(summary))
	page, err := os.ReadFile(filepath.Join(seedDir, "report.html"))
	require.NoError(t, err)
	require.Contains(t, string(page), `href="history.html"`)
	require.Contains(t, string(page), "stale read")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only failing seeds leave artifacts")
}

func TestTracePrintedPerSeed(t *testing.T) {
	fakeSeeds(t, nil, nil)
	code, out, _ := runArgs("-seeds", "3", "-trace")
	require.Equal(t, exitPass, code)
	require.Equal(t, 3, strings.Count(out, "event of seed\n"))
	require.Less(t, strings.Index(out, "== trace of seed 1"), strings.Index(out, "== trace of seed 2"))
}

func TestNondeterministicReplayIsReported(t *testing.T) {
	fakeSeeds(t, map[uint64]bool{1: true}, nil)
	inner := runSeed
	calls := 0
	runSeed = func(cfg harness.Config, seed uint64) harness.Result {
		calls++
		r := inner(cfg, seed)
		r.TraceHash += uint64(calls)
		return r
	}
	_, out, _ := runArgs("-seeds", "1", "-out", t.TempDir())
	require.Contains(t, out, "NONDETERMINISM")
}

func TestEmptyShardRunsNothing(t *testing.T) {
	fakeSeeds(t, nil, nil)
	code, out, _ := runArgs("-seeds", "1", "-shard", "2/3")
	require.Equal(t, exitPass, code)
	require.True(t, strings.HasPrefix(out, "seeds=0 passed=0 "), out)
}
