package harness

import (
	"errors"
	"flag"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/concurrency"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

// judgedCount reads the counts the recipe checks note ("38 wins").
var judgedCount = regexp.MustCompile(`(\d+) (wins|observed leader changes|holds|closes checked|lists and applied revisions)`)

var flagRecipeSeeds = flag.Int("recipe-seeds", 0, "how many seeds TestRecipeSeeds runs with every recipe on (0: 24, or 6 with -short)")

// allRecipes runs every recipe with two or three clients.
var allRecipes = RecipeParams{Election: 3, Lock: 3, Config: 2, Objects: 2, SessionTTL: 2}

// recipeTestConfig is the default configuration with the recipe part p.
func recipeTestConfig(p RecipeParams) Config {
	cfg := DefaultConfig()
	cfg.Adjust = func(s *Scenario) { s.Workload.Recipes = p }
	return cfg
}

// TestRecipeSeeds runs seeds of the default swarm with every recipe on:
// they pass (no false positive of the recipe checks under the swarm's
// faults), and the checks had something to judge.
func TestRecipeSeeds(t *testing.T) {
	n := *flagRecipeSeeds
	if n == 0 {
		n = 24
		if testing.Short() {
			n = 6
		}
	}
	cfg := recipeTestConfig(allRecipes)
	cfg.KeepArtifacts = true
	judged := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		res := Run(cfg, seed)
		require.Equal(t, Pass, res.Verdict, "seed %d: %s", seed, res.Reason)
		for _, line := range strings.Split(string(res.Artifacts.Summary), "\n") {
			if !strings.Contains(line, "recipes: ") {
				continue
			}
			for _, m := range judgedCount.FindAllStringSubmatch(line, -1) {
				k, _ := strconv.Atoi(m[1])
				judged[m[2]] += k
			}
		}
	}
	t.Logf("%d seeds with every recipe on: %v", n, judged)
	for _, what := range []string{"wins", "observed leader changes", "holds", "closes checked", "lists and applied revisions"} {
		require.Positive(t, judged[what], "no %s in %d seeds", what, n)
	}
}

// TestDrawRecipes: a third of the seeds draw a recipe part, within its
// bounds, the same for the same seed; none with a Config.Workload or in
// a long run.
func TestDrawRecipes(t *testing.T) {
	cfg := DefaultConfig()
	const n = 3000
	on, per := 0, map[string]int{}
	for seed := uint64(1); seed <= n; seed++ {
		p := DrawScenario(cfg, seed).Workload.Recipes
		require.Equal(t, p, drawRecipes(cfg, seed), "seed %d: the same draw", seed)
		v := &validator{}
		p.validate(v)
		require.NoError(t, v.err, "seed %d", seed)
		if p.total() == 0 {
			continue
		}
		on++
		for name, k := range map[string]int{"election": p.Election, "lock": p.Lock, "config": p.Config, "objects": p.Objects} {
			allowed := []int{0, 2, 3}
			if name == "config" || name == "objects" {
				allowed = []int{0, 1, 2}
			}
			require.Contains(t, allowed, k, "seed %d %s", seed, name)
			if k > 0 {
				per[name]++
			}
		}
	}
	require.InDelta(t, 1.0/recipeOneIn, float64(on)/n, 0.03, "share of seeds with recipes")
	for _, name := range []string{"election", "lock", "config", "objects"} {
		require.InDelta(t, 0.5+1.0/64, float64(per[name])/float64(on), 0.05, "share of recipe seeds running %s", name)
	}
	long := cfg
	long.Duration = LongRun
	withWorkload := cfg
	withWorkload.Workload = nopWorkload{}
	for seed := uint64(1); seed <= 100; seed++ {
		require.Zero(t, drawRecipes(long, seed).total(), "seed %d, long run", seed)
		require.Zero(t, drawRecipes(withWorkload, seed).total(), "seed %d, a Config.Workload", seed)
	}
}

// nopWorkload is a Workload for the draw's sake (never started).
type nopWorkload struct{}

