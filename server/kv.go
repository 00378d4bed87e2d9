package server

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/mvcc"
)

type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

// Range implements etcd's KV.Range.
func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	resp, err := k.s.do(ctx, apiRange(r))
	if err != nil {
		return nil, err
	}
	body, ok := resp.Body.(*api.RangeResponse)
	if !ok {
		return nil, rpctypes.ErrGRPCCorrupt
	}
	out := finishRange(r, body)
	out.Header = k.s.header(resp.Header)
	return out, nil
}

func checkRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// defaultOrdering is etcd's IsDefaultOrdering: the store's key order
// already is the answer's (no order asked, or keys ascending). A sort
// target with no order is still sorted ascending, but only over what the
// store read (sortKVs).
func defaultOrdering(r *pb.RangeRequest) bool {
	return r.SortOrder == pb.RangeRequest_NONE ||
		(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)
}

// revisionFilters reports whether the range filters by mod or create
// revision (etcd's HasRevisionFilters).
func revisionFilters(r *pb.RangeRequest) bool {
	return r.MinModRevision != 0 || r.MaxModRevision != 0 ||
		r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
}

// storeLimit is the limit the store is asked for, as etcd's rangeLimit:
// everything when the answer is sorted or filtered after the read, else
// one more than the limit, so that finishRange can tell More.
func storeLimit(r *pb.RangeRequest) int64 {
	limit := r.Limit
	if !defaultOrdering(r) || revisionFilters(r) {
		limit = 0
	}
	if limit > 0 && limit < math.MaxInt64 {
		limit++
	}
	return limit
}

// apiRange translates a range request for the store. Keys only is passed
// on unless the range is sorted by value (etcd's FastKeysOnly): then the
// store reads values (and leases) to sort by, and finishRange drops the
// values.
func apiRange(r *pb.RangeRequest) *api.RangeRequest {
	return &api.RangeRequest{Key: r.Key, End: r.RangeEnd, Revision: r.Revision, Limit: storeLimit(r),
		CountOnly: r.CountOnly, KeysOnly: r.KeysOnly && r.SortTarget != pb.RangeRequest_VALUE,
		Serializable: r.Serializable}
}

// finishRange applies the filters, sort and limit etcd applies after its
// read (etcd's executeRange), and converts the result. Count stays the
// count of the whole range (before filters), as in etcd.
func finishRange(r *pb.RangeRequest, body *api.RangeResponse) *pb.RangeResponse {
	out := &pb.RangeResponse{Count: body.Count, More: body.More}
	kvs := body.KVs
	if revisionFilters(r) {
		kvs = filterKVs(r, kvs)
	}
	sortKVs(r, kvs)
	if r.Limit > 0 {
		out.More = int64(len(kvs)) > r.Limit
		if out.More {
			kvs = kvs[:r.Limit]
		}
	}
	out.Kvs = make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		out.Kvs[i] = pbKV(&kvs[i])
		if r.KeysOnly {
			out.Kvs[i].Value = nil
		}
	}
	return out
}

func filterKVs(r *pb.RangeRequest, kvs []api.KeyValue) []api.KeyValue {
	keep := func(kv *api.KeyValue) bool {
		return (r.MinModRevision == 0 || kv.ModRevision >= r.MinModRevision) &&
			(r.MaxModRevision == 0 || kv.ModRevision <= r.MaxModRevision) &&
			(r.MinCreateRevision == 0 || kv.CreateRevision >= r.MinCreateRevision) &&
			(r.MaxCreateRevision == 0 || kv.CreateRevision <= r.MaxCreateRevision)
	}
	out := kvs[:0:0]
	for i := range kvs {
		if keep(&kvs[i]) {
			out = append(out, kvs[i])
		}
	}
	return out
}

