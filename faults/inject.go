package faults

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
)

// inject starts one episode of e's fault. It returns a description, the
// function that heals it, and false if the fault cannot be injected now
// (for example because the minority budget is used up).
func (n *Nemesis) inject(e *episode) (string, func(), bool) {
	switch e.fault {
	case Crash:
		return n.injectCrash(e)
	case Partition:
		return n.injectPartition(e)
	case Packet:
		return n.injectPacket(e)
	case DiskTorn:
		return n.injectTorn()
	case DiskCorrupt:
		return n.injectCorrupt(e, 1, false)
	case DiskFull:
		return n.injectFull(e)
	case DiskSlow:
		return n.injectSlow(e)
	case ClockDrift:
		return n.injectDrift(e)
	case LoseSynced:
		return n.injectLoseSynced(e)
	case DiskCorruptMajority:
		return n.injectCorrupt(e, n.minority()+1, true)
	}
	return "", nil, false
}

// crashable lists the running replicas that may be crashed without the
// unavailable replicas exceeding a minority, and how many of them.
func (n *Nemesis) crashable() ([]host.NodeID, int) {
	unavail := n.Unavailable()
	budget := n.minority() - len(unavail)
	var c []host.NodeID
	for _, id := range n.ids {
		if n.w.Alive(id) && !slices.Contains(unavail, id) {
			c = append(c, id)
		}
	}
	return c, min(budget, len(c))
}

// injectCrash crashes 1..budget replicas at once and restarts them when
// healed.
func (n *Nemesis) injectCrash(e *episode) (string, func(), bool) {
	cands, budget := n.crashable()
	if budget <= 0 {
		return "", nil, false
	}
	var hit []host.NodeID
	for _, id := range pick(e.r, cands, 1+e.r.IntN(budget)) {
		if n.crash(id, "crash") {
			hit = append(hit, id)
		}
	}
	return idList(hit), func() {
		for _, id := range hit {
			n.restart(id)
		}
	}, len(hit) > 0
}