func (nopWorkload) Name() string                   { return "nop" }
func (nopWorkload) Start(*WorkloadEnv) WorkloadRun { return nil }

// TestRecipeScenarioStrict: the recipe fields of a scenario file are
// checked like every other field, and a drawn recipe part round-trips.
func TestRecipeScenarioStrict(t *testing.T) {
	for _, c := range []struct{ in, field string }{
		{`{"workload":{"recipes":{"lock":9}}}`, "workload.recipes.lock"},
		{`{"workload":{"recipes":{"election":-1}}}`, "workload.recipes.election"},
		{`{"workload":{"recipes":{"config":99}}}`, "workload.recipes.config"},
		{`{"workload":{"recipes":{"objects":9}}}`, "workload.recipes.objects"},
		{`{"workload":{"recipes":{"session_ttl":0}}}`, "workload.recipes.session_ttl"},
		{`{"workload":{"recipes":{"session_ttl":11}}}`, "workload.recipes.session_ttl"},
		{`{"workload":{"recipes":{"mutex":1}}}`, `"mutex"`},
	} {
		_, err := DecodeScenario(strings.NewReader(c.in), DefaultScenario())
		require.ErrorIs(t, err, ErrBadScenario, c.in)
		require.ErrorContains(t, err, c.field, c.in)
	}
	s := DefaultScenario()
	s.Workload.Recipes = RecipeParams{Election: 2, Objects: 3, SessionTTL: 3}
	back, err := DecodeScenario(strings.NewReader(string(MarshalScenario(s))), Scenario{})
	require.NoError(t, err)
	require.Equal(t, s, back)
}

// TestRecipeSeedReruns: a seed with a recipe part gives the same trace
// hash run again, and run from its printed scenario.
func TestRecipeSeedReruns(t *testing.T) {
	cfg := DefaultConfig()
	seed := uint64(1)
	for DrawScenario(cfg, seed).Workload.Recipes.total() == 0 {
		seed++
	}
	first := Run(cfg, seed)
	require.Positive(t, first.Scenario.Workload.Recipes.total())
	again := Run(cfg, seed)
	require.Equal(t, first.TraceHash, again.TraceHash, "seed %d", seed)
	sc, err := DecodeScenario(strings.NewReader(string(MarshalScenario(*first.Scenario))), Scenario{})
	require.NoError(t, err)
	pinned := cfg
	pinned.Scenario = &sc
	require.Equal(t, first.TraceHash, Run(pinned, seed).TraceHash, "seed %d from its scenario", seed)
}

// recipeLog is a write log of the recipes' keys for the check tests:
// lock keys a (rev 2) and b (rev 3), a's critical-section write (4), a
// released (5), b's write (6); candidates x (7) and y (8), x's
// leader-only write (9), x proclaims (10), x resigns (11); a
// configuration written whole (12).
func recipeLog() []lin.LogEntry {
	put := func(k, v string) lin.Change { return lin.Change{Key: k, Type: lin.EventPut, Value: v} }
	del := func(k string) lin.Change { return lin.Change{Key: k, Type: lin.EventDelete} }
	return []lin.LogEntry{
		{Revision: 2, Changes: []lin.Change{put("recipe/lock/a", "")}},
		{Revision: 3, Changes: []lin.Change{put("recipe/lock/b", "")}},
		{Revision: 4, Changes: []lin.Change{put(recipeLockData, "va")}},
		{Revision: 5, Changes: []lin.Change{del("recipe/lock/a")}},
		{Revision: 6, Changes: []lin.Change{put(recipeLockData, "vb")}},
		{Revision: 7, Changes: []lin.Change{put("recipe/election/x", "x1")}},
		{Revision: 8, Changes: []lin.Change{put("recipe/election/y", "y1")}},
		{Revision: 9, Changes: []lin.Change{put(recipeElectionWork, "wx")}},
		{Revision: 10, Changes: []lin.Change{put("recipe/election/x", "x2")}},
		{Revision: 11, Changes: []lin.Change{del("recipe/election/x")}},
		{Revision: 12, Changes: []lin.Change{put(recipeConfig+"a", "1"), put(recipeConfig+"gen", "1")}},
	}
}

