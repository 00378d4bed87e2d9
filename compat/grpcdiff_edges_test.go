package compat

// Edge cases of the gRPC differential test that a random sequence draws
// too rarely or that cost too much to draw often: request size limits,
// lease TTL bounds and IDs, ignore flags inside transactions.

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// TestGRPCDiffEdges sends each request to etcd and to a one-member
// seedkv, in order, and requires the same answers.
func TestGRPCDiffEdges(t *testing.T) {
	p := newDiffPair(t, startEmbedEtcd(t), startSeedkv(t, 1))
	p.syncStart()
	big := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	type call struct {
		name string
		do   func(c pb.KVClient, l pb.LeaseClient) (proto.Message, error)
	}
	put := func(k string, v []byte) func(pb.KVClient, pb.LeaseClient) (proto.Message, error) {
		return func(c pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
			return c.Put(p.ctx(), &pb.PutRequest{Key: []byte(k), Value: v})
		}
	}
	grant := func(id, ttl int64) func(pb.KVClient, pb.LeaseClient) (proto.Message, error) {
		return func(_ pb.KVClient, l pb.LeaseClient) (proto.Message, error) {
			return l.LeaseGrant(p.ctx(), &pb.LeaseGrantRequest{ID: id, TTL: ttl})
		}
	}
	revoke := func(id int64) func(pb.KVClient, pb.LeaseClient) (proto.Message, error) {
		return func(_ pb.KVClient, l pb.LeaseClient) (proto.Message, error) {
			return l.LeaseRevoke(p.ctx(), &pb.LeaseRevokeRequest{ID: id})
		}
	}
	txn := func(r *pb.TxnRequest) func(pb.KVClient, pb.LeaseClient) (proto.Message, error) {
		return func(c pb.KVClient, _ pb.LeaseClient) (proto.Message, error) { return c.Txn(p.ctx(), r) }
	}
	putOp := func(r *pb.PutRequest) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
	}
	calls := []call{
		{"value of 1 MiB", put("/edge/a", big(1<<20))},
		{"value of 1 MiB + 1 KiB", put("/edge/a", big(1<<20+1<<10))},
		{"value of 1.5 MiB (etcd's request limit)", put("/edge/a", big(3<<19))},
		{"value of 2.5 MiB (past etcd's gRPC limit)", put("/edge/a", big(5<<19))},
		{"key of 8 KiB", put(strings.Repeat("k", 8<<10), []byte("v"))},
		{"lease TTL 1 (below etcd's minimum)", grant(1<<40+1, 1)},
		{"revoke it", revoke(1<<40 + 1)},
		{"lease TTL 0", grant(1<<40+2, 0)},
		{"revoke it", revoke(1<<40 + 2)},
		{"lease TTL -5", grant(1<<40+3, -5)},
		{"revoke it", revoke(1<<40 + 3)},
		{"lease ID -7", grant(-7, 60)},
		{"revoke it", revoke(-7)},
		{"put to ignore", put("/edge/i", []byte("old"))},
		{"txn put ignore_value", txn(&pb.TxnRequest{Success: []*pb.RequestOp{
			putOp(&pb.PutRequest{Key: []byte("/edge/i"), IgnoreValue: true, PrevKv: true})}})},
		{"txn put ignore_lease", txn(&pb.TxnRequest{Success: []*pb.RequestOp{
			putOp(&pb.PutRequest{Key: []byte("/edge/i"), Value: []byte("new"), IgnoreLease: true})}})},
		{"txn put ignore_value, missing key", txn(&pb.TxnRequest{Success: []*pb.RequestOp{
			putOp(&pb.PutRequest{Key: []byte("/edge/missing"), IgnoreValue: true})}})},
		{"txn empty op", txn(&pb.TxnRequest{Success: []*pb.RequestOp{{}}})},
	}
	for _, c := range calls {
		p.logf("%s", c.name)
		em, eerr := c.do(pb.NewKVClient(p.e.ActiveConnection()), pb.NewLeaseClient(p.e.ActiveConnection()))
		sm, serr := c.do(pb.NewKVClient(p.s.ActiveConnection()), pb.NewLeaseClient(p.s.ActiveConnection()))
		if em != nil && eerr == nil {
			if h := em.ProtoReflect().Get(em.ProtoReflect().Descriptor().Fields().ByName("header")); h.IsValid() {
				if hdr, ok := h.Message().Interface().(*pb.ResponseHeader); ok {
					p.observe(hdr)
				}
			}
		}
		p.compare(c.name, em, eerr, sm, serr)
	}
}
