package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/sim"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("150ms").
type Duration = faults.Duration

// Scenario is every parameter of one seed's run, as data: the cluster,
// raft's timing and limits, the network, the disks, the faults with their
// rates and episode lengths, and the workload. A seed draws one
// (DrawScenario, VOPR-style: every field within its bounds, so each seed
// explores a different corner); `simrun -json` and summary.txt print it,
// `simrun -scenario FILE` reruns it, and seed + scenario + code is the run,
// bit for bit. The JSON field names are stable; new fields get defaults
// when a file leaves them out (see DecodeScenario).
//
// Bounds (Validate enforces them; DrawScenario draws within narrower
// ranges, given in each field's comment as "draw").
type Scenario struct {
	// Nodes is the cluster size, [1, MaxNodes]; draw: Config.Nodes, or
	// if that is 0 one of 3, 4, 5 (a quarter each), 6 or 7 (an eighth
	// each): even sizes are where quorum arithmetic goes wrong (a 2|2
	// split, a median rounded the wrong way).
	Nodes int `json:"nodes"`
	// ClientsPerNode is the workload clients per replica,
	// [1, MaxClientsPerNode]; draw: Config.ClientsPerNode, or 2..4.
	ClientsPerNode int `json:"clients_per_node"`
	// Duration is the virtual time of the workload and fault phase,
	// (0, MaxDuration]; Config.Duration.
	Duration Duration `json:"duration"`
	// Reads is how reads are served; Config.Reads.
	Reads ReadMode `json:"reads"`
	// Raft is the replicas' raft timing and limits.
	Raft RaftParams `json:"raft"`
	// Net is the network's base behaviour (faults add to it).
	Net NetParams `json:"net"`
	// Disk is the disks' base behaviour.
	Disk DiskParams `json:"disk"`
	// Faults are the faults the nemesis injects, each with its mean gap,
	// mean hold and parameters (see faults.Spec); draw: the -faults set
	// (a swarm draws each in-model fault with probability 1/2), each with
	// faults.DrawSpec.
	Faults []faults.Spec `json:"faults"`
	// Workload is the client workload.
	Workload WorkloadParams `json:"workload"`
	// Storage is the replicas' WAL segment size and quota (drawn from
	// its own stream, see drawStorage).
	Storage StorageParams `json:"storage"`
}

// RaftParams are the replicas' raft settings.
type RaftParams struct {
	// Tick is raft's tick, [10ms, 1s]; draw 50ms..100ms.
	Tick Duration `json:"tick"`
	// ElectionTicks is the election timeout in ticks, [3, 100]; draw 6..15.
	ElectionTicks int `json:"election_ticks"`
	// HeartbeatTicks is the heartbeat interval in ticks, [1, 50] and
	// below ElectionTicks/2; draw 1..2.
	HeartbeatTicks int `json:"heartbeat_ticks"`
	// SnapshotEntries: a replica snapshots after this many applied
	// entries, [4, 10^6]; draw: Config.SnapshotEntries, or one of 16, 32,
	// 128, 512 and node's default 100000 (16 or 32 when a fault aims at
	// snapshots: crash-snapshot, isolate-leader).
	SnapshotEntries uint64 `json:"snapshot_entries"`
	// CatchUpEntries are kept behind a snapshot for lagging followers,
	// [1, 10^6]; draw: min(5000, snapshot_entries/1..8) (2..8 when a
	// fault aims at snapshots).
	CatchUpEntries uint64 `json:"catch_up_entries"`
	// MaxMsgBytes bounds the entry bytes of one append, [256, 16 MiB];
	// draw one of 1 KiB, 8 KiB, 64 KiB, 1 MiB.
	MaxMsgBytes uint64 `json:"max_msg_bytes"`
	// MaxInflight bounds the appends in flight to one follower, [1, 1024];
	// draw one of 1, 4, 16, 256.
	MaxInflight int `json:"max_inflight"`
	// ReadTimeout is how long a replica waits for a ReadIndex round
	// before it gives up on it (its reads fail with Unavailable and the
	// next round starts), [0, 10s], 0 the node's default (1s); draw: 1s in
	// half the seeds, else log-uniform 100ms..1s. A short one makes a
	// late answer to a round given up on common: it must not serve the
	// next round.
	ReadTimeout Duration `json:"read_timeout,omitempty"`
}

