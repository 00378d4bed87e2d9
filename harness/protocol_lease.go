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
	// The entries go into the memo's scratch array (nothing keeps them
	// past this call), a new one without a memo.
	var m raft.Message
	var ents []raft.Entry
	if p.memo != nil {
		ents = p.memo.ents
	}
	err := m.UnmarshalSharedInto(payload[1:], ents)
	if p.memo != nil && cap(m.Entries) > cap(ents) {
		p.memo.ents = m.Entries[:0]
	}
	if err != nil || m.Type != raft.MsgApp {
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
