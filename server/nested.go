package server

import (
	"bytes"
	"context"
	"errors"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/mvcc"
)

// Nested transactions. seedkv's transactions are flat, so a nested one is
// run as etcd runs it: every compare, at every level, is evaluated against
// the store as it was before the transaction, which picks one path through
// the tree; the ops on that path then run in order, as one flat
// transaction. Here the compares are evaluated on a snapshot of the
// compared keys (one read-only transaction at revision R), and the flat
// transaction runs only if none of those keys changed after R (a mod
// revision guard on each), so the path is the one the store would pick
// at commit time; otherwise it is retried.
//
// A compare over a key range cannot be guarded by mod revisions alone (a
// key deleted from the range leaves no trace), so each range compare that
// was evaluated on the path is guarded by its outcome instead: one that
// held is itself a compare of the flat transaction (re-evaluated at
// commit); one that failed because of key k is guarded by k's mod
// revision (k unchanged still fails it); one that failed on an empty
// range is guarded by the range staying empty (every create revision
// below 1).

// keyRange is a compared key range [key, end).
type keyRange struct{ key, end string }

// hasNested reports whether any branch of r holds a transaction or a put
// with ignore_value or ignore_lease (which takes the key's current value
// or lease, read on the snapshot like a compared key's).
func hasNested(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if op.GetRequestTxn() != nil || ignores(op.GetRequestPut()) {
				return true
			}
		}
	}
	return false
}

// ignores reports whether p is a put that keeps the key's value or lease.
func ignores(p *pb.PutRequest) bool { return p != nil && (p.IgnoreValue || p.IgnoreLease) }

// compareKeys collects the keys compared anywhere in r (deduplicated, in
// order of appearance) and, apart, the key ranges.
func compareKeys(r *pb.TxnRequest, seen map[string]bool, out [][]byte, ranges []keyRange) ([][]byte, []keyRange, error) {
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return nil, nil, rpctypes.ErrGRPCEmptyKey
		}
		if len(c.RangeEnd) > 0 {
			kr := keyRange{string(c.Key), string(c.RangeEnd)}
			if !seen["\xff"+kr.key+"\xff"+kr.end] {
				seen["\xff"+kr.key+"\xff"+kr.end] = true
				ranges = append(ranges, kr)
			}
			continue
		}
		if !seen[string(c.Key)] {
			seen[string(c.Key)] = true
			out = append(out, c.Key)
		}
	}
	var err error
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if p := op.GetRequestPut(); ignores(p) && !seen[string(p.Key)] {
				seen[string(p.Key)] = true
				out = append(out, p.Key)
			}
			if t := op.GetRequestTxn(); t != nil {
				if out, ranges, err = compareKeys(t, seen, out, ranges); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return out, ranges, nil
}

// txnSnapshot is what the compares are evaluated on: the compared keys
// and the contents of the compared ranges, at one revision.
type txnSnapshot struct {
	keys   map[string]*api.KeyValue
	ranges map[keyRange][]api.KeyValue
	// missing: the path puts with ignore_value to a missing key;
	// missingLease is the first such put's lease (keptPut).
	missing      bool
	missingLease int64
}

// holds evaluates c on the snapshot; for a range compare it also returns
// the compare that guards its outcome (see above).
func (ts *txnSnapshot) holds(c *pb.Compare) (bool, *api.Compare, error) {
	if len(c.RangeEnd) == 0 {
		return compareHolds(c, ts.keys[string(c.Key)]), nil, nil
	}
	kvs := ts.ranges[keyRange{string(c.Key), string(c.RangeEnd)}]
	if len(kvs) == 0 {
		ok := compareHolds(c, nil)
		if ok {
			g, err := apiCompare(c)
			return true, &g, err
		}
		return false, &api.Compare{Result: api.CompareLess, Target: api.TargetCreate,
			Key: c.Key, End: c.RangeEnd, CreateRevision: 1}, nil
	}
	for i := range kvs {
		if !compareHolds(c, &kvs[i]) {
			return false, &api.Compare{Result: api.CompareEqual, Target: api.TargetMod,
				Key: kvs[i].Key, ModRevision: kvs[i].ModRevision}, nil
		}
	}
	g, err := apiCompare(c)
	return true, &g, err
}

// txnShape is the executed path of a (nested) transaction: which branch
// each level took and where each op's result is in the flat transaction.
type txnShape struct {
	succeeded bool
	ops       []*pb.RequestOp // the executed branch
	flat      []int           // per op: index in the flat ops, or -1 for a nested txn
	nested    []*txnShape     // per op: the nested shape, or nil
}