// NetParams are the network's base latency, loss and duplication.
type NetParams struct {
	// Base is the minimum latency, [0, 50ms]; draw log-uniform 200µs..3ms.
	Base Duration `json:"base"`
	// Jitter adds uniform [0, jitter], [0, 50ms]; draw 0..2*base.
	Jitter Duration `json:"jitter"`
	// TailProb is the probability of a further tail delay, [0, 0.1];
	// draw 0..0.01.
	TailProb float64 `json:"tail_prob"`
	// Tail is the maximum tail delay, [0, 1s]; draw 10ms..200ms.
	Tail Duration `json:"tail"`
	// Loss is the base loss probability, [0, 0.1]; draw 0 (half the
	// seeds) or 0..0.02.
	Loss float64 `json:"loss"`
	// Duplicate is the base duplication probability, [0, 0.1]; draw 0
	// (half the seeds) or 0..0.02.
	Duplicate float64 `json:"duplicate"`
	// DupDelay delays duplicates by up to this much more, [0, 10s]; draw
	// 0 (half the seeds) or 0..3s.
	DupDelay Duration `json:"dup_delay"`
}

// DiskParams are the disks' base behaviour.
type DiskParams struct {
	// SyncLatency is the minimum fsync time, [0, 100ms]; draw
	// log-uniform 200µs..5ms.
	SyncLatency Duration `json:"sync_latency"`
	// SyncJitter adds uniform [0, jitter], [0, 100ms]; draw 0..2*latency.
	SyncJitter Duration `json:"sync_jitter"`
}

// WorkloadParams shape the client workload.
type WorkloadParams struct {
	// Keys is the key space, [1, MaxKeys]; draw: Config.Keys, or 3..16.
	Keys int `json:"keys"`
	// Mix weights the operation kinds, each [0, MaxWeight], one of them
	// positive; draw: Config.Mix, or (if that is zero) each of
	// DefaultMix's weights kept with probability 3/4 and scaled by 1/2,
	// 1 or 2.
	Mix Mix `json:"mix"`
	// ThinkTime is a client's mean pause between operations, [0, 10s];
	// draw: Config.ThinkTime, or 40ms..80ms.
	ThinkTime Duration `json:"think_time"`
	// Watches bounds the watch streams of the run, [0, MaxWatches];
	// Config.Watches.
	Watches int `json:"watches"`
	// LeaseTTLMin and LeaseTTLMax bound the TTL in seconds of each lease
	// the workload grants, [1, MaxLeaseTTLSeconds], min <= max; draw:
	// Config.MinLeaseTTL/MaxLeaseTTL, or min 1..3 and max min..5.
	LeaseTTLMin int64 `json:"lease_ttl_min"`
	LeaseTTLMax int64 `json:"lease_ttl_max"`
	// KeepAlivePercent is the share of clients that keep their leases
	// alive, [0, 100]; draw: Config.KeepAlivePercent (negative: 0), or
	// 0..100.
	KeepAlivePercent int `json:"keep_alive_percent"`
	// CompactEvery is the mean gap between two compactions, [0,
	// MaxDuration], 0 never; draw: Config.CompactEvery (negative: 0), or
	// 0 in a quarter of the seeds, else 500ms..4s.
	CompactEvery Duration `json:"compact_every"`
	// TransferEvery is the mean gap between two leadership transfers,
	// [0, MaxDuration], 0 never; draw: Config.TransferEvery (negative:
	// 0), or 0 in a third of the seeds, else 1s..5s.
	TransferEvery Duration `json:"transfer_every"`
	// Recipes are the recipe part: clients running the election, lock,
	// session and follower recipes beside the kv clients (recipes.go;
	// drawn from its own stream).
	Recipes RecipeParams `json:"recipes"`
}

// MaxWeight bounds one weight of a scenario's Mix.
const MaxWeight = 1000

// ErrBadScenario is wrapped by every scenario error: an unknown field, a
// malformed value or one out of bounds. The message names the field.
var ErrBadScenario = errors.New("bad scenario")

