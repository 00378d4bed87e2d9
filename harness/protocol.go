package harness

import (
	"encoding/binary"
	"unsafe"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

// nodeProtocol is the real node's protocol as the nemesis's aimed faults
// see it (faults.Protocol): faults may not import raft or node, so the
// harness, which imports both, classifies payloads and names the leader
// for it.
type nodeProtocol struct {
	r    *seedRun
	memo *classMemo // nil: every payload is decoded
}

// Classify decodes a peer payload's raft message type (without copying)
// into the moment it marks, and reads a client payload's header for a
// write request (MomentClientWrite).
func (p nodeProtocol) Classify(payload []byte) faults.Moment {
	if len(payload) >= 4 && api.Envelope(payload[0]) == api.EnvelopeClient {
		// Envelope, version, class, op (api.Encode).
		switch api.Op(payload[3]) {
		case api.OpPut, api.OpDeleteRange, api.OpTxn:
			if api.Class(payload[2]) == api.ClassRequest {
				return faults.MomentClientWrite
			}
		}
		return faults.MomentOther
	}
	if len(payload) < 2 || api.Envelope(payload[0]) != api.EnvelopePeer {
		return faults.MomentOther
	}
	if m, ok := p.memo.find(payload); ok {
		return m
	}
	m := classifyPeer(payload)
	p.memo.add(payload, m)
	return m
}

// classifyPeer decodes a peer payload's raft message into the moment it
// marks.
func classifyPeer(payload []byte) faults.Moment {
	var m raft.Message
	if m.UnmarshalShared(payload[1:]) != nil {
		return faults.MomentOther
	}
	switch m.Type {
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		return faults.MomentVoteResponse
	case raft.MsgAppResp:
		return faults.MomentAppendResponse
	case raft.MsgApp:
		for i := range m.Entries {
			if m.Entries[i].Type == raft.EntryConfChange {
				return faults.MomentConfAppend
			}
		}
		if len(m.Entries) > 0 {
			return faults.MomentAppend
		}
	case raft.MsgSnap:
		return faults.MomentSnapshot
	case raft.MsgHeartbeatResp:
		return faults.MomentHeartbeatResponse
	case raft.MsgTimeoutNow:
		return faults.MomentTimeoutNow
	case raft.MsgVote:
		return faults.MomentVoteRequest
	}
	return faults.MomentOther
}

// RequestIDs reads a client request's ID and FinishedBelow watermark
// from its payload (api.Encode: envelope, version, class, op, then both
// as uvarints), for the dup-request fault.
func (p nodeProtocol) RequestIDs(payload []byte) (id, finishedBelow uint64, ok bool) {
	if len(payload) < 4 || api.Envelope(payload[0]) != api.EnvelopeClient || api.Class(payload[2]) != api.ClassRequest {
		return 0, 0, false
	}
	b := payload[4:]
	id, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, false
	}
	finishedBelow, m := binary.Uvarint(b[n:])
	return id, finishedBelow, m > 0
}

var _ faults.RequestIDs = nodeProtocol{}

// Leader is the running replica that believes it leads in the highest
// term, or 0.
func (p nodeProtocol) Leader() host.NodeID {
	var best host.NodeID
	var term uint64
	for _, id := range p.r.replicas {
		n, ok := unwrapProcess(p.r.w.Process(id)).(*node.Node)
		if !ok || p.r.w.Paused(id) {
			continue
		}
		if st := n.Status(); st.Role == raft.RoleLeader && st.Term > term {
			best, term = id, st.Term
		}
	}
	return best
}

// classMemo remembers the moments of the peer payloads Classify decoded
// last. The nemesis classifies every peer payload when it is sent and
// again when it is delivered, and a delivered payload is the very slice
// that was sent, unchanged (the network checks its hash before the
// hooks run): its second classification is a lookup. A slot holds the
// payload itself, so no other payload can have its address while it is
// remembered, and a lookup that misses decodes again: the moment is
// always the one decoding gives.
type classMemo struct {
	p [classMemoSlots][]byte
	m [classMemoSlots]faults.Moment
}

// classMemoSlots is the memo's size: more than the messages usually in
// flight at once.
const classMemoSlots = 256

// slot is where payload p is remembered: by the address of its first
// byte (only the slot depends on it, never the answer).
func (c *classMemo) slot(p []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(p)))>>3) % classMemoSlots
}

// classMemoMax bounds the payloads the memo holds (appends of a few
// client writes, acknowledgements, votes): a snapshot is decoded twice
// rather than kept alive.
const classMemoMax = 4 << 10

// find returns the moment remembered for this very slice.
func (c *classMemo) find(p []byte) (faults.Moment, bool) {
	if c == nil || len(p) == 0 || len(p) > classMemoMax {
		return 0, false
	}
	i := c.slot(p)
	if q := c.p[i]; len(q) == len(p) && unsafe.SliceData(q) == unsafe.SliceData(p) {
		return c.m[i], true
	}
	return 0, false
}

// add remembers p's moment, in place of the payload in its slot.
func (c *classMemo) add(p []byte, m faults.Moment) {
	if c == nil || len(p) == 0 || len(p) > classMemoMax {
		return
	}
	i := c.slot(p)
	c.p[i], c.m[i] = p, m
}
