package harness

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func exploreCfg() ExploreConfig {
	base := DefaultConfig()
	base.Duration = 2 * time.Second
	return ExploreConfig{Base: base, SearchSeed: 7, Runs: 12, Batch: 4}
}

type exploredRun struct {
	c    Candidate
	hash uint64
}

func explore(t *testing.T, cfg ExploreConfig) ([]exploredRun, *Explorer) {
	var runs []exploredRun
	cfg.Each = func(c Candidate, r Result) bool {
		runs = append(runs, exploredRun{c, r.TraceHash})
		return true
	}
	e, err := NewExplorer(cfg)
	require.NoError(t, err)
	e.Run()
	return runs, e
}

// TestExploreIsDeterministic: the same search seed gives the same runs,
// scenarios and corpus at any worker count; another seed gives others.
// Every run replays from its seed and scenario alone.
func TestExploreIsDeterministic(t *testing.T) {
	cfg := exploreCfg()
	cfg.Parallel = 1
	a, ea := explore(t, cfg)
	cfg.Parallel = 3
	b, eb := explore(t, cfg)
	require.Len(t, a, 12)
	require.Equal(t, a, b)
	require.Equal(t, ea.Corpus(), eb.Corpus())
	require.NotEmpty(t, ea.Corpus())
	origins := map[string]bool{}
	for _, r := range a {
		origins[r.c.Origin] = true
	}
	require.True(t, origins["fresh"] && (origins["redraw"] || origins["cross"] || origins["reseed"]), "origins %v", origins)
	cfg.SearchSeed = 8
	c, _ := explore(t, cfg)
	require.NotEqual(t, a, c)
	// Replay one mutated run from its seed and scenario.
	for _, r := range a {
		if r.c.Origin != "fresh" {
			rc := cfg.Base
			sc := r.c.Scenario
			rc.Scenario = &sc
			require.Equal(t, r.hash, Run(rc, r.c.Seed).TraceHash)
			break
		}
	}
}

// TestCorpusSavesResumesAndMerges: a saved corpus loads back equal, saving
// into a directory that holds another corpus merges the two, and a
// resumed exploration counts the corpus's features as seen.
func TestCorpusSavesResumesAndMerges(t *testing.T) {
	dir := t.TempDir()
	cfg := exploreCfg()
	cfg.Runs = 4
	_, e1 := explore(t, cfg)
	require.NoError(t, SaveCorpus(dir, e1.Corpus()))
	loaded, err := LoadCorpus(dir)
	require.NoError(t, err)
	require.Len(t, loaded, len(e1.Corpus()))
	cfg.SearchSeed = 99
	_, e2 := explore(t, cfg)
	require.NoError(t, SaveCorpus(dir, e2.Corpus()))
	merged, err := LoadCorpus(dir)
	require.NoError(t, err)
	require.Greater(t, len(merged), len(loaded))
	cfg.Corpus, cfg.Runs = merged, 0
	resumed, err := NewExplorer(cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, resumed.Features(), e1.Features())
	require.Len(t, resumed.Corpus(), len(merged))
}

// TestMutationsStayInBounds: every mutation of drawn scenarios either
// validates or is refused by Validate (candidate falls back to the
// parent), so every candidate is a valid scenario.
func TestMutationsStayInBounds(t *testing.T) {
	e, err := NewExplorer(exploreCfg())
	require.NoError(t, err)
	e.corpus = []Entry{{Seed: 1, Scenario: DrawScenario(e.cfg.Base, 1)}, {Seed: 2, Scenario: DrawScenario(e.cfg.Base, 2)}}
	r := newTestRand(3)
	valid := 0
	for range 2000 {
		c := e.candidate(r)
		require.NoError(t, c.Scenario.Validate())
		s := cloneScenario(e.corpus[0].Scenario)
		e.mutate(r, &s)
		if s.Validate() == nil {
			valid++
		}
	}
	require.Greater(t, valid, 1800, "most mutations should stay in bounds")
}

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// TestHitBuckets: AFL's buckets, and bucket features only from 2 hits.
func TestHitBuckets(t *testing.T) {
	for _, c := range []struct {
		hits uint32
		want int
	}{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}, {7, 4}, {8, 5}, {15, 5}, {16, 6}, {31, 6}, {32, 7}, {127, 7}, {128, 8}, {1 << 30, 8}} {
		require.Equal(t, c.want, hitBucket(c.hits), "hits %d", c.hits)
	}
	fs := features([]string{"b", "a"}, map[string]uint32{"a": 1, "b": 9}, []string{"s1"})
	require.Equal(t, []string{"p:a", "pp:a+b", "p:b", "b:b:5", "s:s1"}, fs)
}

