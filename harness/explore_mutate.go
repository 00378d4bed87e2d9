package harness

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/node"
)

// mutate changes one part of s, within the scenario's bounds (Validate
// has the last word: the caller drops a mutation it refuses).
func (e *Explorer) mutate(r *rand.Rand, s *Scenario) {
	switch r.IntN(14) {
	case 0, 1, 2:
		e.mutateFaults(r, s)
	case 3:
		mutateNetLoss(r, &s.Net)
	case 4:
		s.Net.Base = scaleDur(r, s.Net.Base, 0, 50*time.Millisecond)
		s.Net.Jitter = scaleDur(r, s.Net.Jitter, 0, 50*time.Millisecond)
		s.Net.TailProb = clampF(s.Net.TailProb*scale(r)+0.001*float64(r.IntN(2)), 0, 0.1)
	case 5:
		s.Disk.SyncLatency = scaleDur(r, s.Disk.SyncLatency, 0, 100*time.Millisecond)
		s.Disk.SyncJitter = scaleDur(r, s.Disk.SyncJitter, 0, 100*time.Millisecond)
	case 6:
		s.Raft.Tick = Duration(time.Duration(1+r.IntN(20)) * 10 * time.Millisecond)
		s.Raft.ElectionTicks = 3 + r.IntN(20)
		s.Raft.HeartbeatTicks = 1 + r.IntN(max(1, (s.Raft.ElectionTicks-1)/2))
	case 7:
		s.Raft.SnapshotEntries = oneOf[uint64](r, 4, 8, 16, 32, 128, 512, 100000)
		s.Raft.CatchUpEntries = max(1, s.Raft.SnapshotEntries/uint64(1+r.IntN(16)))
	case 8:
		s.Raft.MaxMsgBytes = oneOf[uint64](r, 256, 1<<10, 8<<10, 64<<10, 1<<20)
		s.Raft.MaxInflight = oneOf(r, 1, 2, 4, 16, 256)
	case 9:
		mutateWorkload(r, &s.Workload)
	case 10:
		mutateMix(r, &s.Workload.Mix)
	case 11:
		if e.cfg.Base.Nodes == 0 {
			s.Nodes = 3 + r.IntN(5) // the sizes DrawScenario draws
		} else {
			e.mutateFaults(r, s)
		}
	case 12:
		mutateStorage(r, s)
	default:
		s.Workload.ThinkTime = scaleDur(r, s.Workload.ThinkTime, time.Millisecond, 500*time.Millisecond)
	}
}

// mutateStorage sets the WAL segment size (node's default, or 512 B to
// 64 KiB: segments roll) or the mvcc quota: none, or 24 KiB to 48 KiB,
// below the swarm's draws (48..192 KiB), so a 10 s run fills it and
// reaches the store's no-space path, which the swarm never did in 10,000
// seeds. A quota needs compactions every 2 s or more often, as in the
// swarm's draw (fitQuota); below about 16 KiB the live keys alone fill
// it and no write succeeds after the heal (a liveness failure by
// construction, not a bug).
func mutateStorage(r *rand.Rand, s *Scenario) {
	if r.IntN(2) == 0 {
		s.Storage.SegmentBytes = oneOf(r, node.DefaultSegmentSize, logUniformBytes(r, MinSegmentBytes, 64<<10))
		return
	}
	s.Storage.QuotaBytes = oneOf(r, 0, logUniformBytes(r, 24<<10, 48<<10))
	if s.Storage.QuotaBytes != 0 && (s.Workload.CompactEvery <= 0 || s.Workload.CompactEvery.D() > 2*time.Second) {
		s.Workload.CompactEvery = uniformDur(r, 500*time.Millisecond, 2*time.Second)
	}
}

// fitQuota drops a quota the scenario's compactions cannot keep clear
// (another mutation or a cross may have changed the cadence).
func fitQuota(s *Scenario) {
	if c := s.Workload.CompactEvery.D(); c <= 0 || c > 2*time.Second {
		s.Storage.QuotaBytes = 0
	}
}

