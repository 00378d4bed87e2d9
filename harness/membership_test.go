package harness

import (
	"regexp"
	"slices"
	"testing"

	"github.com/seedkv/seedkv/host"
	"github.com/stretchr/testify/require"
)

// TestMembershipKeepsQuorum replays seeds where membership changes and
// disk corruption together used to leave the cluster without a quorum for
// good: a learner counted as a voter widened the nemesis's
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

// TestRetiredReplicasStayDown: a replica removed from the cluster stays
// shut down, like a removed etcd member, even when a crash episode that
// began before its removal heals and restarts it, and it is shut down
// only once a majority of the rest applied its removal.
func TestRetiredReplicasStayDown(t *testing.T) {
	requireNode(t)
	// The seeds that retire a replica change with the scenario draw, so
	// the test looks for a few among the first seeds of each size.
	shutDown := 0
	for _, nodes := range []int{3, 5} {
		found := 0
		for seed := uint64(1); seed <= 40 && found < 2; seed++ {
			cfg := DefaultConfig()
			cfg.Nodes, cfg.Faults, cfg.KeepArtifacts = nodes, "crash,membership,disk-corrupt", true
			r, err := newSeedRun(cfg, seed)
			require.NoError(t, err)
			var res Result
			r.run(&res)
			require.Equal(t, Pass, res.Verdict, "-nodes %d -seed %d: %s", nodes, seed, res.Reason)
			retired := 0
			for i := range nodes + maxMembershipChanges {
				id := firstReplica + host.NodeID(i)
				if slices.Contains(r.replicas, id) || !slices.Contains(r.w.Nodes(), id) {
					continue
				}
				retired++
				require.Nil(t, r.inspectorOf(r.w.Process(id)), "-nodes %d -seed %d: retired replica %d runs a replica:\n%s",
					nodes, seed, id, r.notes.String())
			}
			if retired == 0 {
				continue
			}
			found++
			// Each was shut down once a majority of the rest applied its removal.
			shut := regexp.MustCompile(`shutting \d+ down \(a majority applied \d+: (true|false)\)`).FindAllStringSubmatch(r.notes.String(), -1)
			shutDown += len(shut)
			for _, m := range shut {
				require.Equal(t, "true", m[1], "-nodes %d -seed %d: %s", nodes, seed, m[0])
			}
		}
		require.Positive(t, found, "-nodes %d: no seed of 40 retired a replica", nodes)
	}
	require.Positive(t, shutDown, "no running replica was shut down")
}

// Once settle has read the final member list, an add's late answer (seed
// 997 at -nodes 5 -faults all on fb3c43d: the add of 7 was refused as
// pending, retried, and timed out after settle) must not start a replica
// that is no member: the convergence check would wait for it forever.
func TestLateAddAnswerAfterSettleStartsNothing(t *testing.T) {
	o := &operator{started: map[host.NodeID]bool{}, settled: true}
	o.startNode(7)
	require.False(t, o.started[7])
}
