package node

import (
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// moveLeader is a MoveLeader request the leader is carrying out: raft
// transfers leadership (the target campaigns at once, with a higher term),
// and the request is answered once this replica sees the target lead, or
// fails when another replica leads or the transfer takes longer than two
// election timeouts (raft aborts it after one).
type moveLeader struct {
	key    reqKey
	target host.NodeID
	since  time.Time
}

// onMoveLeader starts a leadership transfer to a voter.
func (n *Node) onMoveLeader(key reqKey, r *api.MoveLeaderRequest) {
	op := api.OpMoveLeader
	if n.role != raft.RoleLeader {
		n.replyNotLeader(key, op)
		return
	}
	m, ok := n.member(r.Target)
	switch {
	case !ok:
		n.replyErr(key, op, api.CodeMemberNotFound, "")
		return
	case m.Learner:
		n.replyErr(key, op, api.CodeInvalid, "a learner cannot lead")
		return
	case r.Target == n.id:
		n.reply(key, &api.Response{ID: key.id, Op: op, Header: n.header(), Body: &api.MoveLeaderResponse{}})
		return
	case n.moving != nil:
		n.replyErr(key, op, api.CodeUnavailable, "a leadership transfer is in progress")
		return
	}
	n.moving = &moveLeader{key: key, target: r.Target, since: n.h.Now()}
	n.rn.TransferLeadership(uint64(r.Target))
}

// moveProgress answers a transfer in progress once the leader changed.
func (n *Node) moveProgress() {
	mv := n.moving
	switch {
	case mv == nil:
	case n.lead == uint64(mv.target):
		n.moving = nil
		n.reply(mv.key, &api.Response{ID: mv.key.id, Op: api.OpMoveLeader, Header: n.header(), Body: &api.MoveLeaderResponse{}})
	case n.role != raft.RoleLeader && n.lead != raft.None:
		n.moving = nil
		n.replyErr(mv.key, api.OpMoveLeader, api.CodeUnavailable, "another replica took the lead")
	}
}

// expireMove fails a transfer that has taken too long.
func (n *Node) expireMove(now time.Time) {
	mv := n.moving
	if mv == nil || now.Sub(mv.since) < 2*time.Duration(n.cfg.ElectionTicks)*n.cfg.TickInterval {
		return
	}
	n.moving = nil
	n.replyErr(mv.key, api.OpMoveLeader, api.CodeUnavailable, "leadership transfer timed out")
}