// mutateFaults adds a fault, removes one, or changes one's rate, episode
// length or parameters.
func (e *Explorer) mutateFaults(r *rand.Rand, s *Scenario) {
	op := r.IntN(5)
	if len(s.Faults) == 0 {
		op = 0
	}
	switch op {
	case 0: // add one of the pool not yet on
		var missing []faults.Fault
		for _, f := range e.pool {
			if !slices.ContainsFunc(s.Faults, func(sp faults.Spec) bool { return sp.Name == f.Name() }) {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			s.Faults = append(s.Faults, faults.DrawSpec(missing[r.IntN(len(missing))], r))
			sortSpecs(s.Faults)
		}
	case 1:
		i := r.IntN(len(s.Faults))
		s.Faults = slices.Delete(s.Faults, i, i+1)
	case 2:
		f := &s.Faults[r.IntN(len(s.Faults))]
		f.Gap = scaleDur(r, f.Gap, faults.MinGap, faults.MaxGap)
	case 3:
		f := &s.Faults[r.IntN(len(s.Faults))]
		f.Hold = scaleDur(r, f.Hold, faults.MinHold, faults.MaxHold)
	default:
		f := &s.Faults[r.IntN(len(s.Faults))]
		if reg, ok := faults.Lookup(f.Name); ok {
			f.Params = faults.DrawSpec(reg, r).Params
		}
	}
}

// sortSpecs puts specs in registry order, the order a drawn scenario has.
func sortSpecs(specs []faults.Spec) {
	rank := map[string]int{}
	for i, f := range faults.Registered() {
		rank[f.Name()] = i
	}
	slices.SortStableFunc(specs, func(a, b faults.Spec) int { return rank[a.Name] - rank[b.Name] })
}

func mutateNetLoss(r *rand.Rand, n *NetParams) {
	switch r.IntN(3) {
	case 0:
		n.Loss = round4(oneOf(r, 0, r.Float64()*0.02, r.Float64()*0.08))
	case 1:
		n.Duplicate = round4(oneOf(r, 0, r.Float64()*0.02, r.Float64()*0.08))
	default:
		n.DupDelay = uniformDur(r, 0, oneOf(r, 100*time.Millisecond, 3*time.Second, 10*time.Second))
	}
}

func mutateWorkload(r *rand.Rand, w *WorkloadParams) {
	switch r.IntN(4) {
	case 0:
		w.Keys = max(1, min(MaxKeys, int(math.Round(float64(w.Keys)*scale(r)))+r.IntN(3)-1))
	case 1:
		w.LeaseTTLMin = 1 + r.Int64N(3)
		w.LeaseTTLMax = w.LeaseTTLMin + r.Int64N(4)
	case 2:
		w.KeepAlivePercent = r.IntN(101)
	default:
		w.CompactEvery = oneOf(r, 0, uniformDur(r, 100*time.Millisecond, 4*time.Second))
	}
}

// mutateMix scales one weight of the mix by 0, 1/2, 2 or 4 (or sets a
// zero weight to the default's).
func mutateMix(r *rand.Rand, m *Mix) {
	mv, dv := reflect.ValueOf(m).Elem(), reflect.ValueOf(DefaultMix())
	i := r.IntN(mv.NumField())
	w := mv.Field(i).Int()
	if w == 0 {
		w = max(1, dv.Field(i).Int())
	} else {
		w = w * int64(oneOf(r, 0, 1, 4, 8)) / 2
	}
	mv.Field(i).SetInt(min(w, MaxWeight))
	if m.total() <= 0 {
		*m = DefaultMix()
	}
}

// scale is a multiplicative step: 1/4..4, log-uniform.
func scale(r *rand.Rand) float64 { return math.Pow(2, 4*r.Float64()-2) }

// scaleDur scales d by scale(r) (nudging a zero up), clamped to [lo, hi]
// and rounded to a microsecond.
func scaleDur(r *rand.Rand, d Duration, lo, hi time.Duration) Duration {
	v := float64(d.D())
	if v == 0 {
		v = float64(max(lo, time.Millisecond))
	}
	v *= scale(r)
	return Duration(min(max(time.Duration(v).Round(time.Microsecond), lo), hi))
}

func clampF(v, lo, hi float64) float64 { return math.Round(min(max(v, lo), hi)*1e4) / 1e4 }
