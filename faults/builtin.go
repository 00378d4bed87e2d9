package faults

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
)

// The built-in faults, registered in this order (the canonical order of
// sets and swarm draws): the in-model ones, then the beyond-model ones.
// Each is one type in its own file or here; a fault from another package
// registers itself (Register, from its init) and comes after these.
func init() {
	for _, f := range []Fault{
		crashFault{}, partitionFault{}, packetFault{}, tornFault{},
		corruptFault{}, fullFault{}, slowFault{}, driftFault{}, membershipFault{},
		pauseFault{}, crashAckFault{}, crashSnapshotFault{}, isolateLeaderFault{}, crashSlowLeaderFault{},
		replayFault{},
		loseSyncedFault{}, corruptMajorityFault{}, loseDirentFault{},
	} {
		MustRegister(f)
	}
}

// crashFault crashes 1..budget replicas at once and restarts them when
// healed.
type crashFault struct{}

func (crashFault) Name() string    { return Crash }
func (crashFault) Class() Class    { return InModel }
func (crashFault) Params() []Param { return nil }

func (crashFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	cands, budget := n.Crashable()
	if budget <= 0 {
		return "", nil, false
	}
	var hit []host.NodeID
	for _, id := range Pick(e.R, cands, 1+e.R.IntN(budget)) {
		if n.CrashNode(id, Crash) {
			hit = append(hit, id)
		}
	}
	return IDList(hit), func() {
		for _, id := range hit {
			n.RestartNode(id)
		}
	}, len(hit) > 0
}

// partitionFault cuts the replicas' network in one of several shapes.
type partitionFault struct{}

func (partitionFault) Name() string    { return Partition }
func (partitionFault) Class() Class    { return InModel }
func (partitionFault) Params() []Param { return nil }

func (partitionFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	net, ids, r := n.w.Net(), n.ids, e.R
	if len(ids) < 2 {
		return "", nil, false
	}
	var detail string
	switch shape := r.IntN(5); {
	case shape == 0: // isolate one node (from clients too)
		id := ids[r.IntN(len(ids))]
		net.Isolate(id)
		detail = fmt.Sprintf("isolate %d", id)
	case shape == 1 || len(ids) < 3: // minority | majority, or half | half
		p := slices.Clone(ids)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		k := 1 + r.IntN(max(1, n.minority()))
		if len(ids)%2 == 0 && r.IntN(2) == 0 {
			k = len(ids) / 2 // an even split: neither side has a quorum
		}
		a, b := sorted(p[:k]), sorted(p[k:])
		net.Split(a, b)
		detail = fmt.Sprintf("split %s|%s", IDList(a), IDList(b))
	case shape == 2: // bridge: two sides that only one node reaches both
		p := slices.Clone(ids)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		bridge, rest := p[0], p[1:]
		k := 1 + r.IntN(len(rest)-1)
		a, b := sorted(rest[:k]), sorted(rest[k:])
		net.Split(a, b)
		detail = fmt.Sprintf("bridge %d between %s|%s", bridge, IDList(a), IDList(b))
	case shape == 3: // random one-way cuts
		var cuts []string
		for range 1 + r.IntN(len(ids)) {
			from, to := ids[r.IntN(len(ids))], ids[r.IntN(len(ids))]
			if from != to {
				net.Cut(from, to)
				cuts = append(cuts, fmt.Sprintf("%d->%d", from, to))
			}
		}
		detail = "one-way " + strings.Join(cuts, ",")
	default: // random groups
		groups := make([][]host.NodeID, 2+r.IntN(2))
		for _, id := range ids {
			g := r.IntN(len(groups))
			groups[g] = append(groups[g], id)
		}
		net.Split(groups...)
		var parts []string
		for _, g := range groups {
			parts = append(parts, IDList(g))
		}
		detail = "groups " + strings.Join(parts, "|")
	}
	n.w.Record("fault/partition", 0, []byte(detail))
	return detail, net.Heal, true
}

func sorted(ids []host.NodeID) []host.NodeID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// packetFault turns on loss, duplication (possibly seconds late) and
// extra latency.
type packetFault struct{}

func (packetFault) Name() string { return Packet }
func (packetFault) Class() Class { return InModel }
func (packetFault) Params() []Param {
	return []Param{
		{Name: "max_loss", Min: 0, Max: 0.5, Default: 0.2, DrawMin: 0.02, DrawMax: 0.3, Doc: "loss probability of an episode is uniform in [0, max_loss]"},
		{Name: "max_duplicate", Min: 0, Max: 0.5, Default: 0.1, DrawMin: 0.01, DrawMax: 0.2, Doc: "duplication probability is uniform in [0, max_duplicate]"},
		{Name: "max_dup_delay_s", Min: 0, Max: 10, Default: 0, DrawMin: 0, DrawMax: 3, Doc: "a duplicate arrives up to this many seconds after its original"},
	}
}

