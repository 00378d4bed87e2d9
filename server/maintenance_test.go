package server

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/node"
)

// HashKV agrees across replicas at one revision, changes with the data,
// answers the compaction revision with the hash recorded before the
// compaction (etcd's), and refuses compacted and future revisions as etcd
// does. (That the values are etcd's is compat's TestGRPCDiff.)
func TestHashKV(t *testing.T) {
	tc := startCluster(t)
	kv := pb.NewKVClient(tc.conns[0])
	var revs []int64
	for i := range 3 {
		p, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte(fmt.Sprintf("h%d", i)), Value: []byte("v")})
		require.NoError(t, err)
		revs = append(revs, p.Header.Revision)
	}
	hashAt := func(i int, rev int64) (*pb.HashKVResponse, error) {
		return pb.NewMaintenanceClient(tc.conns[i]).HashKV(ctx(t), &pb.HashKVRequest{Revision: rev})
	}
	var first uint32
	for i := range tc.conns {
		require.Eventually(t, func() bool {
			_, err := hashAt(i, revs[2])
			return err == nil
		}, 10*time.Second, 10*time.Millisecond)
		h, err := hashAt(i, revs[2])
		require.NoError(t, err)
		require.Equal(t, revs[2], h.HashRevision)
		if i == 0 {
			first = h.Hash
		}
		require.Equal(t, first, h.Hash, "member %d", i)
	}
	older, err := hashAt(0, revs[1])
	require.NoError(t, err)
	require.NotEqual(t, first, older.Hash)

	_, err = hashAt(0, revs[2]+1000)
	require.ErrorIs(t, err, rpctypes.ErrGRPCFutureRev)
	_, err = kv.Compact(ctx(t), &pb.CompactionRequest{Revision: revs[2], Physical: true})
	require.NoError(t, err)
	require.Eventually(t, func() bool { // each replica applies the compaction in its time
		_, err = hashAt(0, revs[1])
		return errors.Is(err, rpctypes.ErrGRPCCompacted)
	}, 10*time.Second, 10*time.Millisecond)
	for i := range tc.conns {
		require.Eventually(t, func() bool { // each replica compacts in its time
			h, err := hashAt(i, 0)
			return err == nil && h.CompactRevision == revs[2]
		}, 10*time.Second, 10*time.Millisecond, "member %d compacts", i)
		h, err := hashAt(i, revs[2])
		require.NoError(t, err)
		require.Equal(t, first, h.Hash, "member %d: the hash recorded when compacting at %d", i, revs[2])
		require.Equal(t, int64(-1), h.CompactRevision, "member %d: from the compaction before (none)", i)
	}
	p, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("h0"), Value: []byte("w")})
	require.NoError(t, err)
	var after *pb.HashKVResponse
	require.Eventually(t, func() bool { // member 0 applies the put in its time
		after, err = hashAt(0, p.Header.Revision)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, revs[2], after.CompactRevision)
	require.NotEqual(t, first, after.Hash)
}

// MoveLeader hands leadership to the named voter; an unknown target is a
// bad transferee.
func TestMoveLeader(t *testing.T) {
	tc := startCluster(t)
	st, err := pb.NewMaintenanceClient(tc.conns[0]).Status(ctx(t), &pb.StatusRequest{})
	require.NoError(t, err)
	target := uint64(1)
	if st.Leader == 1 {
		target = 2
	}
	_, err = pb.NewMaintenanceClient(tc.conns[2]).MoveLeader(ctx(t), &pb.MoveLeaderRequest{TargetID: target})
	require.NoError(t, err)
	for _, conn := range tc.conns {
		require.Eventually(t, func() bool {
			st, err := pb.NewMaintenanceClient(conn).Status(ctx(t), &pb.StatusRequest{})
			return err == nil && st.Leader == target
		}, 10*time.Second, 10*time.Millisecond)
	}
	_, err = pb.NewMaintenanceClient(tc.conns[0]).MoveLeader(ctx(t), &pb.MoveLeaderRequest{TargetID: 99})
	require.ErrorIs(t, err, rpctypes.ErrGRPCBadLeaderTransferee)
}

