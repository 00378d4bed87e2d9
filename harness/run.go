package harness

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/sim"
)

// Node ID layout of a world: replicas first, then clients.
const (
	firstReplica host.NodeID = 1
	firstClient  host.NodeID = 1001
	probeClient  host.NodeID = 2001 // the liveness probe after heal
)

// seedRun is the state of one seed's run.
type seedRun struct {
	recBuf   []byte // record's scratch buffer
	cfg      Config // with the scenario's fields applied
	sc       Scenario
	seed     uint64
	w        *sim.World
	replicas []host.NodeID
	clients  []*workClient
	probe    *probe
	// electionReader reads at each new leader at once (electionread.go).
	electionReader *electionReader
	nemesis        *faults.Nemesis
	faultSet       faults.Set
	operator       *operator // membership changes, if that fault is on
	// handOffCall is when the membership operator last asked for a
	// leadership transfer (virtual ns; 0: never): a leader drops
	// proposals while it hands over.
	handOffCall  int64
	retired      map[host.NodeID]bool // removed from the cluster for good
	hints        lin.RevisionHints    // the write log's keys per revision, for the revision checker
	checkFns     *checkFns            // tests: replaces the linearizability checks
	startReplica ReplicaFunc
	timeline     runTimeline // kept only for artifacts
	hist         lin.History
	window       *histWindow   // checks hist as the run goes (nil: the whole history is kept)
	answeredBy   []host.NodeID // per history op: the replica that answered (0: none)
	watches      []*watchStream
	pastReads    []*pastRead
	revs         answerRevs // check_readrev.go
	confTaps     confTaps   // the operator's traffic as the replicas saw it
	ops          int
	stopAt       time.Duration // end of the workload phase
	healedAt     time.Duration
	failure      string       // a harness-level failure, first one wins
	notes        bytes.Buffer // the run's account, for the summary artifact
	trace        bytes.Buffer // the trace, if kept for artifacts
	overBudget   bool         // the world ran past its event or byte budget
	workload     WorkloadRun  // Config.Workload's run (nil: the built-in kv workload)
	recipes      *recipeRun   // the built-in workload's recipe part (nil: none)
	windowMode   windowMode   // whether hist may be checked in a window
	logSource    host.NodeID  // the replica the final write log was read from
	leases       leaseBook    // the leases granted, for the expiry check
	logWatch     *logWatcher  // the harness's watch of the write log (nil: no compaction)
	hashKV       hashKV       // the HashKV check (hashkv.go)
	transfers    *transferer  // leadership transfers (nil: none)
	logFrom      int64        // the final write log is read from replicas from this revision
	// watchesFrozen: the workload's watch streams record no more events
	// (the final write log is being read).
	watchesFrozen bool
	skew          clockSkew // the replicas' clock offsets, for the expiry check
	cov           *coverage // probe hits and abstract states (nil: Config.Probes off)
	safety        *safetyChecker
	sys           System // the system under test (Config.system)
	// The checks' state: the write log's problems, the linearizability
	// result (for artifacts) and every check's outcome.
	disagree, logErr error
	linResult        lin.Result
	outcomes         []CheckOutcome

	// steadyQuiet follows the fault episodes (check_leasesteady.go).
	steadyQuiet steadyQuiet
}

// Run runs one seed end to end and returns its result. It never panics: a
// panic anywhere in the world, the cluster or the checks becomes a Fail
// verdict whose reason carries the stack. A long run checks its history
// in a window (histwindow.go); if it does not pass so, it is run again
// keeping the whole history, for the reason and witness that gives,
// unless the window decided that the history is linearizable and only
// checks that read no client history failed (windowOutcomeStands).
func Run(cfg Config, seed uint64) Result {
	return runMode(cfg, seed, cfg.Window.mode())
}

// runMode is Run with the window mode given.
func runMode(cfg Config, seed uint64, mode windowMode) Result {
	res, windowed := runOnce(cfg, seed, mode)
	if !windowed || res.Verdict == Pass || windowOutcomeStands(&res) {
		return res
	}
	whole, _ := runOnce(cfg, seed, windowOff)
	whole.Wall += res.Wall
	whole.window = "undecided, run again with the whole history: " + res.window
	return whole
}

