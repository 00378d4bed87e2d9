package harness

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Leadership transfers during the workload really move the leader, and
// the runs (every check) pass.
func TestLeadershipTransfers(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "none"
	cfg.TransferEvery = 700 * time.Millisecond
	cfg.KeepArtifacts = true
	moved := 0
	for seed := uint64(1); seed <= 4; seed++ {
		res := Run(cfg, seed)
		require.Equal(t, Pass, res.Verdict, "seed %d: %s", seed, firstLine(res.Reason))
		for _, l := range bytes.Split(res.Artifacts.Summary, []byte("\n")) {
			var asked, done int
			if i := bytes.Index(l, []byte("leadership transfers:")); i >= 0 {
				_, err := fmt.Sscanf(string(l[i:]), "leadership transfers: %d asked, %d done", &asked, &done)
				require.NoError(t, err)
				moved += done
			}
		}
	}
	t.Logf("%d transfers done in 4 seeds", moved)
	require.Greater(t, moved, 20)
}
