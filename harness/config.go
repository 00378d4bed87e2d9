// Package harness runs one seed of seedkv end to end: it builds a simulated
// world and a cluster of replicas, drives a random client workload and the
// fault schedule (the nemesis) for a virtual duration, heals every fault and
// then checks liveness, linearizability, watch correctness, replica
// convergence and agreement on the committed log. The result of a seed is a
// verdict (pass, fail or unknown) with a reason and the world's trace hash.
//
// Run is deterministic: the same Config and seed give the same Result (wall
// times aside), whatever else runs in the process. RunMany runs many seeds on
// worker goroutines, one world per goroutine, and reports results in seed
// order.
package harness

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/sim"
)

// Explicit limits on a configuration.
const (
	// MaxNodes bounds the cluster size (raft's and the API's member
	// lists hold up to 64; membership changes may add a few).
	MaxNodes = 51
	// MaxClients bounds the workload's client processes: their node IDs
	// lie between firstClient and probeClient.
	MaxClients = int(probeClient - firstClient)
	// MaxDuration bounds the virtual time of the fault phase of one seed.
	MaxDuration = time.Hour
	// MaxClientsPerNode bounds the number of clients attached to a replica.
	MaxClientsPerNode = 64
	// MaxWatches bounds the watch streams of one run.
	MaxWatches = 256
	// MaxKeys bounds the workload's key space.
	MaxKeys = 1 << 16
	// MaxLeaseTTLSeconds bounds the workload's lease TTLs.
	MaxLeaseTTLSeconds = 3600
	// LongRun is the virtual duration from which a drawn scenario always
	// compacts (Config.CompactEvery 0), so that a long run's memory
	// stays bounded by its live state rather than its history.
	LongRun = time.Minute
)

// ReadMode says how the workload's reads are served.
type ReadMode string

// The read modes, as `-reads` takes them.
const (
	// ReadsLinearizable reads go through the leader's ReadIndex.
	ReadsLinearizable ReadMode = "linearizable"
	// ReadsSerializable reads are served from any replica's local state
	// (etcd's stale-read option). They are not linearizable: the checker
	// is expected to find violations under partitions.
	ReadsSerializable ReadMode = "serializable"
)

// ErrBadConfig is wrapped by every configuration validation error.
var ErrBadConfig = errors.New("bad harness configuration")

// ParseReadMode parses a `-reads` value.
func ParseReadMode(s string) (ReadMode, error) {
	switch ReadMode(s) {
	case ReadsLinearizable, ReadsSerializable:
		return ReadMode(s), nil
	}
	return "", fmt.Errorf("%w: reads mode %q (want linearizable or serializable)", ErrBadConfig, s)
}

// Mix is the relative weight of each operation kind in the workload. A zero
// weight disables the kind. Weights are relative, not percentages. A new
// kind is an int field with a json tag (its name in scenario files); the
// scenario draws and validates every field by reflection.
type Mix struct {
	Get         int `json:"get"`          // single-key linearizable (or serializable) read
	Put         int `json:"put"`          // single-key write with a unique value
	Delete      int `json:"delete"`       // single-key delete
	CAS         int `json:"cas"`          // compare-and-swap Txn on one key's value (or absence)
	Range       int `json:"range"`        // prefix range read
	Txn         int `json:"txn"`          // multi-key Txn (compare one key, write two, or read both)
	LeasePut    int `json:"lease_put"`    // grant a lease and put a key attached to it
	LeaseRevoke int `json:"lease_revoke"` // revoke a lease granted earlier
	Watch       int `json:"watch"`        // open a watch on a key or prefix from a revision
	PastRead    int `json:"past_read"`    // read a key or prefix at a revision the client has seen
}

// DefaultMix is the default operation mix: mostly single-key reads and
// writes, with some of everything.
func DefaultMix() Mix {
	return Mix{Get: 30, Put: 25, Delete: 5, CAS: 10, Range: 10, Txn: 8, LeasePut: 5, LeaseRevoke: 3, Watch: 4, PastRead: 6}
}

// total is the sum of the weights, or -1 if one is negative.
func (m Mix) total() int {
	t := 0
	for _, w := range m.weights() {
		if w < 0 {
			return -1
		}
		t += w
	}
	return t
}

