package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFailureSignature(t *testing.T) {
	lin := func(op, client, rev int, at string) string {
		return fmt.Sprintf("linearizability: op %d (client %d, put(/k/%d, c%d.%d) -> rev %d) returned at %s", op, client, client, client, op, rev, at)
	}
	for _, tc := range []struct {
		name   string
		a, b   string
		fa, fb []string
		va, vb string
		same   bool
	}{
		{"numbers and durations differ", lin(1104, 3, 258, "8.08s"), lin(544, 14, 156, "350ms"), nil, nil, "fail", "fail", true},
		{"hex hashes differ", "replay gave trace hash 00ab12cd34ef5678", "replay gave trace hash ffee000011112222", nil, nil, "fail", "fail", true},
		{"0x ids differ", "entry 0x1f at node 0xa", "entry 0x2 at node 0xbeef", nil, nil, "fail", "fail", true},
		{"later lines ignored", "liveness: no leader\nnode 1 term 4", "liveness: no leader\nnode 3 term 9", nil, nil, "fail", "fail", true},
		{"fault order ignored", "x", "x", []string{"crash", "partition"}, []string{"partition", "crash"}, "fail", "fail", true},
		{"different reason", "liveness: no leader", "convergence: replica 2 differs", nil, nil, "fail", "fail", false},
		{"different words kept", "get(/k/1) stale", "put(/k/1) stale", nil, nil, "fail", "fail", false},
		{"different faults", "x", "x", []string{"crash"}, []string{"partition"}, "fail", "fail", false},
		{"fail vs unknown", "x", "x", nil, nil, "fail", "unknown", false},
		{"word without digits kept", "lost deadbeef", "lost cafebabe", nil, nil, "fail", "fail", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := failureSignature(tc.va, tc.a, tc.fa), failureSignature(tc.vb, tc.b, tc.fb)
			if tc.same {
				require.Equal(t, a, b)
			} else {
				require.NotEqual(t, a, b)
			}
		})
	}
}

// writeFile writes lines into a file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return p
}

func TestMergeBadInputExits2NamingFileAndLine(t *testing.T) {
	dir := t.TempDir()
	good := `{"seed":1,"verdict":"pass","trace_hash":"01","virtual_s":10,"wall_ms":5,"faults":[]}`
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"not json", []string{good, "", "seeds=3 passed=3"}, "bad.json:3: not a simrun -json line"},
		{"truncated", []string{`{"seed":1,"verd`}, "bad.json:1: not a simrun -json line"},
		{"no seed", []string{good, `{"verdict":"pass"}`}, `bad.json:2: no "seed"`},
		{"bad verdict", []string{`{"seed":2,"verdict":"maybe"}`}, `bad.json:1: verdict "maybe"`},
		{"no verdict", []string{`{"seed":2}`}, `bad.json:1: verdict ""`},
		{"seed not a number", []string{`{"seed":"x","verdict":"pass"}`}, "bad.json:1: not a simrun -json line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.json", tc.lines...)
			code, out, errOut := runArgs("-merge", p)
			require.Equal(t, exitUsage, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tc.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		code, _, errOut := runArgs("-merge", filepath.Join(dir, "nope.json"))
		require.Equal(t, exitUsage, code)
		require.Contains(t, errOut, "nope.json")
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	})
	t.Run("no files", func(t *testing.T) {
		code, _, errOut := runArgs("-merge")
		require.Equal(t, exitUsage, code)
		require.Contains(t, errOut, "no files")
	})
}