// flatten picks the path of r on snapshot snap, appends its ops to flat
// and the guards of the range compares it evaluated to guards.
func flatten(r *pb.TxnRequest, snap *txnSnapshot, flat []api.TxnOp, guards *[]api.Compare) (*txnShape, []api.TxnOp, error) {
	sh := &txnShape{succeeded: true}
	for _, c := range r.Compare {
		ok, guard, err := snap.holds(c)
		if err != nil {
			return nil, nil, err
		}
		if guard != nil {
			*guards = append(*guards, *guard)
		}
		if !ok {
			sh.succeeded = false
			break
		}
	}
	sh.ops = r.Success
	if !sh.succeeded {
		sh.ops = r.Failure
	}
	for _, op := range sh.ops {
		if t := op.GetRequestTxn(); t != nil {
			child, f, err := flatten(t, snap, flat, guards)
			if err != nil {
				return nil, nil, err
			}
			flat = f
			sh.flat = append(sh.flat, -1)
			sh.nested = append(sh.nested, child)
			continue
		}
		if p := op.GetRequestPut(); ignores(p) {
			put, err := snap.keptPut(p)
			if err != nil {
				return nil, nil, err
			}
			sh.flat = append(sh.flat, len(flat))
			sh.nested = append(sh.nested, nil)
			flat = append(flat, api.TxnOp{Put: put})
			continue
		}
		one, err := apiOps([]*pb.RequestOp{op})
		if err != nil {
			return nil, nil, err
		}
		sh.flat = append(sh.flat, len(flat))
		sh.nested = append(sh.nested, nil)
		flat = append(flat, one[0])
	}
	return sh, flat, nil
}

// missingKeyLease stands for "the key of this put with ignore_value or
// ignore_lease is missing" (keptPut): no lease has this ID in practice.
const missingKeyLease = math.MaxInt64

// keptPut is a put with ignore_value or ignore_lease made plain with the
// key's value or lease on the snapshot (the flat transaction is guarded
// by the key's mod revision). A missing key is etcd's ErrKeyNotFound.
func (ts *txnSnapshot) keptPut(p *pb.PutRequest) (*api.PutRequest, error) {
	cur := ts.keys[string(p.Key)]
	put := &api.PutRequest{Key: p.Key, Value: p.Value, Lease: p.Lease, PrevKV: p.PrevKv}
	if cur == nil {
		// The key is missing: etcd fails with ErrKeyNotFound, unless an
		// op before this one fails first. A lease that cannot exist
		// makes the store fail here, after checking those ops in order
		// (nestedTxn turns it into ErrKeyNotFound).
		if !ts.missing {
			ts.missing, ts.missingLease = true, p.Lease
		}
		put.Lease = missingKeyLease
		return put, nil
	}
	if p.IgnoreValue {
		put.Value = cur.Value
	}
	if p.IgnoreLease {
		put.Lease = cur.Lease
	}
	return put, nil
}

// compareHolds evaluates one compare against a key as etcd does: a value
// compare on a missing key fails; the numbers of a missing key are 0.
func compareHolds(c *pb.Compare, kv *api.KeyValue) bool {
	if kv == nil {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		kv = &api.KeyValue{}
	}
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_VERSION:
		r = cmpInt(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		r = cmpInt(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmpInt(kv.ModRevision, c.GetModRevision())
	case pb.Compare_LEASE:
		r = cmpInt(kv.Lease, c.GetLease())
	default:
		return false
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	}
	return false
}

// nestedTxn runs a transaction holding nested ones (see above).
func (k *kvServer) nestedTxn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	keys, ranges, err := compareKeys(r, map[string]bool{}, nil, nil)
	if err != nil {
		return nil, err
	}
	if len(keys)+len(ranges) > api.MaxTxnOps {
		return nil, rpctypes.ErrGRPCTooManyOps
	}
	for range MaxCASRetries {
		snap, rev, err := k.snapshot(ctx, keys, ranges)
		if err != nil {
			return nil, err
		}
		var guards []api.Compare
		shape, flat, err := flatten(r, snap, nil, &guards)
		if err != nil {
			return nil, err
		}
		if len(flat) > api.MaxTxnOps || len(keys)+len(guards) > api.MaxTxnOps {
			return nil, rpctypes.ErrGRPCTooManyOps
		}
		// checkTxn has checked the tree by etcd's rules, which let a
		// nested transaction delete a key an earlier sibling put: the
		// store runs both, as etcd's does.
		txn := &api.TxnRequest{Success: flat, PutThenDelete: true}
		for _, key := range keys {
			txn.Compares = append(txn.Compares, api.Compare{Result: api.CompareLess, Target: api.TargetMod,
				Key: key, ModRevision: rev + 1})
		}
		txn.Compares = append(txn.Compares, guards...)
		resp, err := k.s.do(ctx, txn)
		if errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
			return nil, k.leaseOrMissingKey(ctx, flat, snap.missingLease)
		}
		if err != nil {
			return nil, err
		}
		body, ok := resp.Body.(*api.TxnResponse)
		if !ok || (body.Succeeded && len(body.Responses) != len(flat)) {
			return nil, rpctypes.ErrGRPCCorrupt
		}
		if !body.Succeeded {
			continue // a compared key changed since the snapshot
		}
		hdr := k.s.header(resp.Header)
		out := nestedResponse(shape, body, opRevisions(body, hdr.Revision))
		out.Header = hdr
		return out, nil
	}
	return nil, rpctypes.ErrGRPCTimeout
}

