package harness

import (
	"strings"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/node"
)

// runTimeline records, for the failure report, when each fault episode was
// active and each replica's role, term, commit index and applied revision
// over time. It is sampled at every client call and return and after every
// slice of runFor (never with timers of its own, which would change the
// trace), only reads state, and only when artifacts are kept.
type runTimeline struct {
	open   map[string]int64 // active fault detail -> start
	closed []lin.Fault

	replicas []ReplicaTimeline   // in order of first sample
	index    map[host.NodeID]int // replica -> its place in replicas
}

// ReplicaTimeline is one replica's state over a run: a sample at the run's
// start and one at each sampled moment its state had changed.
type ReplicaTimeline struct {
	// ID is the replica's node ID.
	ID uint64
	// Samples are in time order; each holds until the next.
	Samples []ReplicaSample
}

// ReplicaSample is a replica's state from At on.
type ReplicaSample struct {
	// At is the virtual time in nanoseconds.
	At int64
	// Role is "leader", "follower", "candidate" or "precandidate" for a
	// running replica; "down" while crashed or paused, "stopped" once it
	// stopped itself (damaged storage), "retired" once removed from the
	// cluster.
	Role string
	// Term and Commit are raft's term and commit index, Revision the mvcc
	// revision applied, numbered as the history numbers revisions (the
	// store's less one); all 0 unless the replica runs.
	Term, Commit uint64
	Revision     int64
}

// sample notes the faults active now and the replicas' states.
func (t *runTimeline) sample(r *seedRun) {
	if !r.cfg.KeepArtifacts {
		return
	}
	now := r.now()
	t.sampleFaults(r, now)
	t.sampleReplicas(r, now)
}

// sampleFaults opens the episodes that began and closes those that ended.
func (t *runTimeline) sampleFaults(r *seedRun, now int64) {
	if r.nemesis == nil {
		return
	}
	if t.open == nil {
		t.open = map[string]int64{}
	}
	active := map[string]bool{}
	for _, d := range r.nemesis.ActiveDetail() {
		active[d] = true
		if _, ok := t.open[d]; !ok {
			t.open[d] = now
		}
	}
	for _, d := range sortedKeys(t.open) {
		if !active[d] {
			t.closed = append(t.closed, fault(d, t.open[d], now))
			delete(t.open, d)
		}
	}
}

// sampleReplicas appends a sample for each replica whose state changed.
func (t *runTimeline) sampleReplicas(r *seedRun, now int64) {
	if t.index == nil {
		t.index = map[host.NodeID]int{}
	}
	for _, id := range r.replicas {
		s, ok := replicaState(r, id)
		if !ok {
			continue
		}
		s.At = now
		i, seen := t.index[id]
		if !seen {
			i = len(t.replicas)
			t.index[id] = i
			t.replicas = append(t.replicas, ReplicaTimeline{ID: uint64(id)})
		}
		rt := &t.replicas[i]
		if n := len(rt.Samples); n > 0 && sameState(rt.Samples[n-1], s) {
			continue
		}
		rt.Samples = append(rt.Samples, s)
	}
}

// replicaState reads one replica's state; false if it is not a *node.Node
// (a test double or another system), whose state the harness cannot read.
func replicaState(r *seedRun, id host.NodeID) (ReplicaSample, bool) {
	switch {
	case r.retired[id]:
		return ReplicaSample{Role: "retired"}, true
	case !r.w.Alive(id):
		return ReplicaSample{Role: "down"}, true
	}
	n, ok := unwrapProcess(r.w.Process(id)).(*node.Node)
	if !ok {
		return ReplicaSample{}, false
	}
	st := n.Status()
	s := ReplicaSample{Role: strings.ToLower(st.Role.String()), Term: st.Term, Commit: st.Commit, Revision: modelRev(st.Revision)}
	if st.Stopped {
		s.Role = "stopped"
	}
	return s, true
}

func sameState(a, b ReplicaSample) bool {
	return a.Role == b.Role && a.Term == b.Term && a.Commit == b.Commit && a.Revision == b.Revision
}

// faults returns every episode seen, ended at end if still open.
func (t *runTimeline) faults(end int64) []lin.Fault {
	out := append([]lin.Fault(nil), t.closed...)
	for _, d := range sortedKeys(t.open) {
		out = append(out, fault(d, t.open[d], end))
	}
	return out
}

func fault(detail string, start, end int64) lin.Fault {
	name, rest := detail, ""
	for i := range detail {
		if detail[i] == ' ' {
			name, rest = detail[:i], detail[i+1:]
			break
		}
	}
	return lin.Fault{Name: name, Detail: rest, Start: start, End: end}
}