// Snapshot streams a file etcdctl accepts (size 512k+32, SHA-256 at the
// end) that restores to a store with the same keys; Defragment is a
// success; alarms cannot be raised by hand; auth is disabled.
func TestSnapshotDefragAlarmAuth(t *testing.T) {
	tc := startCluster(t)
	kv := pb.NewKVClient(tc.conns[0])
	big := bytes.Repeat([]byte("x"), 50_000) // more than one chunk
	var last int64
	for i := range 3 {
		p, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte(fmt.Sprintf("s%d", i)), Value: big})
		require.NoError(t, err)
		last = p.Header.Revision
	}
	m := pb.NewMaintenanceClient(tc.conns[0])
	stream, err := m.Snapshot(ctx(t), &pb.SnapshotRequest{})
	require.NoError(t, err)
	var file []byte
	msgs, remaining := 0, uint64(1)
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		file = append(file, r.Blob...)
		remaining = r.RemainingBytes
		msgs++
	}
	require.Greater(t, msgs, 1)
	require.Zero(t, remaining)
	require.Equal(t, sha256.Size, len(file)%512)
	data, err := DecodeSnapshotFile(file)
	require.NoError(t, err)
	st, err := mvcc.Restore(data, mvcc.Config{})
	require.NoError(t, err)
	require.Equal(t, last, st.CurrentRevision())
	res, err := st.Range([]byte("s"), []byte("t"), mvcc.RangeOptions{})
	require.NoError(t, err)
	require.Len(t, res.KVs, 3)
	require.Equal(t, big, res.KVs[2].Value)

	_, err = m.Defragment(ctx(t), &pb.DefragmentRequest{})
	require.NoError(t, err)

	_, err = m.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_NOSPACE})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = m.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, Alarm: pb.AlarmType_NOSPACE})
	require.NoError(t, err, "no alarm raised: nothing to clear")

	auth := pb.NewAuthClient(tc.conns[1])
	as, err := auth.AuthStatus(ctx(t), &pb.AuthStatusRequest{})
	require.NoError(t, err)
	require.False(t, as.Enabled)
	_, err = auth.UserAdd(ctx(t), &pb.AuthUserAddRequest{Name: "root", Password: "x"})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = auth.AuthEnable(ctx(t), &pb.AuthEnableRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = auth.Authenticate(ctx(t), &pb.AuthenticateRequest{Name: "root", Password: "x"})
	require.ErrorIs(t, err, rpctypes.ErrGRPCAuthNotEnabled)
}

// Every damaged or foreign snapshot file is refused with ErrBadSnapshotFile.
func TestSnapshotFileRejects(t *testing.T) {
	good := EncodeSnapshotFile([]byte("store bytes"))
	got, err := DecodeSnapshotFile(good)
	require.NoError(t, err)
	require.Equal(t, "store bytes", string(got))
	empty, err := DecodeSnapshotFile(EncodeSnapshotFile(nil))
	require.NoError(t, err)
	require.Empty(t, empty)

	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"body bit":       flip(20),
		"checksum bit":   flip(len(good) - 1),
		"bbolt-like":     append(make([]byte, 4096), make([]byte, 32)...),
		"length too big": resum(func(b []byte) { b[len(snapFileMagic)+7] = 0x7f }),
		"dirty padding":  resum(func(b []byte) { b[400] = 1 }),
	} {
		_, err := DecodeSnapshotFile(b)
		require.ErrorIs(t, err, ErrBadSnapshotFile, name)
	}
}

// resum changes a good file's body and fixes its checksum.
func resum(change func([]byte)) []byte {
	b := EncodeSnapshotFile([]byte("store bytes"))
	body := b[:len(b)-sha256.Size]
	change(body)
	sum := sha256.Sum256(body)
	copy(b[len(body):], sum[:])
	return b
}

func FuzzDecodeSnapshotFile(f *testing.F) {
	f.Add(EncodeSnapshotFile([]byte("x")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := DecodeSnapshotFile(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadSnapshotFile)
			return
		}
		require.Equal(t, EncodeSnapshotFile(data), b)
	})
}

// NOSPACE: a write past the quota raises the alarm (listed, in Status
// errors); disarming fails while the store is over its quota and
// succeeds once deletes and compaction brought it under.
func TestNoSpaceAlarm(t *testing.T) {
	addr := reservePort(t)
	m, err := StartMember(MemberConfig{ID: 1, Peers: map[host.NodeID]string{1: addr}, DataDir: t.TempDir(),
		ListenPeer: addr, ListenClient: "127.0.0.1:0", ClusterID: 7,
		Node: node.Config{TickInterval: 20 * time.Millisecond, QuotaBytes: 64 << 10}})
	require.NoError(t, err)
	conn, err := grpc.NewClient(m.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); m.Stop() })
	kv, mc := pb.NewKVClient(conn), pb.NewMaintenanceClient(conn)
	var last int64
	require.Eventually(t, func() bool {
		p, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 8<<10)})
		if err == nil {
			last = p.Header.Revision
		}
		return errors.Is(err, rpctypes.ErrGRPCNoSpace)
	}, 20*time.Second, time.Millisecond)
	al, err := mc.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	require.NoError(t, err)
	require.Len(t, al.Alarms, 1)
	require.Equal(t, pb.AlarmType_NOSPACE, al.Alarms[0].Alarm)
	st, err := mc.Status(ctx(t), &pb.StatusRequest{})
	require.NoError(t, err)
	require.NotEmpty(t, st.Errors)
	require.Equal(t, int64(64<<10), st.DbSizeQuota)
	// Disarm clears it (etcdctl alarm disarm); the next big write
	// raises it again; deletes and compaction make room.
	dis, err := mc.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, Alarm: pb.AlarmType_NOSPACE, MemberID: 1})
	require.NoError(t, err)
	require.Len(t, dis.Alarms, 1)
	al, err = mc.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	require.NoError(t, err)
	require.Empty(t, al.Alarms)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 8<<10)})
	require.ErrorIs(t, err, rpctypes.ErrGRPCNoSpace)
	_, err = kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte("big")})
	require.NoError(t, err)
	_, err = kv.Compact(ctx(t), &pb.CompactionRequest{Revision: last + 1})
	require.NoError(t, err)
	al, err = mc.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	require.NoError(t, err)
	require.Empty(t, al.Alarms, "cleared by the delete that succeeded")
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 8<<10)})
	require.NoError(t, err)
}
