package node

import (
	"errors"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// onClient handles one client payload (the whole api-encoded message).
// The request's byte fields alias payload (api.DecodeShared), as a raft
// message's entries do: no one writes a payload once sent (host.Send),
// and a private copy of every request was the most frequent allocation
// of its decoding.
func (n *Node) onClient(from host.NodeID, payload []byte) {
	m, err := api.DecodeShared(payload)
	if err != nil {
		return // not a request we can answer: no ID to answer to
	}
	req, ok := m.(*api.Request)
	if !ok {
		return
	}
	op := req.Body.Op()
	key := reqKey{from, req.ID}
	if n.recovering {
		n.replyErr(key, op, api.CodeUnavailable, "replica recovering from corrupt storage")
		return
	}
	switch body := req.Body.(type) {
	case *api.RangeRequest:
		n.onRange(key, body)
	case *api.WatchCreateRequest:
		n.onWatchCreate(key, body)
	case *api.WatchCancelRequest:
		n.onWatchCancel(key, body)
	case *api.MemberListRequest:
		n.reply(key, &api.Response{ID: req.ID, Op: op, Header: n.header(),
			Body: &api.MemberResponse{ForOp: op, Members: n.members()}})
	case *api.MemberAddRequest, *api.MemberRemoveRequest:
		n.onMemberChange(key, req)
	case *api.MoveLeaderRequest:
		n.onMoveLeader(key, body)
	default:
		n.onWrite(key, req, payload)
	}
}

// onWrite proposes a write. Only the leader accepts writes; a follower
// answers NotLeader with its leader hint (no forwarding: the client then
// talks to the leader directly, and a NotLeader answer means the write
// certainly had no effect). The proposer answers when it applies the
// entry; a proposal lost in a leader change is never answered.
func (n *Node) onWrite(key reqKey, req *api.Request, payload []byte) {
	op := req.Body.Op()
	if n.role != raft.RoleLeader {
		n.replyNotLeader(key, op)
		return
	}
	if n.pending[key] != nil {
		n.probes.Hit(probeDupInFlight)
		return // a duplicate of a write already in flight
	}
	if len(n.pending) >= MaxPendingProposals {
		n.replyErr(key, op, api.CodeTooManyRequests, "too many pending proposals")
		return
	}
	n.addPending(key, &proposal{op: op, since: n.h.Now()})
	data := appendClientCmd(make([]byte, 0, len(payload)+24), n.id, key.client, n.h.Now().UnixNano(), payload)
	n.props = append(n.props, bufferedProp{key: key, data: data})
}

// onMemberChange proposes a single-server membership change.
func (n *Node) onMemberChange(key reqKey, req *api.Request) {
	op := req.Body.Op()
	if n.role != raft.RoleLeader {
		n.replyNotLeader(key, op)
		return
	}
	if n.pending[key] != nil {
		return
	}
	cc := raft.ConfChange{Context: appendConfContext(n.id, key.client, key.id)}
	switch r := req.Body.(type) {
	case *api.MemberAddRequest:
		cc.NodeID, cc.Type = uint64(r.ID), raft.ConfChangeAddVoter
		if r.Learner {
			cc.Type = raft.ConfChangeAddLearner
		}
		if r.ID == 0 {
			n.replyErr(key, op, api.CodeInvalid, "member ID 0")
			return
		}
		// Adding a voter that exists, or a learner that exists in any
		// role, changes nothing (promoting a learner is allowed).
		m, ok := n.member(r.ID)
		if ok && (r.Learner || !m.Learner) {
			n.replyErr(key, op, api.CodeMemberExists, "")
			return
		}
		if ok && n.cfg.PromoteCatchUp && !n.learnerReady(r.ID) {
			n.replyErr(key, op, api.CodeInvalid, ErrLearnerNotReady.Error())
			return
		}
	case *api.MemberRemoveRequest:
		cc.NodeID, cc.Type = uint64(r.ID), raft.ConfChangeRemoveNode
		if _, ok := n.member(r.ID); !ok {
			n.replyErr(key, op, api.CodeMemberNotFound, "")
			return
		}
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		code := api.CodeUnavailable
		if errors.Is(err, raft.ErrInvalidConfChange) {
			code = api.CodeInvalid
		}
		n.replyErr(key, op, code, err.Error())
		return
	}
	n.addPending(key, &proposal{op: op, since: n.h.Now()})
}

// onRange serves a read: serializable from local state, linearizable
// through a (batched) ReadIndex round.
func (n *Node) onRange(key reqKey, r *api.RangeRequest) {
	if r.Serializable {
		if n.reads.needCatchUp {
			n.replyErr(key, api.OpRange, api.CodeUnavailable, "restarted replica not caught up yet")
			return
		}
		n.serveRange(key, r)
		return
	}
	if n.lead == raft.None {
		n.replyNotLeader(key, api.OpRange)
		return
	}
	if len(n.reads.queue) >= MaxPendingReads {
		n.replyErr(key, api.OpRange, api.CodeTooManyRequests, "too many pending reads")
		return
	}
	n.reads.queue = append(n.reads.queue, readReq{key: key, req: r})
}

// serveRange answers a read from the local store.
func (n *Node) serveRange(key reqKey, r *api.RangeRequest) {
	res, err := n.sm.store.Range(r.Key, r.End, mvccRangeOpts(r))
	resp := &api.Response{ID: key.id, Op: api.OpRange}
	if err == nil {
		resp.Body = apiRange(res)
	}
	n.finishResponse(resp, err)
	n.reply(key, resp)
}

func (n *Node) reply(key reqKey, resp *api.Response) {
	b, err := n.enc.Encode(resp)
	if err != nil {
		// Too large to send (a huge range): say so instead.
		b = n.enc.MustEncode(&api.Response{ID: resp.ID, Op: resp.Op, Header: resp.Header,
			Err: api.CodeInvalid, Detail: truncate(err.Error(), api.MaxDetailSize)})
	}
	n.h.Send(key.client, b)
}

func (n *Node) replyErr(key reqKey, op api.Op, code api.ErrorCode, detail string) {
	n.reply(key, &api.Response{ID: key.id, Op: op, Header: n.header(), Err: code,
		Detail: truncate(detail, api.MaxDetailSize)})
}

func (n *Node) replyNotLeader(key reqKey, op api.Op) {
	n.probes.Hit(probeNotLeader)
	// Into a scratch response: reply keeps nothing of it once encoded, and
	// a follower answers many requests so (a fresh one escaped each time).
	n.notLeader = api.Response{ID: key.id, Op: op, Header: n.header(), Err: api.CodeNotLeader,
		Leader: host.NodeID(n.lead)}
	n.reply(key, &n.notLeader)
}

// member looks id up in the configuration.
func (n *Node) member(id host.NodeID) (api.Member, bool) {
	for _, m := range n.members() {
		if m.ID == id {
			return m, true
		}
	}
	return api.Member{}, false
}

// ErrLearnerNotReady is the detail of a refused promotion (etcd's text).
var ErrLearnerNotReady = errors.New("can only promote a learner member which is in sync with leader")

// learnerReady reports whether learner id has (as the leader sees it) at
// least 90% of the leader's log, etcd's rule for a promotion.
func (n *Node) learnerReady(id host.NodeID) bool {
	st := n.rn.Status()
	pr, ok := st.Progress[uint64(id)]
	lead := st.Progress[uint64(n.id)]
	return ok && float64(pr.Match) >= 0.9*float64(lead.Match)
}
