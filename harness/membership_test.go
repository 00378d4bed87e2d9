package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMembershipKeepsQuorum replays seeds where membership changes and
// disk corruption together used to leave the cluster without a quorum for
// good (BUG-1): a learner counted as a voter widened the nemesis's
// minority budget, and the operator removed a healthy voter while a
// corrupted or stopped one stayed. Each must pass.
func TestMembershipKeepsQuorum(t *testing.T) {
	requireNode(t)
	cases := []struct {
		nodes  int
		faults string
		seed   uint64
	}{
		{4, "disk-corrupt,membership", 1},  // learner in the budget
		{4, "disk-corrupt,membership", 5},  // healthy voter removed, 2 of 4 corrupted
		{2, "disk-corrupt,membership", 35}, // the stopped one was the one just promoted
		{2, "swarm", 7104},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.Nodes, cfg.Faults = c.nodes, c.faults
		res := Run(cfg, c.seed)
		require.Equal(t, Pass, res.Verdict, "-nodes %d -faults %s -seed %d: %s", c.nodes, c.faults, c.seed, res.Reason)
	}
}
