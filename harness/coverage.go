package harness

import (
	"slices"

	"github.com/seedkv/seedkv/node"
	codeprobe "github.com/seedkv/seedkv/probe"
	"github.com/seedkv/seedkv/raft"
)

// coverage is what one run collects when Config.Probes is on: the probe
// hits of its world and the abstract states its cluster went through.
// Both belong to the run alone (parallel runs never share them) and are a
// function of seed and scenario, like the trace.
type coverage struct {
	set    *codeprobe.Set
	states map[uint64]struct{}
}

// startCoverage gives the world a probe set, if Config.Probes asks.
func (r *seedRun) startCoverage() {
	if !r.cfg.Probes {
		return
	}
	r.cov = &coverage{set: codeprobe.NewSet(), states: map[uint64]struct{}{}}
	r.w.SetProbes(r.cov.set)
}

// sampleStates records the cluster's abstract state now: per replica its
// role, how far its term is behind the highest term and how far its
// commit index is behind the highest commit index (both bucketed), and
// whether it is up; per cluster the number of leaders at once, the
// number of members, and how many replicas are down, behind in term, and
// 10+ entries behind in commit index. Each is a feature; exploration
// keeps a scenario that reaches a feature no earlier run did.
func (r *seedRun) sampleStates() {
	if r.cov == nil {
		return
	}
	type rs struct {
		role       raft.Role
		term, comm uint64
		up         bool
	}
	var all []rs
	var maxTerm, maxCommit uint64
	for _, id := range r.replicas {
		if r.retired[id] {
			continue
		}
		s := rs{}
		if n, ok := unwrapProcess(r.w.Process(id)).(*node.Node); ok && r.w.Alive(id) {
			st := n.Status()
			s = rs{role: st.Role, term: st.Term, comm: st.Commit, up: !st.Stopped}
		}
		maxTerm, maxCommit = max(maxTerm, s.term), max(maxCommit, s.comm)
		all = append(all, s)
	}
	// The cluster: leaders at once, members, and how many replicas are
	// down, behind in term, and far behind in commit index.
	var leaders, down, termBehind, commitBehind uint64
	for _, s := range all {
		k := uint64(s.role)<<16 | bucket(maxTerm-s.term, 1, 2)<<8 | bucket(maxCommit-s.comm, 1, 10, 100)
		if s.up {
			k |= 1 << 24
		} else {
			down++
		}
		leaders += b2u(s.role == raft.RoleLeader)
		termBehind += b2u(s.term < maxTerm)
		commitBehind += b2u(maxCommit-s.comm >= 10)
		r.cov.states[mixFeature(1, k)] = struct{}{}
	}
	r.cov.states[mixFeature(2, leaders<<32|down<<24|termBehind<<16|commitBehind<<8|uint64(len(all)))] = struct{}{}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// bucket is the number of bounds at or below x (0 if x is below them all).
func bucket(x uint64, bounds ...uint64) uint64 {
	b := uint64(0)
	for _, lo := range bounds {
		if x >= lo {
			b++
		}
	}
	return b
}

// mixFeature folds v into h (a 64-bit mix; features are hashes).
func mixFeature(h, v uint64) uint64 {
	x := h*0x9e3779b97f4a7c15 ^ v
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return x
}

// finishCoverage copies the run's coverage into res.
func (r *seedRun) finishCoverage(res *Result) {
	if r.cov == nil {
		return
	}
	res.Probes = r.cov.set.Hits()
	res.ProbeOrder = r.cov.set.Order()
	res.States = make([]uint64, 0, len(r.cov.states))
	for s := range r.cov.states {
		res.States = append(res.States, s)
	}
	slices.Sort(res.States)
}

// Probes hands the wrapped host's probe set to the replica (an embedded
// interface does not carry the method along).
func (h *tapHost) Probes() *codeprobe.Set { return codeprobe.Of(h.Host) }
