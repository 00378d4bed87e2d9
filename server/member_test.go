package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

type testCluster struct {
	members []*Member
	cfgs    []MemberConfig
	conns   []*grpc.ClientConn
}

// startCluster starts three in-process members on loopback and waits for
// a leader. Peer ports are picked first so every member knows them all.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	peers := map[host.NodeID]string{}
	for i := 1; i <= 3; i++ {
		peers[host.NodeID(i)] = reservePort(t)
	}
	tc := &testCluster{}
	for i := 1; i <= 3; i++ {
		cfg := MemberConfig{ID: host.NodeID(i), Peers: peers, DataDir: t.TempDir(),
			ListenPeer: peers[host.NodeID(i)], ListenClient: "127.0.0.1:0", ClusterID: 7,
			Node: node.Config{TickInterval: 20 * time.Millisecond}}
		m, err := StartMember(cfg)
		require.NoError(t, err)
		tc.members = append(tc.members, m)
		tc.cfgs = append(tc.cfgs, cfg)
		conn, err := grpc.NewClient(m.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		tc.conns = append(tc.conns, conn)
	}
	t.Cleanup(func() {
		for i, m := range tc.members {
			tc.conns[i].Close()
			m.Stop()
		}
	})
	require.Eventually(t, func() bool {
		for _, m := range tc.members {
			if m.Status().Leader == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	return tc
}

func reservePort(t *testing.T) string {
	ports, err := freePortsForTest(1)
	require.NoError(t, err)
	return ports[0]
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Every call of the KV service, through a follower and the leader alike.
func TestKVService(t *testing.T) {
	tc := startCluster(t)
	for i, conn := range tc.conns {
		kv := pb.NewKVClient(conn)
		key := []byte(fmt.Sprintf("/m%d/k", i))
		put, err := kv.Put(ctx(t), &pb.PutRequest{Key: key, Value: []byte("v1")})
		require.NoError(t, err)
		require.Equal(t, uint64(7), put.Header.ClusterId)
		put2, err := kv.Put(ctx(t), &pb.PutRequest{Key: key, Value: []byte("v2"), PrevKv: true})
		require.NoError(t, err)
		require.Equal(t, "v1", string(put2.PrevKv.Value))
		require.Equal(t, put.Header.Revision+1, put2.Header.Revision)
		got, err := kv.Range(ctx(t), &pb.RangeRequest{Key: key})
		require.NoError(t, err)
		require.Len(t, got.Kvs, 1)
		require.Equal(t, "v2", string(got.Kvs[0].Value))
		require.Equal(t, int64(2), got.Kvs[0].Version)
	}
	kv := pb.NewKVClient(tc.conns[1])

	// ignore_value keeps the value, changes the lease; on a missing key
	// it is etcd's "key not found".
	lease, err := pb.NewLeaseClient(tc.conns[1]).LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 30})
	require.NoError(t, err)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/m0/k"), IgnoreValue: true, Lease: lease.ID})
	require.NoError(t, err)
	got, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/m0/k")})
	require.NoError(t, err)
	require.Equal(t, "v2", string(got.Kvs[0].Value))
	require.Equal(t, lease.ID, got.Kvs[0].Lease)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/m0/k"), Value: []byte("v3"), IgnoreLease: true})
	require.NoError(t, err)
	got, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/m0/k")})
	require.NoError(t, err)
	require.Equal(t, "v3", string(got.Kvs[0].Value))
	require.Equal(t, lease.ID, got.Kvs[0].Lease)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/none"), IgnoreValue: true})
	require.ErrorIs(t, err, rpctypes.ErrGRPCKeyNotFound)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/none"), Value: []byte("x"), IgnoreValue: true})
	require.ErrorIs(t, err, rpctypes.ErrGRPCValueProvided)

	// Prefix range, sorted by create revision descending, limited.
	all, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/m"), RangeEnd: []byte("/n"),
		SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_CREATE, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, int64(3), all.Count)
	require.True(t, all.More)
	require.Equal(t, []string{"/m2/k", "/m1/k"}, []string{string(all.Kvs[0].Key), string(all.Kvs[1].Key)})
	cnt, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/m"), RangeEnd: []byte("/n"), CountOnly: true})
	require.NoError(t, err)
	require.Equal(t, int64(3), cnt.Count)
	require.Empty(t, cnt.Kvs)

	// Txn: compare on value, then put and range; else branch.
	txn, err := kv.Txn(ctx(t), &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/m1/k"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Value{Value: []byte("v2")}}},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/t"), Value: []byte("1")}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/m"), RangeEnd: []byte("/n"),
				SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_MOD, Limit: 1}}},
		},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("/t")}}}},
	})
	require.NoError(t, err)
	require.True(t, txn.Succeeded)
	require.Len(t, txn.Responses, 2)
	rr := txn.Responses[1].GetResponseRange()
	require.Equal(t, "/m1/k", string(rr.Kvs[0].Key), "oldest mod revision first")
	require.Equal(t, txn.Header.Revision, rr.Header.Revision)
	// A nested transaction: every compare is evaluated before any op
	// runs (so the inner one does not see the outer put of /n/a).
	nested, err := kv.Txn(ctx(t), &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/t"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Value{Value: []byte("1")}}},
		Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/t")}}},
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/n/a"), Value: []byte("outer")}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: []byte("/n/a"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER,
					TargetUnion: &pb.Compare_Version{Version: 0}}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/n/b"), Value: []byte("then")}}}},
				Failure: []*pb.RequestOp{
					{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/n/b"), Value: []byte("else")}}},
					{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("/n/a")}}},
				},
			}}},
		},
	})
	require.NoError(t, err)
	require.True(t, nested.Succeeded)
	require.Len(t, nested.Responses, 3)
	require.Equal(t, nested.Header.Revision-1, nested.Responses[0].GetResponseRange().Header.Revision, "read before the write")
	inner := nested.Responses[2].GetResponseTxn()
	require.False(t, inner.Succeeded, "the inner compare saw the store before the transaction")
	require.Len(t, inner.Responses, 2)
	require.Equal(t, "outer", string(inner.Responses[1].GetResponseRange().Kvs[0].Value))
	require.Equal(t, nested.Header.Revision, inner.Responses[1].GetResponseRange().Header.Revision)
	b, err := kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/n/b")})
	require.NoError(t, err)
	require.Equal(t, "else", string(b.Kvs[0].Value))
	require.Equal(t, nested.Header.Revision, b.Kvs[0].ModRevision, "one revision for the whole tree")
	// Range compares inside nested transactions: over /n/ (a = outer,
	// b = else) every value is below "p", not every one equals "outer".
	valueCmp := func(res pb.Compare_CompareResult, v string) *pb.Compare {
		return &pb.Compare{Key: []byte("/n/"), RangeEnd: []byte("/n0"), Target: pb.Compare_VALUE, Result: res,
			TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
	}
	mark := func(v string) []*pb.RequestOp {
		return []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/rc"), Value: []byte(v)}}}}
	}
	rc, err := kv.Txn(ctx(t), &pb.TxnRequest{
		Compare: []*pb.Compare{valueCmp(pb.Compare_LESS, "p")},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
			Compare: []*pb.Compare{valueCmp(pb.Compare_EQUAL, "outer")},
			Success: mark("all-outer"), Failure: mark("not-all-outer")}}}},
		Failure: mark("outer-failed"),
	})
	require.NoError(t, err)
	require.True(t, rc.Succeeded)
	require.False(t, rc.Responses[0].GetResponseTxn().Succeeded)
	got, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/rc")})
	require.NoError(t, err)
	require.Equal(t, "not-all-outer", string(got.Kvs[0].Value))
	empty, err := kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), RangeEnd: []byte("b")}}}}}}})
	require.NoError(t, err)
	require.True(t, empty.Responses[0].GetResponseTxn().Succeeded, "an empty range compares as a zero key-value")
	_, err = kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/d"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/d"), Value: []byte("2")}}},
	}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCDuplicateKey)

	// DeleteRange with prev_kv; compaction and the errors around it.
	del, err := kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte("/m"), RangeEnd: []byte("/n"), PrevKv: true})
	require.NoError(t, err)
	require.Equal(t, int64(3), del.Deleted)
	require.Len(t, del.PrevKvs, 3)
	_, err = kv.Compact(ctx(t), &pb.CompactionRequest{Revision: del.Header.Revision - 1})
	require.NoError(t, err)
	_, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/t"), Revision: 2})
	require.ErrorIs(t, err, rpctypes.ErrGRPCCompacted)
	_, err = kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("/t"), Revision: del.Header.Revision + 100})
	require.ErrorIs(t, err, rpctypes.ErrGRPCFutureRev)
	_, err = kv.Range(ctx(t), &pb.RangeRequest{})
	require.ErrorIs(t, err, rpctypes.ErrGRPCEmptyKey)
}

