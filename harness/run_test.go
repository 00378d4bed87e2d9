package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFakeClusterPasses(t *testing.T) {
	cfg := fakeConfig(DefaultConfig(), false)
	cfg.Faults = "none"
	res := Run(cfg, 1)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	require.Greater(t, res.Ops, 500)
	t.Logf("%+v", res)
}

func TestFakeStaleReadsAreCaught(t *testing.T) {
	cfg := fakeConfig(DefaultConfig(), true)
	cfg.Faults = "none"
	cfg.Reads = ReadsSerializable
	cfg.KeepArtifacts = true
	res := Run(cfg, 1)
	require.Equal(t, Fail, res.Verdict, res.Reason)
	t.Log(res.Reason)
	require.NotEmpty(t, res.Artifacts.Visualization)
}

func TestFakeManySeeds(t *testing.T) {
	cfg := fakeConfig(DefaultConfig(), false)
	cfg.Faults = "none"
	var wall, check time.Duration
	n := 0
	RunMany(cfg, seedRange(1, 40), 2, func(r Result) bool {
		require.Equal(t, Pass, r.Verdict, "seed %d: %s", r.Seed, r.Reason)
		wall += r.Wall
		check += r.CheckTime
		n++
		if r.Wall > 300*time.Millisecond {
			t.Logf("seed %d: wall %v check %v ops %d", r.Seed, r.Wall, r.CheckTime, r.Ops)
		}
		return true
	})
	t.Logf("mean wall %v, check %v", wall/time.Duration(n), check/time.Duration(n))
}

func seedRange(first uint64, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = first + uint64(i)
	}
	return s
}

func TestHarnessCatchesBrokenReplicas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bug    fakeBug
		reason string
	}{
		{"lost write", bugLoseWrite, "lost acknowledged write"},
		{"panic", bugPanic, "panic: fake replica: deliberate panic"},
		{"divergent replica", bugDiverge, "convergence"},
		{"dropped watch event", bugDropEvents, "watch"},
		{"message storm", bugStorm, "livelock"},
		{"leases expire at half their TTL", bugEarlyExpiry, "lease: lease expired early"},
		{"kept-alive leases expire", bugDeafKeepAlive, "keep-alives acknowledged"},
		{"compaction that drops nothing", bugFakeCompaction, "although a compaction at revision"},
		{"compacted error above the compaction point", bugCompactedAbove, "but no compaction above revision"},
		{"reads of the past see the present", bugPastIsPresent, "read of the past: client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := buggyConfig(DefaultConfig(), false, tc.bug)
			cfg.Faults = "none"
			res := Run(cfg, 1)
			require.Equal(t, Fail, res.Verdict)
			require.Contains(t, res.Reason, tc.reason)
			t.Log(firstLine(res.Reason))
		})
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func requireNode(tb testing.TB) {
	tb.Helper()
	if !haveNode {
		tb.Skip("package node is not wired in yet")
	}
}

func TestFakeLossyClusterPasses(t *testing.T) {
	cfg := buggyConfig(DefaultConfig(), false, lossy)
	cfg.Faults = "none"
	var check time.Duration
	unknown := 0
	RunMany(cfg, seedRange(1, 40), 2, func(r Result) bool {
		require.Equal(t, Pass, r.Verdict, "seed %d: %s", r.Seed, r.Reason)
		check += r.CheckTime
		return true
	})
	t.Logf("mean check %v %d", check/40, unknown)
}