// sortKVs sorts by the request's target and order as etcd's
// sortRangeResults does: a target other than the key with no order means
// ascending; the same (unstable) sort.Sort over the same key-ordered input
// with the same comparisons, so that ties come out in etcd's order too.
func sortKVs(r *pb.RangeRequest, kvs []api.KeyValue) {
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE || (r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) {
		return
	}
	var less func(a, b *api.KeyValue) bool
	switch r.SortTarget {
	case pb.RangeRequest_VERSION:
		less = func(a, b *api.KeyValue) bool { return a.Version < b.Version }
	case pb.RangeRequest_CREATE:
		less = func(a, b *api.KeyValue) bool { return a.CreateRevision < b.CreateRevision }
	case pb.RangeRequest_MOD:
		less = func(a, b *api.KeyValue) bool { return a.ModRevision < b.ModRevision }
	case pb.RangeRequest_VALUE:
		less = func(a, b *api.KeyValue) bool { return bytes.Compare(a.Value, b.Value) < 0 }
	default:
		less = func(a, b *api.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 }
	}
	var s sort.Interface = kvSorter{kvs, less}
	if order == pb.RangeRequest_DESCEND {
		s = sort.Reverse(s)
	}
	sort.Sort(s)
}

// kvSorter is a sort.Interface over key-values with a comparison.
type kvSorter struct {
	kvs  []api.KeyValue
	less func(a, b *api.KeyValue) bool
}

func (k kvSorter) Len() int           { return len(k.kvs) }
func (k kvSorter) Swap(i, j int)      { k.kvs[i], k.kvs[j] = k.kvs[j], k.kvs[i] }
func (k kvSorter) Less(i, j int) bool { return k.less(&k.kvs[i], &k.kvs[j]) }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func pbKV(kv *api.KeyValue) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

func pbKVPtr(kv *api.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return pbKV(kv)
}

// Put implements etcd's KV.Put.
func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPut(r); err != nil {
		return nil, err
	}
	if err := checkRequestSize(r); err != nil {
		return nil, err
	}
	if r.IgnoreValue || r.IgnoreLease {
		return k.casPut(ctx, r)
	}
	resp, err := k.s.do(ctx, &api.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKV: r.PrevKv})
	if err != nil {
		return nil, err
	}
	out := &pb.PutResponse{Header: k.s.header(resp.Header)}
	if b, ok := resp.Body.(*api.PutResponse); ok {
		out.PrevKv = pbKVPtr(b.PrevKV)
	}
	return out, nil
}

// casPut does a Put that keeps the key's current value or lease: read the
// key, then write it in a transaction that holds only if the key's mod
// revision is still the one read; retry if someone wrote in between. The
// write is atomic with respect to the value it keeps, as etcd's.
func (k *kvServer) casPut(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	for range MaxCASRetries {
		resp, err := k.s.do(ctx, &api.RangeRequest{Key: r.Key})
		if err != nil {
			return nil, err
		}
		rb, _ := resp.Body.(*api.RangeResponse)
		if rb == nil || len(rb.KVs) == 0 {
			return nil, k.missingKey(ctx, r.Lease)
		}
		cur := rb.KVs[0]
		put := &api.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKV: r.PrevKv}
		if r.IgnoreValue {
			put.Value = cur.Value
		}
		if r.IgnoreLease {
			put.Lease = cur.Lease
		}
		txn := &api.TxnRequest{
			Compares: []api.Compare{{Result: api.CompareEqual, Target: api.TargetMod, Key: r.Key, ModRevision: cur.ModRevision}},
			Success:  []api.TxnOp{{Put: put}},
		}
		tresp, err := k.s.do(ctx, txn)
		if err != nil {
			return nil, err
		}
		tb, _ := tresp.Body.(*api.TxnResponse)
		if tb == nil || !tb.Succeeded {
			continue // written meanwhile: read again
		}
		out := &pb.PutResponse{Header: k.s.header(tresp.Header)}
		if len(tb.Responses) == 1 && tb.Responses[0].Put != nil {
			out.PrevKv = pbKVPtr(tb.Responses[0].Put.PrevKV)
		}
		return out, nil
	}
	return nil, rpctypes.ErrGRPCTimeout
}

