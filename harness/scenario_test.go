package harness

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/faults"
)

// TestDrawScenarioDeterministic: the same config and seed give the same
// scenario; different seeds (almost always) different ones.
func TestDrawScenarioDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	distinct := map[string]bool{}
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := DrawScenario(cfg, seed), DrawScenario(cfg, seed)
		require.Equal(t, a, b, "seed %d", seed)
		distinct[string(MarshalScenario(a))] = true
	}
	require.Len(t, distinct, 50, "every seed draws its own scenario")
}

// TestDrawScenarioPins: the fields a Config pins are taken, not drawn.
func TestDrawScenarioPins(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Nodes, cfg.ClientsPerNode, cfg.Keys, cfg.SnapshotEntries = 3, 7, 11, 99
	cfg.Mix, cfg.Faults = Mix{Get: 1, Put: 2}, "crash,packet"
	for seed := uint64(1); seed <= 20; seed++ {
		s := DrawScenario(cfg, seed)
		require.Equal(t, 3, s.Nodes)
		require.Equal(t, 7, s.ClientsPerNode)
		require.Equal(t, 11, s.Workload.Keys)
		require.Equal(t, uint64(99), s.Raft.SnapshotEntries)
		require.Equal(t, Mix{Get: 1, Put: 2}, s.Workload.Mix)
		require.Equal(t, []string{"crash", "packet"}, s.FaultNames())
	}
	cfg.Nodes = 0
	seen := map[int]bool{}
	for seed := uint64(1); seed <= 60; seed++ {
		seen[DrawScenario(cfg, seed).Nodes] = true
	}
	require.Equal(t, map[int]bool{3: true, 4: true, 5: true, 6: true, 7: true}, seen, "-nodes 0 draws the cluster size")
}

// TestDrawnScenariosValidateAndRoundTrip: every drawn scenario is within
// bounds, and its JSON reads back to the same value.
func TestDrawnScenariosValidateAndRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.Nodes = rapid.IntRange(0, MaxNodes).Draw(t, "nodes")
		cfg.Faults = rapid.SampledFrom([]string{"swarm", "all", "none", "all,lose-synced", "swarm,disk-corrupt-majority"}).Draw(t, "faults")
		seed := rapid.Uint64().Draw(t, "seed")
		s := DrawScenario(cfg, seed)
		require.NoError(t, s.Validate())
		back, err := DecodeScenario(bytes.NewReader(MarshalScenario(s)), Scenario{})
		require.NoError(t, err)
		require.Equal(t, s, back)
	})
}

func TestDecodeScenarioStrict(t *testing.T) {
	good := string(MarshalScenario(DrawScenario(DefaultConfig(), 3)))
	for _, c := range []struct {
		name, in, field string
	}{
		{"unknown top-level field", `{"nodes":3,"bogus":1}`, `"bogus"`},
		{"unknown nested field", `{"net":{"latency":"1ms"}}`, `"latency"`},
		{"unknown mix kind", `{"workload":{"mix":{"teleport":3}}}`, `"teleport"`},
		{"nodes out of bounds", `{"nodes":99}`, "nodes"},
		{"loss out of bounds", `{"net":{"loss":0.9}}`, "net.loss"},
		{"negative weight", `{"workload":{"mix":{"get":-1}}}`, "workload.mix.get"},
		{"heartbeat too slow", `{"raft":{"election_ticks":4,"heartbeat_ticks":2}}`, "raft.heartbeat_ticks"},
		{"bad duration", `{"raft":{"tick":"soon"}}`, "soon"},
		{"number for duration", `{"duration":10}`, "duration"},
		{"wrong type", `{"nodes":"five"}`, "nodes"},
		{"unknown fault", `{"faults":[{"name":"meteor","gap":"1s","hold":"1s"}]}`, "faults[0].name"},
		{"fault gap", `{"faults":[{"name":"crash","gap":"1ns","hold":"1s"}]}`, "faults[0].gap"},
		{"fault param", `{"faults":[{"name":"disk-slow","gap":"1s","hold":"1s","params":{"max_slow":1e9}}]}`, "faults[0].params.max_slow"},
		{"unknown fault param", `{"faults":[{"name":"crash","gap":"1s","hold":"1s","params":{"n":1}}]}`, "faults[0].params.n"},
		{"fault twice", `{"faults":[{"name":"crash","gap":"1s","hold":"1s"},{"name":"crash","gap":"1s","hold":"1s"}]}`, "faults[1].name"},
		{"trailing data", good + `{}`, "trailing"},
		{"not an object", `[1]`, "scenario"},
	} {
		_, err := DecodeScenario(strings.NewReader(c.in), DefaultScenario())
		require.ErrorIs(t, err, ErrBadScenario, c.name)
		require.ErrorContains(t, err, c.field, c.name)
	}
	s, err := DecodeScenario(strings.NewReader(`{"nodes":3}`), DefaultScenario())
	require.NoError(t, err, "missing fields take the base's values")
	want := DefaultScenario()
	want.Nodes = 3
	require.Equal(t, want, s)
}

// TestScenarioRerunsExactly: running a seed with its drawn scenario given
// explicitly is the same run.
func TestScenarioRerunsExactly(t *testing.T) {
	requireNode(t)
	cfg := DefaultConfig()
	for _, seed := range []uint64{5, 6} {
		drawn := Run(cfg, seed)
		require.NotNil(t, drawn.Scenario)
		var sc Scenario
		require.NoError(t, json.Unmarshal(MarshalScenario(*drawn.Scenario), &sc))
		cfg2 := cfg
		cfg2.Scenario = &sc
		cfg2.Nodes = 1 // ignored: the scenario decides
		again := Run(cfg2, seed)
		require.Equal(t, drawn.TraceHash, again.TraceHash, "seed %d", seed)
		require.Equal(t, drawn.Verdict, again.Verdict)
		require.Equal(t, drawn.Faults, again.Faults)
	}
}

func TestOverrideFaults(t *testing.T) {
	slow := faults.Spec{Name: "disk-slow", Gap: Duration(1e9), Hold: Duration(2e9), Params: map[string]float64{"max_slow": 7}}
	got, err := OverrideFaults([]faults.Spec{slow}, "crash,disk-slow")
	require.NoError(t, err)
	require.Equal(t, []string{"crash", "disk-slow"}, []string{got[0].Name, got[1].Name})
	require.Equal(t, slow, got[1], "a fault the scenario had keeps its spec")
	_, err = OverrideFaults(nil, "swarm")
	require.ErrorIs(t, err, ErrBadScenario)
	got, err = OverrideFaults([]faults.Spec{slow}, "none")
	require.NoError(t, err)
	require.Empty(t, got)
}
