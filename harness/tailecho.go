package harness

import (
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

var _ faults.ReplicaLogs = nodeProtocol{}

// Ack reads an append acknowledgement's term and index from its payload
// (a rejection is none), for the disk-corrupt-tail-echo fault.
func (p nodeProtocol) Ack(payload []byte) (term, index uint64, ok bool) {
	h, ok := readPeerHeader(payload)
	if !ok || h.typ != raft.MsgAppResp || h.reject {
		return 0, 0, false
	}
	return h.term, h.index, true
}

// LogState reads running replica id's raft state, for the
// disk-corrupt-tail-echo fault.
func (p nodeProtocol) LogState(id host.NodeID) (faults.LogState, bool) {
	n, ok := unwrapProcess(p.r.w.Process(id)).(*node.Node)
	if !ok || !p.r.w.Alive(id) {
		return faults.LogState{}, false
	}
	var st raft.Status
	n.RaftStatusInto(&st)
	rec, _ := n.Recovering()
	t, ok, _ := n.LogTerm(st.Commit)
	caughtUp := st.Role == raft.RoleFollower && st.Lead != raft.None && st.Commit > 0 &&
		st.Applied >= st.Commit && ok && t == st.Term
	return faults.LogState{Term: st.Term, Last: st.LastIndex, Commit: st.Commit,
		Leader: st.Role == raft.RoleLeader, Recovering: rec, CaughtUp: caughtUp}, true
}
