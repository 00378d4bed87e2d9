package primarybackup

import (
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
)

// Workload is the register's workload: each client alternates, at random,
// writes of unique values and reads, with a short random pause between
// two operations, for the workload phase.
type Workload struct{}

// Name is "register".
func (Workload) Name() string { return "register" }

// CheckTimeout bounds the wall time of porcupine's search (past it, the
// verdict is unknown). A search usually takes milliseconds; the bound is
// generous because the machine may be loaded (a 2 s bound once gave an
// unknown verdict to a fixed seed under load).
const CheckTimeout = 10 * time.Second

// MeanThink is the mean pause of a client between two operations.
const MeanThink = 5 * time.Millisecond

// Start adds the clients and schedules their first operations.
func (Workload) Start(env *harness.WorkloadEnv) harness.WorkloadRun {
	run := &workloadRun{env: env}
	for i := range env.Clients {
		rng := env.Rand("register/" + strconv.Itoa(i))
		env.AddClient(i, func(h host.Host) host.Process {
			c := NewClient(h, env.Servers, env.RequestTimeout)
			wc := &workClient{run: run, c: c, id: i, think: func() time.Duration {
				return time.Duration(rng.Int64N(int64(2 * MeanThink)))
			}, writes: func() bool { return rng.IntN(2) == 0 }}
			env.World().Schedule(wc.think(), wc.step)
			return c
		})
	}
	return run
}

// workloadRun is one seed's history.
type workloadRun struct {
	env  *harness.WorkloadEnv
	hist History
}

func (r *workloadRun) Ops() int { return len(r.hist) }

// Checkers is the register's linearizability check.
func (r *workloadRun) Checkers() []harness.WorkloadChecker {
	return []harness.WorkloadChecker{harness.NewChecker("register: linearizable", func(*harness.Records) harness.CheckResult {
		return Check(withProbeWrites(r.hist, r.env.Clients, r.env.Stop), CheckTimeout)
	})}
}

// withProbeWrites adds to h the probe's writes that its reads saw, as
// writes of unknown outcome by client probe called at stop (the probe
// starts after it; the earlier call time only weakens the check).
func withProbeWrites(h History, probe int, stop time.Duration) History {
	written := map[string]bool{}
	for _, op := range h {
		if op.Write {
			written[op.Value] = true
		}
	}
	out := h
	for _, op := range h {
		if !op.Write && op.Outcome == OK && strings.HasPrefix(op.Value, harness.ProbeValuePrefix) && !written[op.Value] {
			written[op.Value] = true
			out = append(out[:len(out):len(out)], Op{Client: probe, Call: int64(stop), Write: true, Value: op.Value, Outcome: Unknown})
		}
	}
	return out
}

// now is the virtual time in nanoseconds.
func (r *workloadRun) now() int64 { return int64(r.env.World().Elapsed()) }

// workClient is one client's loop.
type workClient struct {
	run    *workloadRun
	c      *Client
	id     int
	seq    int
	think  func() time.Duration
	writes func() bool
}

// step issues the next operation, unless the workload phase is over.
func (w *workClient) step() {
	if w.run.env.Over() {
		return
	}
	next := func() { w.run.env.World().Schedule(w.think(), w.step) }
	h := &w.run.hist
	if w.writes() {
		w.seq++
		v := "c" + strconv.Itoa(w.id) + "." + strconv.Itoa(w.seq)
		i := h.call(w.id, w.run.now(), true, v)
		w.c.Write(v, func(err error) {
			h.ret(i, w.run.now(), "", err)
			next()
		})
		return
	}
	i := h.call(w.id, w.run.now(), false, "")
	w.c.Read(func(v string, err error) {
		h.ret(i, w.run.now(), v, err)
		next()
	})
}
