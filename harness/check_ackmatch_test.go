package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAckMismatch: an acknowledged index must hold the leader's entry;
// an index either log no longer holds (compacted, or past the leader's
// log) checks nothing.
func TestAckMismatch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		lt             uint64
		lok            bool
		ft             uint64
		fok, compacted bool
		want           string
	}{
		{"same entry", 3, true, 3, true, false, ""},
		{"older term at the index", 3, true, 2, true, false, "its entry there is of term 2, the leader's of term 3"},
		{"index not held", 3, true, 0, false, false, "does not hold that index"},
		{"compacted at the acknowledger", 3, true, 0, false, true, ""},
		{"not in the leader's log", 0, false, 2, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ackMismatch(tc.lt, tc.lok, tc.ft, tc.fok, tc.compacted)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}