// Config is one seed's setup. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Nodes is the number of replicas.
	Nodes int
	// Duration is the virtual time during which the workload and the
	// nemesis run, before everything is healed.
	Duration time.Duration
	// Faults is the fault set, as `-faults` takes it: "swarm", "none",
	// "all" or a comma list of fault names.
	Faults string
	// Reads is how reads are served.
	Reads ReadMode
	// ClientsPerNode sets the number of client processes: this many per
	// replica (each client talks to whichever replica serves it); 0
	// draws it per seed (see Scenario).
	ClientsPerNode int
	// Clients, if not 0, is the number of client processes, whatever the
	// cluster size (`-clients`); 0 means ClientsPerNode per replica.
	Clients int
	// Keys is the size of the key space, small so that clients contend;
	// 0 draws it per seed.
	Keys int
	// Mix weights the operation kinds; the zero Mix draws one per seed.
	Mix Mix
	// MinLeaseTTL and MaxLeaseTTL bound the TTL, in whole seconds, of
	// each lease the workload grants (drawn uniformly per lease); both in
	// [1, MaxLeaseTTLSeconds], min <= max; 0 draws them per seed (see
	// Scenario). Short TTLs make leases expire during a run.
	MinLeaseTTL, MaxLeaseTTL int64
	// KeepAlivePercent is the share of clients, in [0, 100], that keep
	// their leases alive (a keep-alive every TTL/3, for a drawn number of
	// rounds); the others let every lease lapse. 0 draws it per seed; a
	// negative value means none.
	KeepAlivePercent int
	// CompactEvery is the mean virtual time between two compactions, at
	// most MaxDuration; each compacts at a random revision the harness's
	// own log watch holds already. 0 draws it per seed; a negative value
	// never compacts.
	CompactEvery time.Duration
	// TransferEvery is the mean virtual time between two leadership
	// transfers an operator asks for (MoveLeader to a random replica),
	// at most MaxDuration. 0 draws it per seed; a negative value never
	// transfers.
	TransferEvery time.Duration
	// Watches bounds the watch streams the workload opens in a run:
	// every stream sees most writes, so each costs the replicas, the
	// clients and the watch check about as much as the writes themselves.
	Watches int
	// ThinkTime is the mean virtual pause of a client between the end of
	// one operation and the start of the next; 0 draws it per seed.
	ThinkTime time.Duration
	// RequestTimeout is the virtual time after which a client gives up on
	// a request; its outcome is then unknown.
	RequestTimeout time.Duration
	// HealTimeout bounds the virtual time, after every fault is healed,
	// within which a write and a linearizable read must succeed and all
	// live replicas must catch up.
	HealTimeout time.Duration
	// CheckTimeout bounds the wall time of porcupine's linearizability
	// check (Checker porcupine or both); running out of it gives the
	// verdict unknown.
	CheckTimeout time.Duration
	// Checker chooses the linearizability checker.
	Checker Checker
	// CheckSteps bounds the revision checker's search (0: its default);
	// running out of steps gives the verdict unknown.
	CheckSteps int64
	// Window says whether the client history is checked in a window as
	// the run goes (histwindow.go): auto ("", in runs of LongRun or
	// more), off or always.
	Window HistoryWindow
	// SnapshotEntries is how many applied entries a replica takes a
	// snapshot after; 0 draws it per seed (see snapshotChoices).
	SnapshotEntries uint64
	// Scenario, if not nil, is the exact scenario of every seed (from
	// `simrun -scenario FILE`): nothing is drawn, and the fields of Config
	// that the scenario holds (Nodes, ClientsPerNode, Duration, Reads,
	// Faults, Keys, Mix, ThinkTime, Watches, SnapshotEntries) are ignored.
	// Nil draws a scenario per seed (DrawScenario).
	Scenario *Scenario
	// Adjust, if not nil, may change a seed's drawn scenario before it is
	// validated and run (tests pin a field this way; for example a test
	// double that cannot take duplicated messages turns them off).
	Adjust func(*Scenario)
	// KeepArtifacts keeps the trace text and the client history in the
	// Result, for writing failure artifacts. It costs time and memory.
	KeepArtifacts bool
	// Probes collects the run's coverage: the probe hits of its world
	// (Result.Probes, Result.ProbeOrder) and the abstract states of its
	// cluster (Result.States). Off, the probe sites cost one compare.
	Probes bool
	// TraceWriter, if not nil, receives the world's event trace as text,
	// one event per line, as the run goes, decoded (TraceDecoder).
	TraceWriter io.Writer
	// Checks, if not nil, makes the run's check list from the default
	// one (DefaultCheckNames, the workload's checkers in place of
	// "workload"): it may append checks, replace or drop some, reorder.
	Checks func(defaults []RunChecker) []RunChecker
	// TraceFilter selects the lines of the trace text (TraceWriter and
	// the artifacts' trace) by virtual time and node; the zero value
	// keeps them all. The trace hash covers every event regardless.
	TraceFilter sim.TraceFilter
	// Workload, if not nil, replaces the built-in key-value workload
	// (its clients, its records and its checks): see Workload.
	Workload Workload
	// System, if not nil, is the system under test (see System); nil is
	// seedkv's node (SeedKV), or the test replicas of ObservedCluster or
	// Cluster.
	System System
	// Cluster, if not nil (and System nil), is called once per run for
	// the function that starts that run's replicas, which speak seedkv's
	// protocol and implement Inspector themselves; nil means the real
	// node. Tests of the harness itself put fake or deliberately broken
	// replicas here.
	Cluster func() ReplicaFunc
	// ObservedCluster, if not nil, is Cluster for replicas that report
	// their safety events (leadership, applied entries, what is durable,
	// what a restart recovered) to obs, which holds them to election,
	// state-machine and durability safety as the run goes (see
	// node.Observer). The real node reports them; tests wrap it in
	// deliberately broken replicas.
	ObservedCluster func(obs node.Observer) ReplicaFunc
}