// injectPartition cuts the replicas' network in one of several shapes.
func (n *Nemesis) injectPartition(e *episode) (string, func(), bool) {
	net, ids, r := n.w.Net(), n.ids, e.r
	if len(ids) < 2 {
		return "", nil, false
	}
	var detail string
	switch shape := r.IntN(5); {
	case shape == 0: // isolate one node (from clients too)
		id := ids[r.IntN(len(ids))]
		net.Isolate(id)
		detail = fmt.Sprintf("isolate %d", id)
	case shape == 1 || len(ids) < 3: // minority | majority
		p := slices.Clone(ids)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		k := 1 + r.IntN(max(1, n.minority()))
		a, b := sorted(p[:k]), sorted(p[k:])
		net.Split(a, b)
		detail = fmt.Sprintf("split %s|%s", idList(a), idList(b))
	case shape == 2: // bridge: two sides that only one node reaches both
		p := slices.Clone(ids)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		bridge, rest := p[0], p[1:]
		k := 1 + r.IntN(len(rest)-1)
		a, b := sorted(rest[:k]), sorted(rest[k:])
		net.Split(a, b)
		detail = fmt.Sprintf("bridge %d between %s|%s", bridge, idList(a), idList(b))
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
			parts = append(parts, idList(g))
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

// injectPacket turns on loss, duplication and extra latency.
func (n *Nemesis) injectPacket(e *episode) (string, func(), bool) {
	net, r, t := n.w.Net(), e.r, n.timing
	c := net.Config()
	loss, dup := r.Float64()*t.MaxLoss, r.Float64()*t.MaxDuplicate
	base := time.Duration(float64(c.Base) * (1 + 4*r.Float64()))
	jitter := time.Duration(float64(c.Jitter) * (1 + 9*r.Float64()))
	// Each setter validates; the values above are in range by construction.
	_ = net.SetLoss(loss)
	_ = net.SetDuplicate(dup)
	_ = net.SetLatency(base, jitter, c.TailProb, c.Tail)
	detail := fmt.Sprintf("loss=%.3f dup=%.3f base=%v jitter=%v", loss, dup, base, jitter)
	n.w.Record("fault/packet", 0, []byte(detail))
	return detail, func() {
		_ = net.SetLoss(c.Loss)
		_ = net.SetDuplicate(c.Duplicate)
		_ = net.SetLatency(c.Base, c.Jitter, c.TailProb, c.Tail)
	}, true
}

// injectTorn makes crashes tear the last unsynced write on every replica.
func (n *Nemesis) injectTorn() (string, func(), bool) {
	prev := map[host.NodeID]bool{}
	for _, id := range n.ids {
		d := n.w.Disk(id)
		prev[id] = d.TornWrites()
		d.SetTornWrites(true)
	}
	n.w.Record("fault/disk-torn", 0, nil)
	return "all", func() {
		for _, id := range n.ids {
			n.w.Disk(id).SetTornWrites(prev[id])
		}
	}, true
}

// injectCorrupt crashes k replicas, flips 1..3 bits of each one's durable
// data and restarts them when healed. In the model (beyond=false, k=1) it
// respects both budgets: unavailable replicas and tainted replicas each
// stay within a minority. Beyond the model it corrupts k replicas anyway.
func (n *Nemesis) injectCorrupt(e *episode, k int, beyond bool) (string, func(), bool) {
	var cands []host.NodeID
	if beyond {
		for _, id := range n.ids {
			if n.w.Alive(id) {
				cands = append(cands, id)
			}
		}
		k = min(k, len(cands))
	} else {
		crashable, budget := n.crashable()
		tainted := n.Tainted()
		for _, id := range crashable {
			if slices.Contains(tainted, id) || len(tainted) < n.minority() {
				cands = append(cands, id)
			}
		}
		k = min(k, budget, len(cands))
	}
	if k <= 0 {
		return "", nil, false
	}
	fault := e.fault.String()
	var hit []host.NodeID
	var parts []string
	for _, id := range pick(e.r, cands, k) {
		if !n.crash(id, fault) {
			continue
		}
		hit = append(hit, id)
		n.tainted[id] = true
		for range 1 + e.r.IntN(3) {
			c, err := n.w.Disk(id).CorruptRandom(e.r)
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
			n.restart(id)
			n.recovering[id] = n.w.Elapsed() + n.timing.Recover
		}
	}, len(hit) > 0
}

// injectLoseSynced (beyond the model) crashes 1..majority replicas, cuts
// back each one's synced data and restarts them when healed.
func (n *Nemesis) injectLoseSynced(e *episode) (string, func(), bool) {
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
	for _, id := range pick(e.r, cands, 1+e.r.IntN(min(n.minority()+1, len(cands)))) {
		if !n.crash(id, "lose-synced") {
			continue
		}
		hit = append(hit, id)
		n.tainted[id] = true
		l, err := n.w.Disk(id).LoseSynced(e.r)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%d:nothing", id))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d:%s %d->%d", id, l.Name, l.From, l.To))
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			n.restart(id)
		}
	}, len(hit) > 0
}

// injectFull fills the disks of 1..all replicas: capacity just above what
// they use now.
func (n *Nemesis) injectFull(e *episode) (string, func(), bool) {
	hit := pick(e.r, n.ids, 1+e.r.IntN(len(n.ids)))
	prev := map[host.NodeID]int64{}
	var parts []string
	for _, id := range hit {
		d := n.w.Disk(id)
		prev[id] = d.Capacity()
		capacity := d.Used() + 1 + e.r.Int64N(4096) // > 0: zero means unlimited
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

// injectSlow multiplies the sync latency of 1..all replicas.
func (n *Nemesis) injectSlow(e *episode) (string, func(), bool) {
	hit := pick(e.r, n.ids, 1+e.r.IntN(len(n.ids)))
	prev := map[host.NodeID]float64{}
	var parts []string
	for _, id := range hit {
		d := n.w.Disk(id)
		prev[id] = d.Slow()
		m := math.Pow(n.timing.MaxSlow, e.r.Float64()) // log-uniform in [1, MaxSlow]
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

// injectDrift sets the clock rate of 1..all replicas within
// [1/MaxDrift, MaxDrift].
func (n *Nemesis) injectDrift(e *episode) (string, func(), bool) {
	hit := pick(e.r, n.ids, 1+e.r.IntN(len(n.ids)))
	prev := map[host.NodeID]float64{}
	var parts []string
	for _, id := range hit {
		prev[id] = n.w.ClockRate(id)
		rate := math.Pow(n.timing.MaxDrift, 2*e.r.Float64()-1)
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
