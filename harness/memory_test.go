package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

// A drawn scenario of a long run always compacts (the replicas' history
// would grow with the run otherwise); a short run still draws whether it
// compacts, and an explicit cadence is kept.
func TestLongRunsCompact(t *testing.T) {
	cfg := DefaultConfig()
	never := 0
	for seed := uint64(1); seed <= 200; seed++ {
		cfg.Duration = 10 * time.Second
		if DrawScenario(cfg, seed).Workload.CompactEvery == 0 {
			never++
		}
		cfg.Duration = LongRun
		require.NotZero(t, DrawScenario(cfg, seed).Workload.CompactEvery, "seed %d", seed)
	}
	require.Positive(t, never, "short runs still draw runs without compaction")
	cfg.CompactEvery = 7 * time.Second
	require.Equal(t, Duration(7*time.Second), DrawScenario(cfg, 1).Workload.CompactEvery)
}

// On real histories, and on mutations of them, the revision checker gives
// the same verdict whether read answers are kept whole or as digests (as
// long runs keep them), with the write log's hints too.
func TestDigestedRealHistoriesKeepTheVerdict(t *testing.T) {
	hs := realHistories(t, DefaultConfig(), 1, 2, 3)
	rng := rand.New(rand.NewPCG(9, 9))
	fails := 0
	for k, h := range hs {
		for m := 0; m < 40; m++ {
			bad := h
			if m > 0 {
				bad = mutateReal(rng, h)
			}
			full := lin.CheckRevisions(bad, 0)
			dig := lin.CheckRevisions(digestReads(bad), 0)
			require.Equal(t, full.Verdict, dig.Verdict, "seed %d mutation %d: %s / %s", k+1, m, full.Reason, dig.Reason)
			if full.Verdict == lin.Fail {
				fails++
			}
		}
	}
	require.Greater(t, fails, 30, "mutations of real histories are mostly caught")
}

// digestReads replaces every known Get and Range answer by its digest.
func digestReads(h []lin.Op) []lin.Op {
	out := slices.Clone(h)
	for i := range out {
		o := &out[i]
		if (o.Input.Kind == lin.KindGet || o.Input.Kind == lin.KindRange) && !o.Unknown && !o.Failed {
			o.Output.Digest, o.Output.KVs = lin.DigestKVs(o.Output.KVs), nil
		}
	}
	return out
}

// A long run keeps digests of its read answers and passes; with artifacts
// kept, or with porcupine, it keeps the answers; a short run always does.
func TestLongRunsDigestReads(t *testing.T) {
	requireNode(t)
	digests := func(cfg Config) (int, Verdict) {
		n := 0
		historyHook = func(ops []lin.Op, _ lin.RevisionHints) {
			for i := range ops {
				if ops[i].Output.Digest != 0 {
					n++
				}
			}
		}
		defer func() { historyHook = nil }()
		return n, Run(cfg, 3).Verdict
	}
	cfg := DefaultConfig()
	n, v := digests(cfg)
	require.Equal(t, Pass, v)
	require.Zero(t, n)
	cfg.Duration = LongRun
	n, v = digests(cfg)
	require.Equal(t, Pass, v)
	require.Positive(t, n)
	cfg.KeepArtifacts = true
	n, _ = digests(cfg)
	require.Zero(t, n)
	cfg.KeepArtifacts, cfg.Checker = false, CheckBoth
	n, _ = digests(cfg)
	require.Zero(t, n)
}

// Hints are given for the revisions no operation surely created, and only
// those: the search consults them at gaps alone.
func TestRevisionHintsOnlyAtGaps(t *testing.T) {
	log := []lin.LogEntry{
		{Revision: revBase + 1, Changes: []lin.Change{{Key: "/a", Type: lin.EventPut, Value: "v1"}}},
		{Revision: revBase + 2, Changes: []lin.Change{{Key: "/a", Type: lin.EventDelete}}},
		{Revision: revBase + 3, Changes: []lin.Change{{Key: "/b", Type: lin.EventPut, Value: "v2"}}},
	}
	ops := []lin.Op{
		{Input: lin.Put("/a", "v1"), Output: lin.Output{Revision: 1}},
		{Input: lin.Delete("/a"), Unknown: true, Return: lin.UnknownReturn},
		{Input: lin.Put("/b", "v2"), Output: lin.Output{Revision: 3}},
	}
	require.Equal(t, lin.RevisionHints{2: {"/a"}}, revisionHints(log, ops))
	ops[0].Failed = true
	require.Equal(t, lin.RevisionHints{1: {"/a"}, 2: {"/a"}}, revisionHints(log, ops))
}