// missingKey is the error of a Put with ignore_value or ignore_lease on a
// key that does not exist: etcd checks the lease first, so a lease that
// does not exist either gets ErrLeaseNotFound.
func (k *kvServer) missingKey(ctx context.Context, lease int64) error {
	if lease == 0 {
		return rpctypes.ErrGRPCKeyNotFound
	}
	if err := k.s.catchUp(ctx); err != nil {
		return err
	}
	var lerr error
	if err := k.s.onLoop(ctx, func() { _, lerr = k.s.cfg.Node.LeaseTimeToLive(lease) }); err != nil {
		return err
	}
	if errors.Is(lerr, mvcc.ErrLeaseNotFound) {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	return rpctypes.ErrGRPCKeyNotFound
}

// DeleteRange implements etcd's KV.DeleteRange.
func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	resp, err := k.s.do(ctx, &api.DeleteRangeRequest{Key: r.Key, End: r.RangeEnd, PrevKV: r.PrevKv})
	if err != nil {
		return nil, err
	}
	out := &pb.DeleteRangeResponse{Header: k.s.header(resp.Header)}
	if b, ok := resp.Body.(*api.DeleteRangeResponse); ok {
		out.Deleted = b.Deleted
		out.PrevKvs = pbKVs(b.PrevKVs)
	}
	return out, nil
}

func pbKVs(kvs []api.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		out[i] = pbKV(&kvs[i])
	}
	return out
}

// Compact implements etcd's KV.Compact.
func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.do(ctx, &api.CompactRequest{Revision: r.Revision})
	if err != nil {
		return nil, err
	}
	return &pb.CompactionResponse{Header: k.s.header(resp.Header)}, nil
}

// errNestedTxn: a nested transaction where a flat one was expected (see
// nested.go for how nested ones run).
var errNestedTxn = status.Error(codes.Internal, "etcdserver: nested transaction in a flat one")

// Txn implements etcd's KV.Txn.
func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxn(r); err != nil {
		return nil, err
	}
	if err := checkRequestSize(r); err != nil {
		return nil, err
	}
	if hasNested(r) {
		return k.nestedTxn(ctx, r)
	}
	txn, err := apiTxn(r)
	if err != nil {
		return nil, err
	}
	resp, err := k.s.do(ctx, txn)
	if err != nil {
		return nil, err
	}
	body, ok := resp.Body.(*api.TxnResponse)
	if !ok {
		return nil, rpctypes.ErrGRPCCorrupt
	}
	hdr := k.s.header(resp.Header)
	ops := r.Success
	if !body.Succeeded {
		ops = r.Failure
	}
	if len(ops) != len(body.Responses) {
		return nil, rpctypes.ErrGRPCCorrupt
	}
	out := &pb.TxnResponse{Header: hdr, Succeeded: body.Succeeded, Responses: make([]*pb.ResponseOp, len(ops))}
	revs := opRevisions(body, hdr.Revision)
	for i, op := range ops {
		out.Responses[i] = pbOpResponse(op, &body.Responses[i], revs[i])
	}
	return out, nil
}

// opRevisions gives each op of a transaction the header revision etcd
// gives it: a range reports the revision it read at (the one before the
// transaction, or the transaction's own once an earlier op changed
// something), a put the transaction's revision, a delete the transaction's
// revision if it or an earlier op changed something, else the one before.
// top is the transaction's header revision.
func opRevisions(body *api.TxnResponse, top int64) []int64 {
	changes := false
	for _, r := range body.Responses {
		if r.Put != nil || (r.DeleteRange != nil && r.DeleteRange.Deleted > 0) {
			changes = true
		}
	}
	begin := top
	if changes {
		begin = top - 1
	}
	revs := make([]int64, len(body.Responses))
	changed := false
	for i, r := range body.Responses {
		switch {
		case r.Put != nil:
			changed = true
		case r.DeleteRange != nil && r.DeleteRange.Deleted > 0:
			changed = true
		}
		revs[i] = begin
		if changed {
			revs[i] = begin + 1
		}
	}
	return revs
}

