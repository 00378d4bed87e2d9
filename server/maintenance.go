package server

import (
	"context"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/node"
)

type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

// Status implements etcd's Maintenance.Status from the local replica:
// DbSize and DbSizeInUse are both the store's size in its quota units
// (the store is in memory: there is no file with free pages), DbSizeQuota
// its quota, RaftIndex the commit index, IsLearner from raft's
// configuration; Errors name a stopped or recovering replica, the
// NOSPACE alarm, and a members file that cannot be saved.
func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	var st node.Status
	var size, quota int64
	var hdr *pb.ResponseHeader
	var learner bool
	var saveErr error
	if err := m.s.onLoop(ctx, func() {
		hdr = m.s.localHeader()
		st = m.s.cfg.Node.Status()
		size, quota = m.s.cfg.Node.StoreSize()
		learner = slices.Contains(m.s.cfg.Node.RaftStatus().ConfState.Learners, uint64(st.ID))
		if m.s.gossip != nil {
			saveErr = m.s.gossip.saveErr
		}
	}); err != nil {
		return nil, err
	}
	// etcd's database file is never empty and etcdctl divides by its
	// size: an empty store reports one byte.
	size = max(size, 1)
	out := &pb.StatusResponse{Header: hdr, Version: APIVersion, StorageVersion: StorageVersion,
		DbSize: size, DbSizeInUse: size, DbSizeQuota: quota, IsLearner: learner,
		Leader: uint64(st.Leader), RaftIndex: st.Commit, RaftTerm: st.Term, RaftAppliedIndex: st.Applied,
		// no downgrade: an empty one, as etcd sends
		DowngradeInfo: &pb.DowngradeInfo{},
	}
	if saveErr != nil {
		out.Errors = append(out.Errors, "members file: "+saveErr.Error())
	}
	if st.Stopped {
		out.Errors = append(out.Errors, "stopped: "+st.Reason)
	}
	if st.Recovering {
		out.Errors = append(out.Errors, "recovering from corrupt storage")
	}
	if st.Alarm {
		out.Errors = append(out.Errors, "memberID:"+hexID(uint64(st.ID))+" alarm:NOSPACE ")
	}
	return out, nil
}

// Alarm implements etcd's Maintenance.Alarm. The only alarm is NOSPACE,
// raised on the local replica when the quota refuses a write and cleared
// by the next write that succeeds. GET lists it; DEACTIVATE clears it
// (and answers the alarm it cleared) if the store is under its quota, as
// it is unless data came in above it, and fails with FailedPrecondition
// otherwise; writes past the quota are refused again. ACTIVATE is not
// supported (a NOSPACE raised by hand would not refuse writes here, and
// seedkv has no CORRUPT alarm: a damaged data dir stops the member).
func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.Action == pb.AlarmRequest_ACTIVATE {
		return nil, errAlarmActivate
	}
	var st node.Status
	var hdr *pb.ResponseHeader
	cleared := true
	if err := m.s.onLoop(ctx, func() {
		hdr = m.s.localHeader()
		st = m.s.cfg.Node.Status()
		match := (r.Alarm == pb.AlarmType_NONE || r.Alarm == pb.AlarmType_NOSPACE) &&
			(r.MemberID == 0 || r.MemberID == uint64(st.ID))
		if r.Action == pb.AlarmRequest_DEACTIVATE && match && st.Alarm {
			cleared = m.s.cfg.Node.ClearAlarm()
		}
	}); err != nil {
		return nil, err
	}
	out := &pb.AlarmResponse{Header: hdr}
	match := (r.Alarm == pb.AlarmType_NONE || r.Alarm == pb.AlarmType_NOSPACE) &&
		(r.MemberID == 0 || r.MemberID == uint64(st.ID))
	if r.Action == pb.AlarmRequest_DEACTIVATE {
		if !cleared {
			return nil, errAlarmStillOver
		}
		if match && st.Alarm {
			out.Alarms = []*pb.AlarmMember{{MemberID: uint64(st.ID), Alarm: pb.AlarmType_NOSPACE}}
		}
		return out, nil
	}
	if st.Alarm && match {
		out.Alarms = []*pb.AlarmMember{{MemberID: uint64(st.ID), Alarm: pb.AlarmType_NOSPACE}}
	}
	return out, nil
}

var (
	errAlarmActivate = status.Error(codes.Unimplemented,
		"etcdserver: seedkv raises NOSPACE from the quota; alarms cannot be raised by hand")
	errAlarmStillOver = status.Error(codes.FailedPrecondition,
		"etcdserver: NOSPACE stays until compaction or deletes bring the store under its quota")
)

func hexID(id uint64) string {
	const digits = "0123456789abcdef"
	if id == 0 {
		return "0"
	}
	var b []byte
	for ; id > 0; id >>= 4 {
		b = append([]byte{digits[id&15]}, b...)
	}
	return string(b)
}