// leaseOrMissingKey tells which put of a path failed the store's lease
// check: one before the first put of a missing key (missingKeyLease), or
// that put itself, whose lease (own: its own lease) does not exist
// (ErrLeaseNotFound: etcd checks a put's lease before its key), else the
// put of the missing key (ErrKeyNotFound).
func (k *kvServer) leaseOrMissingKey(ctx context.Context, flat []api.TxnOp, own int64) error {
	var leases []int64
	for _, op := range flat {
		if op.Put == nil || op.Put.Lease == 0 {
			continue
		}
		if op.Put.Lease == missingKeyLease {
			break
		}
		leases = append(leases, op.Put.Lease)
	}
	if own != 0 {
		leases = append(leases, own)
	}
	if len(leases) == 0 {
		return rpctypes.ErrGRPCKeyNotFound
	}
	if err := k.s.catchUp(ctx); err != nil {
		return err
	}
	missing := false
	if err := k.s.onLoop(ctx, func() {
		for _, id := range leases {
			if _, err := k.s.cfg.Node.LeaseTimeToLive(id); errors.Is(err, mvcc.ErrLeaseNotFound) {
				missing = true
			}
		}
	}); err != nil {
		return err
	}
	if missing {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	return rpctypes.ErrGRPCKeyNotFound
}

// snapshot reads keys and ranges in one read-only transaction: the
// key-values (a key missing from the map is missing from the store) and
// the revision they were read at.
func (k *kvServer) snapshot(ctx context.Context, keys [][]byte, ranges []keyRange) (*txnSnapshot, int64, error) {
	txn := &api.TxnRequest{}
	for _, key := range keys {
		txn.Success = append(txn.Success, api.TxnOp{Range: &api.RangeRequest{Key: key}})
	}
	for _, kr := range ranges {
		txn.Success = append(txn.Success, api.TxnOp{Range: &api.RangeRequest{Key: []byte(kr.key), End: []byte(kr.end)}})
	}
	resp, err := k.s.do(ctx, txn)
	if err != nil {
		return nil, 0, err
	}
	body, ok := resp.Body.(*api.TxnResponse)
	if !ok || len(body.Responses) != len(keys)+len(ranges) {
		return nil, 0, rpctypes.ErrGRPCCorrupt
	}
	snap := &txnSnapshot{keys: make(map[string]*api.KeyValue, len(keys)), ranges: make(map[keyRange][]api.KeyValue, len(ranges))}
	for i, r := range body.Responses {
		if r.Range == nil {
			return nil, 0, rpctypes.ErrGRPCCorrupt
		}
		if i >= len(keys) {
			snap.ranges[ranges[i-len(keys)]] = r.Range.KVs
		} else if len(r.Range.KVs) == 1 {
			snap.keys[string(keys[i])] = &r.Range.KVs[0]
		}
	}
	return snap, resp.Header.Revision, nil
}

// nestedResponse rebuilds the nested response from the flat one. Nested
// transactions' headers are empty, as etcd's.
func nestedResponse(sh *txnShape, body *api.TxnResponse, revs []int64) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: sh.succeeded, Responses: make([]*pb.ResponseOp, len(sh.ops))}
	for i, op := range sh.ops {
		if child := sh.nested[i]; child != nil {
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{
				ResponseTxn: nestedResponse(child, body, revs)}}
			continue
		}
		j := sh.flat[i]
		out.Responses[i] = pbOpResponse(op, &body.Responses[j], revs[j])
	}
	return out
}