// scenarioStream seeds the draw of a scenario: independent of the world's
// streams, so drawing the scenario shifts nothing else.
const scenarioStream = 0x5ce7a510_5ce7a510

// DrawScenario draws the scenario of seed under cfg: fields cfg pins
// (non-zero Nodes, ClientsPerNode, Keys, Mix, ThinkTime, SnapshotEntries;
// always Duration, Reads, Watches and the -faults set) are taken from it,
// every other field is drawn within its draw range. The same cfg and seed
// give the same scenario. cfg must be valid.
func DrawScenario(cfg Config, seed uint64) Scenario {
	r := rand.New(rand.NewPCG(seed, scenarioStream))
	s := Scenario{
		Nodes:          pick(cfg.Nodes, oneOf(r, 3, 3, 4, 4, 5, 5, 6, 7)),
		ClientsPerNode: pick(cfg.ClientsPerNode, 2+r.IntN(3)),
		Duration:       Duration(cfg.Duration),
		Reads:          cfg.Reads,
	}
	s.Faults = drawFaults(r, cfg.Faults)
	s.Raft = drawRaft(r, cfg, wantsSnapshots(s.Faults))
	s.Net = drawNet(r)
	s.Disk = DiskParams{SyncLatency: logUniform(r, 200*time.Microsecond, 5*time.Millisecond)}
	s.Disk.SyncJitter = uniformDur(r, 0, 2*s.Disk.SyncLatency.D())
	s.Workload = WorkloadParams{
		Keys:      pick(cfg.Keys, 3+r.IntN(14)),
		Mix:       cfg.Mix,
		ThinkTime: Duration(cfg.ThinkTime),
		Watches:   cfg.Watches,
	}
	if cfg.Mix.total() == 0 {
		s.Workload.Mix = drawMix(r)
	}
	if cfg.ThinkTime == 0 {
		s.Workload.ThinkTime = uniformDur(r, 40*time.Millisecond, 80*time.Millisecond)
	}
	drawLeasesAndCompaction(r, cfg, &s.Workload)
	s.Workload.Recipes = drawRecipes(cfg, seed)
	s.Storage = drawStorage(seed, s.Workload.CompactEvery.D(), quotaFaultsOK(s.Faults))
	s.Raft.ReadTimeout = drawReadTimeout(seed)
	return s
}

// readTimeoutStream seeds the draw of the read timeout: its own stream,
// so that adding it shifted no other draw.
const readTimeoutStream = 0x7ead_71e0_7ead_71e0

// drawReadTimeout draws raft.read_timeout: node's default in half the
// seeds, else log-uniform 100ms..1s.
func drawReadTimeout(seed uint64) Duration {
	r := rand.New(rand.NewPCG(seed, readTimeoutStream))
	if r.IntN(2) == 0 {
		return Duration(node.DefaultReadTimeout)
	}
	return logUniform(r, 100*time.Millisecond, time.Second)
}

// drawLeasesAndCompaction draws the lease TTLs, the keep-alive share and
// the compaction cadence, unless cfg pins them (see Config).
func drawLeasesAndCompaction(r *rand.Rand, cfg Config, w *WorkloadParams) {
	w.LeaseTTLMin, w.LeaseTTLMax = cfg.MinLeaseTTL, cfg.MaxLeaseTTL
	if w.LeaseTTLMin == 0 || w.LeaseTTLMax == 0 {
		w.LeaseTTLMin = 1 + r.Int64N(3)
		w.LeaseTTLMax = w.LeaseTTLMin + r.Int64N(6-w.LeaseTTLMin)
	}
	w.KeepAlivePercent = max(0, cfg.KeepAlivePercent)
	if cfg.KeepAlivePercent == 0 {
		w.KeepAlivePercent = r.IntN(101)
	}
	w.CompactEvery = Duration(max(0, cfg.CompactEvery))
	// A long run always compacts (when compaction is drawn): without it
	// the replicas' history, their snapshots and the simulated disks
	// that hold them grow with the run (a 1 h seed without compaction
	// peaked at 2.8 GB).
	if cfg.CompactEvery == 0 && (r.IntN(4) != 0 || cfg.Duration >= LongRun) {
		w.CompactEvery = uniformDur(r, 500*time.Millisecond, 4*time.Second)
	}
	w.TransferEvery = Duration(max(0, cfg.TransferEvery))
	if cfg.TransferEvery == 0 && r.IntN(3) != 0 {
		w.TransferEvery = uniformDur(r, time.Second, 5*time.Second)
	}
}