// TestPickFavoursMostHits: a corpus entry that hit a probe most often is
// its top entry, replaced only by one in a higher bucket, and the pick
// returns it far more often than an entry that hit the probe once.
func TestPickFavoursMostHits(t *testing.T) {
	cfg := exploreCfg()
	sc := DrawScenario(cfg.Base, 1)
	cfg.Corpus = []Entry{
		{Seed: 1, Scenario: sc, Probes: []string{"x", "common"}, Hits: map[string]uint32{"x": 1, "common": 5}, States: []string{"1"}},
		{Seed: 2, Scenario: sc, Probes: []string{"x", "common"}, Hits: map[string]uint32{"x": 20, "common": 5}, States: []string{"2"}},
		{Seed: 3, Scenario: sc, Probes: []string{"x", "common"}, Hits: map[string]uint32{"x": 17, "common": 5}, States: []string{"3"}},
		{Seed: 4, Scenario: sc, Probes: []string{"common"}, Hits: map[string]uint32{"common": 5}, States: []string{"4"}},
		{Seed: 5, Scenario: sc, Probes: []string{"common"}, Hits: map[string]uint32{"common": 5}, States: []string{"5"}},
	}
	e, err := NewExplorer(cfg)
	require.NoError(t, err)
	require.Equal(t, topHits{bucket: 6, owner: 1}, e.top["x"], "17 hits is the same bucket as 20: the first keeps it")
	picked := map[uint64]int{}
	r := newTestRand(1)
	for range 4000 {
		picked[e.pick(r).Seed]++
	}
	// "common" is reached by every run: never a hit-count target. "x" is,
	// and entry 2 is its top; the rest is the rare-feature pick, which
	// spreads over the entries that first reached a state.
	require.Greater(t, picked[2], 3*picked[1], "picks %v", picked)
	require.Greater(t, picked[2], 3*picked[3], "picks %v", picked)
}

// TestFailuresStayOutOfTheCorpus: a run that did not pass is a failure,
// never a parent, however new its coverage; a passing one with the same
// coverage joins the corpus.
func TestFailuresStayOutOfTheCorpus(t *testing.T) {
	e, err := NewExplorer(exploreCfg())
	require.NoError(t, err)
	c := Candidate{Seed: 9, Scenario: DrawScenario(e.cfg.Base, 9), Origin: "fresh"}
	res := Result{Verdict: Fail, ProbeOrder: []string{"x"}, Probes: map[string]uint32{"x": 3}, States: []uint64{7}}
	e.judge(c, res)
	require.Empty(t, e.Corpus())
	require.Equal(t, []Candidate{c}, e.Failures)
	require.Zero(t, e.Features())
	res.Verdict = Pass
	e.judge(c, res)
	require.Len(t, e.Corpus(), 1)
	require.Equal(t, map[string]uint32{"x": 3}, e.Corpus()[0].Hits)
	require.Equal(t, 3, e.Features(), "p:x, b:x:3 and s:7")
}

// TestStorageMutationKeepsQuotaClear: a quota the explorer sets comes with
// compactions every 2 s or more often, and fitQuota drops a quota whose
// compactions another mutation turned off or slowed.
func TestStorageMutationKeepsQuotaClear(t *testing.T) {
	r := newTestRand(5)
	quotas := 0
	for i := range 500 {
		s := DrawScenario(DefaultConfig(), uint64(i))
		s.Workload.CompactEvery, s.Storage.QuotaBytes = 0, 0
		mutateStorage(r, &s)
		require.NoError(t, s.Validate())
		if s.Storage.QuotaBytes != 0 {
			quotas++
			require.True(t, s.Workload.CompactEvery > 0 && s.Workload.CompactEvery.D() <= 2*time.Second, "quota %d with compaction every %v", s.Storage.QuotaBytes, s.Workload.CompactEvery)
			require.True(t, s.Storage.QuotaBytes >= 24<<10 && s.Storage.QuotaBytes <= 48<<10)
		}
		s.Workload.CompactEvery = Duration(3 * time.Second)
		fitQuota(&s)
		require.Zero(t, s.Storage.QuotaBytes)
	}
	require.Greater(t, quotas, 50)
}

// TestRegressEntriesRunFirst: the corpus's regression entries (Bug set)
// are run again, each once in order under a new seed, before anything
// else; after that they make about half the runs, in turn.
func TestRegressEntriesRunFirst(t *testing.T) {
	cfg := exploreCfg()
	var hard []Scenario
	for i := range 3 {
		sc := DrawScenario(cfg.Base, uint64(100+i))
		hard = append(hard, sc)
		cfg.Corpus = append(cfg.Corpus, Entry{Seed: uint64(100 + i), Scenario: sc, Bug: "b"})
	}
	cfg.Corpus = append(cfg.Corpus, Entry{Seed: 9, Scenario: DrawScenario(cfg.Base, 9), States: []string{"1"}})
	e, err := NewExplorer(cfg)
	require.NoError(t, err)
	r := newTestRand(1)
	for i := range 3 {
		c := e.candidate(r)
		require.Equal(t, "regress", c.Origin)
		require.Equal(t, hard[i], c.Scenario)
		require.NotEqual(t, uint64(100+i), c.Seed, "a new seed")
	}
	regress := 0
	for i := range 1000 {
		c := e.candidate(r)
		if c.Origin == "regress" {
			require.Equal(t, hard[(3+regress)%3], c.Scenario, "run %d", i)
			regress++
		}
	}
	require.InDelta(t, 500, regress, 60)
}

