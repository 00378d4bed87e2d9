package faults_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// slowNet is a fault written outside package faults: it only uses the
// public Fault, Episode and Nemesis API.
type slowNet struct{}

func (slowNet) Name() string        { return "test-slow-net" }
func (slowNet) Class() faults.Class { return faults.InModel }
func (slowNet) Params() []faults.Param {
	return []faults.Param{{Name: "factor", Min: 1, Max: 100, Default: 10}}
}

func (slowNet) Inject(e *faults.Episode) (string, func(), bool) {
	net := e.N.World().Net()
	c := net.Config()
	f := e.Spec.Param("factor")
	_ = net.SetLatency(time.Duration(float64(c.Base)*f), c.Jitter, c.TailProb, c.Tail)
	e.N.World().Record("fault/test-slow-net", 0, nil)
	return fmt.Sprintf("x%v", f), func() { _ = net.SetLatency(c.Base, c.Jitter, c.TailProb, c.Tail) }, true
}

// greedy crashes every replica: a broken in-model fault, which the
// nemesis's budget assertion must catch.
type greedy struct{}

func (greedy) Name() string           { return "test-greedy" }
func (greedy) Class() faults.Class    { return faults.InModel }
func (greedy) Params() []faults.Param { return nil }

func (greedy) Inject(e *faults.Episode) (string, func(), bool) {
	for _, id := range e.N.Replicas() {
		e.N.CrashNode(id, "test-greedy")
	}
	return "everyone", func() {}, true
}

// register registers f for the test only.
func register(t *testing.T, f faults.Fault) {
	require.NoError(t, faults.Register(f))
	t.Cleanup(func() { faults.Unregister(f.Name()) })
}

func cluster(t *testing.T) (*sim.World, []host.NodeID) {
	w := sim.NewWorld(1, sim.DefaultConfig())
	ids := []host.NodeID{1, 2, 3}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, func(h host.Host) host.Process { return nop{} }))
	}
	return w, ids
}

type nop struct{}

func (nop) Receive(host.NodeID, []byte) {}

// TestOutsideFaultRegisters: a fault registered from another package is
// parsed by name, is in "all" (in the model), validates its parameters and
// is injected and healed by the nemesis.
func TestOutsideFaultRegisters(t *testing.T) {
	register(t, slowNet{})
	set, err := faults.Parse("test-slow-net")
	require.NoError(t, err)
	require.True(t, set.Has("test-slow-net"))
	require.True(t, faults.All.Has("test-slow-net"))
	bad := faults.Spec{Name: "test-slow-net", Gap: faults.Duration(time.Second), Hold: faults.Duration(time.Second), Params: map[string]float64{"factor": 1000}}
	require.ErrorContains(t, bad.Validate("faults[0]"), "faults[0].params.factor")

	w, ids := cluster(t)
	base := w.Net().Config().Base
	n, err := faults.NewFromSpecs(w, ids, []faults.Spec{{Name: "test-slow-net", Gap: faults.Duration(100 * time.Millisecond), Hold: faults.Duration(time.Second)}}, w.Rand("n"))
	require.NoError(t, err)
	require.NoError(t, n.Start(time.Second))
	w.RunFor(300 * time.Millisecond)
	require.Equal(t, []string{"test-slow-net x10"}, n.ActiveDetail())
	require.Equal(t, 10*base, w.Net().Config().Base)
	n.HealAll()
	require.Equal(t, base, w.Net().Config().Base)
}

func TestRegisterRefuses(t *testing.T) {
	register(t, slowNet{})
	require.ErrorIs(t, faults.Register(slowNet{}), faults.ErrRegister, "name taken")
	require.ErrorIs(t, faults.Register(named{"Bad Name"}), faults.ErrRegister)
	require.ErrorIs(t, faults.Register(named{"all"}), faults.ErrRegister)
}

type named struct{ name string }

func (f named) Name() string                                { return f.name }
func (named) Class() faults.Class                           { return faults.InModel }
func (named) Params() []faults.Param                        { return nil }
func (named) Inject(*faults.Episode) (string, func(), bool) { return "", nil, false }

// TestBudgetAssertedAfterInjection: an in-model fault that crashes a
// majority makes the nemesis panic with ErrOverBudget.
func TestBudgetAssertedAfterInjection(t *testing.T) {
	register(t, greedy{})
	w, ids := cluster(t)
	n, err := faults.NewFromSpecs(w, ids, []faults.Spec{{Name: "test-greedy", Gap: faults.Duration(100 * time.Millisecond), Hold: faults.Duration(time.Second)}}, w.Rand("n"))
	require.NoError(t, err)
	require.NoError(t, n.Start(time.Second))
	defer func() {
		p := recover()
		require.NotNil(t, p, "no panic")
		err, ok := p.(error)
		require.True(t, ok)
		require.ErrorIs(t, err, faults.ErrOverBudget)
	}()
	w.RunFor(time.Second)
}
