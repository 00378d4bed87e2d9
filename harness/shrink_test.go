package harness

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/stretchr/testify/require"
)

// fakeEpisodes is the episode log of a fake run: fault f's episode k
// begins at (k+1)*gap, if before the end and under the cap.
func fakeEpisodes(sc Scenario) []faults.FaultSchedule {
	var logs []faults.FaultSchedule
	for _, f := range sc.Faults {
		l := faults.FaultSchedule{Name: f.Name}
		for k := 0; time.Duration(k+1)*f.Gap.D() < sc.Duration.D(); k++ {
			if f.MaxEpisodes > 0 && k >= f.MaxEpisodes {
				break
			}
			l.Begun++
			if !slices.Contains(f.Skip, k) {
				l.Injected = append(l.Injected, k)
			}
		}
		logs = append(logs, l)
	}
	return logs
}

// fakeShrinkRun is a run whose verdict is a pure function of the
// scenario: it fails with a linearizability reason when crash episodes 2
// and 5 are both injected with a hold of at least 250ms, on 3 or more
// nodes, with 2 or more clients per node, 4 or more keys, a think time
// of at most 300ms, gets and puts in the mix and some base message loss.
// On fewer nodes the same fault fails with another class (convergence),
// which must not be taken.
func fakeShrinkRun(runs *int) func(Config, uint64) Result {
	return func(cfg Config, seed uint64) Result {
		*runs++
		sc := *cfg.Scenario
		logs := fakeEpisodes(sc)
		crash := false
		for i, l := range logs {
			f := sc.Faults[i]
			crash = crash || f.Name == faults.Crash && f.Hold.D() >= 250*time.Millisecond &&
				slices.Contains(l.Injected, 2) && slices.Contains(l.Injected, 5)
		}
		w := sc.Workload
		d := sc.Duration.D()
		res := Result{Seed: seed, Verdict: Pass, Scenario: &sc, Schedule: logs,
			Events: uint64(sc.Nodes) * uint64(d/time.Millisecond),
			Ops:    sc.Nodes * sc.ClientsPerNode * int(d/max(w.ThinkTime.D(), time.Millisecond))}
		switch {
		case !crash:
		case sc.Nodes < 3:
			res.Verdict, res.Reason = Fail, fmt.Sprintf("convergence: replica %d at revision 3", sc.Nodes)
		case sc.ClientsPerNode >= 2 && w.Keys >= 4 && w.ThinkTime.D() <= 300*time.Millisecond &&
			w.Mix.Put > 0 && w.Mix.Get > 0 && sc.Net.Loss > 0:
			res.Verdict = Fail
			res.Reason = fmt.Sprintf("linearizability: op %d (client %d) reported revision %d", res.Ops, sc.ClientsPerNode, sc.Nodes)
		}
		return res
	}
}

// fakeShrinkStart is a big failing scenario for fakeShrinkRun.
func fakeShrinkStart() Scenario {
	sc := DefaultScenario()
	sc.Nodes, sc.ClientsPerNode = 5, 4
	sc.Faults = []faults.Spec{
		{Name: faults.Crash, Gap: Duration(500 * time.Millisecond), Hold: Duration(800 * time.Millisecond)},
		{Name: faults.Partition, Gap: Duration(300 * time.Millisecond), Hold: Duration(200 * time.Millisecond)},
	}
	sc.Net.Loss, sc.Net.Duplicate, sc.Net.DupDelay, sc.Net.TailProb = 0.01, 0.02, Duration(time.Second), 0.005
	sc.Disk.SyncJitter = Duration(time.Millisecond)
	sc.Workload.Keys, sc.Workload.ThinkTime = 16, Duration(50*time.Millisecond)
	sc.Raft.SnapshotEntries = 32
	return sc
}

func fakeFails(t *testing.T, sc Scenario) bool {
	var n int
	res := fakeShrinkRun(&n)(Config{Scenario: &sc}, 1)
	return res.Verdict == Fail && FailureClass(res.Reason) == "linearizability"
}

