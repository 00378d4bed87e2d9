package harness

import (
	"errors"
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/node"
)

// The reasons of watch, convergence and liveness failures name the
// replica, revision, key and log entry involved, so that a failure can be
// understood without opening the trace. The helpers here gather those
// specifics; they only read state.

// replicaStates describes every replica for a reason: role, term, commit
// and applied index, revision; or down, stopped, retired. Reasons put it
// on a line of its own: a sweep prints the first line, and -merge groups
// failures by it, which the replicas' states would split.
func (r *seedRun) replicaStates() string {
	parts := make([]string, 0, len(r.replicas))
	for _, id := range r.replicas {
		parts = append(parts, fmt.Sprintf("%d %s", id, r.replicaState(id)))
	}
	return "replicas: " + strings.Join(parts, "; ")
}

// replicaState is one replica's state, as replicaStates lists it.
func (r *seedRun) replicaState(id host.NodeID) string {
	switch {
	case r.retired[id]:
		return "retired"
	case !r.w.Alive(id):
		return "down"
	}
	n, ok := unwrapProcess(r.w.Process(id)).(*node.Node)
	if !ok {
		return "running (not inspectable)"
	}
	st := n.Status()
	s := fmt.Sprintf("%s term %d commit %d applied %d rev %d", strings.ToLower(st.Role.String()), st.Term, st.Commit, st.Applied, st.Revision)
	switch {
	case st.Stopped:
		s += " stopped: " + st.Reason
	case st.Recovering:
		s += " recovering"
	}
	return s
}

// missingEntry names the first log entry replica lag has not applied,
// as replica ahead holds it ("" if ahead cannot show its log).
func missingEntry(lagID host.NodeID, lag uint64, aheadID host.NodeID, ahead Inspector) string {
	li, ok := ahead.(LogInspector)
	if !ok {
		return ""
	}
	ents, commit := li.RaftLog()
	for _, e := range ents {
		if e.Index == lag+1 {
			return fmt.Sprintf("; replica %d lacks entry %d (term %d, %d bytes, replica %d's commit %d)",
				lagID, e.Index, e.Term, len(e.Data), aheadID, commit)
		}
	}
	return fmt.Sprintf("; replica %d lacks entry %d, which replica %d no longer holds (compacted into a snapshot)", lagID, lag+1, aheadID)
}

// laggard returns the replica with the lowest applied index and the one
// with the highest.
func laggard(ids []host.NodeID, ins []Inspector) (lo, hi int) {
	for i, in := range ins {
		if in.AppliedIndex() < ins[lo].AppliedIndex() {
			lo = i
		}
		if in.AppliedIndex() > ins[hi].AppliedIndex() {
			hi = i
		}
	}
	return lo, hi
}

// firstDifference finds the first revision at which two replicas' key
// spaces differ, and the acknowledged writes that created it ("" if the
// replicas cannot say).
func (r *seedRun) firstDifference(a, b host.NodeID, upTo int64) string {
	na, okA := unwrapProcess(r.w.Process(a)).(*node.Node)
	nb, okB := unwrapProcess(r.w.Process(b)).(*node.Node)
	if !okA || !okB {
		return ""
	}
	for rev := int64(1); rev <= upTo; rev++ {
		ha, errA := na.HashAt(rev)
		hb, errB := nb.HashAt(rev)
		if errA != nil || errB != nil || ha == hb {
			continue // compacted on one of them, or equal
		}
		return fmt.Sprintf("; they first differ at revision %d%s", rev, r.writersOf(rev))
	}
	return ""
}

// writersOf names the acknowledged writes that reported revision rev.
func (r *seedRun) writersOf(rev int64) string {
	ops := r.hist.Ops()
	var ws []string
	for i := range ops {
		op := &ops[i]
		if !op.Failed && !op.Unknown && op.Input.IsWrite() && op.Output.Revision == rev {
			ws = append(ws, fmt.Sprintf("op %d (client %d, %s)", i, op.ClientID, lin.Describe(op)))
		}
	}
	if len(ws) == 0 {
		return " (no acknowledged write reported it)"
	}
	return ", written by " + strings.Join(ws, " and ")
}

// watchFailure is the reason of watch i's failure err: the stream, the
// replica that served the delivery at fault, and the write log's entry at
// the revision.
func (r *seedRun) watchFailure(i int, ws *watchStream, err error, log []lin.LogEntry) error {
	where := ""
	var we *lin.WatchError
	if errors.As(err, &we) {
		where = ws.servedAt(we.Revision) + logEntryAt(log, we.Revision)
	}
	return fmt.Errorf("watch %d (client %d, %q from revision %d): %v%s", i, ws.client, ws.key, ws.start, err, where)
}

// servedAt names the replica that delivered the stream's first event at
// or after rev (for a missed event: the delivery that skipped it).
func (ws *watchStream) servedAt(rev int64) string {
	for j := range ws.events {
		if ws.events[j].KV.ModRevision < rev {
			continue
		}
		if b := ws.batches[j]; b >= 1 && b <= len(ws.members) {
			return fmt.Sprintf("; delivery %d, which carried revision %d, came from replica %d", b, ws.events[j].KV.ModRevision, ws.members[b-1])
		}
		return ""
	}
	if n := len(ws.members); n > 0 {
		return fmt.Sprintf("; the stream's last delivery (%d) came from replica %d", n, ws.members[n-1])
	}
	return "; the stream delivered nothing"
}

// logEntryAt describes the write log's entry at rev.
func logEntryAt(log []lin.LogEntry, rev int64) string {
	for _, e := range log {
		if e.Revision != rev {
			continue
		}
		cs := make([]string, len(e.Changes))
		for k, c := range e.Changes {
			if c.Type == lin.EventDelete {
				cs[k] = "delete " + c.Key
			} else {
				cs[k] = fmt.Sprintf("put %s=%s", c.Key, c.Value)
			}
		}
		return fmt.Sprintf("; the write log at revision %d: %s", rev, strings.Join(cs, ", "))
	}
	return fmt.Sprintf("; the write log holds no entry at revision %d", rev)
}
