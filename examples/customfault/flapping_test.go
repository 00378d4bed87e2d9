package customfault

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
	"github.com/stretchr/testify/require"
)

func TestRegistered(t *testing.T) {
	f, ok := faults.Lookup(Name)
	require.True(t, ok)
	require.Equal(t, faults.InModel, f.Class())
	set, err := faults.Parse("flapping-link,crash")
	require.NoError(t, err)
	require.True(t, set.Has(Name))
	all, err := faults.Parse("all")
	require.NoError(t, err)
	require.True(t, all.Has(Name), "an in-model fault from outside is part of \"all\"")
	require.ErrorIs(t, faults.Register(Flapping{}), faults.ErrRegister, "the name is taken once")
}

// idle is a replica that does nothing.
type idle struct{}

func (idle) Receive(host.NodeID, []byte) {}

// On a bare world: the fault cuts and reconnects one link of replicas
// while active, never cuts a direction another fault cut, and every heal
// leaves the network as it found it.
func TestFlappingInjectsAndHeals(t *testing.T) {
	w := sim.NewWorld(7, sim.DefaultConfig())
	ids := []host.NodeID{1, 2, 3}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, func(host.Host) host.Process { return idle{} }))
	}
	w.Net().Cut(3, 1) // another fault's cut: must survive every episode
	var trace bytes.Buffer
	w.SetTraceWriter(&trace)
	spec := faults.Spec{Name: Name, Gap: faults.Duration(50 * time.Millisecond), Hold: faults.Duration(200 * time.Millisecond),
		Params: map[string]float64{ParamPeriod: 10}}
	n, err := faults.NewFromSpecs(w, ids, []faults.Spec{spec}, w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(3*time.Second))
	sawCut := false
	for w.Elapsed() < 3*time.Second {
		w.RunFor(time.Millisecond)
		cuts := w.Net().Cuts()
		require.Contains(t, cuts, [2]host.NodeID{3, 1})
		if len(cuts) > 1 {
			sawCut = true
			want := 3 // one link, both directions, and 3->1
			if slices.Contains(cuts, [2]host.NodeID{1, 3}) {
				want = 2 // link 1-3: only 1->3 was up to cut
			}
			require.Len(t, cuts, want, "%v", cuts)
		}
		if len(n.Active()) == 0 {
			require.Equal(t, [][2]host.NodeID{{3, 1}}, cuts, "healed at %v", w.Elapsed())
		}
	}
	require.True(t, sawCut)
	n.HealAll()
	w.Net().Connect(3, 1)
	require.Empty(t, w.Net().Cuts())
	injected := count(injectedRE, trace.String())
	healed := count(healedRE, trace.String())
	require.Greater(t, injected, 3)
	require.GreaterOrEqual(t, healed, injected-1) // the last episode may be cut short by HealAll
}

// The trace's event kinds, as words of its lines (raw or decoded).
var (
	flipRE     = regexp.MustCompile(`(?m)\sflapping-link/(cut|connect)/\d+-\d+(\s|$)`)
	injectedRE = regexp.MustCompile(`(?m)\sfault/` + Name + `(\s|$)`)
	healedRE   = regexp.MustCompile(`(?m)\sheal/` + Name + `(\s|$)`)
	droppedRE  = regexp.MustCompile(`(?m)\sdrop-cut(\s|$)`)
)

func count(re *regexp.Regexp, s string) int { return len(re.FindAllString(s, -1)) }

// Whole-cluster seeded runs of seedkv under the fault (with crashes): the
// fault is injected, flaps, is healed, and the store stays linearizable,
// loses nothing and converges.
func TestStoreStaysCorrect(t *testing.T) {
	seeds := uint64(20)
	if testing.Short() {
		seeds = 5
	}
	total := map[string]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		var trace bytes.Buffer
		cfg := harness.DefaultConfig()
		cfg.Nodes, cfg.Duration, cfg.Faults = 3, 4*time.Second, Name+",crash"
		cfg.TraceWriter = &trace
		res := harness.Run(cfg, seed)
		require.Equal(t, harness.Pass, res.Verdict, "seed %d: %s", seed, res.Reason)
		require.Contains(t, res.Faults, Name)
		tr := trace.String()
		counts := map[string]int{
			"injected": count(injectedRE, tr),
			"healed":   count(healedRE, tr),
			"flips":    count(flipRE, tr),
			"dropped":  count(droppedRE, tr),
		}
		for k, v := range counts {
			total[k] += v
		}
		t.Logf("seed %d: %v, %d ops, %s", seed, counts, res.Ops, fmt.Sprint(res.Skipped()))
	}
	require.Positive(t, total["injected"])
	require.Positive(t, total["healed"])
	require.Greater(t, total["flips"], total["injected"])
	require.Positive(t, total["dropped"], "the cut links dropped messages")
}