func (packetFault) Inject(e *Episode) (string, func(), bool) {
	net, r := e.N.w.Net(), e.R
	c := net.Config()
	loss, dup := r.Float64()*e.Spec.Param("max_loss"), r.Float64()*e.Spec.Param("max_duplicate")
	dupDelay := time.Duration(r.Float64() * e.Spec.Param("max_dup_delay_s") * float64(time.Second))
	base := time.Duration(float64(c.Base) * (1 + 4*r.Float64()))
	jitter := time.Duration(float64(c.Jitter) * (1 + 9*r.Float64()))
	// Each setter validates; the values above are in range by construction.
	_ = net.SetLoss(loss)
	_ = net.SetDuplicate(dup)
	_ = net.SetDuplicateDelay(max(dupDelay, c.DupDelay))
	_ = net.SetLatency(base, jitter, c.TailProb, c.Tail)
	detail := fmt.Sprintf("loss=%.3f dup=%.3f dup-delay=%v base=%v jitter=%v", loss, dup, dupDelay.Round(time.Millisecond), base, jitter)
	e.N.w.Record("fault/packet", 0, []byte(detail))
	return detail, func() {
		_ = net.SetLoss(c.Loss)
		_ = net.SetDuplicate(c.Duplicate)
		_ = net.SetDuplicateDelay(c.DupDelay)
		_ = net.SetLatency(c.Base, c.Jitter, c.TailProb, c.Tail)
	}, true
}

// tornFault makes crashes tear the last unsynced write on every replica.
type tornFault struct{}

func (tornFault) Name() string    { return DiskTorn }
func (tornFault) Class() Class    { return InModel }
func (tornFault) Params() []Param { return nil }

func (tornFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	hit := slices.Clone(n.ids)
	prev := map[host.NodeID]bool{}
	for _, id := range hit {
		d := n.w.Disk(id)
		prev[id] = d.TornWrites()
		d.SetTornWrites(true)
	}
	n.w.Record("fault/disk-torn", 0, nil)
	return "all", func() {
		for _, id := range hit {
			n.w.Disk(id).SetTornWrites(prev[id])
		}
	}, true
}

// corruptFault (in the model) crashes one replica, flips bits of its
// durable data and restarts it when healed, within both budgets:
// unavailable replicas and tainted replicas each stay within a minority.
type corruptFault struct{}

func (corruptFault) Name() string { return DiskCorrupt }
func (corruptFault) Class() Class { return InModel }
func (corruptFault) Params() []Param {
	return []Param{{Name: "max_bits", Min: 1, Max: 16, Default: 3, DrawMin: 1, DrawMax: 6, Integer: true, Doc: "each corrupted replica gets 1..max_bits flipped bits"}}
}

func (corruptFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	crashable, budget := n.Crashable()
	tainted := n.Tainted()
	var cands []host.NodeID
	for _, id := range crashable {
		if slices.Contains(tainted, id) || len(tainted) < n.minority() {
			cands = append(cands, id)
		}
	}
	return corrupt(e, cands, min(1, budget, len(cands)))
}

// corruptMajorityFault (beyond the model) corrupts a majority at once.
type corruptMajorityFault struct{}

func (corruptMajorityFault) Name() string    { return DiskCorruptMajority }
func (corruptMajorityFault) Class() Class    { return BeyondModel }
func (corruptMajorityFault) Params() []Param { return corruptFault{}.Params() }

func (corruptMajorityFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	var cands []host.NodeID
	for _, id := range n.ids {
		if n.w.Alive(id) {
			cands = append(cands, id)
		}
	}
	return corrupt(e, cands, min(n.minority()+1, len(cands)))
}

// corrupt crashes k of cands, flips 1..max_bits bits of each one's durable
// data and restarts them when healed.
func corrupt(e *Episode, cands []host.NodeID, k int) (string, func(), bool) {
	if k <= 0 {
		return "", nil, false
	}
	n, name := e.N, e.fault.Name()
	var hit []host.NodeID
	var parts []string
	for _, id := range Pick(e.R, cands, k) {
		if !n.CrashNode(id, name) {
			continue
		}
		hit = append(hit, id)
		n.Taint(id)
		for range 1 + e.R.IntN(int(e.Spec.Param("max_bits"))) {
			c, err := n.w.Disk(id).CorruptRandom(e.R)
			if err != nil {
				parts = append(parts, fmt.Sprintf("%d:nothing", id))
				break
			}
			parts = append(parts, fmt.Sprintf("%d:%s@%d.%d", id, c.Name, c.Off, c.Bit))
			n.w.Record("fault/corrupt-bit", id, []byte(parts[len(parts)-1]))
		}
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			n.RestartNode(id)
			n.Recovering(id)
		}
	}, len(hit) > 0
}

// loseSyncedFault (beyond the model) crashes 1..majority replicas, cuts
// back each one's synced data and restarts them when healed.
type loseSyncedFault struct{}