func pick(fixed, drawn int) int {
	if fixed > 0 {
		return fixed
	}
	return drawn
}

func oneOf[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// wantsSnapshots reports whether a fault aims at snapshots shipped to
// followers (crash-snapshot, isolate-leader) or at the storage moments
// snapshots make (crash-storage: a snapshot file and the WAL marker that
// names it; disk-sync-error: a failed fsync of a snapshot file): those
// need small snapshot intervals and short catch-up logs, or no snapshot
// is ever taken or sent.
func wantsSnapshots(specs []faults.Spec) bool {
	for _, s := range specs {
		if s.Name == faults.CrashSnapshot || s.Name == faults.IsolateLeader || s.Name == faults.CrashStorage ||
			s.Name == faults.DiskSyncError {
			return true
		}
	}
	return false
}

// drawRaft draws raft's parameters; with smallSnap (see wantsSnapshots)
// the snapshot interval is 16 or 32 entries and the catch-up log 2..8
// entries, unless cfg pins the interval.
func drawRaft(r *rand.Rand, cfg Config, smallSnap bool) RaftParams {
	p := RaftParams{
		Tick:            Duration(time.Duration(5+r.IntN(6)) * 10 * time.Millisecond),
		ElectionTicks:   6 + r.IntN(10),
		HeartbeatTicks:  1 + r.IntN(2),
		SnapshotEntries: cfg.SnapshotEntries,
		MaxMsgBytes:     oneOf[uint64](r, 1<<10, 8<<10, 64<<10, 1<<20),
		MaxInflight:     oneOf(r, 1, 4, 16, 256),
	}
	switch {
	case p.SnapshotEntries != 0:
	case smallSnap:
		p.SnapshotEntries = oneOf[uint64](r, 16, 32)
	default:
		p.SnapshotEntries = oneOf[uint64](r, 16, 32, 128, 512, node.DefaultSnapshotEntries)
	}
	p.CatchUpEntries = min(node.DefaultCatchUpEntries, max(1, p.SnapshotEntries/uint64(1+r.IntN(8))))
	if smallSnap {
		p.CatchUpEntries = uint64(2 + r.IntN(7))
	}
	return p
}

func drawNet(r *rand.Rand) NetParams {
	p := NetParams{Base: logUniform(r, 200*time.Microsecond, 3*time.Millisecond)}
	p.Jitter = uniformDur(r, 0, 2*p.Base.D())
	p.TailProb = round4(r.Float64() * 0.01)
	p.Tail = uniformDur(r, 10*time.Millisecond, 200*time.Millisecond)
	if r.IntN(2) == 1 {
		p.Loss = round4(r.Float64() * 0.02)
	}
	if r.IntN(2) == 1 {
		p.Duplicate = round4(r.Float64() * 0.02)
	}
	if r.IntN(2) == 1 {
		p.DupDelay = uniformDur(r, 0, 3*time.Second)
	}
	return p
}

// drawFaults resolves the -faults list (a swarm draws each in-model fault
// with probability 1/2) and draws a spec for each fault.
func drawFaults(r *rand.Rand, list string) []faults.Spec {
	set, err := faults.Parse(list)
	if err != nil {
		panic(err) // Config.Validate parsed it
	}
	set = set.Resolve(r)
	specs := []faults.Spec{}
	for _, f := range set.Faults() {
		specs = append(specs, faults.DrawSpec(f, r))
	}
	return specs
}

// drawMix keeps each of DefaultMix's weights with probability 3/4 and
// scales it by 1/2, 1 or 2 (swarm testing over operation kinds). It walks
// Mix's fields by reflection, so a kind added to Mix is drawn too.
func drawMix(r *rand.Rand) Mix {
	def := DefaultMix()
	var m Mix
	dv, mv := reflect.ValueOf(def), reflect.ValueOf(&m).Elem()
	for i := range dv.NumField() {
		w := dv.Field(i).Int()
		if r.IntN(4) == 0 {
			w = 0
		}
		w = w * int64(oneOf(r, 1, 2, 4)) / 2
		mv.Field(i).SetInt(w)
	}
	if m.total() <= 0 {
		return def
	}
	return m
}

// logUniform draws log-uniformly in [lo, hi], rounded to a microsecond.
func logUniform(r *rand.Rand, lo, hi time.Duration) Duration {
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	return Duration(min(max(time.Duration(v).Round(time.Microsecond), lo), hi))
}

// uniformDur draws uniformly in [lo, hi], rounded down to a microsecond.
func uniformDur(r *rand.Rand, lo, hi time.Duration) Duration {
	d := lo + time.Duration(r.Int64N(int64(hi-lo)+1))
	return Duration(max(d.Truncate(time.Microsecond), lo))
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// Validate reports the first field of s out of its bounds, wrapping
// ErrBadScenario and naming the field by its JSON path.
func (s Scenario) Validate() error {
	v := &validator{}
	v.int("nodes", s.Nodes, 1, MaxNodes)
	v.int("clients_per_node", s.ClientsPerNode, 1, MaxClientsPerNode)
	v.dur("duration", s.Duration, 1, MaxDuration)
	if _, err := ParseReadMode(string(s.Reads)); err != nil {
		v.fail("reads", "%q is not linearizable or serializable", s.Reads)
	}
	s.Raft.validate(v)
	s.Net.validate(v)
	v.dur("disk.sync_latency", s.Disk.SyncLatency, 0, 100*time.Millisecond)
	v.dur("disk.sync_jitter", s.Disk.SyncJitter, 0, 100*time.Millisecond)
	for i, f := range s.Faults {
		if v.err == nil {
			if err := f.Validate(fmt.Sprintf("faults[%d]", i)); err != nil {
				v.err = fmt.Errorf("%w: %v", ErrBadScenario, strings.TrimPrefix(err.Error(), faults.ErrBadSpec.Error()+": "))
			}
		}
		for _, g := range s.Faults[:i] {
			if g.Name == f.Name {
				v.fail(fmt.Sprintf("faults[%d].name", i), "%s is listed twice", f.Name)
			}
		}
	}
	s.Workload.validate(v)
	s.Storage.validate(v)
	return v.err
}

func (p RaftParams) validate(v *validator) {
	v.dur("raft.tick", p.Tick, 10*time.Millisecond, time.Second)
	v.int("raft.election_ticks", p.ElectionTicks, 3, 100)
	v.int("raft.heartbeat_ticks", p.HeartbeatTicks, 1, 50)
	if v.err == nil && 2*p.HeartbeatTicks >= p.ElectionTicks {
		v.fail("raft.heartbeat_ticks", "%d must be below election_ticks/2 (%d)", p.HeartbeatTicks, p.ElectionTicks)
	}
	v.int("raft.snapshot_entries", int(min(p.SnapshotEntries, math.MaxInt32)), 4, 1_000_000)
	v.int("raft.catch_up_entries", int(min(p.CatchUpEntries, math.MaxInt32)), 1, 1_000_000)
	v.int("raft.max_msg_bytes", int(min(p.MaxMsgBytes, math.MaxInt32)), 256, 16<<20)
	v.int("raft.max_inflight", p.MaxInflight, 1, 1024)
	v.dur("raft.read_timeout", p.ReadTimeout, 0, 10*time.Second)
}

func (p NetParams) validate(v *validator) {
	v.dur("net.base", p.Base, 0, 50*time.Millisecond)
	v.dur("net.jitter", p.Jitter, 0, 50*time.Millisecond)
	v.prob("net.tail_prob", p.TailProb, 0.1)
	v.dur("net.tail", p.Tail, 0, time.Second)
	v.prob("net.loss", p.Loss, 0.1)
	v.prob("net.duplicate", p.Duplicate, 0.1)
	v.dur("net.dup_delay", p.DupDelay, 0, 10*time.Second)
}

func (p WorkloadParams) validate(v *validator) {
	v.int("workload.keys", p.Keys, 1, MaxKeys)
	mv, mt := reflect.ValueOf(p.Mix), reflect.TypeOf(p.Mix)
	for i := range mv.NumField() {
		v.int("workload.mix."+jsonName(mt.Field(i)), int(mv.Field(i).Int()), 0, MaxWeight)
	}
	if v.err == nil && p.Mix.total() <= 0 {
		v.fail("workload.mix", "needs a positive weight")
	}
	v.dur("workload.think_time", p.ThinkTime, 0, 10*time.Second)
	v.int("workload.watches", p.Watches, 0, MaxWatches)
	v.int("workload.lease_ttl_min", int(min(p.LeaseTTLMin, math.MaxInt32)), 1, MaxLeaseTTLSeconds)
	v.int("workload.lease_ttl_max", int(min(p.LeaseTTLMax, math.MaxInt32)), int(max(1, min(p.LeaseTTLMin, MaxLeaseTTLSeconds))), MaxLeaseTTLSeconds)
	v.int("workload.keep_alive_percent", p.KeepAlivePercent, 0, 100)
	v.dur("workload.compact_every", p.CompactEvery, 0, MaxDuration)
	v.dur("workload.transfer_every", p.TransferEvery, 0, MaxDuration)
	p.Recipes.validate(v)
}

func jsonName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" {
		return tag
	}
	return f.Name
}

