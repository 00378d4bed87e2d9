package server

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/seedkv/seedkv/api"
)

// checkTxn validates a transaction the way etcd v3.7.3's gRPC layer does
// before it reaches the store, so that a refused request gets the same
// error: the op count (each nested level may hold only what its parents'
// count leaves of MaxTxnOps), empty keys, bad sort options and ignore
// flags with a value or lease, an empty op (etcd's ErrKeyNotFound), then
// the put/delete overlaps of each branch across nested transactions
// (checkOverlaps). The store checks a flat transaction again.
func checkTxn(r *pb.TxnRequest) error {
	if err := checkTxnOps(r, api.MaxTxnOps); err != nil {
		return err
	}
	if _, _, err := checkOverlaps(r.Success); err != nil {
		return err
	}
	_, _, err := checkOverlaps(r.Failure)
	return err
}

func checkTxnOps(r *pb.TxnRequest, maxOps int) error {
	n := max(len(r.Compare), len(r.Success), len(r.Failure))
	if n > maxOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := checkOp(op, maxOps-n); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch {
	case op.GetRequestRange() != nil:
		return checkRange(op.GetRequestRange())
	case op.GetRequestPut() != nil:
		return checkPut(op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		if len(op.GetRequestDeleteRange().Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
		return nil
	case op.GetRequestTxn() != nil:
		return checkTxnOps(op.GetRequestTxn(), maxOps)
	}
	return rpctypes.ErrGRPCKeyNotFound // etcd's answer to an empty op
}

// checkPut is etcd's checkPutRequest.
func checkPut(r *pb.PutRequest) error {
	switch {
	case len(r.Key) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case r.IgnoreValue && len(r.Value) != 0:
		return rpctypes.ErrGRPCValueProvided
	case r.IgnoreLease && r.Lease != 0:
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

// delRange is a deleted key range [key, end) or, with no end, one key.
type delRange struct{ key, end string }

// covers reports whether the delete covers key k, as etcd's interval
// check sees it: [key, end) compared as strings, so that an end at or
// below the key, such as the "\x00" of a "from key" delete, covers
// nothing.
func (d delRange) covers(k string) bool {
	if d.end == "" {
		return d.key == k
	}
	return d.key <= k && k < d.end
}

func coveredBy(dels []delRange, k string) bool {
	for _, d := range dels {
		if d.covers(k) {
			return true
		}
	}
	return false
}

// checkOverlaps is etcd's checkIntervals: within a branch, no key may be
// put twice, nor put and deleted, counting the puts and deletes of nested
// transactions (whose two branches may put the same key, as only one
// runs). It returns the branch's puts and deletes for its parent.
func checkOverlaps(ops []*pb.RequestOp) (map[string]bool, []delRange, error) {
	var dels []delRange
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels = append(dels, delRange{string(d.Key), string(d.RangeEnd)})
		}
	}
	puts := make(map[string]bool)
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkOverlaps(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkOverlaps(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if puts[k] || coveredBy(dels, k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = true
		}
		for k := range putsElse {
			if (puts[k] && !putsThen[k]) || coveredBy(dels, k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = true
		}
		dels = append(dels, delsThen...)
		dels = append(dels, delsElse...)
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		if puts[string(p.Key)] || coveredBy(dels, string(p.Key)) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[string(p.Key)] = true
	}
	return puts, dels, nil
}
