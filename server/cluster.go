package server

import (
	"context"
	"errors"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// MaxLearners is how many learners a cluster may have at once (etcd's
// default --max-learners).
const MaxLearners = 1

type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

// quorumActive reports whether, with voters as the voters after a
// reconfiguration, a quorum of them is active (gossip.active): etcd's
// strict reconfiguration check, which refuses a change that would leave
// the cluster without a working majority. On the loop.
func (s *Server) quorumActive(voters []host.NodeID) bool {
	n := 0
	for _, id := range voters {
		if s.gossip.active(id) {
			n++
		}
	}
	return n >= len(voters)/2+1
}

// votersAfter lists the voters of ms after adding (or removing) id.
func votersAfter(ms []api.Member, add, remove host.NodeID) []host.NodeID {
	var out []host.NodeID
	for _, m := range ms {
		if (!m.Learner || m.ID == add) && m.ID != remove {
			out = append(out, m.ID)
		}
	}
	if add != 0 && !inConf(ms, add) {
		out = append(out, add)
	}
	return out
}

// members asks the leader for raft's member list.
func (s *Server) members(ctx context.Context) ([]api.Member, *pb.ResponseHeader, error) {
	resp, err := s.do(ctx, &api.MemberListRequest{})
	if err != nil {
		return nil, nil, err
	}
	b, ok := resp.Body.(*api.MemberResponse)
	if !ok {
		return nil, nil, status.Error(codes.Internal, "etcdserver: member list without members")
	}
	return b.Members, clusterHeader(s.header(resp.Header)), nil
}

// pbMembers joins raft's members with their metadata (on the loop).
func (s *Server) pbMembers(ms []api.Member) []*pb.Member {
	out := make([]*pb.Member, 0, len(ms))
	for _, m := range ms {
		pm := &pb.Member{ID: uint64(m.ID), IsLearner: m.Learner}
		if s.gossip != nil {
			if meta := s.gossip.tab.get(m.ID); meta != nil {
				pm.Name, pm.PeerURLs, pm.ClientURLs = meta.Name, meta.PeerURLs, meta.ClientURLs
			}
		} else {
			for _, info := range s.cfg.Members {
				if info.ID == m.ID {
					pm.Name, pm.PeerURLs, pm.ClientURLs = info.Name, info.PeerURLs, info.ClientURLs
				}
			}
		}
		out = append(out, pm)
	}
	return out
}

// MemberList implements etcd's Cluster.MemberList: raft's members as the
// leader has them, with names and URLs from the member table (a member
// added but not started yet has no name and no client URLs, as in etcd).
func (c *clusterServer) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	ms, hdr, err := c.s.members(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.MemberListResponse{Header: hdr}
	if err := c.s.onLoop(ctx, func() { out.Members = c.s.pbMembers(ms) }); err != nil {
		return nil, err
	}
	return out, nil
}

// errNoMembership: a server built without a member table (not by
// StartMember) cannot change the membership.
var errNoMembership = status.Error(codes.Unimplemented, "etcdserver: this server has no member table")

// MemberAdd implements etcd's Cluster.MemberAdd: the new member's ID is
// derived from its first peer URL (MemberIDFor); its peer URLs go into
// the member table (and so to every member) before raft adds it. A voter
// is added only if a quorum of the voters after the change would be
// active (ErrMemberNotEnoughStarted: the new one has not started yet), a
// learner only if there is no other (ErrTooManyLearners).
func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if c.s.gossip == nil {
		return nil, errNoMembership
	}
	if err := checkPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	ms, _, err := c.s.members(ctx)
	if err != nil {
		return nil, err
	}
	id := MemberIDFor(r.PeerURLs[0])
	learners := 0
	for _, m := range ms {
		if m.Learner {
			learners++
		}
	}
	var conflict error
	if err := c.s.onLoop(ctx, func() {
		for _, u := range r.PeerURLs {
			if other := c.s.gossip.tab.peerWithURL(u, 0); other != 0 && inConf(ms, other) {
				conflict = rpctypes.ErrGRPCPeerURLExist
				return
			}
		}
		switch {
		case inConf(ms, id):
			conflict = rpctypes.ErrGRPCMemberExist // an ID collision of two URLs
		case r.IsLearner && learners >= MaxLearners:
			conflict = rpctypes.ErrGRPCTooManyLearners
		case !r.IsLearner && !c.s.quorumActive(votersAfter(ms, id, 0)):
			conflict = rpctypes.ErrGRPCMemberNotEnoughStarted
		default:
			c.s.gossip.tab.setPeer(id, r.PeerURLs)
			c.s.gossip.changed()
		}
	}); err != nil {
		return nil, err
	}
	if conflict != nil {
		return nil, conflict
	}
	resp, err := c.s.do(ctx, &api.MemberAddRequest{ID: id, Learner: r.IsLearner})
	if err != nil {
		return nil, err
	}
	out := &pb.MemberAddResponse{Header: clusterHeader(c.s.header(resp.Header))}
	if err := c.s.onLoop(ctx, func() {
		out.Members = c.s.pbMembers(respMembers(resp))
		for _, m := range out.Members {
			if m.ID == uint64(id) {
				out.Member = m
			}
		}
	}); err != nil {
		return nil, err
	}
	if out.Member == nil { // cannot happen: raft just added it
		out.Member = &pb.Member{ID: uint64(id), PeerURLs: r.PeerURLs, IsLearner: r.IsLearner}
	}
	return out, nil
}

