package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunShrinkReadsSimrunsLine: the shrink record of a (fake) simrun
// -shrink is read; an output that is no record is an error naming it.
func TestRunShrinkReadsSimrunsLine(t *testing.T) {
	rec := shrinkResult{Seed: 4, Class: "watch", Before: shrinkSize{Events: 5000, Ops: 400, Episodes: 9, Nodes: 5},
		After: shrinkSize{Events: 100, Ops: 4, Nodes: 1}, Runs: 80, Verified: true}
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	o := &options{timeout: time.Minute, shrinkBudget: "60s"}
	got := runShrink(o, fakeSimrun(t, []string{string(b)}, 0), t.TempDir(), nil, 4)
	require.Empty(t, got.Error)
	require.Equal(t, rec.After, got.After)
	require.Equal(t, rec.Before, got.Before)
	require.True(t, got.Verified)
	require.Positive(t, got.WallS)

	got = runShrink(o, fakeSimrun(t, nil, 2), t.TempDir(), nil, 4)
	require.Contains(t, got.Error, "panic: boom")
}

func TestShrinkTableMedians(t *testing.T) {
	o := &options{shrink: true, shrinkBudget: "60s"}
	bug := func(name string, ev, evAfter uint64, ops, opsAfter int) bugResult {
		return bugResult{Name: name, Default: &simResult{Caught: true, Shrink: &shrinkResult{
			Before: shrinkSize{Events: ev, Ops: ops}, After: shrinkSize{Events: evAfter, Ops: opsAfter}, WallS: 2, Verified: true}}}
	}
	r := newReport(o, []bugResult{
		bug("a", 1000, 10, 100, 10),  // 100x, 10x
		bug("b", 1000, 100, 100, 50), // 10x, 2x
		bug("c", 1000, 500, 100, 0),  // 2x, 100x (0 ops counts as 1)
		{Name: "d", Default: &simResult{}},
	})
	var out bytes.Buffer
	r.writeShrinkTable(&out)
	require.Contains(t, out.String(), "shrink: bugs=3 median_events_reduction=10.0x median_ops_reduction=10.0x median_wall=2.0s")
	require.Equal(t, 5, strings.Count(out.String(), "\n"), out.String())
}

func TestShrinkBudgetFlag(t *testing.T) {
	o, err := parseArgs([]string{"-shrink", "-shrink-budget", "200"})
	require.NoError(t, err)
	require.True(t, o.shrink)
	require.Equal(t, "200", o.shrinkBudget)
	for _, bad := range []string{"0", "-1s", "soon"} {
		_, err := parseArgs([]string{"-shrink", "-shrink-budget", bad})
		require.Error(t, err, bad)
	}
}