// historyFree are the checks whose outcome does not depend on whether the
// client history was checked in a window: they read none of it (the
// run's own failures, such as the Raft safety checker's, membership, the
// watch streams, the reads of the past, HashKV). The others may name an
// operation by its place in the history, or (lost writes) miss a write
// the window let go.
var historyFree = map[string]bool{CheckRun: true, CheckMembership: true, CheckWatches: true, CheckPastReads: true, CheckHashKV: true}

// windowOutcomeStands reports whether a windowed run's result is the one
// the whole history would give: the window decided that the history is
// linearizable (CheckRevisions' verdict on the whole history), and every
// check that failed or could not decide is history-free. Then running
// the seed again, holding its whole history, would only cost its memory.
func windowOutcomeStands(res *Result) bool {
	linPassed := false
	for _, o := range res.Checks {
		switch {
		case o.Name == CheckLinearizability:
			linPassed = o.Status == CheckPassed
		case o.Status == CheckFailed || o.Status == CheckUnknown:
			if !historyFree[o.Name] {
				return false
			}
		}
	}
	return linPassed
}

// runOnce runs the seed once; windowed reports whether its history was
// checked in a window.
func runOnce(cfg Config, seed uint64, mode windowMode) (res Result, windowed bool) {
	start := time.Now() // deliberate: wall time is reported (wall_ms), never fed into the world
	res = Result{Seed: seed, Verdict: Fail}
	var r *seedRun
	defer func() {
		if p := recover(); p != nil {
			res.Verdict = Fail
			res.Reason = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
			if r != nil && r.w != nil {
				res.TraceHash, res.Virtual, res.Ops = r.w.TraceHash(), r.w.Elapsed(), r.ops
				r.countEvents(&res)
			}
		}
		windowed = r != nil && r.window != nil
		res.Wall = time.Since(start) // deliberate: reporting only, see start
	}()
	if err := cfg.Validate(); err != nil {
		res.Reason = err.Error()
		return res, false
	}
	r, err := newSeedRun(cfg, seed)
	res.Scenario = &r.sc
	if err != nil {
		res.Reason = err.Error()
		return res, false
	}
	r.windowMode = mode
	r.run(&res)
	if r.window != nil {
		res.window = r.window.outcome()
	}
	return res, r.window != nil
}

// newSeedRun prepares the run of seed under cfg (valid): the scenario is
// cfg.Scenario or drawn from the seed, then adjusted and validated.
func newSeedRun(cfg Config, seed uint64) (*seedRun, error) {
	sc := DrawScenario(cfg, seed)
	if cfg.Scenario != nil {
		sc = *cfg.Scenario
	}
	if cfg.Adjust != nil {
		cfg.Adjust(&sc)
	}
	r := &seedRun{cfg: sc.applyTo(cfg), sc: sc, seed: seed, sys: cfg.system()}
	return r, sc.Validate()
}

// now is the virtual time in nanoseconds, as the history records it.
func (r *seedRun) now() int64 { return int64(r.w.Elapsed()) }

func (r *seedRun) workloadOver() bool { return r.w.Elapsed() >= r.stopAt }

func (r *seedRun) notef(format string, args ...any) {
	fmt.Fprintf(&r.notes, "%v ", r.w.Elapsed())
	fmt.Fprintf(&r.notes, format, args...)
	r.notes.WriteByte('\n')
}

func itoa(i int) string { return strconv.Itoa(i) }

// Budgets of a run, per process (replica or client) and virtual second, on
// average over the run (and at least one second): a normal seed runs a
// couple of hundred events and a few kilobytes of messages per process and
// second; far more means a message storm (a livelock), which fails the
// seed instead of running for minutes.
const (
	MaxEventsPerSecond = 1000
	MaxBytesPerSecond  = 256 << 10
)

// sliceHook, if set (by benchmarks, never concurrently with RunMany),
// is called after each slice of virtual time a run runs.
var sliceHook func(elapsed time.Duration)