// TestRecipeChecks: each recipe check passes the records of a correct
// run and fails, naming the client and revision, on the records of each
// kind of broken recipe.
func TestRecipeChecks(t *testing.T) {
	good := func() recipeRecords {
		kv := func(k, v string, c, m, ver int64) api.KeyValue {
			return api.KeyValue{Key: []byte(k), Value: []byte(v), CreateRevision: c, ModRevision: m, Version: ver}
		}
		return recipeRecords{
			holds:  []lockHold{{client: 1, key: "recipe/lock/a", token: 2, at: 3}, {client: 2, key: "recipe/lock/b", token: 3, at: 5}},
			dataBy: map[string]int{"va": 0, "vb": 1},
			wins:   []electionWin{{client: 3, key: "recipe/election/x", term: 7, at: 8}, {client: 4, key: "recipe/election/y", term: 8, at: 11}},
			workBy: map[string]int{"wx": 0},
			observed: []ownerSeen{
				{client: 5, Owner: concurrency.Owner{Revision: 6}},
				{client: 5, Owner: concurrency.Owner{Key: "recipe/election/x", Value: "x2", CreateRevision: 7, Revision: 10}},
				{client: 5, Owner: concurrency.Owner{Key: "recipe/election/y", Value: "y1", CreateRevision: 8, Revision: 11}},
			},
			closes: []sessionClose{{client: 1, key: "recipe/lock/a", rev: 5}},
			follows: []followState{
				{client: 6, prefix: recipeConfig, rev: 11, list: true},
				{client: 6, prefix: recipeConfig, rev: 12, kvs: []api.KeyValue{kv(recipeConfig+"a", "1", 12, 12, 1), kv(recipeConfig+"gen", "1", 12, 12, 1)}},
			},
		}
	}
	for _, c := range []struct {
		name, want string
		breakIt    func(*recipeRecords)
	}{
		{"correct", "", func(*recipeRecords) {}},
		{"two lock owners", "client 2 took the lock with key recipe/lock/b (token 3) at revision 4, but the lock's owner then was recipe/lock/a",
			func(r *recipeRecords) { r.holds[1].at = 4 }},
		{"critical section outside the hold", "mutual exclusion: critical-section write \"va\" of client 2",
			func(r *recipeRecords) { r.dataBy["va"] = 1 }},
		{"two leaders", "client 4 won with key recipe/election/y (term 8) at revision 9",
			func(r *recipeRecords) { r.wins[1].at = 9 }},
		{"leader-only write of a follower", "leader-only write \"wx\" of client 4",
			func(r *recipeRecords) { r.workBy["wx"] = 1 }},
		{"observer names a follower", "observer client 5 reported leader recipe/election/y",
			func(r *recipeRecords) {
				r.observed[1].Owner = concurrency.Owner{Key: "recipe/election/y", Value: "y1", CreateRevision: 8, Revision: 10}
			}},
		{"observer misses the leader's value", "observer client 5 reported leader recipe/election/x (created at 7, value \"x1\") at revision 10",
			func(r *recipeRecords) { r.observed[1].Value = "x1" }},
		{"session key outlives its close", "client 1 closed its session",
			func(r *recipeRecords) { r.closes[0].found = true }},
		{"follower applies half a revision", "client 6's cache after applying revision 12 of recipe/config/",
			func(r *recipeRecords) { r.follows[1].kvs = r.follows[1].kvs[:1] }},
		{"list that is not the store", "client 6's list at revision 11",
			func(r *recipeRecords) { r.follows[0].kvs = r.follows[1].kvs }},
	} {
		rec := good()
		c.breakIt(&rec)
		rr := &recipeRun{p: allRecipes, rec: rec, note: func(string, ...any) {}}
		log := recipeLog()
		err := errors.Join(rr.checkLock(log), rr.checkElection(log), rr.checkCloses(), rr.checkFollowers(log))
		if c.want == "" {
			require.NoError(t, err, c.name)
			continue
		}
		require.ErrorContains(t, err, c.want, c.name)
	}
}