// TestRegressionCorpusLoads: testdata/regress is an explore corpus
// (`simrun -explore -corpus harness/testdata/regress`): every file loads
// as an entry naming its bug.
func TestRegressionCorpusLoads(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "regress", "*.json"))
	require.NoError(t, err)
	entries, err := LoadCorpus(filepath.Join("testdata", "regress"))
	require.NoError(t, err)
	require.Len(t, entries, len(files))
	for _, en := range entries {
		require.NotEmpty(t, en.Bug)
		require.NoError(t, en.Scenario.Validate())
	}
}

// TestHardOrder: one regression entry per distinct scenario, those that
// found the most distinct bugs first, ties in corpus order; entries
// without a bug are not regression entries.
func TestHardOrder(t *testing.T) {
	base := exploreCfg().Base
	a, b, c := DrawScenario(base, 1), DrawScenario(base, 2), DrawScenario(base, 3)
	corpus := []Entry{
		{Scenario: a, Bug: "x"},
		{Scenario: b, Bug: "x"},
		{Scenario: c},
		{Scenario: b, Bug: "y"},
		{Scenario: b, Bug: "y"}, // the same bug again counts once
		{Scenario: c, Bug: "z"},
		{Scenario: a, Bug: "x"},
	}
	require.Equal(t, []int{1, 0, 5}, hardOrder(corpus))
	require.Empty(t, hardOrder(corpus[2:3]))
}

// TestRegressFillsMissingFieldsFromTheDraw: a regression entry's file
// that does not record a field (written before the field existed) runs
// with the swarm's draw of it for the run's seed, not the default;
// everything the file records, the faults and the quota included, stays.
func TestRegressFillsMissingFieldsFromTheDraw(t *testing.T) {
	cfg := exploreCfg()
	sc := DrawScenario(cfg.Base, 100)
	sc.Storage.QuotaBytes = 32 << 10
	sc.Workload.CompactEvery = Duration(time.Second)
	sc.Storage.SnapChunkBytes = 1000 // recorded (a zero is omitted, and drawn like a missing field)
	full := MarshalScenario(sc)
	var m map[string]any
	require.NoError(t, json.Unmarshal(full, &m))
	delete(m["storage"].(map[string]any), "apply_bytes")
	delete(m["workload"].(map[string]any), "transfer_every")
	old, err := json.Marshal(map[string]any{"seed": 100, "bug": "b", "scenario": m})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.json"), old, 0o644))
	cfg.Corpus, err = LoadCorpus(dir)
	require.NoError(t, err)
	require.Zero(t, cfg.Corpus[0].Scenario.Storage.ApplyBytes, "read over the defaults")

	e, err := NewExplorer(cfg)
	require.NoError(t, err)
	r := newTestRand(1)
	lagged, transfers := 0, map[Duration]bool{}
	for n := 0; n < 200; {
		c, ok := e.hardCandidate(r)
		if !ok {
			continue // the half of the runs after the first pass that go elsewhere
		}
		n++
		draw := DrawScenario(cfg.Base, c.Seed)
		require.Equal(t, draw.Storage.ApplyBytes, c.Scenario.Storage.ApplyBytes, "seed %d", c.Seed)
		require.Equal(t, draw.Workload.TransferEvery, c.Scenario.Workload.TransferEvery)
		if c.Scenario.Storage.ApplyBytes > 0 {
			lagged++
		}
		transfers[c.Scenario.Workload.TransferEvery] = true
		got := c.Scenario
		got.Storage.ApplyBytes, got.Workload.TransferEvery = sc.Storage.ApplyBytes, sc.Workload.TransferEvery
		require.Equal(t, sc, got, "the recorded fields are the file's")
		require.NoError(t, c.Scenario.Validate())
	}
	require.InDelta(t, 50, lagged, 25, "a quarter of the draws lag apply")
	require.Greater(t, len(transfers), 50)

	// An entry made in memory (no file) runs as it is.
	cfg.Corpus = []Entry{{Seed: 100, Scenario: sc, Bug: "b"}}
	e, err = NewExplorer(cfg)
	require.NoError(t, err)
	c, _ := e.hardCandidate(r)
	require.Equal(t, sc, c.Scenario)
}