// validator keeps the first bound violated.
type validator struct{ err error }

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("%w: %s: %s", ErrBadScenario, field, fmt.Sprintf(format, args...))
	}
}

func (v *validator) int(field string, x, lo, hi int) {
	if x < lo || x > hi {
		v.fail(field, "%d not in [%d, %d]", x, lo, hi)
	}
}

func (v *validator) dur(field string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		v.fail(field, "%v not in [%v, %v]", d, lo, hi)
	}
}

func (v *validator) prob(field string, p, hi float64) {
	if !(p >= 0 && p <= hi) {
		v.fail(field, "%v not in [0, %v]", p, hi)
	}
}

// DecodeScenario reads a scenario from JSON strictly: an unknown field, a
// malformed value, trailing data or a value out of bounds is an error
// wrapping ErrBadScenario that names the field. Fields the file leaves out
// keep the values of base (so a file written before a field existed still
// reads; pass the seed's drawn scenario or DefaultScenario).
func DecodeScenario(r io.Reader, base Scenario) (Scenario, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	s := base
	s.Faults = nil
	if err := dec.Decode(&s); err != nil {
		return Scenario{}, fmt.Errorf("%w: %s", ErrBadScenario, describeJSONError(err))
	}
	if dec.More() {
		return Scenario{}, fmt.Errorf("%w: trailing data after the scenario object", ErrBadScenario)
	}
	if s.Faults == nil {
		s.Faults = []faults.Spec{}
	}
	return s, s.Validate()
}