// TestRecipeOps: the recipes' writes, and only theirs, join the history
// as transactions at their revisions.
func TestRecipeOps(t *testing.T) {
	log := append(recipeLog(), lin.LogEntry{Revision: 13, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "c1.1"}}})
	r := &seedRun{}
	require.Empty(t, r.recipeOps(log), "no recipe part, no ops")
	r.recipes = &recipeRun{}
	r.leases.seen.note(500, 9)
	ops := r.recipeOps(log)
	require.Len(t, ops, 11)
	for i, op := range ops {
		e := log[i]
		require.Equal(t, e.Revision-revBase, op.Output.Revision)
		require.Equal(t, lin.KindTxn, op.Input.Kind)
		require.Len(t, op.Input.Then, len(e.Changes))
		require.Equal(t, recipeHistClient, op.ClientID)
		if e.Revision <= 9 {
			require.Equal(t, int64(500), op.Return, "revision %d was seen at 500", e.Revision)
		} else {
			require.Equal(t, lin.UnknownReturn, op.Return, "revision %d was never seen", e.Revision)
		}
	}
	require.Equal(t, lin.TxnOp{Kind: lin.KindDelete, Key: "recipe/lock/a"}, ops[3].Input.Then[0])
	require.Equal(t, lin.TxnOp{Kind: lin.KindPut, Key: recipeConfig + "gen", Value: "1"}, ops[10].Input.Then[1])
}

// BenchmarkRecipePart measures what the recipe part costs: each seed of
// the default swarm runs with its drawn scenario and again without its
// recipe part, and the ratios of events and of wall time (mean and
// median) are reported, along with the share of seeds that had one.
//
//	go test ./harness -run '^$' -bench RecipePart -benchtime 100x -cpu 1
func BenchmarkRecipePart(b *testing.B) {
	requireNode(b)
	var evOn, evOff uint64
	var wOn, wOff []time.Duration
	var chOn, chOff, cpuOn, cpuOff time.Duration
	seed, with := uint64(0), 0
	for b.Loop() {
		seed++
		cfg := testConfig()
		if DrawScenario(cfg, seed).Workload.Recipes.total() > 0 {
			with++
		}
		without := cfg
		without.Adjust = func(s *Scenario) { s.Workload.Recipes = defaultRecipes() }
		var on, off Result
		timed := func(c Config, cpu *time.Duration) Result {
			c0, _ := processCPU()
			res := Run(c, seed)
			c1, _ := processCPU()
			*cpu += c1 - c0
			return res
		}
		if seed%2 == 0 { // alternate which runs first: the second gains from a warm heap
			on, off = timed(cfg, &cpuOn), timed(without, &cpuOff)
		} else {
			off, on = timed(without, &cpuOff), timed(cfg, &cpuOn)
		}
		if on.Verdict != Pass || off.Verdict != Pass {
			b.Fatalf("seed %d: %s / %s", seed, on.Reason, off.Reason)
		}
		evOn, evOff = evOn+on.Events, evOff+off.Events
		chOn, chOff = chOn+on.CheckTime, chOff+off.CheckTime
		wOn, wOff = append(wOn, on.Wall), append(wOff, off.Wall)
	}
	sum := func(ws []time.Duration) (s time.Duration) {
		for _, w := range ws {
			s += w
		}
		return s
	}
	b.ReportMetric(float64(evOn)/float64(evOff), "events-ratio")
	b.ReportMetric(float64(sum(wOn))/float64(sum(wOff)), "wall-ratio")
	b.ReportMetric(float64(chOn)/float64(chOff), "check-ratio")
	if cpuOff > 0 {
		b.ReportMetric(float64(cpuOn)/float64(cpuOff), "cpu-ratio")
	}
	slices.Sort(wOn)
	slices.Sort(wOff)
	b.ReportMetric(float64(wOn[len(wOn)/2])/float64(wOff[len(wOff)/2]), "median-wall-ratio")
	b.ReportMetric(float64(with)/float64(seed), "recipe-share")
}