func TestMergeFoldsShardsAndGroupsSignatures(t *testing.T) {
	dir := t.TempDir()
	rec := func(seed int, verdict, reason, faults, replay string) string {
		return fmt.Sprintf(`{"seed":%d,"verdict":%q,"reason":%q,"trace_hash":"%016x","virtual_s":10,"wall_ms":500,"faults":[%s],"replay":%q}`,
			seed, verdict, reason, seed*7, faults, replay)
	}
	a := writeFile(t, dir, "a.json",
		rec(1, "pass", "", "", ""),
		rec(3, "fail", "liveness: no leader for 2.5s after heal (node 4)", `"crash"`, "go run ./cmd/simrun -seeds 1 -seed 3 -nodes 3"),
		rec(5, "fail", "convergence: replica 2 applied 10 < commit 12", `"crash"`, "replay 5"),
	)
	b := writeFile(t, dir, "b.json",
		rec(2, "fail", "liveness: no leader for 1.0s after heal (node 1)", `"crash"`, "replay 2"),
		"",
		rec(4, "unknown", "check timed out after 100 steps", "", "replay 4"),
		rec(6, "fail", "liveness: no leader for 3s after heal (node 2)", `"crash"`, "replay 6"),
	)
	code, out, errOut := runArgs("-merge", a, b, a) // a twice: counted once
	require.Equal(t, exitFail, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, []string{
		"signature 1: 3 seeds (2,3,6) verdict=fail faults=crash",
		"  reason: liveness: no leader for 1.0s after heal (node 1)",
		"  replay: replay 2",
		"signature 2: 1 seeds (4) verdict=unknown faults=none",
		"  reason: check timed out after 100 steps",
		"  replay: replay 4",
		"signature 3: 1 seeds (5) verdict=fail faults=crash",
		"  reason: convergence: replica 2 applied 10 < commit 12",
		"  replay: replay 5",
	}, lines[:9])
	require.Equal(t, "seeds=6 passed=1 failed=4 unknown=1 virtual=60.0s wall=3.000s speedup=20 signatures=3", lines[9])

	pass := writeFile(t, dir, "pass.json", rec(1, "pass", "", "", ""), rec(2, "pass", "", "", ""))
	code, out, _ = runArgs("-merge", pass)
	require.Equal(t, exitPass, code)
	require.Equal(t, "seeds=2 passed=2 failed=0 unknown=0 virtual=20.0s wall=1.000s speedup=20 signatures=0\n", out)
}

// TestMergeRealShards merges the -json lines of two real shards of a
// sweep with stale reads (serializable reads under partitions, as
// TestRealStaleReadLeavesArtifacts): the merged counts are the shards'
// own, and every signature names its seeds and the command replaying the
// first of them.
func TestMergeRealShards(t *testing.T) {
	dir := t.TempDir()
	var files []string
	failed := 0
	for _, shard := range []string{"1/2", "2/2"} {
		code, out, errOut := runArgs("-seeds", "6", "-shard", shard, "-parallel", "2", "-nodes", "5", "-reads", "serializable", "-faults", "partition", "-json")
		require.Equal(t, exitFail, code, errOut)
		failed += strings.Count(out, `"verdict":"fail"`)
		p := filepath.Join(dir, "shard"+shard[:1]+".json")
		require.NoError(t, os.WriteFile(p, []byte(out), 0o644))
		files = append(files, p)
	}
	code, out, errOut := runArgs(append([]string{"-merge"}, files...)...)
	require.Equal(t, exitFail, code, errOut)
	require.Contains(t, out, fmt.Sprintf("seeds=6 passed=%d failed=%d unknown=0 ", 6-failed, failed))
	sigs := regexp.MustCompile(`(?m)^signature \d+: (\d+) seeds \(([\d,]+)\) verdict=fail faults=partition\n  reason: linearizability: .*\n  replay: go run ./cmd/simrun -seeds 1 -seed (\d+) -nodes 5 -faults partition -reads serializable\n`).FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, sigs, out)
	inSigs := 0
	for _, m := range sigs {
		n, _ := strconv.Atoi(m[1])
		require.Len(t, strings.Split(m[2], ","), n, m[0])
		require.Equal(t, strings.Split(m[2], ",")[0], m[3], "replays the first seed: %s", m[0])
		inSigs += n
	}
	require.Equal(t, failed, inSigs, out)
	require.Contains(t, out, fmt.Sprintf("signatures=%d\n", len(sigs)))
}

// TestMergeNamesTheBuilds: the shards' build is named once; shards of
// different builds are flagged, with their seed counts.
func TestMergeNamesTheBuilds(t *testing.T) {
	dir := t.TempDir()
	rec := func(seed int, rev string, modified bool) string {
		return fmt.Sprintf(`{"seed":%d,"verdict":"pass","trace_hash":"%016x","virtual_s":10,"wall_ms":500,"faults":[],"revision":%q,"modified":%v,"go_version":"go1.26.8"}`,
			seed, seed, rev, modified)
	}
	a := writeFile(t, dir, "a.json", rec(1, "abc", false), rec(2, "abc", false))
	b := writeFile(t, dir, "b.json", rec(3, "abc", false))
	_, out, _ := runArgs("-merge", a, b)
	require.Equal(t, "build: abc go1.26.8\nseeds=3 passed=3 failed=0 unknown=0 virtual=30.0s wall=1.500s speedup=20 signatures=0\n", out)

	c := writeFile(t, dir, "c.json", rec(4, "def", false), rec(5, "abc", true))
	_, out, _ = runArgs("-merge", a, c)
	require.Contains(t, out, "builds: 3 differ, replay each seed on its own: abc (modified) go1.26.8 (1 seeds); abc go1.26.8 (2 seeds); def go1.26.8 (1 seeds)\n")
}