// DefaultConfig is the configuration `simrun` and `go test ./harness` use
// unless told otherwise: 5 nodes, 10 virtual seconds, the fault swarm,
// linearizable reads; clients, keys, mix, think time and everything else
// the Scenario holds drawn per seed.
func DefaultConfig() Config {
	return Config{
		Nodes:          5,
		Duration:       10 * time.Second,
		Faults:         "swarm",
		Reads:          ReadsLinearizable,
		Watches:        6,
		RequestTimeout: 500 * time.Millisecond,
		HealTimeout:    10 * time.Second,
		CheckTimeout:   5 * time.Second,
		Checker:        CheckRevision,
	}
}

// Validate reports the first problem with c, wrapping ErrBadConfig.
func (c Config) Validate() error {
	switch {
	case c.Scenario != nil:
		if err := c.Scenario.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		return c.validateRest()
	case c.Nodes < 0 || c.Nodes > MaxNodes:
		return fmt.Errorf("%w: nodes %d not in [1, %d] (0: drawn per seed)", ErrBadConfig, c.Nodes, MaxNodes)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("%w: duration %v not in (0, %v]", ErrBadConfig, c.Duration, MaxDuration)
	case c.ClientsPerNode < 0 || c.ClientsPerNode > MaxClientsPerNode:
		return fmt.Errorf("%w: clients per node %d not in [1, %d] (0: drawn per seed)", ErrBadConfig, c.ClientsPerNode, MaxClientsPerNode)
	case c.Clients < 0 || c.Clients > MaxClients:
		return fmt.Errorf("%w: clients %d not in [1, %d] (0: clients per node x nodes)", ErrBadConfig, c.Clients, MaxClients)
	case c.Clients == 0 && c.Nodes*c.ClientsPerNode > MaxClients:
		return fmt.Errorf("%w: %d nodes x %d clients per node > %d clients", ErrBadConfig, c.Nodes, c.ClientsPerNode, MaxClients)
	case c.Watches < 0 || c.Watches > MaxWatches:
		return fmt.Errorf("%w: watches %d not in [0, %d]", ErrBadConfig, c.Watches, MaxWatches)
	case c.Keys < 0 || c.Keys > MaxKeys:
		return fmt.Errorf("%w: keys %d not in [1, %d] (0: drawn per seed)", ErrBadConfig, c.Keys, MaxKeys)
	case c.Mix.total() < 0:
		return fmt.Errorf("%w: operation mix needs weights >= 0 (all zero: drawn per seed)", ErrBadConfig)
	case c.ThinkTime < 0:
		return fmt.Errorf("%w: negative think time", ErrBadConfig)
	case c.MinLeaseTTL < 0 || c.MaxLeaseTTL > MaxLeaseTTLSeconds || c.MinLeaseTTL > c.MaxLeaseTTL && c.MaxLeaseTTL != 0:
		return fmt.Errorf("%w: lease TTLs [%d, %d] s not within [1, %d] s (0: drawn per seed)", ErrBadConfig, c.MinLeaseTTL, c.MaxLeaseTTL, MaxLeaseTTLSeconds)
	case c.TransferEvery > MaxDuration:
		return fmt.Errorf("%w: transfer-every %v above %v", ErrBadConfig, c.TransferEvery, MaxDuration)
	case c.CompactEvery > MaxDuration:
		return fmt.Errorf("%w: compact-every %v above %v", ErrBadConfig, c.CompactEvery, MaxDuration)
	case c.KeepAlivePercent > 100:
		return fmt.Errorf("%w: keep-alive percent %d above 100", ErrBadConfig, c.KeepAlivePercent)
	}
	if _, err := ParseReadMode(string(c.Reads)); err != nil {
		return err
	}
	if _, err := ParseChecker(string(c.Checker)); err != nil {
		return err
	}
	if _, err := faults.Parse(c.Faults); err != nil {
		return fmt.Errorf("%w: -faults: %v", ErrBadConfig, err)
	}
	return c.validateRest()
}

// validateRest checks the fields no scenario holds.
func (c Config) validateRest() error {
	if c.RequestTimeout <= 0 || c.HealTimeout <= 0 || c.CheckTimeout <= 0 {
		return fmt.Errorf("%w: request, heal and check timeouts must be positive", ErrBadConfig)
	}
	if _, err := ParseHistoryWindow(string(c.Window)); err != nil {
		return err
	}
	return c.validateSystem()
}

// clientCount is the number of workload clients.
func (c *Config) clientCount() int {
	if c.Clients > 0 {
		return c.Clients
	}
	return c.Nodes * c.ClientsPerNode
}

// ReplicaFunc builds the process of a replica on host h, in a cluster of
// peers (h.ID() among them), or, with peers nil, a replica that joins an
// existing cluster (after a membership change added it). It is called again
// on every restart.
type ReplicaFunc func(h host.Host, peers []host.NodeID) host.Process