// Watches: several on one stream, prev_kv, a filter, cancel, a progress
// request and a compacted start revision.
func TestWatchService(t *testing.T) {
	tc := startCluster(t)
	kv := pb.NewKVClient(tc.conns[0])
	first, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/w/a"), Value: []byte("0")})
	require.NoError(t, err)
	// The watches below start at member 2's current revision: wait until it
	// has applied the first put, or the put itself would be watched.
	require.Eventually(t, func() bool {
		r, err := pb.NewKVClient(tc.conns[2]).Range(ctx(t), &pb.RangeRequest{Key: []byte("/w/a"), Serializable: true})
		return err == nil && r.Header.Revision >= first.Header.Revision
	}, 5*time.Second, 10*time.Millisecond)
	ws, err := pb.NewWatchClient(tc.conns[2]).Watch(ctx(t))
	require.NoError(t, err)
	create := func(c *pb.WatchCreateRequest) int64 {
		require.NoError(t, ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: c}}))
		r, err := ws.Recv()
		require.NoError(t, err)
		require.True(t, r.Created)
		return r.WatchId
	}
	from := first.Header.Revision + 1 // after the first put, whatever member 2 has applied
	all := create(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), PrevKv: true, StartRevision: from})
	noPut := create(&pb.WatchCreateRequest{Key: []byte("/w/"), RangeEnd: []byte("/w0"), StartRevision: from, Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}})
	require.NotEqual(t, all, noPut)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/w/a"), Value: []byte("1")})
	require.NoError(t, err)
	_, err = kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte("/w/a")})
	require.NoError(t, err)
	got := map[int64][]*mvccpb.Event{}
	for len(got[all]) < 2 || len(got[noPut]) < 1 {
		r, err := ws.Recv()
		require.NoError(t, err)
		got[r.WatchId] = append(got[r.WatchId], r.Events...)
	}
	require.Equal(t, mvccpb.PUT, got[all][0].Type)
	require.Equal(t, "0", string(got[all][0].PrevKv.Value))
	require.Equal(t, mvccpb.DELETE, got[all][1].Type)
	require.Len(t, got[noPut], 1)
	require.Equal(t, mvccpb.DELETE, got[noPut][0].Type)

	// Progress: every watch has delivered up to the header's revision.
	require.NoError(t, ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}))
	r, err := ws.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(-1), r.WatchId)
	require.Empty(t, r.Events)
	require.Equal(t, got[all][1].Kv.ModRevision, r.Header.Revision)

	// Cancel.
	require.NoError(t, ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: noPut}}}))
	r, err = ws.Recv()
	require.NoError(t, err)
	require.True(t, r.Canceled)
	require.Equal(t, noPut, r.WatchId)

	// A watch from a compacted revision is canceled with the compaction
	// revision.
	last, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/x"), Value: []byte("1")})
	require.NoError(t, err)
	_, err = kv.Compact(ctx(t), &pb.CompactionRequest{Revision: last.Header.Revision})
	require.NoError(t, err)
	// The watching member (3) applies the compaction before a later put,
	// which its own Status shows (a Range would be served by any member).
	after, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("/y"), Value: []byte("1")})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := pb.NewMaintenanceClient(tc.conns[2]).Status(ctx(t), &pb.StatusRequest{})
		return err == nil && st.Header.Revision >= after.Header.Revision
	}, 5*time.Second, 10*time.Millisecond)
	c := create(&pb.WatchCreateRequest{Key: []byte("/w/a"), StartRevision: first.Header.Revision})
	for {
		r, err = ws.Recv()
		require.NoError(t, err)
		if r.WatchId == c {
			break
		}
	}
	require.True(t, r.Canceled, "%v", r)
	require.Equal(t, last.Header.Revision, r.CompactRevision)
}

