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
	memo *peerMemo // nil: every payload is decoded
}

// Classify decodes a peer payload's raft message type (without copying)
// into the moment it marks, and reads a client payload's header for a
// write request (MomentClientWrite). The nemesis holds a *nodeProtocol,
// and a pointer receiver spares every message it classifies a wrapper
// that copies the value.
func (p *nodeProtocol) Classify(payload []byte) faults.Moment {
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
	if p.memo == nil {
		return classifyPeer(payload)
	}
	return p.memo.read(payload).peek(payload).moment
}

// classifyPeer decodes a peer payload's raft message into the moment it
// marks.
func classifyPeer(payload []byte) faults.Moment {
	s, err := raft.Peek(payload[1:])
	if err != nil {
		return faults.MomentOther
	}
	return momentOf(s)
}

// momentOf is the moment a raft message of this summary marks.
func momentOf(s raft.Summary) faults.Moment {
	switch s.Type {
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		return faults.MomentVoteResponse
	case raft.MsgAppResp:
		return faults.MomentAppendResponse
	case raft.MsgApp:
		if s.ConfChange {
			return faults.MomentConfAppend
		}
		if s.Entries > 0 {
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

// peerInfo is what the harness's observers read of a peer payload: the
// safety checker's header, and, once asked for (peek), whether the whole
// message decodes and the nemesis's moment. Each comes from the payload
// alone.
type peerInfo struct {
	hdr   peerHeader
	hdrOK bool // readPeerHeader's ok
	// peeked: msgOK and moment are set. msgOK: the payload is a peer
	// envelope whose raft message decodes (raft.Message.UnmarshalShared
	// succeeds); moment is classifyPeer's answer.
	peeked bool
	msgOK  bool
	moment faults.Moment
}

// peek sets in's msgOK and moment from p, in's payload, unless they are
// set: one check of the whole message (raft.Peek, which allocates
// nothing), made only for an observer that needs it.
func (in *peerInfo) peek(p []byte) *peerInfo {
	if in.peeked {
		return in
	}
	in.peeked, in.msgOK, in.moment = true, false, faults.MomentOther
	if len(p) < 2 || api.Envelope(p[0]) != api.EnvelopePeer {
		return in
	}
	if s, err := raft.Peek(p[1:]); err == nil {
		in.msgOK, in.moment = true, momentOf(s)
	}
	return in
}

// readPeerInfo reads a payload's peerInfo, all of it.
func readPeerInfo(p []byte) peerInfo {
	var in peerInfo
	in.hdr, in.hdrOK = readPeerHeader(p)
	in.peek(p)
	return in
}

// peerMemo remembers the peerInfo of the peer payloads read last. Each
// peer payload is read when it is sent (by the term check, the promise
// check and the nemesis when a trigger is armed) and again when it is
// delivered (the term check, the nemesis, and the term check again once
// the replica stepped it), and a delivered payload is the very slice
// that was sent, unchanged (the network checks its hash before the hooks
// run): all but its first reading are lookups. A slot holds the payload
// itself, so no other payload can have its address while it is
// remembered, and a lookup that misses reads it again: the answer is
// always the one reading gives.
type peerMemo struct {
	p  [peerMemoSlots][]byte
	in [peerMemoSlots]peerInfo
	// spare holds the reading of a payload the memo does not keep.
	spare peerInfo
	// notPeer is the reading of every payload shorter than a peer header
	// or not in a peer envelope (client traffic: half of what is sent):
	// no header, and (peeked) no message, moment MomentOther. peek leaves
	// it as it is.
	notPeer peerInfo
	// ents is the array CarriesExpiry decodes an append's entries into.
	ents []raft.Entry
}

// peerMemoSlots is the memo's size: more than the messages usually in
// flight at once.
const peerMemoSlots = 256

// slot is where payload p is remembered: by the address of its first
// byte (only the slot depends on it, never the answer).
func (c *peerMemo) slot(p []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(p)))>>3) % peerMemoSlots
}

// peerMemoMax bounds the payloads the memo holds (appends of a few
// client writes, acknowledgements, votes): a snapshot is read again
// rather than kept alive.
const peerMemoMax = 4 << 10

// read returns p's peerInfo with its header read (call peek on it for
// the rest). It points into the memo: valid until the next read.
func (c *peerMemo) read(p []byte) *peerInfo {
	if c == nil {
		in := &peerInfo{}
		in.hdr, in.hdrOK = readPeerHeader(p)
		return in
	}
	if len(p) < 4 || api.Envelope(p[0]) != api.EnvelopePeer {
		// What readPeerHeader and peek find in such a payload: nothing.
		if !c.notPeer.peeked {
			c.notPeer = peerInfo{peeked: true, moment: faults.MomentOther}
		}
		return &c.notPeer
	}
	if len(p) > peerMemoMax {
		c.spare = peerInfo{}
		c.spare.hdr, c.spare.hdrOK = readPeerHeader(p)
		return &c.spare
	}
	i := c.slot(p)
	in := &c.in[i]
	if q := c.p[i]; len(q) == len(p) && unsafe.SliceData(q) == unsafe.SliceData(p) {
		return in
	}
	c.p[i] = p
	*in = peerInfo{}
	in.hdr, in.hdrOK = readPeerHeader(p)
	return in
}
