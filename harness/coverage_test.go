package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCoverageIsPerWorldAndDeterministic: the probe hits and abstract
// states of a seed are the same whether it runs alone or among parallel
// worlds, and collecting them does not change the run (same trace hash as
// with collection off).
func TestCoverageIsPerWorldAndDeterministic(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	cfg := DefaultConfig()
	cfg.Duration = 3e9
	cfg.Probes = true
	alone := map[uint64]Result{}
	RunMany(cfg, seeds, 1, func(r Result) bool { alone[r.Seed] = r; return true })
	together := map[uint64]Result{}
	RunMany(cfg, seeds, 4, func(r Result) bool { together[r.Seed] = r; return true })
	off := cfg
	off.Probes = false
	for _, s := range seeds {
		a, b := alone[s], together[s]
		require.NotEmpty(t, a.Probes, "seed %d reached no probe", s)
		require.NotEmpty(t, a.States, "seed %d sampled no state", s)
		require.Equal(t, a.Probes, b.Probes, "seed %d", s)
		require.Equal(t, a.ProbeOrder, b.ProbeOrder, "seed %d", s)
		require.Equal(t, a.States, b.States, "seed %d", s)
		plain := Run(off, s)
		require.Equal(t, a.TraceHash, plain.TraceHash, "seed %d: collecting probes changed the run", s)
		require.Nil(t, plain.Probes)
	}
}
