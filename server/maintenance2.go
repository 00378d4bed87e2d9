package server

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
)

// SnapshotChunk is the size of one Maintenance.Snapshot message (etcd's).
const SnapshotChunk = 32 << 10

// foldHash folds the store's 64-bit CRC into etcd's 32-bit hash field.
func foldHash(h uint64) uint32 { return uint32(h) ^ uint32(h>>32) }

// Hash implements etcd's Maintenance.Hash: the hash of the key space at
// the local replica's current revision (see HashKV).
func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	var hdr *pb.ResponseHeader
	var h uint64
	if err := m.s.onLoop(ctx, func() {
		hdr = m.s.localHeader()
		_, h = m.s.cfg.Node.Hash()
	}); err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: hdr, Hash: foldHash(h)}, nil
}

// HashKV implements etcd's Maintenance.HashKV from the local replica with
// etcd's own hash (etcdhash.go), so that its answers equal etcd's after
// the same writes and compactions: the hash of the history up to the
// revision (0: the current one) kept since the compaction, the
// compaction revision and the revision hashed; for the revision of one
// of the last compactions, the hash recorded when it ran (with the
// compaction revision before it), as etcd answers. A revision below the
// compaction or above the current one gets etcd's ErrCompacted or
// ErrFutureRev.
func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	var out *pb.HashKVResponse
	var err error
	if lerr := m.s.onLoop(ctx, func() { out, err = m.s.hashKV(r.Revision) }); lerr != nil {
		return nil, lerr
	}
	return out, err
}

// hashKV runs on the loop.
func (s *Server) hashKV(rev int64) (*pb.HashKVResponse, error) {
	hdr := s.localHeader()
	for _, c := range s.compactHashes {
		if c.rev == rev {
			return &pb.HashKVResponse{Header: hdr, Hash: c.hash, CompactRevision: c.compactRev, HashRevision: c.rev}, nil
		}
	}
	compact := s.etcdCompactRevision()
	switch {
	case rev > 0 && rev < compact:
		return nil, rpctypes.ErrGRPCCompacted
	case rev > hdr.Revision:
		return nil, rpctypes.ErrGRPCFutureRev
	case rev == 0:
		rev = hdr.Revision
	}
	h, err := etcdHash(s.cfg.Node, compact, rev, false)
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return nil, rpctypes.ErrGRPCCompacted
	case errors.Is(err, mvcc.ErrFutureRevision):
		return nil, rpctypes.ErrGRPCFutureRev
	case err != nil:
		return nil, status.Error(codes.Unknown, "etcdserver: "+err.Error())
	}
	return &pb.HashKVResponse{Header: hdr, Hash: h, CompactRevision: compact, HashRevision: rev}, nil
}

// MoveLeader implements etcd's Maintenance.MoveLeader: the leader hands
// leadership to the target voter and answers once it leads. Unlike etcd,
// any member accepts the call (it goes to the leader like a write).
func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if r.TargetID == 0 || r.TargetID >= 1<<16 {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	_, err := m.s.do(ctx, &api.MoveLeaderRequest{Target: host.NodeID(r.TargetID)})
	if err != nil {
		if errors.Is(err, rpctypes.ErrGRPCMemberNotFound) || isInvalid(err) {
			return nil, rpctypes.ErrGRPCBadLeaderTransferee
		}
		return nil, err
	}
	return &pb.MoveLeaderResponse{}, nil // etcd's answer has no header
}

func isInvalid(err error) bool { return status.Code(err) == codes.InvalidArgument }

// Defragment implements etcd's Maintenance.Defragment as a success that
// does nothing: seedkv's store lives in memory and on disk as WAL
// segments and snapshot files, which are written whole and released
// whole, so there is no file with free pages to give back (etcd's bbolt
// file has them).
// etcd's answer has no header.
func (m *maintenanceServer) Defragment(context.Context, *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	return &pb.DefragmentResponse{}, nil
}

// Snapshot implements etcd's Maintenance.Snapshot: it streams the local
// replica's store (every key with its history since the compaction, and
// the leases) in SnapshotChunk pieces, in seedkv's snapshot file format
// (EncodeSnapshotFile), which ends in a SHA-256 as etcd's does. It is not
// a bbolt file: etcdutl cannot read it; `seedkv snapshot` can. The local
// replica first catches up (Server.catchUp).
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	// Every write acknowledged before the call is in the snapshot, even
	// when taken from a follower.
	if err := m.s.catchUp(stream.Context()); err != nil {
		return err
	}
	var hdr *pb.ResponseHeader
	var data []byte
	if err := m.s.onLoop(stream.Context(), func() {
		hdr = m.s.localHeader()
		data, _ = m.s.cfg.Node.StoreSnapshot()
	}); err != nil {
		return err
	}
	if data == nil {
		return status.Error(codes.Unavailable, "etcdserver: replica has no state yet")
	}
	file := EncodeSnapshotFile(data)
	for off := 0; off < len(file) || off == 0; {
		end := min(off+SnapshotChunk, len(file))
		resp := &pb.SnapshotResponse{Header: hdr, RemainingBytes: uint64(len(file) - end), Blob: file[off:end]}
		if off == 0 {
			resp.Version = APIVersion
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		off = end
	}
	return nil
}