func (loseSyncedFault) Name() string    { return LoseSynced }
func (loseSyncedFault) Class() Class    { return BeyondModel }
func (loseSyncedFault) Params() []Param { return nil }

func (loseSyncedFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	return crashAndDamage(e, LoseSynced, func(id host.NodeID) string {
		n.Taint(id)
		l, err := n.w.Disk(id).LoseSynced(e.R)
		if err != nil {
			return fmt.Sprintf("%d:nothing", id)
		}
		return fmt.Sprintf("%d:%s %d->%d", id, l.Name, l.From, l.To)
	})
}

// crashAndDamage crashes 1..majority of the live replicas (beyond the
// crash budget: only beyond-model faults use it), lets damage act on each
// crashed replica's disk, and restarts them when healed. damage returns
// the replica's part of the episode's detail, or "" for none.
func crashAndDamage(e *Episode, fault string, damage func(id host.NodeID) string) (string, func(), bool) {
	n := e.N
	var cands []host.NodeID
	for _, id := range n.ids {
		if n.w.Alive(id) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return "", nil, false
	}
	var hit []host.NodeID
	var parts []string
	for _, id := range Pick(e.R, cands, 1+e.R.IntN(min(n.minority()+1, len(cands)))) {
		if !n.CrashNode(id, fault) {
			continue
		}
		hit = append(hit, id)
		if part := damage(id); part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			n.RestartNode(id)
		}
	}, len(hit) > 0
}

// fullFault fills the disks of 1..all replicas: capacity just above what
// they use now.
type fullFault struct{}

func (fullFault) Name() string    { return DiskFull }
func (fullFault) Class() Class    { return InModel }
func (fullFault) Params() []Param { return nil }

func (fullFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	hit := Pick(e.R, n.ids, 1+e.R.IntN(len(n.ids)))
	prev := map[host.NodeID]int64{}
	var parts []string
	for _, id := range hit {
		d := n.w.Disk(id)
		prev[id] = d.Capacity()
		capacity := d.Used() + 1 + e.R.Int64N(4096) // > 0: zero means unlimited
		_ = d.SetCapacity(capacity)
		parts = append(parts, fmt.Sprintf("%d:%d", id, capacity))
		n.w.Record("fault/disk-full", id, nil)
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			_ = n.w.Disk(id).SetCapacity(prev[id])
		}
	}, true
}

// slowFault multiplies the sync latency of 1..all replicas.
type slowFault struct{}

func (slowFault) Name() string { return DiskSlow }
func (slowFault) Class() Class { return InModel }
func (slowFault) Params() []Param {
	return []Param{{Name: "max_slow", Min: 1, Max: 1000, Default: 50, DrawMin: 5, DrawMax: 100, Doc: "sync latency multiplier, log-uniform in [1, max_slow]"}}
}

func (slowFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	hit := Pick(e.R, n.ids, 1+e.R.IntN(len(n.ids)))
	prev := map[host.NodeID]float64{}
	var parts []string
	for _, id := range hit {
		d := n.w.Disk(id)
		prev[id] = d.Slow()
		m := math.Pow(e.Spec.Param("max_slow"), e.R.Float64()) // log-uniform in [1, max]
		_ = d.SetSlow(m)
		parts = append(parts, fmt.Sprintf("%d:x%.1f", id, m))
		n.w.Record("fault/disk-slow", id, nil)
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			_ = n.w.Disk(id).SetSlow(prev[id])
		}
	}, true
}

// driftFault sets the clock rate of 1..all replicas within
// [1/max_drift, max_drift].
type driftFault struct{}

func (driftFault) Name() string { return ClockDrift }
func (driftFault) Class() Class { return InModel }
func (driftFault) Params() []Param {
	return []Param{{Name: "max_drift", Min: 1, Max: 2, Default: 1.25, DrawMin: 1.02, DrawMax: 1.3, Doc: "clock rates are drawn in [1/max_drift, max_drift]"}}
}

func (driftFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	hit := Pick(e.R, n.ids, 1+e.R.IntN(len(n.ids)))
	prev := map[host.NodeID]float64{}
	var parts []string
	for _, id := range hit {
		prev[id] = n.w.ClockRate(id)
		rate := math.Pow(e.Spec.Param("max_drift"), 2*e.R.Float64()-1)
		_ = n.w.SetClockRate(id, rate)
		parts = append(parts, fmt.Sprintf("%d:x%.3f", id, rate))
		n.w.Record("fault/clock-drift", id, nil)
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			_ = n.w.SetClockRate(id, prev[id])
		}
	}, true
}

// membershipFault is carried by the nemesis but driven by the harness,
// which owns the cluster: an operator client replaces replicas.
type membershipFault struct{}

func (membershipFault) Name() string     { return Membership }
func (membershipFault) Class() Class     { return InModel }
func (membershipFault) Params() []Param  { return nil }
func (membershipFault) DrivenBy() string { return "harness" }

func (membershipFault) Inject(*Episode) (string, func(), bool) { return "", nil, false }
