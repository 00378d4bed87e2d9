package harness

import (
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

// nodeReplica returns the start function of the real replica, package node,
// with the scenario's raft timing, snapshot interval and message limits;
// with no peers a replica joins an existing cluster. obs (may be nil)
// receives every replica's safety events; opts may set further fields
// (the scenario's storage settings).
func nodeReplica(p RaftParams, obs node.Observer, opts ...func(*node.Config)) ReplicaFunc {
	// One world's replicas share the decoding of the commands they apply.
	memo := node.NewCommandMemo()
	return func(h host.Host, peers []host.NodeID) host.Process {
		c := node.Config{Members: peers, Join: peers == nil, Commands: memo,
			TickInterval: p.Tick.D(), ElectionTicks: p.ElectionTicks, HeartbeatTicks: p.HeartbeatTicks,
			SnapshotEntries: p.SnapshotEntries, CatchUpEntries: p.CatchUpEntries,
			MaxSizePerMsg: p.MaxMsgBytes, MaxInflightMsgs: p.MaxInflight, ReadTimeout: p.ReadTimeout.D(), Observer: obs}
		for _, o := range opts {
			o(&c)
		}
		return node.Start(h, c)
	}
}

// stopped reports whether replica id has stopped for good.
func (r *seedRun) stopped(id host.NodeID) bool {
	if s, ok := r.inspectorOf(r.w.Process(id)).(Stopper); ok {
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

// HashKV is the node's history hash (see HistoryHasher).
func (i nodeInspector) HashKV(rev int64) (uint64, int64, error) { return i.n.HashKV(rev) }

// CurrentRevision is the node's store revision (0 while it has none).
func (i nodeInspector) CurrentRevision() int64 { return i.n.Status().Revision }

// Leases lists the leases the node's store holds.
func (i nodeInspector) Leases() []int64 { return i.n.Leases() }

// Leadership is the node's raft term and whether it leads in it.
func (i nodeInspector) Leadership() (term uint64, leader bool) {
	st := i.n.Status()
	return st.Term, st.Role == raft.RoleLeader
}

func (i nodeInspector) Stopped() (bool, string) { return i.n.Stopped() }

func (i nodeInspector) Recovering() (bool, string) { return i.n.Recovering() }

// RaftLog returns every entry the node holds in its raft log and its
// commit index.
func (i nodeInspector) RaftLog() ([]LogEntry, uint64) {
	ents, commit := i.n.Log()
	out := make([]LogEntry, len(ents))
	for k, e := range ents {
		out[k] = LogEntry{Index: e.Index, Term: e.Term, Data: e.Data}
	}
	return out, commit
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