// describeJSONError says which field a decoding error is about.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: cannot read %s as %v", te.Field, te.Value, te.Type)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return msg
}

// MarshalScenario is s as one line of JSON.
func MarshalScenario(s Scenario) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // plain data always encodes
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// DefaultScenario is the scenario of DefaultConfig with the defaults of
// the simulator and the node (no draws): what a scenario file's missing
// fields fall back to when no seed is at hand.
func DefaultScenario() Scenario {
	cfg := DefaultConfig()
	sc := sim.DefaultConfig()
	return Scenario{
		Nodes: cfg.Nodes, ClientsPerNode: 3, Duration: Duration(cfg.Duration), Reads: cfg.Reads,
		Raft: RaftParams{Tick: Duration(node.DefaultTickInterval), ElectionTicks: node.DefaultElectionTicks,
			HeartbeatTicks: node.DefaultHeartbeatTicks, SnapshotEntries: node.DefaultSnapshotEntries,
			CatchUpEntries: node.DefaultCatchUpEntries, MaxMsgBytes: 1 << 20, MaxInflight: 256,
			ReadTimeout: Duration(node.DefaultReadTimeout)},
		Net:    NetParams{Base: Duration(sc.Net.Base), Jitter: Duration(sc.Net.Jitter), TailProb: sc.Net.TailProb, Tail: Duration(sc.Net.Tail)},
		Disk:   DiskParams{SyncLatency: Duration(sc.Disk.SyncLatency), SyncJitter: Duration(sc.Disk.SyncJitter)},
		Faults: []faults.Spec{},
		Workload: WorkloadParams{Keys: 8, Mix: DefaultMix(), ThinkTime: Duration(60 * time.Millisecond), Watches: cfg.Watches,
			LeaseTTLMin: 1, LeaseTTLMax: 5, KeepAlivePercent: 50, CompactEvery: Duration(2 * time.Second),
			TransferEvery: Duration(3 * time.Second), Recipes: defaultRecipes()},
		Storage: defaultStorage(),
	}
}

