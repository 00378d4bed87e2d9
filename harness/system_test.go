package harness

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/stretchr/testify/require"
)

// regSystem is a test double of a system outside seedkv's protocol: every
// replica holds one register and answers alone (clients use the first),
// so it is trivially correct for the probe. inspect chooses what it offers
// the harness: nothing, or an Inspector without a raft log.
type regSystem struct{ inspect bool }

type regReplica struct {
	h     host.Host
	value string
	n     uint64
}

func (s regSystem) Name() string   { return "test-register" }
func (s regSystem) ServesKV() bool { return false }

func (s regSystem) Replicas(*SystemEnv) ReplicaFunc {
	return func(h host.Host, _ []host.NodeID) host.Process { return &regReplica{h: h} }
}

func (s regSystem) Inspect(p host.Process) Inspector {
	if r, ok := p.(*regReplica); ok && s.inspect {
		return regInspector{r}
	}
	return nil
}

func (s regSystem) NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) Client {
	return &regClient{h: h, to: servers[0], timeout: timeout}
}

// Receive serves "w<value>" (answer "a") and "r" (answer "v<value>").
func (r *regReplica) Receive(from host.NodeID, p []byte) {
	switch {
	case len(p) > 0 && p[0] == 'w':
		r.value, r.n = string(p[1:]), r.n+1
		r.h.Send(from, []byte("a"))
	case len(p) > 0 && p[0] == 'r':
		r.h.Send(from, append([]byte("v"), r.value...))
	}
}

type regInspector struct{ r *regReplica }

func (i regInspector) AppliedIndex() uint64           { return 0 } // replicas do not replicate: all at 0
func (i regInspector) KVHash() (int64, uint64, error) { return 0, 0, nil }

// regClient has one request in flight at a time.
type regClient struct {
	h       host.Host
	to      host.NodeID
	timeout time.Duration
	seq     int
	pending func(reply string, err error)
}

func (c *regClient) call(req string, done func(string, error)) {
	c.seq++
	seq := c.seq
	c.pending = done
	c.h.Send(c.to, []byte(req))
	c.h.After(c.timeout, func() {
		if c.seq == seq && c.pending != nil {
			c.pending = nil
			done("", errors.New("timeout"))
		}
	})
}

func (c *regClient) Receive(_ host.NodeID, p []byte) {
	if done := c.pending; done != nil {
		c.pending = nil
		done(string(p), nil)
	}
}

func (c *regClient) Write(v string, done func(error)) {
	c.call("w"+v, func(_ string, err error) { done(err) })
}

func (c *regClient) Read(done func(string, error)) {
	c.call("r", func(reply string, err error) {
		if err != nil {
			done("", err)
			return
		}
		done(strings.TrimPrefix(reply, "v"), nil)
	})
}

// idleWorkload runs no client: only the probe talks to the system.
type idleWorkload struct{}

func (idleWorkload) Name() string                   { return "idle" }
func (idleWorkload) Start(*WorkloadEnv) WorkloadRun { return idleRun{} }

type idleRun struct{}

func (idleRun) Ops() int                    { return 0 }
func (idleRun) Checkers() []WorkloadChecker { return nil }

// outcome finds a check's outcome in res.
func outcomeOf(t *testing.T, res Result, name string) CheckOutcome {
	t.Helper()
	for _, o := range res.Checks {
		if o.Name == name {
			return o
		}
	}
	require.Failf(t, "no outcome", "check %q not in %v", name, res.Checks)
	return CheckOutcome{}
}

func systemConfig(s System) Config {
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Duration, cfg.Faults = 3, 2*time.Second, "crash,partition"
	cfg.System, cfg.Workload = s, idleWorkload{}
	return cfg
}

// A system that offers no inspection has every check that needs one
// reported skipped, never passed.
func TestSystemWithoutInspectionIsSkipped(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		res := Run(systemConfig(regSystem{}), seed)
		require.Equal(t, Pass, res.Verdict, res.Reason)
		for _, name := range []string{"convergence", "log-agreement", "safety", CheckLostWrites, CheckWatches, CheckLinearizability} {
			require.Equal(t, CheckSkipped, outcomeOf(t, res, name).Status, "seed %d: %s", seed, name)
		}
		require.Equal(t, CheckPassed, outcomeOf(t, res, CheckRun).Status)
		require.NotEmpty(t, res.Skipped())
	}
}

// An Inspector without a raft log: convergence is checked, log agreement
// is skipped (not "0 entry pairs compared, pass").
func TestSystemWithoutRaftLog(t *testing.T) {
	res := Run(systemConfig(regSystem{inspect: true}), 1)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	require.Equal(t, CheckPassed, outcomeOf(t, res, "convergence").Status)
	la := outcomeOf(t, res, "log-agreement")
	require.Equal(t, CheckSkipped, la.Status)
	require.Contains(t, la.Detail, "LogInspector")
}

func TestSystemOutsideKVNeedsWorkload(t *testing.T) {
	cfg := systemConfig(regSystem{})
	cfg.Workload = nil
	err := cfg.Validate()
	require.ErrorIs(t, err, ErrBadConfig)
	require.Contains(t, err.Error(), "test-register")
	require.Equal(t, Fail, Run(cfg, 1).Verdict)
}

// probeOnly is seedkv's node driven only through the System interface:
// its client adapter for the probe, its inspection for the checks.
type probeOnly struct{ System }

func (probeOnly) ServesKV() bool { return false }

// The real node through the generic path: the probe's write and read go
// through the kv client adapter, and the node's inspection is complete
// enough for convergence, log agreement and safety to run.
func TestSeedKVThroughSystemInterface(t *testing.T) {
	res := Run(systemConfig(probeOnly{SeedKV()}), 2)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	for _, name := range []string{"convergence", "log-agreement", "safety"} {
		require.Equal(t, CheckPassed, outcomeOf(t, res, name).Status, name)
	}
	require.NotContains(t, outcomeOf(t, res, "log-agreement").Detail, " 0 entry pairs")
	require.Equal(t, CheckSkipped, outcomeOf(t, res, CheckLostWrites).Status)
}

// A broken client adapter (writes never acknowledged) fails liveness.
type deafWrites struct{ Client }

func (deafWrites) Write(string, func(error)) {}

type deafSystem struct{ regSystem }

func (s deafSystem) NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) Client {
	return deafWrites{s.regSystem.NewClient(h, servers, timeout)}
}

func TestSystemProbeNeedsItsWrite(t *testing.T) {
	res := Run(systemConfig(deafSystem{}), 1)
	require.Equal(t, Fail, res.Verdict)
	require.Contains(t, res.Reason, "liveness")
}
