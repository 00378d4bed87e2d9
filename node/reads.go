package node

import (
	"encoding/binary"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/raft"
)

// Linearizable reads use raft's ReadIndex: the reads that arrive while one
// ReadIndex round is in flight wait in a queue and share the next round.
// A round's answer is the commit index the leader confirmed (with a quorum
// heartbeat) while still leader; the batch is served once this replica has
// applied up to it. On a follower raft forwards the round to the leader,
// so every member serves linearizable reads.
type reads struct {
	queue     []readReq
	next      uint64     // context number of the next round
	inflight  *readBatch // at most one round in flight
	inflightT time.Time
	waiting   []*readBatch // answered, waiting for apply

	// needCatchUp: after a restart, serializable reads wait for one
	// completed round, so that this member never serves a state older
	// than one it served before the crash.
	needCatchUp bool
}

type readReq struct {
	key reqKey
	req *api.RangeRequest
}

type readBatch struct {
	ctx   uint64
	index uint64
	reqs  []readReq
}

func (r *reads) init() { r.next = 1 }

// issue starts a round for the queued reads if none is in flight.
func (r *reads) issue(n *Node) {
	if r.inflight != nil || (len(r.queue) == 0 && !r.needCatchUp) || n.lead == raft.None {
		return
	}
	b := &readBatch{ctx: r.next, reqs: r.queue}
	r.next++
	r.queue = nil
	r.inflight, r.inflightT = b, n.h.Now()
	_ = n.rn.ReadIndex(ctxBytes(b.ctx)) // only fails for a context past MaxContextSize
}

// onReadState records the answer to the round in flight.
func (r *reads) onReadState(rs raft.ReadState) {
	if r.inflight == nil || len(rs.RequestCtx) != 8 ||
		binary.BigEndian.Uint64(rs.RequestCtx) != r.inflight.ctx {
		return // an answer to a round we gave up on
	}
	r.inflight.index = rs.Index
	r.waiting = append(r.waiting, r.inflight)
	r.inflight = nil
}

// serve answers every batch whose read index has been applied.
func (r *reads) serve(n *Node) {
	kept := r.waiting[:0]
	for _, b := range r.waiting {
		if b.index > n.applied {
			kept = append(kept, b)
			continue
		}
		r.needCatchUp = false
		for _, rr := range b.reqs {
			n.serveRange(rr.key, rr.req)
		}
	}
	clear(r.waiting[len(kept):])
	r.waiting = kept
}

// expire gives up on a round that got no answer (leadership lost, the
// leader unreachable): its reads get CodeUnavailable, which tells the
// client it may retry elsewhere.
func (r *reads) expire(n *Node, now time.Time) {
	if r.inflight == nil || now.Sub(r.inflightT) < n.cfg.ReadTimeout {
		return
	}
	n.probes.Hit(probeReadTimeout)
	for _, rr := range r.inflight.reqs {
		n.replyErr(rr.key, api.OpRange, api.CodeUnavailable, "read index timed out")
	}
	r.inflight = nil
}
