package raft

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// readIndexStatus is one ReadIndex request waiting for a heartbeat quorum.
type readIndexStatus struct {
	req   Message // the MsgReadIndex (From None or self for a local request)
	index uint64  // the commit index when the request arrived
	// acks are the members that confirmed the leadership for it (the
	// leader first), each once: a list in ackBuf while it fits (a map
	// per request was two more allocations, and a lookup per voter on
	// every answer).
	acks   []uint64
	ackBuf [7]uint64
}

// ack records that id confirmed the leadership for rs.
func (rs *readIndexStatus) ack(id uint64) {
	if !slices.Contains(rs.acks, id) {
		rs.acks = append(rs.acks, id)
	}
}

// readOnly tracks ReadIndex requests in arrival order. A heartbeat
// response acknowledging request k also confirms every earlier request.
//
// Each request gets a key of the leader's own, a number never used before
// by this raft instance, and heartbeats carry that key, not the request's
// context: contexts are chosen by each requester (the leader's node and
// every follower number their rounds from 1, and again from 1 after a
// restart), so two requests may carry the same context. Keyed by context,
// a late or duplicated heartbeat answer to an earlier request with the
// same context would confirm a later one without a fresh quorum (a stale
// read: simrun seed 127 of TestSeeds, TestReadIndexKeysAreLeaders).
type readOnly struct {
	pending map[string]*readIndexStatus
	queue   []string
	seq     uint64 // the last key handed out; never reset
}

func (ro *readOnly) reset() {
	clear(ro.pending)
	ro.queue = ro.queue[:0]
}

func (ro *readOnly) lastPendingCtx() []byte {
	if len(ro.queue) == 0 {
		return nil
	}
	return []byte(ro.queue[len(ro.queue)-1])
}

// handleReadIndex serves a ReadIndex request on the leader.
func (r *raft) handleReadIndex(m *Message) {
	if len(r.trk.voters) == 1 && r.trk.isVoter(r.id) {
		// Sole voter: no one else can lead; answer once our term has a
		// committed entry.
		if r.committedEntryInCurrentTerm() {
			r.respondRead(m, r.log.committed)
		} else {
			r.pendingReadIndex = append(r.pendingReadIndex, *m)
		}
		return
	}
	if !r.committedEntryInCurrentTerm() {
		// Our commit index may lag the previous leader's: wait until the
		// empty entry of our term commits.
		r.probes.Hit(probeReadIndexDeferred)
		r.pendingReadIndex = append(r.pendingReadIndex, *m)
		return
	}
	for _, k := range r.readOnly.queue {
		if st := r.readOnly.pending[k]; st.req.From == m.From && bytes.Equal(st.req.Context, m.Context) {
			return // the same request again: it is pending already
		}
	}
	r.readOnly.seq++
	var kb [8]byte
	key := string(binary.BigEndian.AppendUint64(kb[:0], r.readOnly.seq))
	st := &readIndexStatus{req: *m, index: r.log.committed}
	st.acks = append(st.ackBuf[:0], r.id)
	r.readOnly.pending[key] = st
	r.readOnly.queue = append(r.readOnly.queue, key)
	r.bcastHeartbeat()
}

func (r *raft) committedEntryInCurrentTerm() bool {
	t, err := r.log.term(r.log.committed)
	return err == nil && t == r.term
}

// releasePendingReadIndex re-serves the reads that waited for the first
// commit of this leader's term.
func (r *raft) releasePendingReadIndex() {
	if len(r.pendingReadIndex) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	msgs := r.pendingReadIndex
	r.pendingReadIndex = nil
	for i := range msgs {
		r.handleReadIndex(&msgs[i])
	}
}

// handleReadAck counts a heartbeat response toward the read it carries;
// once a quorum confirmed our leadership, that read and all earlier ones
// are answered.
func (r *raft) handleReadAck(m *Message) {
	ro := &r.readOnly
	rs := ro.pending[string(m.Context)]
	if rs == nil {
		return
	}
	rs.ack(m.From)
	if !r.trk.hasQuorum(rs.acks) {
		return
	}
	n := 0
	for i, key := range ro.queue {
		n = i + 1
		if key == string(m.Context) {
			break
		}
	}
	done := ro.queue[:n]
	for _, key := range done {
		st := ro.pending[key]
		delete(ro.pending, key)
		r.respondRead(&st.req, st.index)
	}
	ro.queue = append(ro.queue[:0], ro.queue[n:]...)
}

func (r *raft) respondRead(m *Message, index uint64) {
	if m.From == None || m.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: m.Context})
		return
	}
	r.send(Message{Type: MsgReadIndexResp, To: m.From, Index: index, Context: m.Context})
}
