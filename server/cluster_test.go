package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

// A learner added over gRPC joins (a new process with Join), catches up,
// is promoted, has its peer URLs updated and is removed; MemberList on
// every member follows, and etcd's errors come back for the bad cases.
func TestMembershipChanges(t *testing.T) {
	tc := startCluster(t)
	cl := pb.NewClusterClient(tc.conns[0])
	kv := pb.NewKVClient(tc.conns[1])
	_, err := kv.Put(ctx(t), &pb.PutRequest{Key: []byte("before"), Value: []byte("v")})
	require.NoError(t, err)

	_, err = cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"127.0.0.1:1"}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberBadURLs)
	_, err = cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://" + tc.cfgs[1].ListenPeer}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCPeerURLExist)

	addr := reservePort(t)
	url := "http://" + addr
	add, err := cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{url}, IsLearner: true})
	require.NoError(t, err)
	id := host.NodeID(add.Member.ID)
	require.Equal(t, MemberIDFor(url), id)
	require.True(t, add.Member.IsLearner)
	require.Len(t, add.Members, 4)
	_, err = cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://" + reservePort(t)}, IsLearner: true})
	require.ErrorIs(t, err, rpctypes.ErrGRPCTooManyLearners)
	_, err = cl.MemberPromote(ctx(t), &pb.MemberPromoteRequest{ID: uint64(tc.members[0].ID())})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotLearner)
	_, err = cl.MemberPromote(ctx(t), &pb.MemberPromoteRequest{ID: 4242})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotFound)

	// Every member lists the learner with its peer URL (from the table
	// the others received) before it started.
	for _, conn := range tc.conns {
		require.Eventually(t, func() bool {
			l, err := pb.NewClusterClient(conn).MemberList(ctx(t), &pb.MemberListRequest{})
			return err == nil && hasMember(l.Members, id, url, true)
		}, 10*time.Second, 20*time.Millisecond)
	}

	peers := map[host.NodeID]string{id: addr}
	for i, c := range tc.cfgs {
		peers[host.NodeID(i+1)] = c.ListenPeer
	}
	cfg := MemberConfig{ID: id, Peers: peers, DataDir: t.TempDir(), ListenPeer: addr, ListenClient: "127.0.0.1:0",
		ClusterID: 7, Join: true, Node: node.Config{TickInterval: 20 * time.Millisecond},
		Members: []MemberInfo{{ID: id, Name: "s4", PeerURLs: []string{url}, ClientURLs: []string{"http://x:1"}}}}
	m4, err := StartMember(cfg)
	require.NoError(t, err)
	conn4, err := grpc.NewClient(m4.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn4.Close(); m4.Stop() })
	// (a restart below replaces conn4 and m4: the cleanup closes the last ones)
	require.Eventually(t, func() bool {
		r, err := pb.NewKVClient(conn4).Range(ctx(t), &pb.RangeRequest{Key: []byte("before"), Serializable: true})
		return err == nil && len(r.Kvs) == 1
	}, 20*time.Second, 20*time.Millisecond, "the learner catches up")
	require.Eventually(t, func() bool { // once it has applied its own addition
		st, err := pb.NewMaintenanceClient(conn4).Status(ctx(t), &pb.StatusRequest{})
		return err == nil && st.IsLearner && st.Header.MemberId == uint64(id)
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		_, err := cl.MemberPromote(ctx(t), &pb.MemberPromoteRequest{ID: uint64(id)})
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		l, err := cl.MemberList(ctx(t), &pb.MemberListRequest{})
		return err == nil && hasMember(l.Members, id, url, false) && nameOf(l.Members, id) == "s4"
	}, 10*time.Second, 20*time.Millisecond, "promoted, and its name published")

	require.Eventually(t, func() bool {
		st, err := pb.NewMaintenanceClient(conn4).Status(ctx(t), &pb.StatusRequest{})
		return err == nil && !st.IsLearner
	}, 10*time.Second, 20*time.Millisecond)
	// The new voter serves linearizable writes and reads.
	_, err = pb.NewKVClient(conn4).Put(ctx(t), &pb.PutRequest{Key: []byte("after"), Value: []byte("v")})
	require.NoError(t, err)

	// Restarted from their data dirs, the joined member and a founding
	// one keep the four-member cluster (the founder learns the new
	// member's address from its members file).
	conn4.Close()
	m4.Stop()
	tc.conns[2].Close()
	tc.members[2].Stop()
	tc.cfgs[2].ListenClient = "127.0.0.1:0"
	m3, err := StartMember(tc.cfgs[2])
	require.NoError(t, err)
	tc.members[2] = m3
	tc.conns[2], err = grpc.NewClient(m3.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	m4, err = StartMember(cfg)
	require.NoError(t, err)
	conn4, err = grpc.NewClient(m4.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := pb.NewKVClient(conn4).Put(ctx(t), &pb.PutRequest{Key: []byte("restarted"), Value: []byte("v")})
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
	l, err := pb.NewClusterClient(tc.conns[2]).MemberList(ctx(t), &pb.MemberListRequest{})
	require.NoError(t, err)
	require.True(t, hasMember(l.Members, id, url, false))

	up, err := cl.MemberUpdate(ctx(t), &pb.MemberUpdateRequest{ID: uint64(id), PeerURLs: []string{url, "http://127.0.0.1:9"}})
	require.NoError(t, err)
	require.Len(t, up.Members, 4)
	_, err = cl.MemberUpdate(ctx(t), &pb.MemberUpdateRequest{ID: uint64(id), PeerURLs: []string{"http://" + tc.cfgs[0].ListenPeer}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCPeerURLExist)
	_, err = cl.MemberUpdate(ctx(t), &pb.MemberUpdateRequest{ID: 4242, PeerURLs: []string{"http://127.0.0.1:8"}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotFound)

	select {
	case <-m4.Removed():
		t.Fatal("removed before its removal")
	default:
	}
	rm, err := cl.MemberRemove(ctx(t), &pb.MemberRemoveRequest{ID: uint64(id)})
	require.NoError(t, err)
	require.Len(t, rm.Members, 3)
	select {
	case <-m4.Removed():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed member did not notice")
	}
	_, err = cl.MemberRemove(ctx(t), &pb.MemberRemoveRequest{ID: uint64(id)})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotFound)
	_, err = kv.Put(ctx(t), &pb.PutRequest{Key: []byte("removed"), Value: []byte("v")})
	require.NoError(t, err, "three voters left, quorum two")

	// Strict reconfiguration: two voters that never start leave three
	// active of five (a quorum); a third would not.
	var added []uint64
	for range 2 {
		a, err := cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://" + reservePort(t)}})
		require.NoError(t, err)
		added = append(added, a.Member.ID)
	}
	_, err = cl.MemberAdd(ctx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://" + reservePort(t)}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotEnoughStarted)
	for _, id := range added {
		_, err = cl.MemberRemove(ctx(t), &pb.MemberRemoveRequest{ID: id})
		require.NoError(t, err)
	}
}

// A reconfiguration needs a quorum of the voters after it to be active.
func TestQuorumActive(t *testing.T) {
	s := &Server{gossip: &gossip{self: 1, started: time.Now().Add(-time.Hour), heard: map[host.NodeID]time.Time{
		2: time.Now(), 3: time.Now().Add(-time.Hour)}}}
	ms := []api.Member{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, Learner: true}}
	require.Equal(t, []host.NodeID{1, 2, 3, 5}, votersAfter(ms, 5, 0))
	require.Equal(t, []host.NodeID{1, 2, 3, 4}, votersAfter(ms, 4, 0), "a promotion")
	require.Equal(t, []host.NodeID{1, 3}, votersAfter(ms, 0, 2))
	require.True(t, s.quorumActive(votersAfter(ms, 0, 0)), "1 and 2 of 3")
	require.False(t, s.quorumActive(votersAfter(ms, 5, 0)), "2 of 4")
	require.False(t, s.quorumActive(votersAfter(ms, 0, 2)), "1 of 2")
	require.True(t, s.quorumActive(votersAfter(ms, 0, 3)), "1 and 2 of 2")
	s.gossip.started, s.gossip.atStart = time.Now(), map[host.NodeID]bool{5: true}
	require.True(t, s.quorumActive(votersAfter(ms, 5, 0)), "just started: 5, known then, may be starting")
	s.gossip.atStart = nil
	require.False(t, s.quorumActive(votersAfter(ms, 5, 0)), "5 added since: never heard from")
}

func hasMember(ms []*pb.Member, id host.NodeID, url string, learner bool) bool {
	for _, m := range ms {
		if m.ID == uint64(id) {
			return m.IsLearner == learner && len(m.PeerURLs) > 0 && m.PeerURLs[0] == url
		}
	}
	return false
}

func nameOf(ms []*pb.Member, id host.NodeID) string {
	for _, m := range ms {
		if m.ID == uint64(id) {
			return m.Name
		}
	}
	return ""
}
