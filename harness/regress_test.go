package harness

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// regression is one file of testdata/regress: a seed and scenario that
// made a planted bug (bugbench) fail, found by exploration. On the real
// code it must pass; a change that brings the bug back fails it.
type regression struct {
	// Bug names the bugbench bug the run caught.
	Bug string `json:"bug"`
	// FoundBy says how the run was found (for the record).
	FoundBy string `json:"found_by"`
	// Reason is the failure the run gave on the mutant.
	Reason   string          `json:"reason"`
	Seed     uint64          `json:"seed"`
	Scenario json.RawMessage `json:"scenario"`
}

// TestRegressionCorpus replays every kept run of testdata/regress.
//
//	go test ./harness -run TestRegressionCorpus -v
func TestRegressionCorpus(t *testing.T) {
	requireNode(t)
	files, err := filepath.Glob(filepath.Join("testdata", "regress", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "the regression corpus is empty")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			var reg regression
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&reg))
			sc, err := DecodeScenario(bytes.NewReader(reg.Scenario), DefaultScenario())
			require.NoError(t, err)
			cfg := DefaultConfig()
			cfg.Scenario = &sc
			res := Run(cfg, reg.Seed)
			require.Equal(t, Pass, res.Verdict, "%s (caught %s: %s): %s\nreplay: go run ./cmd/simrun -seeds 1 -seed %d -scenario <the scenario of %s>",
				f, reg.Bug, reg.Reason, firstLine(res.Reason), reg.Seed, f)
		})
	}
}
