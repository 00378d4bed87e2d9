package harness

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Stale reads (serializable reads under partitions) fail by
// linearizability; each failure names a minimal witness of at most 10
// operations, with the replica that answered each and the faults active
// around it, and history.txt shows it with no bogus return times.
func TestWitnessOfStaleReads(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Reads = ReadsSerializable
	cfg.Faults = "partition"
	var failed []Result
	RunMany(cfg, seedRange(1, 12), 1, func(r Result) bool {
		if r.Verdict == Fail && strings.HasPrefix(r.Reason, "linearizability: ") {
			failed = append(failed, r)
		}
		return true
	})
	require.NotEmpty(t, failed, "no stale read in 12 seeds")
	faults := 0 // witness ops with a fault active or before (a follower lags without one, too)
	for _, r := range failed {
		require.NotEmpty(t, r.Witness, "seed %d: %s", r.Seed, r.Reason)
		require.LessOrEqual(t, len(r.Witness), 10, "seed %d", r.Seed)
		require.Contains(t, firstLine(r.Reason), "[minimal witness: ops ", "seed %d", r.Seed)
		require.NotEmpty(t, r.WitnessReason)
		for _, w := range r.Witness {
			require.Contains(t, r.Reason, w.String(), "seed %d: the reason lists the witness", r.Seed)
			require.NotEmpty(t, w.Keys)
			if w.Return >= 0 {
				require.NotZero(t, w.Replica, "seed %d op %d: an answer names its replica", r.Seed, w.ID)
			}
			if len(w.Faults) > 0 || w.EarlierFault != "" {
				faults++
			}
		}
		t.Logf("seed %d: witness of %d ops\n%s", r.Seed, len(r.Witness), WitnessText(r.WitnessReason, r.Witness))
	}
	require.Positive(t, faults, "no witness op names a partition")
	cfg.KeepArtifacts = true
	again := Run(cfg, failed[0].Seed)
	require.Equal(t, failed[0].Witness, again.Witness, "the artifact run names the same witness")
	hist := string(again.Artifacts.History)
	require.NotContains(t, hist, "2562047h")
	lines := strings.Split(hist, "\n")
	for _, w := range again.Witness {
		require.True(t, strings.HasPrefix(lines[w.ID], itoa(w.ID)+" client="+itoa(w.Client)+" "), "history.txt line %d: %s", w.ID, lines[w.ID])
	}
}

// history.txt says "never returned" instead of the largest duration.
func TestHistoryLine(t *testing.T) {
	put := lin.Put("/k", "v")
	for _, tc := range []struct {
		op      lin.Op
		replica uint64
		want    string
	}{
		{lin.Op{ClientID: 1, Call: 5, Return: lin.UnknownReturn, Input: put, Unknown: true}, 0,
			"3 client=1 call=5ns put(/k, v) -> never returned (outcome unknown)\n"},
		{lin.Op{ClientID: 1, Call: 5, Return: lin.UnknownReturn, Input: put, Output: lin.Output{Revision: 7}}, 0,
			"3 client=1 call=5ns put(/k, v) -> never returned; settled from the write log: rev=7\n"},
		{lin.Op{ClientID: 1, Call: 5, Return: lin.UnknownReturn, Input: put, Failed: true}, 0,
			"3 client=1 call=5ns put(/k, v) -> never returned; settled from the write log: no effect\n"},
		{lin.Op{ClientID: 1, Call: 5, Return: 9, Input: put, Failed: true, Output: lin.Output{Err: "no leader"}}, 2,
			"3 client=1 call=5ns put(/k, v) -> 9ns failed: no leader replica=2\n"},
		{lin.Op{ClientID: 1, Call: 5, Return: 9, Input: put, Output: lin.Output{Revision: 7}}, 3,
			"3 client=1 call=5ns put(/k, v) -> 9ns rev=7 kvs=[] txn=[] ok=false deleted=0 replica=3\n"},
	} {
		require.Equal(t, tc.want, historyLine(3, &tc.op, host.NodeID(tc.replica)))
	}
}