// errLivelock is the failure of a run past its event budget.
var errLivelock = errors.New("livelock")

// runFor runs the world for d of virtual time, in slices, and stops early
// (failing the run) once it is past its event budget. It reports whether
// the world is still within budget.
func (r *seedRun) runFor(d time.Duration) bool {
	end := r.w.Elapsed() + d
	for r.w.Elapsed() < end {
		if r.overBudget {
			return false
		}
		r.w.RunFor(min(end-r.w.Elapsed(), 50*time.Millisecond))
		if r.window != nil {
			r.window.advance()
		}
		if sliceHook != nil {
			sliceHook(r.w.Elapsed())
		}
		r.timeline.sample(r)
		r.skew.sample(r)
		r.sampleStates()
		r.sampleLeaseSteady() // check_leasesteady.go
		procs := float64(r.w.NumNodes())
		secs := max(r.w.Elapsed(), time.Second).Seconds()
		events, bytes := r.w.Events(), r.w.Net().Stats().SentBytes
		if events > uint64(procs*secs*MaxEventsPerSecond) || bytes > uint64(procs*secs*MaxBytesPerSecond) {
			r.overBudget = true
			r.failf("%v: %d events and %d bytes sent by %d processes in %v of virtual time (budget %d events and %d bytes per process and second): a message storm",
				errLivelock, events, bytes, len(r.w.Nodes()), r.w.Elapsed(), MaxEventsPerSecond, MaxBytesPerSecond)
			return false
		}
	}
	return true
}

// run is the body of Run: workload and faults, heal, liveness, the end of
// the operations in flight, convergence, then the checks.
func (r *seedRun) run(res *Result) {
	r.build()
	r.stopAt = r.cfg.Duration
	r.runFor(r.cfg.Duration)
	r.notef("workload phase: %d events", r.w.Events())
	r.heal()
	r.healedAt = r.w.Elapsed()
	r.notef("workload over, %d ops; faults healed", r.ops)
	r.compactAfterHeal()
	if err := r.awaitLiveness(); err != nil {
		r.failf("%v%s\n%s", err, r.damagedNote(), r.replicaStates())
	}
	// Every workload operation has either ended or timed out by now.
	if rest := r.stopAt + r.cfg.RequestTimeout - r.w.Elapsed(); rest > 0 {
		r.runFor(rest + time.Millisecond)
	}
	if r.failure == "" && r.operator != nil {
		if err := r.operator.settle(r.healedAt + r.cfg.HealTimeout); err != nil {
			r.failf("%v", err)
		}
	}
	if r.failure == "" {
		r.awaitLeaseEnds()
	}
	if r.failure == "" {
		if err := r.awaitConvergence(max(r.healedAt+r.cfg.HealTimeout, r.w.Elapsed()+leaseWaitReserve)); err != nil {
			r.failf("%v%s\n%s", err, r.damagedNote(), r.replicaStates())
		}
	}
	if r.failure == "" {
		r.checkStops()
	}
	if r.failure == "" {
		r.safety.shadowFinal(r.w.Nodes())
	}
	r.settleWorkload(r.healedAt + r.cfg.HealTimeout)
	res.Ops = r.ops + r.workloadOps() + r.recipeOpCount()
	res.Faults = r.sc.FaultNames()
	res.TraceHash = r.w.TraceHash()
	res.Virtual = r.w.Elapsed()
	r.countEvents(res)
	r.settleWatches() // after the hash: check_watchstall.go
	r.check(res)
	r.finishCoverage(res)
}

// countEvents sets the result's event count and fault schedule.
func (r *seedRun) countEvents(res *Result) {
	res.Events = r.w.Events()
	if r.nemesis != nil {
		res.Schedule = r.nemesis.Schedule()
	}
}

