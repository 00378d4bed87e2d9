package harness

import (
	"bytes"
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

// nodeReplica returns the start function of the real replica, package node,
// with the scenario's raft timing, snapshot interval and message limits;
// with no peers a replica joins an existing cluster.
func nodeReplica(p RaftParams) ReplicaFunc {
	return func(h host.Host, peers []host.NodeID) host.Process {
		return node.Start(h, node.Config{Members: peers, Join: peers == nil,
			TickInterval: p.Tick.D(), ElectionTicks: p.ElectionTicks, HeartbeatTicks: p.HeartbeatTicks,
			SnapshotEntries: p.SnapshotEntries, CatchUpEntries: p.CatchUpEntries,
			MaxSizePerMsg: p.MaxMsgBytes, MaxInflightMsgs: p.MaxInflight})
	}
}

// stopped reports whether replica id has stopped for good.
func (r *seedRun) stopped(id host.NodeID) bool {
	if s, ok := inspectorOf(r.w.Process(id)).(stopper); ok {
		stopped, _ := s.Stopped()
		return stopped
	}
	return false
}

// haveNode says whether nodeReplica is the real node.
const haveNode = true

// nodeInspector adapts a *node.Node to Inspector.
type nodeInspector struct{ n *node.Node }

func (i nodeInspector) AppliedIndex() uint64 { return i.n.AppliedIndex() }

func (i nodeInspector) KVHash() (int64, uint64, error) {
	rev, h := i.n.Hash()
	return rev, h, nil
}

func (i nodeInspector) Stopped() (bool, string) { return i.n.Stopped() }

// CommittedLog returns the committed entries the node holds in memory.
func (i nodeInspector) CommittedLog() (uint64, []logEntry) {
	first, ents := i.n.CommittedLog()
	out := make([]logEntry, len(ents))
	for k, e := range ents {
		out[k] = logEntry{index: e.Index, term: e.Term, data: e.Data}
	}
	return first, out
}

// logEntry is one committed raft entry, as the agreement check sees it.
type logEntry struct {
	index, term uint64
	data        []byte
}

// committedLogger is implemented by replicas whose committed raft log can
// be compared.
type committedLogger interface {
	CommittedLog() (first uint64, ents []logEntry)
}

// stopper is implemented by replicas that can stop for good (on data they
// cannot trust); a stopped replica counts as crashed.
type stopper interface {
	Stopped() (bool, string)
}

// inspectorOf returns the Inspector of a replica process, or nil.
func inspectorOf(p host.Process) Inspector {
	switch p := unwrapProcess(p).(type) {
	case *node.Node:
		return nodeInspector{p}
	case Inspector:
		return p
	}
	return nil
}

// checkLogAgreement requires every pair of replicas to hold the same entry
// at every committed index both still hold.
func checkLogAgreement(ids []host.NodeID, ins []Inspector) (int, error) {
	type held struct {
		id    host.NodeID
		first uint64
		ents  []logEntry
	}
	var logs []held
	for k, in := range ins {
		if cl, ok := in.(committedLogger); ok {
			first, ents := cl.CommittedLog()
			logs = append(logs, held{ids[k], first, ents})
		}
	}
	compared := 0
	for a := 1; a < len(logs); a++ {
		x, y := logs[0], logs[a]
		for _, e := range y.ents {
			if e.index < x.first || e.index >= x.first+uint64(len(x.ents)) {
				continue
			}
			f := x.ents[e.index-x.first]
			if f.term != e.term || !bytes.Equal(f.data, e.data) {
				return compared, fmt.Errorf("log agreement: index %d: replica %d has term %d (%d bytes), replica %d has term %d (%d bytes)",
					e.index, x.id, f.term, len(f.data), y.id, e.term, len(e.data))
			}
			compared++
		}
	}
	return compared, nil
}

// describeReplicas notes every replica's final state in the account.
func (r *seedRun) describeReplicas() {
	for _, id := range r.replicas {
		switch p := unwrapProcess(r.w.Process(id)).(type) {
		case nil:
			r.notef("replica %d: down", id)
		case *node.Node:
			st := p.Status()
			r.notef("replica %d: role %v term %d leader %d commit %d applied %d revision %d log-first %d stopped %v %s",
				id, st.Role, st.Term, st.Leader, st.Commit, st.Applied, st.Revision, logFirst(p), st.Stopped, st.Reason)
		}
	}
}

// logFirst is the first index of the replica's in-memory raft log: above
// the bootstrap entries only once a snapshot compacted the log.
func logFirst(n *node.Node) uint64 {
	first, _ := n.CommittedLog()
	return first
}
