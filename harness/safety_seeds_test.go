package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// regressionSeeds are seeds that once failed, with the setup they failed
// in; each names the fix that made it pass.
var regressionSeeds = []struct {
	seed   uint64
	nodes  int
	faults string
	why    string
}{
	{728, 3, "all", "liveness: the survivors of a removal restarted with the old configuration " +
		"(raft: a commit covering a conf change is synced before it is applied)"},
	{40398, 3, "swarm", "liveness: a leader that removed itself stepped down before telling the commit"},
	{846, 3, "all", "term rule: a paused replica campaigned twice before its first vote was durable " +
		"(the check counts a self-vote in the term as campaigning; raft holds pre-vote answers until persisted)"},
	{1869, 3, "all", "convergence: a late duplicate of a removal that had timed out applied after settle " +
		"(the operator retires a replica whose lost removal a replica answered OK)"},
	{9030, 7, "all", "election restriction: a voter busy with a slow sync granted a pre-vote late, after an identical copy " +
		"of the request arrived behind its grown log (the check lets a grant answer any copy that was grantable)"},
	{1948, 0, "swarm", "liveness: a MemberAdd applied but its answer lost, the retry refused as MemberExists, and the operator " +
		"never started that voter: two of four voters out (the operator takes MemberExists as added)"},
	{348, 0, "swarm", "unexpected stop: a recovery that met a full disk stopped the replica for good " +
		"(node: the recovery waits for room and starts again)"},
	{427, 15, "swarm", "liveness: the store filled its quota, the compactions asked for timed out, and with no new revision " +
		"the compactor never asked again (the compactor retries a compaction answered without effect known)"},
}

// TestRegressionSeeds replays seeds that once failed.
func TestRegressionSeeds(t *testing.T) {
	requireNode(t)
	for _, s := range regressionSeeds {
		cfg := testConfig()
		cfg.Nodes, cfg.Faults = s.nodes, s.faults
		r := Run(cfg, s.seed)
		require.Equal(t, Pass, r.Verdict, "seed %d -nodes %d -faults %s (%s): %s", s.seed, s.nodes, s.faults, s.why, r.Reason)
	}
}