// TestShrinkFakeReachesOneMinimal: with a fake predicate the shrinker
// ends at the one smallest failing scenario, and no single step of any
// pass from there still fails.
func TestShrinkFakeReachesOneMinimal(t *testing.T) {
	start := fakeShrinkStart()
	require.True(t, fakeFails(t, start))
	cfg := DefaultConfig()
	cfg.Scenario = &start
	runs := 0
	res, err := Shrink(ShrinkConfig{Base: cfg, Seed: 7, Run: fakeShrinkRun(&runs)})
	require.NoError(t, err)
	require.False(t, res.Exhausted)
	require.Equal(t, "linearizability", res.Class)
	require.Equal(t, runs-1, res.Runs, "the starting run is not counted")

	got := res.Scenario
	require.Len(t, got.Faults, 1)
	f := got.Faults[0]
	require.Equal(t, faults.Crash, f.Name)
	require.Equal(t, 6, f.MaxEpisodes)
	require.Equal(t, []int{0, 1, 3, 4}, f.Skip)
	require.Equal(t, faults.MinGap, f.Gap.D())
	require.Equal(t, 250*time.Millisecond, f.Hold.D())
	require.Equal(t, 130*time.Millisecond, got.Duration.D(), "episode 5 begins at 6 x 20ms")
	require.Equal(t, 3, got.Nodes, "2 nodes fail too, but with another class")
	require.Equal(t, 2, got.ClientsPerNode)
	require.Equal(t, 4, got.Workload.Keys)
	require.Equal(t, 300*time.Millisecond, got.Workload.ThinkTime.D())
	require.Equal(t, Mix{Get: start.Workload.Mix.Get, Put: start.Workload.Mix.Put}, got.Workload.Mix)
	require.Equal(t, start.Net.Loss, got.Net.Loss)
	require.Zero(t, got.Net.Duplicate)
	require.Zero(t, got.Workload.Watches)
	require.Equal(t, res.After.Scenario, &res.Scenario)

	for _, n := range shrinkNeighbours(got) {
		require.False(t, fakeFails(t, n.sc), "one step (%s) from the result still fails: not 1-minimal", n.step)
	}
	b, a := SizeOf(res.Before), SizeOf(res.After)
	require.Less(t, a.Events, b.Events)
	require.Less(t, a.Ops, b.Ops)
	require.Equal(t, 2, a.Episodes)
}

type neighbour struct {
	step string
	sc   Scenario
}

// shrinkNeighbours are the scenarios one step of any pass away from sc.
func shrinkNeighbours(sc Scenario) []neighbour {
	var out []neighbour
	add := func(step string, f func(*Scenario)) {
		c := sc.clone()
		f(&c)
		if c.Validate() == nil && !bytes.Equal(MarshalScenario(c), MarshalScenario(sc)) {
			out = append(out, neighbour{step, c})
		}
	}
	add("duration", func(c *Scenario) { c.Duration -= Duration(shrinkDurationStep) })
	add("nodes", func(c *Scenario) { c.Nodes-- })
	add("clients", func(c *Scenario) { c.ClientsPerNode-- })
	add("keys", func(c *Scenario) { c.Workload.Keys-- })
	add("think", func(c *Scenario) { c.Workload.ThinkTime += Duration(shrinkThinkStep) })
	for i := range sc.Faults {
		add("drop fault", func(c *Scenario) { c.Faults = slices.Delete(c.Faults, i, i+1) })
		add("gap", func(c *Scenario) { c.Faults[i].Gap -= Duration(shrinkDurationStep) })
		add("hold", func(c *Scenario) { c.Faults[i].Hold -= Duration(shrinkDurationStep) })
		for _, k := range fakeEpisodes(sc)[i].Injected {
			add(fmt.Sprintf("skip episode %d", k), func(c *Scenario) {
				c.Faults[i].Skip = append(c.Faults[i].Skip, k)
				slices.Sort(c.Faults[i].Skip)
			})
		}
	}
	for i := range reflect.TypeOf(Mix{}).NumField() {
		add(fmt.Sprintf("mix kind %d", i), func(c *Scenario) { mixField(&c.Workload.Mix, i).SetInt(0) })
	}
	for i, s := range simplifications {
		add(fmt.Sprintf("simplification %d", i), func(c *Scenario) { s(c) })
	}
	return out
}

// TestShrinkBoundsGrowthAndKeepsTheSmallest: a step that grows the run by
// more than half is refused; one that grows it less is taken, but the
// result is the smallest run seen.
func TestShrinkBoundsGrowthAndKeepsTheSmallest(t *testing.T) {
	start := fakeShrinkStart()
	cfg := DefaultConfig()
	cfg.Scenario = &start
	run := func(cfg Config, seed uint64) Result {
		sc := *cfg.Scenario
		res := Result{Seed: seed, Verdict: Fail, Reason: "convergence: stuck", Scenario: &sc, Events: 100, Ops: 10}
		if sc.Raft.SnapshotEntries != start.Raft.SnapshotEntries {
			res.Events = 120 // no snapshots: a longer run, taken (within half again)
		}
		if sc.Net.Loss == 0 {
			res.Ops = 20 // a lossless network: twice the operations, refused
		}
		return res
	}
	res, err := Shrink(ShrinkConfig{Base: cfg, Seed: 7, Run: run})
	require.NoError(t, err)
	require.Equal(t, start.Net.Loss, res.Scenario.Net.Loss, "the step that doubled the operations was refused")
	require.Zero(t, res.Scenario.Net.Duplicate, "the steps after the refused one went on from the smaller run")
	require.Equal(t, uint64(100), res.After.Events)
	require.Equal(t, start.Raft.SnapshotEntries, res.Scenario.Raft.SnapshotEntries, "the smallest run seen had its snapshots")
	require.Equal(t, 10*time.Millisecond, res.Scenario.Duration.D(), "steps that kept the size were taken")
}

