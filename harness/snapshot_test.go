package harness

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeedsTakeSnapshots shows that a small snapshot interval makes the
// replicas snapshot (and so compact their logs) during a seeded run with
// faults, and that such runs still pass every check.
func TestSeedsTakeSnapshots(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SnapshotEntries = 32
	// Enough writes for a few snapshots: the default mix (a drawn one may
	// have few writes) and the faults of the swarm.
	cfg.Mix = DefaultMix()
	cfg.KeepArtifacts = true
	first := regexp.MustCompile(`log-first (\d+)`)
	for seed := uint64(1); seed <= 5; seed++ {
		res := Run(cfg, seed)
		require.Equal(t, Pass, res.Verdict, "seed %d: %s", seed, res.Reason)
		compacted := 0
		for _, m := range first.FindAllSubmatch(res.Artifacts.Summary, -1) {
			n, err := strconv.Atoi(string(m[1]))
			require.NoError(t, err)
			// Past the first snapshot interval: the log was cut behind a
			// snapshot (a seed with many faults applies few entries, so
			// not necessarily far past it).
			if n > int(cfg.SnapshotEntries) {
				compacted++
			}
		}
		require.Positive(t, compacted, "seed %d: no replica compacted its log by a snapshot:\n%s", seed, res.Artifacts.Summary)
	}
}
