package harness

import (
	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

// CarriesExpiry reports whether a peer payload is a raft append with a
// lease expiry entry (node.IsExpireCommand) among its entries, for the
// isolate-expirer fault. Only the appends an armed isolate-expirer
// trigger sees are decoded.
func (p nodeProtocol) CarriesExpiry(payload []byte) bool {
	if len(payload) < 2 || api.Envelope(payload[0]) != api.EnvelopePeer {
		return false
	}
	var m raft.Message
	if err := m.UnmarshalShared(payload[1:]); err != nil || m.Type != raft.MsgApp {
		return false
	}
	for _, e := range m.Entries {
		if e.Type == raft.EntryNormal && node.IsExpireCommand(e.Data) {
			return true
		}
	}
	return false
}

var _ faults.ExpiryReader = nodeProtocol{}

// LastTerm is the term of the last entry of replica id's raft log, or 0
// if it does not run, for the isolate-expirer fault.
func (p nodeProtocol) LastTerm(id host.NodeID) uint64 {
	n, ok := unwrapProcess(p.r.w.Process(id)).(*node.Node)
	if !ok {
		return 0
	}
	var st raft.Status
	n.RaftStatusInto(&st)
	return st.LastTerm
}
