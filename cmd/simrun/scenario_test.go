package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonLine is the part of a -json line these tests read.
type jsonLine struct {
	Seed      uint64          `json:"seed"`
	Verdict   string          `json:"verdict"`
	TraceHash string          `json:"trace_hash"`
	Faults    []string        `json:"faults"`
	Scenario  json.RawMessage `json:"scenario"`
}

func oneJSONLine(t *testing.T, out string) jsonLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	var l jsonLine
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &l))
	return l
}

// TestScenarioFileRerunsSeed: the scenario a -json line prints, given back
// with -scenario, reruns the seed exactly; flags beside it override single
// fields.
func TestScenarioFileRerunsSeed(t *testing.T) {
	code, out, errOut := runArgs("-seeds", "1", "-seed", "11", "-json")
	require.Equal(t, exitPass, code, errOut)
	first := oneJSONLine(t, out)
	require.NotEmpty(t, first.Scenario)
	path := filepath.Join(t.TempDir(), "scenario.json")
	require.NoError(t, os.WriteFile(path, first.Scenario, 0o644))

	code, out, errOut = runArgs("-seeds", "1", "-seed", "11", "-json", "-scenario", path)
	require.Equal(t, exitPass, code, errOut)
	again := oneJSONLine(t, out)
	require.Equal(t, first.TraceHash, again.TraceHash)
	require.JSONEq(t, string(first.Scenario), string(again.Scenario))

	code, out, errOut = runArgs("-seeds", "1", "-seed", "11", "-json", "-scenario", path, "-nodes", "3", "-faults", "crash")
	require.Equal(t, exitPass, code, errOut)
	over := oneJSONLine(t, out)
	require.Equal(t, []string{"crash"}, over.Faults)
	var sc struct {
		Nodes int `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal(over.Scenario, &sc))
	require.Equal(t, 3, sc.Nodes)
}

// TestBadScenarioFileExits2: an unknown field or a value out of bounds is
// a usage error naming the field.
func TestBadScenarioFileExits2(t *testing.T) {
	fakeSeeds(t, nil, nil)
	dir := t.TempDir()
	for _, c := range []struct{ body, field string }{
		{`{"nodes":3,"colour":"red"}`, `"colour"`},
		{`{"net":{"loss":2}}`, "net.loss"},
		{`{"raft":{"max_inflight":0}}`, "raft.max_inflight"},
		{`{"faults":[{"name":"meteor","gap":"1s","hold":"1s"}]}`, "faults[0].name"},
		{`not json`, "scenario"},
	} {
		path := filepath.Join(dir, "s.json")
		require.NoError(t, os.WriteFile(path, []byte(c.body), 0o644))
		code, out, errOut := runArgs("-scenario", path)
		require.Equal(t, exitUsage, code, c.body)
		require.Empty(t, out)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, c.field, c.body)
	}
	code, _, errOut := runArgs("-scenario", filepath.Join(dir, "missing.json"))
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "missing.json")
	path := filepath.Join(dir, "ok.json")
	require.NoError(t, os.WriteFile(path, []byte(`{}`), 0o644))
	code, _, errOut = runArgs("-scenario", path, "-faults", "swarm")
	require.Equal(t, exitUsage, code, "swarm cannot override a fixed scenario")
	require.Contains(t, errOut, "-faults")
}
