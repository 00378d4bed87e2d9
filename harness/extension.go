package harness

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/sim"
)

// Workload is the extension point for client workloads: a workload
// generates the operations of a seed (it adds its own client processes to
// the world and drives them), records what its clients saw, and names the
// checkers that judge those records against its model after the run.
// Config.Workload chooses one; nil is the built-in key-value workload
// (linearizability of single-key and multi-key operations, checked with
// porcupine). Package workloads holds the others (election, lock, config,
// kubernetes); a new workload is one new package implementing this.
//
// Whatever the workload, the harness still runs the nemesis, heals, and
// checks liveness, replica convergence and agreement on the committed log.
type Workload interface {
	// Name is the workload's name, as `-workload` takes it.
	Name() string
	// Start is called once per seed, after the replicas exist and before
	// the nemesis starts. It adds the workload's processes through env
	// and schedules their first steps; it returns the run's state, which
	// lives as long as the seed. Start must draw all its randomness from
	// env (named streams of the seed) and run only on the world's event
	// loop: no goroutines, no wall clock.
	Start(env *WorkloadEnv) WorkloadRun
}

// WorkloadRun is one seed's instance of a Workload.
type WorkloadRun interface {
	// Ops is the number of client operations the workload invoked.
	Ops() int
	// Checkers are the checks of this run's records, run in order after
	// the run (after heal, liveness and convergence).
	Checkers() []WorkloadChecker
}

// WorkloadChecker judges one aspect of a run from its records: a
// RunChecker that a workload contributes (its Name names the check in
// failure reasons: "lock: mutual exclusion").
type WorkloadChecker = RunChecker

// CheckResult is a checker's verdict: Err set means fail, and Err's text
// is the witness (it must name what broke: clients, revisions, values);
// Skipped means the records lacked what the check needs, which is never
// a pass; Unknown means the check could not decide (it ran out of its
// budget), which makes the verdict unknown unless another check fails.
// All empty is a pass.
type CheckResult struct {
	Err     error
	Skipped string // why it did not run (empty: it ran)
	Unknown string // why it could not decide (empty: it did)
}

// Records is what the harness hands a RunChecker after the run.
type Records struct {
	// History is the client history of the built-in workload and the
	// liveness probe (a Workload records its own). The checks settle it
	// as they go: the lease check adds lease expiries, the
	// linearizability check settles unknown outcomes from the write log.
	History []lin.Op
	// WriteLog is every change the cluster committed, grouped by store
	// revision in ascending order, from the most advanced replica; nil
	// if no replica could provide it.
	WriteLog []lin.LogEntry
	// Replicas are the running replicas that have not stopped, in ID
	// order, with what their system offers to inspect.
	Replicas []ReplicaView
	// End is the virtual time at which the checks run.
	End time.Duration
	// TraceHash is the run's trace hash (Result.TraceHash).
	TraceHash uint64
}

// WorkloadEnv is what a Workload may use to build its part of a seed.
type WorkloadEnv struct {
	r *seedRun
	// Servers are the replicas clients talk to.
	Servers []host.NodeID
	// Clients is how many client processes the configuration asks for
	// (Config.Clients, or Nodes × ClientsPerNode); a workload may use fewer or more.
	Clients int
	// RequestTimeout is the configured client request timeout.
	RequestTimeout time.Duration
	// Stop is the virtual time at which the workload phase ends: no new
	// operation may start after it.
	Stop time.Duration
	// Faults names the seed's faults (as -faults takes them). A workload
	// may inject the client side of a fault itself: the lock workload
	// pauses its lock holders when "pause" is among them.
	Faults []string
}

// World is the seed's world (for timers and the clock, via Schedule and
// Elapsed; processes are added with AddClient and AddProcess).
func (e *WorkloadEnv) World() *sim.World { return e.r.w }

// Rand returns the seed's random stream of that name, prefixed with
// "workload/" so that it never shares a stream with the harness.
func (e *WorkloadEnv) Rand(name string) *rand.Rand { return e.r.w.Rand("workload/" + name) }

// Over reports whether the workload phase has ended.
func (e *WorkloadEnv) Over() bool { return e.r.workloadOver() }

// ClientID is the node ID of the workload's client i (0-based).
func ClientID(i int) host.NodeID { return firstClient + host.NodeID(i) }

// AddClient adds client process i (node ClientID(i)). start runs when
// the process boots and returns the process: usually a client built with
// NewClient, or a process of the workload's that owns one (it may hand
// the client a wrapped host, and keep messages from the workload's own
// processes for itself).
func (e *WorkloadEnv) AddClient(i int, start func(h host.Host) host.Process) {
	must(e.r.w.AddNode(ClientID(i), start))
}

// NewClient builds a client of the replicas on h with the configured
// options.
func (e *WorkloadEnv) NewClient(h host.Host) *client.Client {
	return client.New(h, e.r.servers(), client.Options{RequestTimeout: e.r.cfg.RequestTimeout})
}

// FirstAuxProcess is the first node ID a workload may give processes of
// its own (simulated resources and the like) with AddProcess: above the
// harness's replicas, clients, probe and membership operator.
const FirstAuxProcess host.NodeID = 5001

// AddProcess adds a process of the workload's own at id (at least
// FirstAuxProcess) to the world.
func (e *WorkloadEnv) AddProcess(id host.NodeID, start func(h host.Host) host.Process) {
	if id < FirstAuxProcess {
		panic("harness: workload process id " + strconv.FormatUint(uint64(id), 10) + " below FirstAuxProcess")
	}
	must(e.r.w.AddNode(id, start))
}

// Notef adds a line to the run's account (the summary artifact).
func (e *WorkloadEnv) Notef(format string, args ...any) { e.r.notef(format, args...) }

// startWorkload starts the configured workload, or the built-in one.
func (r *seedRun) startWorkload() {
	if r.cfg.Workload == nil {
		for i := range r.kvClients() {
			r.addClient(i)
		}
		r.startRecipes()
		return
	}
	env := &WorkloadEnv{r: r, Servers: r.servers(), Clients: r.cfg.clientCount(),
		RequestTimeout: r.cfg.RequestTimeout, Stop: r.cfg.Duration, Faults: r.sc.FaultNames()}
	r.workload = r.cfg.Workload.Start(env)
}

// workloadOps is the operation count of the configured workload (0 for
// the built-in one, which counts in r.ops).
func (r *seedRun) workloadOps() int {
	if r.workload == nil {
		return 0
	}
	return r.workload.Ops()
}

// Settler is implemented by a WorkloadRun whose clients keep following
// the store after the workload phase (watchers, informers): before the
// checks, the harness runs the world until Settled holds for the store's
// revision (that of the most advanced replica), bounded by the heal
// timeout. A run that never settles is checked as it stands, and its
// checkers say what is missing.
type Settler interface {
	Settled(storeRev int64) bool
}

// settleWorkload runs the world until the workload has settled, or until
// deadline.
func (r *seedRun) settleWorkload(deadline time.Duration) {
	s, ok := r.workload.(Settler)
	if !ok || r.failure != "" {
		return
	}
	for {
		rev := int64(0)
		if id := r.mostAdvanced(); id != 0 {
			if in := r.inspectorOf(r.w.Process(id)); in != nil {
				rev, _, _ = in.KVHash()
			}
		}
		if s.Settled(rev) {
			r.notef("workload settled at revision %d", rev)
			return
		}
		if r.w.Elapsed() >= deadline || !r.runFor(50*time.Millisecond) {
			r.notef("workload did not settle by %v (store at revision %d)", deadline, rev)
			return
		}
	}
}