// simConfig is the world configuration of s.
func (s Scenario) simConfig() sim.Config {
	c := sim.DefaultConfig()
	c.Net.Base, c.Net.Jitter, c.Net.TailProb, c.Net.Tail = s.Net.Base.D(), s.Net.Jitter.D(), s.Net.TailProb, s.Net.Tail.D()
	c.Net.Loss, c.Net.Duplicate, c.Net.DupDelay = s.Net.Loss, s.Net.Duplicate, s.Net.DupDelay.D()
	c.Disk.SyncLatency, c.Disk.SyncJitter = s.Disk.SyncLatency.D(), s.Disk.SyncJitter.D()
	return c
}

// applyTo is cfg with the fields the scenario decides set from it, so the
// rest of the harness reads one configuration.
func (s Scenario) applyTo(cfg Config) Config {
	cfg.Nodes, cfg.ClientsPerNode = s.Nodes, s.ClientsPerNode
	cfg.Duration, cfg.Reads = s.Duration.D(), s.Reads
	cfg.Keys, cfg.Mix, cfg.ThinkTime, cfg.Watches = s.Workload.Keys, s.Workload.Mix, s.Workload.ThinkTime.D(), s.Workload.Watches
	cfg.MinLeaseTTL, cfg.MaxLeaseTTL = s.Workload.LeaseTTLMin, s.Workload.LeaseTTLMax
	cfg.KeepAlivePercent, cfg.CompactEvery = s.Workload.KeepAlivePercent, s.Workload.CompactEvery.D()
	if cfg.KeepAlivePercent == 0 {
		cfg.KeepAlivePercent = -1 // none, not "draw"
	}
	if cfg.CompactEvery == 0 {
		cfg.CompactEvery = -1 // never, not "draw"
	}
	cfg.TransferEvery = s.Workload.TransferEvery.D()
	if cfg.TransferEvery == 0 {
		cfg.TransferEvery = -1
	}
	cfg.SnapshotEntries = s.Raft.SnapshotEntries
	names := make([]string, len(s.Faults))
	for i, f := range s.Faults {
		names[i] = f.Name
	}
	cfg.Faults = "none"
	if len(names) > 0 {
		cfg.Faults = strings.Join(names, ",")
	}
	return cfg
}

// FaultNames lists the names of s's faults.
func (s Scenario) FaultNames() []string {
	out := make([]string, len(s.Faults))
	for i, f := range s.Faults {
		out[i] = f.Name
	}
	return out
}

// OverrideFaults replaces the faults of a scenario by the -faults list
// (concrete: "none", "all" or names; not "swarm"): a fault the scenario
// had keeps its spec, a new one gets faults.DefaultSpec.
func OverrideFaults(specs []faults.Spec, list string) ([]faults.Spec, error) {
	set, err := faults.Parse(list)
	if err != nil {
		return nil, err
	}
	if set.IsSwarm() {
		return nil, fmt.Errorf("%w: swarm draws faults per seed; with a scenario give none, all or a list", ErrBadScenario)
	}
	out := []faults.Spec{}
	for _, f := range set.Faults() {
		spec := faults.DefaultSpec(f)
		for _, s := range specs {
			if s.Name == f.Name() {
				spec = s
			}
		}
		out = append(out, spec)
	}
	return out, nil
}
