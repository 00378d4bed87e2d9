package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/mvcc"
)

type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

// LeaseGrant implements etcd's Lease.LeaseGrant.
func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.TTL > int64(mvcc.MaxLeaseTTL/time.Second) {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	ttl := max(r.TTL, l.s.cfg.MinLeaseTTL)
	resp, err := l.s.do(ctx, &api.LeaseGrantRequest{TTL: ttl, ID: r.ID})
	if err != nil {
		return nil, err
	}
	out := &pb.LeaseGrantResponse{Header: l.s.header(resp.Header)}
	if b, ok := resp.Body.(*api.LeaseGrantResponse); ok {
		out.ID, out.TTL = b.ID, b.TTL
	}
	return out, nil
}

// LeaseRevoke implements etcd's Lease.LeaseRevoke.
func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := l.s.do(ctx, &api.LeaseRevokeRequest{ID: r.ID})
	if err != nil {
		return nil, err
	}
	return &pb.LeaseRevokeResponse{Header: l.s.header(resp.Header)}, nil
}

// LeaseKeepAlive implements etcd's Lease.LeaseKeepAlive stream: each
// request renews the lease through the log and is answered in order; an
// unknown lease is answered with TTL 0, as etcd does.
func (l *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		resp, err := l.s.do(stream.Context(), &api.LeaseKeepAliveRequest{ID: req.ID})
		out := &pb.LeaseKeepAliveResponse{ID: req.ID}
		switch {
		case err == nil:
			out.Header = l.s.header(resp.Header)
			if b, ok := resp.Body.(*api.LeaseKeepAliveResponse); ok {
				out.TTL = b.TTL
			}
		case errors.Is(err, rpctypes.ErrGRPCLeaseNotFound):
			out.Header = l.s.header(resp.Header)
		default:
			return err
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive implements etcd's Lease.LeaseTimeToLive from the local
// replica's state once it has caught up (Server.catchUp: a grant or
// revoke acknowledged before the call is seen); an unknown lease has TTL
// -1, as in etcd.
func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if err := l.s.catchUp(ctx); err != nil {
		return nil, err
	}
	var info mvcc.LeaseInfo
	var lerr error
	var hdr *pb.ResponseHeader
	if err := l.s.onLoop(ctx, func() {
		hdr = l.s.localHeader()
		info, lerr = l.s.cfg.Node.LeaseTimeToLive(r.ID)
	}); err != nil {
		return nil, err
	}
	out := &pb.LeaseTimeToLiveResponse{Header: hdr, ID: r.ID, TTL: -1}
	if lerr != nil {
		if errors.Is(lerr, mvcc.ErrLeaseNotFound) {
			return out, nil
		}
		return nil, rpctypes.ErrGRPCStopped
	}
	out.GrantedTTL = int64(info.GrantedTTL / time.Second)
	out.TTL = max(0, int64((info.Remaining+time.Second-1)/time.Second))
	if r.Keys {
		out.Keys = info.Keys
	}
	return out, nil
}

// LeaseLeases implements etcd's Lease.LeaseLeases from the local replica,
// once caught up (see LeaseTimeToLive).
func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	if err := l.s.catchUp(ctx); err != nil {
		return nil, err
	}
	var ids []int64
	var hdr *pb.ResponseHeader
	if err := l.s.onLoop(ctx, func() {
		hdr = l.s.localHeader()
		ids = l.s.cfg.Node.Leases()
	}); err != nil {
		return nil, err
	}
	out := &pb.LeaseLeasesResponse{Header: hdr, Leases: make([]*pb.LeaseStatus, len(ids))}
	for i, id := range ids {
		out.Leases[i] = &pb.LeaseStatus{ID: id}
	}
	return out, nil
}
