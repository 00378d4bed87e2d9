package harness

import (
	"strings"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/node"
)

// runTimeline records, for the failure report, each replica's role, term,
// commit index and applied revision over time. It is sampled at every
// client call and return and after every slice of runFor (never with
// timers of its own, which would change the trace), only reads state, and
// only when artifacts are kept.
type runTimeline struct {
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

// sampleReplicaStates switches the sampling off for
// BenchmarkReplicaTimeline, which measures its cost.
var sampleReplicaStates = true

// sample notes the replicas' states.
func (t *runTimeline) sample(r *seedRun) {
	if !r.cfg.KeepArtifacts || !sampleReplicaStates {
		return
	}
	t.sampleReplicas(r, r.now())
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

// faultEpisodes are the nemesis's episodes, those still active ending at
// the end of the run (nil without a nemesis).
func (r *seedRun) faultEpisodes() []lin.Fault {
	if r.nemesis == nil {
		return nil
	}
	var out []lin.Fault
	for i := range r.nemesis.NumEpisodes() {
		out = append(out, r.faultEpisode(i))
	}
	return out
}

// faultEpisode is faultEpisodes()[i] (with a nemesis).
func (r *seedRun) faultEpisode(i int) lin.Fault {
	e := r.nemesis.Episode(i)
	end := int64(e.End)
	if e.End < 0 {
		end = r.now()
	}
	return lin.Fault{Name: e.Name, Detail: e.Detail, Start: int64(e.Start), End: end}
}

// pauseEpisodes appends to dst the process pauses among faultEpisodes,
// in the same order, without building the whole list: the lease checks
// ask for them on many steps and keep only the pauses.
func (r *seedRun) pauseEpisodes(dst []lin.Fault) []lin.Fault {
	if r.nemesis == nil {
		return dst
	}
	for i := range r.nemesis.NumEpisodes() {
		if r.nemesis.Episode(i).Name == faults.Pause {
			dst = append(dst, r.faultEpisode(i))
		}
	}
	return dst
}