// Leases: grant, keep-alive stream, time to live with keys, list, revoke
// (which deletes the keys), and the not-found answers.
func TestLeaseService(t *testing.T) {
	tc := startCluster(t)
	ls := pb.NewLeaseClient(tc.conns[0])
	g, err := ls.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 20})
	require.NoError(t, err)
	require.NotZero(t, g.ID)
	require.Equal(t, int64(20), g.TTL)
	_, err = pb.NewKVClient(tc.conns[1]).Put(ctx(t), &pb.PutRequest{Key: []byte("l"), Value: []byte("v"), Lease: g.ID})
	require.NoError(t, err)
	ka, err := ls.LeaseKeepAlive(ctx(t))
	require.NoError(t, err)
	require.NoError(t, ka.Send(&pb.LeaseKeepAliveRequest{ID: g.ID}))
	kr, err := ka.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(20), kr.TTL)
	require.NoError(t, ka.Send(&pb.LeaseKeepAliveRequest{ID: 12345}))
	kr, err = ka.Recv()
	require.NoError(t, err)
	require.Zero(t, kr.TTL, "unknown lease: TTL 0")
	ttl, err := ls.LeaseTimeToLive(ctx(t), &pb.LeaseTimeToLiveRequest{ID: g.ID, Keys: true})
	require.NoError(t, err)
	require.Equal(t, int64(20), ttl.GrantedTTL)
	require.InDelta(t, 20, ttl.TTL, 2)
	require.Equal(t, [][]byte{[]byte("l")}, ttl.Keys)
	list, err := ls.LeaseLeases(ctx(t), &pb.LeaseLeasesRequest{})
	require.NoError(t, err)
	require.Len(t, list.Leases, 1)
	_, err = ls.LeaseRevoke(ctx(t), &pb.LeaseRevokeRequest{ID: g.ID})
	require.NoError(t, err)
	got, err := pb.NewKVClient(tc.conns[2]).Range(ctx(t), &pb.RangeRequest{Key: []byte("l")})
	require.NoError(t, err)
	require.Empty(t, got.Kvs)
	_, err = ls.LeaseRevoke(ctx(t), &pb.LeaseRevokeRequest{ID: g.ID})
	require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseNotFound)
	ttl, err = ls.LeaseTimeToLive(ctx(t), &pb.LeaseTimeToLiveRequest{ID: g.ID})
	require.NoError(t, err)
	require.Equal(t, int64(-1), ttl.TTL)
	_, err = ls.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 9_000_000_001})
	require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseTTLTooLarge)
}

