package harness

import (
	"errors"
	"fmt"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/node"
)

// System is the extension point for the system under test (DESIGN.md
// "Extension points"): it starts a replica on a host.Host, adapts a client
// for the harness's own use, and offers inspection of its replicas with
// exported types. Config.System chooses one; nil is seedkv's own replica,
// package node (SeedKV). A new system is one new package implementing this
// (examples/primarybackup is one); nothing in harness, faults or sim
// changes.
//
// What the harness does with a system:
//
//   - the nemesis runs its faults on the system's hosts (crash, partition,
//     disk faults...; faults aimed at raft's protocol moments need seedkv's
//     node and are not injected on other systems);
//   - the workload is Config.Workload, or, for a system that serves
//     seedkv's client protocol (ServesKV), the built-in key-value workload;
//   - after heal, the liveness probe needs a write and then a read that
//     returns it to succeed through the system's Client;
//   - the checks read the replicas through Inspect. A check whose input the
//     system does not offer reports "skipped" (Result.Checks, the -json
//     line, the summary), never a pass over nothing.
type System interface {
	// Name names the system in the run's account.
	Name() string
	// Replicas is called once per run, before any replica starts, and
	// returns the function that starts (and, after a crash, restarts)
	// each replica on its host. The process it returns receives the
	// replica's messages; everything else (timers, disk, sends) goes
	// through the host, on the world's event loop: no goroutines, no wall
	// clock, randomness only from h.Rand().
	Replicas(env *SystemEnv) ReplicaFunc
	// Inspect returns what the harness may read from a replica's process
	// after the run (see Inspector and the optional interfaces listed
	// there), or nil if the process offers nothing.
	Inspect(p host.Process) Inspector
	// NewClient is the client adapter: it builds the harness's own client
	// of the replicas servers on h, giving up on a request after timeout.
	// The liveness probe uses it on systems that do not serve seedkv's
	// client protocol.
	NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) Client
	// ServesKV reports whether the replicas serve seedkv's client protocol
	// (package api): then the built-in key-value workload, its
	// linearizability, watch, lease and past-read checks, compaction,
	// leadership transfers and membership changes run against them.
	// Otherwise Config.Workload is required and those parts are skipped.
	ServesKV() bool
}

// SystemEnv is what a System may use to build a run's replicas.
type SystemEnv struct {
	// Raft is the seed's drawn raft timing and limits (a system without
	// raft may take Raft.Tick as its own heartbeat, or ignore it).
	Raft RaftParams
	// Storage is the seed's drawn WAL segment size and quota (a system
	// may ignore it).
	Storage StorageParams
	// Observer holds the replicas to election, state-machine and
	// durability safety as the run goes, if they report their events to
	// it (see node.Observer); a system that reports none has the safety
	// check reported as skipped.
	Observer node.Observer
}

// Client is a System's client adapter. The harness uses a system as one
// register through it: the liveness probe after heal writes a fresh value
// (ProbeValuePrefix and a number) and then needs a read that returns it. A
// workload whose clients share that register sees those writes.
type Client interface {
	host.Process
	// Write stores value; done gets nil once the system acknowledged it,
	// or the error (a timeout included).
	Write(value string, done func(error))
	// Read reads the value linearizably; done gets it, or the error.
	Read(done func(value string, err error))
}

// ProbeValuePrefix starts every value the liveness probe writes through a
// Client.
const ProbeValuePrefix = "probe."

// Inspector is what the harness reads from a replica's process after a
// run to check convergence: every running replica must reach the same
// applied index and the same state hash. A replica may offer more by
// implementing these interfaces too (each check that needs one and finds
// none reports skipped):
//
//   - LogInspector: its raft log, for the log-matching and agreement check;
//   - WriteLogger: every change it applied, for the lost-write, watch,
//     lease and past-read checks and the workload checkers (on seedkv's
//     protocol the harness reads it with a watch instead);
//   - Stopper: whether it stopped for good (it then counts as crashed);
//   - Recoverer: whether it is rebuilding damaged storage from its peers.
type Inspector interface {
	// AppliedIndex is the index of the last log entry (or operation)
	// applied.
	AppliedIndex() uint64
	// KVHash is the hash of the replica's state and the revision (or
	// version) it is at.
	KVHash() (rev int64, hash uint64, err error)
}