// A read of the past kept as a digest (long runs) is checked as the whole
// answer is: the same answer passes, any other fails.
func TestPastReadDigest(t *testing.T) {
	st := &replayState{kvs: map[string]api.KeyValue{}}
	st.apply(&lin.LogEntry{Revision: 5, Changes: []lin.Change{{Key: "/k", Type: lin.EventPut, Value: "v1"}}})
	right := []api.KeyValue{{Key: []byte("/k"), Value: []byte("v1"), ModRevision: 5, CreateRevision: 5, Version: 1}}
	wrong := []api.KeyValue{{Key: []byte("/k"), Value: []byte("v2"), ModRevision: 5, CreateRevision: 5, Version: 1}}
	r := &seedRun{}
	for _, tc := range []struct {
		kvs []api.KeyValue
		ok  bool
	}{{right, true}, {wrong, false}, {nil, false}} {
		whole := &pastRead{key: "/k", rev: 5, kvs: tc.kvs}
		digest := &pastRead{key: "/k", rev: 5, digest: digestAPIKVs(tc.kvs)}
		prefix := &pastRead{key: "/", prefix: true, rev: 5, count: 1, digest: digestAPIKVs(tc.kvs)}
		for _, p := range []*pastRead{whole, digest, prefix} {
			err := r.checkPastRead(p, st)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		}
	}
}

// The Raft safety checker keeps the entries applied at indices some
// replica may still apply (not every replica's compacted ones), so a
// long run's table stays the size of the logs; and the state-machine
// check still fails on other bytes or another term at an index it kept.
func TestSafetyDropsCompactedEntriesAndStillChecks(t *testing.T) {
	requireNode(t)
	cfg := DefaultConfig()
	cfg.Duration = 2 * time.Minute
	r, err := newSeedRun(cfg, 1)
	require.NoError(t, err)
	var res Result
	r.run(&res)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	s := r.safety
	last := s.lastApplied()
	require.Positive(t, s.appliedBase, "entries below every replica's snapshot were dropped")
	require.Less(t, uint64(len(s.applied)), last/2, "the table holds less than half the run's entries")
	var failed []string
	s.fail = func(format string, args ...any) { failed = append(failed, fmt.Sprintf(format, args...)) }
	// A record below the base is gone: applying there again checks
	// nothing (no replica can: it is under every snapshot).
	s.Applied(1, s.appliedBase-1, 1, []byte("whatever"))
	require.Empty(t, failed)
	lowest := s.appliedBase
	for !s.entry(lowest).set {
		lowest++
	}
	e := *s.entry(lowest)
	s.Applied(e.by, lowest, e.term, []byte("other bytes"))
	require.Len(t, failed, 1)
	require.Contains(t, failed[0], "with other bytes")
	s.Applied(e.by, lowest, e.term+1, nil)
	require.Len(t, failed, 2)
	require.Contains(t, failed[1], fmt.Sprintf("applied index %d of term %d", lowest, e.term+1))
	s.AppliedSnapshot(e.by, last, s.entry(last).term+1)
	require.Len(t, failed, 3)
	require.Contains(t, failed[2], "installed a snapshot")
}

// simrun collects long runs more often than short ones: a long run keeps
// its checks' state live, which the short runs' target would multiply.
func TestGCPercentFor(t *testing.T) {
	require.Equal(t, GCPercent, GCPercentFor(DefaultConfig().Duration))
	require.Equal(t, GCPercent, GCPercentFor(LongRun-time.Nanosecond))
	require.Equal(t, LongRunGCPercent, GCPercentFor(LongRun))
	require.Equal(t, LongRunGCPercent, GCPercentFor(time.Hour))
	require.Less(t, LongRunGCPercent, GCPercent)
}