// Status names the leader; MemberList lists the members; Alarm lists none.
func TestMaintenanceAndCluster(t *testing.T) {
	tc := startCluster(t)
	leaders := map[uint64]bool{}
	for _, conn := range tc.conns {
		st, err := pb.NewMaintenanceClient(conn).Status(ctx(t), &pb.StatusRequest{})
		require.NoError(t, err)
		require.Equal(t, APIVersion, st.Version)
		leaders[st.Leader] = true
	}
	require.Len(t, leaders, 1)
	al, err := pb.NewMaintenanceClient(tc.conns[0]).Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	require.NoError(t, err)
	require.Empty(t, al.Alarms)
	_, err = pb.NewClusterClient(tc.conns[0]).MemberList(ctx(t), &pb.MemberListRequest{})
	require.NoError(t, err)
}

// A member restarted from its directory keeps every acknowledged write; a
// member whose WAL is damaged in the middle refuses to start and names
// the file.
func TestRestartAndCorruptDataDir(t *testing.T) {
	tc := startCluster(t)
	kv := pb.NewKVClient(tc.conns[0])
	for i := range 20 {
		_, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte(fmt.Sprintf("k%02d", i)), Value: []byte("v")})
		require.NoError(t, err)
	}
	cfg := tc.cfgs[2]
	// Member 3 may trail the quorum that acknowledged the puts: wait
	// until it holds them.
	require.Eventually(t, func() bool { return tc.members[2].Status().Commit >= 20 }, 10*time.Second, 5*time.Millisecond)
	tc.conns[2].Close()
	tc.members[2].Stop()
	m, err := StartMember(cfg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.Status().Commit, uint64(20))
	m.Stop()

	// Flip a byte early in the first WAL segment: damage before valid
	// records is corruption, not a torn write.
	names, err := filepath.Glob(filepath.Join(cfg.DataDir, "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	b, err := os.ReadFile(names[0])
	require.NoError(t, err)
	b[40] ^= 0xff
	require.NoError(t, os.WriteFile(names[0], b, 0o644))
	cfg.ListenClient = "127.0.0.1:0"
	_, err = StartMember(cfg)
	require.ErrorIs(t, err, ErrCorruptDataDir)
	require.True(t, strings.Contains(err.Error(), filepath.Base(names[0])), err.Error())
	// A data dir from before members.json (IDs by position) is refused.
	require.NoError(t, os.Remove(filepath.Join(cfg.DataDir, membersFile)))
	_, err = StartMember(cfg)
	require.ErrorIs(t, err, ErrLegacyDataDir)
	tc.members[2] = &Member{} // already stopped
	tc.members = tc.members[:2]
	tc.conns = tc.conns[:2]
}

// TestMemberReportsAStoppedReplica: a replica that stopped (here a
// stand-in for node.Node.Stopped reporting a halt) closes Stopped with
// its reason, so that `seedkv` exits for its supervisor to restart it.
func TestMemberReportsAStoppedReplica(t *testing.T) {
	tc := startCluster(t)
	m := tc.members[0]
	require.Empty(t, m.StopReason())
	select {
	case <-m.Stopped():
		t.Fatal("stopped before anything happened")
	case <-time.After(GossipInterval + GossipInterval/2):
	}
	var halted atomic.Bool
	m.WatchStoppedForTest(func() (bool, string) { return halted.Load(), "halted on an I/O error: test" })
	halted.Store(true)
	select {
	case <-m.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("Stopped not closed")
	}
	require.Equal(t, "halted on an I/O error: test", m.StopReason())
}