// WriteLogger is implemented by an Inspector that can list every change
// applied since the empty store, grouped by store revision in ascending
// order.
type WriteLogger interface {
	WriteLog() ([]lin.LogEntry, error)
}

// Stopper is implemented by an Inspector of a replica that can stop for
// good (on data it cannot trust); a stopped replica counts as crashed.
type Stopper interface {
	// Stopped reports whether the replica stopped, and why.
	Stopped() (bool, string)
}

// Recoverer is implemented by an Inspector of a replica that can recover
// from damaged storage by rebuilding from its peers.
type Recoverer interface {
	// Recovering reports whether the replica is rebuilding, and why.
	Recovering() (bool, string)
}

// SeedKV is seedkv's own replica, package node, as a System: the default.
// Its inspection offers everything (Inspector, LogInspector, Stopper and
// Recoverer; the write log is read with a watch) and it reports its safety
// events to the observer.
func SeedKV() System { return seedkvSystem{} }

// raftWire marks a system whose replicas exchange seedkv's raft messages
// (a System embedding SeedKV's keeps it), for the wire checks.
func (seedkvSystem) raftWire() bool { return true }

// seedkvSystem is seedkv's node, or (Config.ObservedCluster,
// Config.Cluster) test replicas that speak its protocol.
type seedkvSystem struct {
	name     string
	observed func(node.Observer) ReplicaFunc // replaces the node (tests)
	cluster  func() ReplicaFunc              // replaces the node; no aimed faults (tests)
}

func (s seedkvSystem) Name() string {
	if s.name == "" {
		return "seedkv"
	}
	return s.name
}

func (s seedkvSystem) Replicas(env *SystemEnv) ReplicaFunc {
	switch {
	case s.observed != nil:
		return s.observed(env.Observer)
	case s.cluster != nil:
		return s.cluster()
	}
	return nodeReplica(env.Raft, env.Observer, env.Storage.apply)
}

// Inspect adapts the real node, or takes a test replica's own Inspector.
func (seedkvSystem) Inspect(p host.Process) Inspector {
	switch p := p.(type) {
	case *node.Node:
		return nodeInspector{p}
	case Inspector:
		return p
	}
	return nil
}

func (seedkvSystem) NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) Client {
	return kvClient{client.New(h, servers, client.Options{RequestTimeout: timeout})}
}

func (seedkvSystem) ServesKV() bool { return true }

// protocolAware reports whether the aimed faults can read the replicas'
// protocol moments (only the real node reports them).
func (s seedkvSystem) protocolAware() bool { return s.cluster == nil }

// kvClient adapts seedkv's client to Client: the register is one key.
type kvClient struct{ *client.Client }

// kvClientKey is the key kvClient's register lives at.
const kvClientKey = "/probe/register"

func (c kvClient) Write(value string, done func(error)) {
	c.Do(&api.PutRequest{Key: []byte(kvClientKey), Value: []byte(value)}, client.CallOptions{},
		func(_ *api.Response, err error) { done(err) })
}

func (c kvClient) Read(done func(string, error)) {
	c.Do(&api.RangeRequest{Key: []byte(kvClientKey)}, client.CallOptions{}, func(resp *api.Response, err error) {
		if err != nil {
			done("", err)
			return
		}
		rr, ok := resp.Body.(*api.RangeResponse)
		switch {
		case !ok:
			done("", fmt.Errorf("read answered with %T", resp.Body))
		case len(rr.KVs) == 0:
			done("", nil)
		default:
			done(string(rr.KVs[0].Value), nil)
		}
	})
}

// system is the configured System: Config.System, else the test replicas
// of ObservedCluster or Cluster, else seedkv's node.
func (c *Config) system() System {
	switch {
	case c.System != nil:
		return c.System
	case c.ObservedCluster != nil:
		return seedkvSystem{name: "seedkv (observed test replicas)", observed: c.ObservedCluster}
	case c.Cluster != nil:
		return seedkvSystem{name: "seedkv-protocol test replicas", cluster: c.Cluster}
	}
	return SeedKV()
}