// build creates the world, the replicas and the clients.
func (r *seedRun) build() {
	r.w = sim.NewWorld(r.seed, r.sc.simConfig())
	r.startCoverage()
	r.startTrace()
	for i := range r.cfg.Nodes {
		r.replicas = append(r.replicas, firstReplica+host.NodeID(i))
	}
	r.safety = newSafetyChecker(r.w.Elapsed, r.failf)
	r.safety.note = r.notef
	r.safety.retired = func(id host.NodeID) bool { return r.retired[id] }
	r.safety.tainted = r.tainted
	rw, ok := r.sys.(interface{ raftWire() bool })
	r.safety.watchNet(r.w, ok && rw.raftWire())
	r.safety.setQuorumWindow(r.sc.Raft, r.sc.Faults)
	start := r.sys.Replicas(&SystemEnv{Raft: r.sc.Raft, Storage: r.sc.Storage, Observer: r.storageObserver()})
	r.retired = map[host.NodeID]bool{}
	start = r.unlessRetired(r.tapConfChanges(r.tapStorage(start)))
	for _, id := range r.replicas {
		peers := append([]host.NodeID(nil), r.replicas...)
		must(r.w.AddNode(id, func(h host.Host) host.Process { return start(h, peers) }))
	}
	r.drawFaults()
	r.hist.DigestReads = r.digestReads()
	r.startWorkload()
	r.addProbe()
	r.addElectionReader()
	r.startCompactor()
	r.startWindow(r.windowMode)
	r.startTransfers()
	r.startNemesis()
	r.startOperator(start)
	r.safety.onLeader = func(id host.NodeID) {
		if r.operator != nil {
			r.operator.onElection(id)
		}
		if r.electionReader != nil {
			r.electionReader.onElection(id)
		}
	}
}

// startTrace gives the world a decoding, filtering text tracer when a
// trace is asked for (TraceWriter, or KeepArtifacts for trace.txt). With
// none, the world only folds the hash: nothing is decoded or formatted.
func (r *seedRun) startTrace() {
	w := r.cfg.TraceWriter
	if w == nil && r.cfg.KeepArtifacts {
		w = &r.trace
	}
	if w != nil {
		r.w.SetTracer(&sim.TextTracer{W: w, Decoder: TraceDecoder{}, Filter: r.cfg.TraceFilter})
	}
}

// digestReads says whether the history keeps digests of read answers
// instead of the answers (lin.History.DigestReads): in long runs checked
// by the revision checker alone, where the answers of range reads would
// be most of the run's memory, and never when artifacts are kept (a
// failure's history then shows what each read returned).
func (r *seedRun) digestReads() bool {
	return r.cfg.Duration >= LongRun && r.cfg.Checker == CheckRevision && !r.cfg.KeepArtifacts
}

// drawFaults notes this seed's faults (the scenario drew them).
func (r *seedRun) drawFaults() {
	r.faultSet = faults.Of(r.sc.FaultNames()...)
	r.notef("faults: %s", r.faultSet)
	r.notef("scenario: %s", MarshalScenario(r.sc))
}

// startNemesis schedules this seed's faults over the workload phase.
func (r *seedRun) startNemesis() {
	n, err := faults.NewFromSpecs(r.w, r.replicas, r.sc.Faults, r.w.Rand("faults/nemesis"))
	must(err)
	if s, ok := r.sys.(seedkvSystem); ok && s.protocolAware() {
		n.SetProtocol(&nodeProtocol{r: r, memo: r.safety.peers}) // one reading of each payload for both // aimed faults know the real node only
	}
	must(n.Start(r.cfg.Duration))
	r.nemesis = n
}

// addClient adds workload client i. Its process is a client.Client.
func (r *seedRun) addClient(i int) {
	nid := firstClient + host.NodeID(i)
	c := &workClient{r: r, id: i, nid: nid, rng: r.w.Rand("client/" + strconv.Itoa(i))}
	c.gen = newGen(i, r.w.Rand("gen/"+strconv.Itoa(i)), &r.cfg)
	r.clients = append(r.clients, c)
	must(r.w.AddNode(nid, func(h host.Host) host.Process {
		c.c = client.New(h, r.servers(), client.Options{RequestTimeout: r.cfg.RequestTimeout})
		return c.c
	}))
	c.think()
}

// heal ends every fault: crashed replicas restart, the network and disks
// are restored.
func (r *seedRun) heal() {
	r.nemesis.HealAll()
	r.timeline.sample(r)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
