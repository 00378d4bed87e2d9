package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/stretchr/testify/require"
)

// TestCheckDeterminismRealSeedsPass runs a few real seeds twice each,
// concurrently, and finds the runs equal.
func TestCheckDeterminismRealSeedsPass(t *testing.T) {
	code, out, errOut := runArgs("-seeds", "3", "-parallel", "2", "-faults", "crash,partition", "-check-determinism")
	require.Equal(t, exitPass, code, out+errOut)
	require.True(t, strings.HasPrefix(out, "seeds=3 passed=3 failed=0 unknown=0 "), out)
}

// leakySystem is a fake harness whose seeds are not deterministic: from
// event 3 on, its trace shows a counter shared by every run in the
// process, as a global or a map iteration would leak into a real run.
func leakySystem(t *testing.T) {
	t.Helper()
	old := runSeed
	t.Cleanup(func() { runSeed = old })
	var global atomic.Uint64
	runSeed = func(cfg harness.Config, seed uint64) harness.Result {
		hash := seed
		for i := uint64(1); i <= 5; i++ {
			ev := fmt.Sprintf("t=%d send node=%d", i, seed)
			if i >= 3 && seed%2 == 0 { // only even seeds leak
				ev += fmt.Sprintf(" n=%d", global.Add(1))
			}
			hash = hash*31 + uint64(len(ev))*i
			for _, c := range ev {
				hash = hash*131 + uint64(c)
			}
			if cfg.TraceWriter != nil {
				fmt.Fprintln(cfg.TraceWriter, ev)
			}
		}
		return harness.Result{Seed: seed, Verdict: harness.Pass, TraceHash: hash, Virtual: time.Second, Wall: time.Millisecond}
	}
}

func TestCheckDeterminismReportsFirstDifferingEvent(t *testing.T) {
	leakySystem(t)
	code, out, _ := runArgs("-seeds", "4", "-parallel", "2", "-check-determinism")
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "seeds=4 passed=2 failed=2 unknown=0 ")
	require.Contains(t, out, "seed=2 verdict=fail")
	require.Contains(t, out, "seed=4 verdict=fail")
	require.NotContains(t, out, "seed=1 ")
	require.Regexp(t, `reason: nondeterminism: two runs of seed 2 gave trace hashes [0-9a-f]{16} and [0-9a-f]{16}; first difference at event 3: run 1 "t=3 send node=2 n=\d+", run 2 "t=3 send node=2 n=\d+"`, out)
	require.Contains(t, out, "replay: go run ./cmd/simrun -seeds 1 -seed 2 -check-determinism=true")

	// Without the check the same sweep passes: one run per seed cannot see it.
	code, out, _ = runArgs("-seeds", "4", "-parallel", "2")
	require.Equal(t, exitPass, code, out)
}

func TestFirstDifference(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", "the trace texts are equal"},
		{"middle", "x\ny\nz\n", "x\nY\nz\n", `first difference at event 2: run 1 "y", run 2 "Y"`},
		{"first shorter", "x\n", "x\ny\n", `first difference at event 2: run 1 ended, run 2 "y"`},
		{"second shorter", "x\ny\n", "x\n", `first difference at event 2: run 1 "y", run 2 ended`},
		{"both empty", "", "", "the trace texts are equal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, firstDifference([]byte(tc.a), []byte(tc.b)), tc.want)
		})
	}
}