// errNeedsWorkload: a system outside seedkv's protocol has no built-in
// workload.
var errNeedsWorkload = errors.New("needs Config.Workload: the built-in workload speaks seedkv's client protocol")

// validateSystem checks what the configured system needs.
func (c *Config) validateSystem() error {
	s := c.system()
	if !s.ServesKV() && c.Workload == nil {
		return fmt.Errorf("%w: system %s %v", ErrBadConfig, s.Name(), errNeedsWorkload)
	}
	return nil
}

// servesKV reports whether the run's system speaks seedkv's protocol.
func (r *seedRun) servesKV() bool { return r.sys.ServesKV() }

// inspectorOf returns the Inspector of a replica process (behind the
// harness's taps), or nil.
func (r *seedRun) inspectorOf(p host.Process) Inspector {
	p = unwrapProcess(p)
	if p == nil {
		return nil
	}
	return r.sys.Inspect(p)
}

// kvOnly reports whether the run's system serves seedkv's protocol, which
// what (a harness activity) needs; if not, the account says it is skipped.
func (r *seedRun) kvOnly(what string) bool {
	if r.servesKV() {
		return true
	}
	r.notef("%s: skipped (system %s does not serve seedkv's client protocol)", what, r.sys.Name())
	return false
}

// addSystemProbe adds the liveness probe's client process through the
// system's client adapter.
func (r *seedRun) addSystemProbe(p *probe) {
	must(r.w.AddNode(probeClient, func(h host.Host) host.Process {
		p.sc = r.sys.NewClient(h, r.servers(), r.cfg.RequestTimeout)
		return p.sc
	}))
}

// startSystem issues the next request of the probe through the system's
// client: a write of a fresh value, then a read. The read may return
// another value (a workload write still in flight may land after the
// probe's): judging values is the checkers' work, so that is only noted.
func (p *probe) startSystem() {
	value := ProbeValuePrefix + itoa(p.seq)
	retry := func(err error) {
		p.lastErr = err
		p.r.w.Schedule(10*time.Millisecond, p.start) // do not flood a cluster still recovering
	}
	if !p.wrote {
		p.sc.Write(value, func(err error) {
			if err == nil {
				p.wrote, p.written = true, value
			}
			retry(err)
		})
		return
	}
	p.sc.Read(func(v string, err error) {
		if err == nil {
			p.read = true
			if v != p.written {
				p.r.notef("liveness: the probe read %q after writing %q", v, p.written)
			}
		}
		retry(err)
	})
}

// logsChecked notes the outcome of the log-matching and agreement check:
// skipped if fewer than two replicas offer their raft log.
func (r *seedRun) logsChecked(ins []Inspector, compared int, err error) {
	o := CheckOutcome{Name: "log-agreement", Status: CheckPassed, Detail: itoa(compared) + " entry pairs compared"}
	offered := 0
	for _, in := range ins {
		if _, ok := in.(LogInspector); ok {
			offered++
		}
	}
	switch {
	case err != nil:
		o.Status, o.Detail = CheckFailed, err.Error()
	case offered < 2:
		o.Status, o.Detail = CheckSkipped, itoa(offered)+" running replicas offer their raft log (LogInspector), 2 needed"
	}
	r.notef("log matching and agreement: %d entry pairs compared", compared)
	r.outcome(o)
}

// safetyChecked notes the outcome of the safety observer: skipped if the
// replicas reported no events.
func (r *seedRun) safetyChecked() {
	s := r.safety.summary()
	r.notef("%s", s)
	if r.safety.leaderships == 0 && r.safety.applies == 0 && r.safety.boots == 0 {
		r.outcome(CheckOutcome{Name: "safety", Status: CheckSkipped, Detail: "the replicas report no leadership, apply or restart events (node.Observer)"})
		return
	}
	r.outcome(CheckOutcome{Name: "safety", Status: CheckPassed})
}