// TestShrinkBudget: the run budget is respected and reported.
func TestShrinkBudget(t *testing.T) {
	start := fakeShrinkStart()
	cfg := DefaultConfig()
	cfg.Scenario = &start
	runs := 0
	res, err := Shrink(ShrinkConfig{Base: cfg, Seed: 7, Run: fakeShrinkRun(&runs), MaxRuns: 5})
	require.NoError(t, err)
	require.True(t, res.Exhausted)
	require.Equal(t, 5, res.Runs)
	require.Equal(t, 6, runs)
	require.True(t, fakeFails(t, res.Scenario), "the result is a failing scenario")

	stop := 0
	res, err = Shrink(ShrinkConfig{Base: cfg, Seed: 7, Run: fakeShrinkRun(&runs), Continue: func() bool { stop++; return stop <= 3 }})
	require.NoError(t, err)
	require.True(t, res.Exhausted)
	require.Equal(t, 3, res.Runs)
}

// TestShrinkNotFailing: a passing run is refused with ErrNotFailing.
func TestShrinkNotFailing(t *testing.T) {
	sc := fakeShrinkStart()
	sc.Faults = []faults.Spec{}
	cfg := DefaultConfig()
	cfg.Scenario = &sc
	runs := 0
	res, err := Shrink(ShrinkConfig{Base: cfg, Seed: 7, Run: fakeShrinkRun(&runs)})
	require.ErrorIs(t, err, ErrNotFailing)
	require.Equal(t, Pass, res.Before.Verdict)
	require.Equal(t, 1, runs)
}

func TestFailureClass(t *testing.T) {
	for _, tc := range []struct{ reason, class string }{
		{"linearizability: history is not linearizable under the store model", "linearizability"},
		{"linearizability: op 392 (client 8, get(/k/4) -> [/k/4=c9.17@64] @ rev 75) reported revision 75", "linearizability"},
		{"lost acknowledged write: client 0 op 7 put(/k/1, c0.24) acknowledged at revision 163: replica 2's own log has no", "lost acknowledged write"},
		{"lost acknowledged write: x; then: liveness: no write succeeded", "lost acknowledged write"},
		{"lease: lease expired early: lease 31 of client 2 (TTL 1s)", "lease: lease expired early"},
		{`watch 3 (client 0, "/" from revision 26): watch: wrong prev_kv at revision 51 key "/k/7": got x`, "watch"},
		{"convergence: replica 1 at revision 368 hash 4a69d994b210ca0c, replica 3 at revision 367", "convergence"},
		{"convergence: replicas did not catch up within 10s after heal (5 of 5 running)", "convergence"},
		{"liveness: no write succeeded within 10s after heal (20 attempts, last: client: request timed out)", "liveness"},
		{"livelock: 319851 events and 10619594 bytes sent", "livelock"},
		{"panic: runtime error: index out of range [3] with length 3\ngoroutine 1", "panic: runtime error"},
		{"membership: a change was applied while another was pending: replica 1 applied", "membership"},
		{"state-machine safety: replica 4 applied index 92 of term 7", "state-machine safety"},
	} {
		require.Equal(t, tc.class, FailureClass(tc.reason), tc.reason)
	}
}

// TestDdmin: delta debugging finds the minimal subset of a monotone set
// predicate (here unique), in fewer tests than there are subsets.
func TestDdmin(t *testing.T) {
	for _, want := range [][]int{{}, {0}, {9}, {3, 4}, {0, 5, 11}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}} {
		tests := 0
		got := ddminSet(12, func(keep []int) bool {
			tests++
			for _, w := range want {
				if !slices.Contains(keep, w) {
					return false
				}
			}
			return true
		}, func() bool { return false })
		require.Equal(t, want, append([]int{}, got...))
		require.Less(t, tests, 150, "want %v", want)
	}
	stops := 0
	got := ddminSet(12, func([]int) bool { return false }, func() bool { stops++; return true })
	require.Len(t, got, 12, "stopped at once: nothing removed")
	require.Equal(t, 1, stops)
}

// TestShrinkRealRunReplays shrinks a real failing run (a majority losing
// fsynced data, beyond the model: it fails reliably) and replays the
// result from its file: same trace hash, same reason.
func TestShrinkRealRunReplays(t *testing.T) {
	requireNode(t)
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Faults = 3, "lose-synced,crash"
	res, err := Shrink(ShrinkConfig{Base: cfg, Seed: 1, MaxRuns: 300})
	require.NoError(t, err)
	require.Equal(t, "lost synced data", res.Class)
	require.Equal(t, Fail, res.After.Verdict)
	require.Equal(t, res.Class, FailureClass(res.After.Reason))
	b, a := SizeOf(res.Before), SizeOf(res.After)
	t.Logf("before %v\nafter  %v\nruns %d steps %d", b, a, res.Runs, res.Steps)
	require.Less(t, a.Events, b.Events)
	require.Less(t, a.Ops, b.Ops)
	require.LessOrEqual(t, a.Episodes, b.Episodes)

	sc, err := DecodeScenario(bytes.NewReader(MarshalScenario(res.Scenario)), DefaultScenario())
	require.NoError(t, err)
	require.Equal(t, res.Scenario, sc)
	replay := DefaultConfig()
	replay.Scenario = &sc
	again := Run(replay, 1)
	require.Equal(t, res.After.TraceHash, again.TraceHash)
	require.Equal(t, res.After.Reason, again.Reason)
}
