package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShrinkWritesReplayableScenario: -shrink on a real failing seed (a
// majority losing fsynced data, beyond the model) writes a scenario file
// that a plain -scenario run replays with the shrinker's trace hash and
// reason, and prints smaller sizes.
func TestShrinkWritesReplayableScenario(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runArgs("-shrink", "-seed", "3", "-nodes", "3", "-faults", "lose-synced,crash", "-budget", "150", "-out", dir, "-json")
	require.Equal(t, exitPass, code, errOut)
	var rec shrinkRecord
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &rec))
	require.True(t, rec.Verified)
	require.Equal(t, "lost synced data", rec.Class)
	require.LessOrEqual(t, rec.Runs, 150)
	require.Less(t, rec.After.Events, rec.Before.Events)
	require.Less(t, rec.After.Ops, rec.Before.Ops)
	require.Contains(t, rec.Replay, "-scenario "+rec.File)
	require.NotContains(t, rec.Replay, "-nodes", "the file holds the cluster size; -nodes would override it")
	require.Contains(t, errOut, "simrun: shrink: ", "accepted steps are logged")

	code, out, errOut = runArgs("-scenario", rec.File, "-seed", "3", "-seeds", "1", "-json")
	require.Equal(t, exitFail, code, errOut)
	var again struct {
		TraceHash string `json:"trace_hash"`
		Reason    string `json:"reason"`
		Ops       int    `json:"ops"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &again))
	require.Equal(t, rec.TraceHash, again.TraceHash)
	require.Equal(t, rec.Reason, reasonLine(again.Reason))
	require.Equal(t, rec.After.Ops, again.Ops)

	code, out, _ = runArgs("-shrink", "-seed", "3", "-nodes", "3", "-faults", "lose-synced,crash", "-budget", "150", "-out", dir)
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "before: events=")
	require.Contains(t, out, "after:  events=")
}

// TestShrinkPassingSeedExits1: a seed that passes has nothing to shrink.
func TestShrinkPassingSeedExits1(t *testing.T) {
	fakeSeeds(t, nil, nil)
	code, _, errOut := runArgs("-shrink", "-seed", "2", "-out", t.TempDir())
	require.Equal(t, exitFail, code)
	require.Contains(t, errOut, "does not fail")
}

func TestShrinkBadUsage(t *testing.T) {
	fakeSeeds(t, nil, nil)
	for _, args := range [][]string{
		{"-shrink", "-seeds", "5"},
		{"-shrink", "-explore"},
		{"-shrink", "-shard", "1/2"},
		{"-shrink", "-budget", "0"},
		{"-shrink", "-budget", "soon"},
		{"-shrink", "-check-determinism"},
		{"-budget", "10"},
	} {
		code, out, errOut := runArgs(args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
		require.Empty(t, out)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: %q", args, errOut)
	}
}