// apiTxn translates a transaction; etcd's compare and op enums have the
// same order as seedkv's.
func apiTxn(r *pb.TxnRequest) (*api.TxnRequest, error) {
	if len(r.Compare) > api.MaxTxnOps || len(r.Success) > api.MaxTxnOps || len(r.Failure) > api.MaxTxnOps {
		return nil, rpctypes.ErrGRPCTooManyOps
	}
	out := &api.TxnRequest{Compares: make([]api.Compare, len(r.Compare))}
	for i, c := range r.Compare {
		ac, err := apiCompare(c)
		if err != nil {
			return nil, err
		}
		out.Compares[i] = ac
	}
	var err error
	if out.Success, err = apiOps(r.Success); err != nil {
		return nil, err
	}
	if out.Failure, err = apiOps(r.Failure); err != nil {
		return nil, err
	}
	return out, nil
}

func apiCompare(c *pb.Compare) (api.Compare, error) {
	if len(c.Key) == 0 {
		return api.Compare{}, rpctypes.ErrGRPCEmptyKey
	}
	if c.Result < 0 || c.Result > pb.Compare_NOT_EQUAL || c.Target < 0 || c.Target > pb.Compare_LEASE {
		return api.Compare{}, status.Error(codes.InvalidArgument, "etcdserver: invalid compare")
	}
	return api.Compare{
		Result: api.CompareResult(c.Result), Target: api.CompareTarget(c.Target),
		Key: c.Key, End: c.RangeEnd,
		Version: c.GetVersion(), CreateRevision: c.GetCreateRevision(), ModRevision: c.GetModRevision(),
		Value: c.GetValue(), Lease: c.GetLease(),
	}, nil
}

func apiOps(ops []*pb.RequestOp) ([]api.TxnOp, error) {
	out := make([]api.TxnOp, len(ops))
	for i, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			rr := op.GetRequestRange()
			if err := checkRange(rr); err != nil {
				return nil, err
			}
			out[i].Range = apiRange(rr)
		case op.GetRequestPut() != nil:
			p := op.GetRequestPut()
			if len(p.Key) == 0 {
				return nil, rpctypes.ErrGRPCEmptyKey
			}
			if p.IgnoreValue || p.IgnoreLease {
				return nil, status.Error(codes.Unimplemented,
					"etcdserver: seedkv does not support ignore_value or ignore_lease inside a transaction")
			}
			out[i].Put = &api.PutRequest{Key: p.Key, Value: p.Value, Lease: p.Lease, PrevKV: p.PrevKv}
		case op.GetRequestDeleteRange() != nil:
			d := op.GetRequestDeleteRange()
			if len(d.Key) == 0 {
				return nil, rpctypes.ErrGRPCEmptyKey
			}
			out[i].DeleteRange = &api.DeleteRangeRequest{Key: d.Key, End: d.RangeEnd, PrevKV: d.PrevKv}
		case op.GetRequestTxn() != nil:
			return nil, errNestedTxn
		default:
			return nil, status.Error(codes.InvalidArgument, "etcdserver: empty txn op")
		}
	}
	return out, nil
}

// pbOpResponse converts one op's result; its header holds only the
// revision, as etcd's responses inside a transaction do.
func pbOpResponse(op *pb.RequestOp, r *api.TxnOpResponse, rev int64) *pb.ResponseOp {
	hdr := &pb.ResponseHeader{Revision: rev}
	switch {
	case r.Range != nil:
		rr := finishRange(op.GetRequestRange(), r.Range)
		rr.Header = hdr
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}}
	case r.Put != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{
			Header: hdr, PrevKv: pbKVPtr(r.Put.PrevKV)}}}
	case r.DeleteRange != nil:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{
			Header: hdr, Deleted: r.DeleteRange.Deleted, PrevKvs: pbKVs(r.DeleteRange.PrevKVs)}}}
	}
	return &pb.ResponseOp{}
}