// MemberRemove implements etcd's Cluster.MemberRemove. It refuses
// (ErrUnhealthy) a removal after which fewer than a quorum of the
// remaining voters would be active.
func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if c.s.gossip == nil {
		return nil, errNoMembership
	}
	ms, _, err := c.s.members(ctx)
	if err != nil {
		return nil, err
	}
	if !inConf(ms, host.NodeID(r.ID)) || r.ID >= 1<<16 {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	var healthy bool
	if err := c.s.onLoop(ctx, func() { healthy = c.s.quorumActive(votersAfter(ms, 0, host.NodeID(r.ID))) }); err != nil {
		return nil, err
	}
	if !healthy {
		return nil, rpctypes.ErrGRPCUnhealthy
	}
	resp, err := c.s.do(ctx, &api.MemberRemoveRequest{ID: host.NodeID(r.ID)})
	if err != nil {
		return nil, err
	}
	out := &pb.MemberRemoveResponse{Header: clusterHeader(c.s.header(resp.Header))}
	if err := c.s.onLoop(ctx, func() {
		c.s.gossip.tab.remove(host.NodeID(r.ID))
		c.s.gossip.changed()
		out.Members = c.s.pbMembers(respMembers(resp))
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// MemberPromote implements etcd's Cluster.MemberPromote: a learner
// becomes a voter once its log is within 90% of the leader's (etcd's
// rule; the leader checks, see node.Config.PromoteCatchUp) and a quorum
// of the voters after the change would be active.
func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if c.s.gossip == nil {
		return nil, errNoMembership
	}
	ms, _, err := c.s.members(ctx)
	if err != nil {
		return nil, err
	}
	id := host.NodeID(r.ID)
	switch m, ok := findMember(ms, id); {
	case !ok || r.ID >= 1<<16:
		return nil, rpctypes.ErrGRPCMemberNotFound
	case !m.Learner:
		return nil, rpctypes.ErrGRPCMemberNotLearner
	}
	var started bool
	if err := c.s.onLoop(ctx, func() { started = c.s.quorumActive(votersAfter(ms, id, 0)) }); err != nil {
		return nil, err
	}
	if !started {
		return nil, rpctypes.ErrGRPCMemberNotEnoughStarted
	}
	resp, err := c.s.do(ctx, &api.MemberAddRequest{ID: id})
	if errors.Is(err, rpctypes.ErrGRPCMemberExist) {
		return nil, rpctypes.ErrGRPCMemberNotLearner // promoted meanwhile
	}
	if err != nil {
		return nil, err
	}
	out := &pb.MemberPromoteResponse{Header: clusterHeader(c.s.header(resp.Header))}
	if err := c.s.onLoop(ctx, func() { out.Members = c.s.pbMembers(respMembers(resp)) }); err != nil {
		return nil, err
	}
	return out, nil
}

// MemberUpdate implements etcd's Cluster.MemberUpdate: it changes the
// member's peer URLs in the member table (raft's configuration holds IDs
// only). The member keeps its ID.
func (c *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if c.s.gossip == nil {
		return nil, errNoMembership
	}
	if err := checkPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	ms, hdr, err := c.s.members(ctx)
	if err != nil {
		return nil, err
	}
	id := host.NodeID(r.ID)
	if !inConf(ms, id) || r.ID >= 1<<16 {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	out := &pb.MemberUpdateResponse{Header: hdr}
	var conflict error
	if err := c.s.onLoop(ctx, func() {
		for _, u := range r.PeerURLs {
			if other := c.s.gossip.tab.peerWithURL(u, id); other != 0 && inConf(ms, other) {
				conflict = rpctypes.ErrGRPCPeerURLExist
				return
			}
		}
		c.s.gossip.tab.setPeer(id, r.PeerURLs)
		c.s.gossip.changed()
		out.Members = c.s.pbMembers(ms)
	}); err != nil {
		return nil, err
	}
	if conflict != nil {
		return nil, conflict
	}
	return out, nil
}

// checkPeerURLs: at least one, each an http URL with a port.
func checkPeerURLs(urls []string) error {
	if len(urls) == 0 || len(urls) > MaxMetaURLs {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, u := range urls {
		if _, err := PeerHostPort(u); err != nil || len(u) > MaxMetaString || strings.Contains(u, ",") {
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}

func respMembers(resp *api.Response) []api.Member {
	if b, ok := resp.Body.(*api.MemberResponse); ok {
		return b.Members
	}
	return nil
}

func findMember(ms []api.Member, id host.NodeID) (api.Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return api.Member{}, false
}

func inConf(ms []api.Member, id host.NodeID) bool {
	_, ok := findMember(ms, id)
	return ok
}

// clusterHeader is the header of a Cluster service answer: etcd's
// ClusterServer fills the cluster and member IDs and the raft term, not
// the revision.
func clusterHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	h.Revision = 0
	return h
}
