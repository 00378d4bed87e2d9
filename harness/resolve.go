package harness

import (
	"cmp"
	"slices"
	"sort"

	lin "github.com/seedkv/seedkv/linearizability"
)

// resolveUnknown settles, from the committed write log, the outcome of
// write operations whose answer the client never got, as etcd's
// robustness tests patch their histories. An unknown operation otherwise
// stays pending forever, and porcupine must try it at every point of the
// history: a few of them that changed nothing make the search exponential.
//
// Every write of the workload carries a value no other write carries, so
// the log says whether it took effect and at which revision:
//
//   - a put (or a transaction putting a value) found in the log is known to
//     have happened at that revision (a transaction then took its Then
//     branch); it stays without a return time, so it may still be
//     linearized anywhere after its call;
//   - one not found changed nothing (a transaction's Else branch only
//     reads), so it is dropped from the check, like a refused request;
//   - a lease revoke is found by the delete of its lease's one key;
//   - a delete of a key is dropped if the log holds no delete of that key
//     that an answered operation (or a write settled above) does not
//     account for, and that came after the call: an operation answered
//     before the call reported a revision at or above it (a delete of a
//     missing key changes nothing); otherwise it stays unknown.
//
// This is sound given the log: if the log is wrong about a write, the
// reads that saw (or did not see) it contradict the patched history, and
// the log itself is checked by convergence, agreement and the watches.
// It returns how many operations were settled.
func resolveUnknown(ops []lin.Op, log []lin.LogEntry) int {
	return resolveUnknownWith(ops, log, nil, nil)
}

// resolveUnknownWith is resolveUnknown with the revision floor of the
// unknown operations' calls given (nil: computed from ops) and the
// deletes accounted for by operations no longer in ops: a history checked
// in a window has dropped reads the floor counts and writes that account
// for deletes.
func resolveUnknownWith(ops []lin.Op, log []lin.LogEntry, floor func(t int64) int64, dropped map[keyRev]bool) int {
	putAt := map[string]int64{}      // value -> store revision of its put
	deleteAt := map[string][]int64{} // key -> store revisions of its deletes
	for _, e := range log {
		for _, c := range e.Changes {
			if c.Type == lin.EventPut {
				putAt[c.Value] = e.Revision
			} else {
				deleteAt[c.Key] = append(deleteAt[c.Key], e.Revision)
			}
		}
	}
	// Writes with a put first: one that happened accounts for its
	// deletes at its revision.
	accounted := accountedDeletes(ops)
	for k := range dropped {
		accounted[k] = true
	}
	settled := 0
	for i := range ops {
		if op := &ops[i]; op.Unknown && op.Input.IsWrite() && hasPut(&op.Input) {
			if settle(op, putAt, nil, nil) {
				settled++
			}
			if !op.Unknown && !op.Failed {
				accountFor(accounted, &op.Input, op.Output.Revision+revBase)
			}
		}
	}
	// Then deletes: the log's deletes no known operation accounts for,
	// and only those after the call (by the revisions that operations
	// answered before it reported).
	if floor == nil {
		floor = revisionFloor(ops)
	}
	deletes := map[string][]int64{} // key -> store revisions of unaccounted deletes
	for k, revs := range deleteAt {
		for _, rev := range revs {
			if !accounted[keyRev{k, rev}] {
				deletes[k] = append(deletes[k], rev)
			}
		}
	}
	for i := range ops {
		if op := &ops[i]; op.Unknown && op.Input.IsWrite() {
			after := func(key string) int { return countAbove(deletes[key], floor(op.Call)) }
			if settle(op, putAt, deleteAt, after) {
				settled++
			}
		}
	}
	return settled
}

// settle settles op from the log, if it can tell, and reports whether it
// did.
func settle(op *lin.Op, putAt map[string]int64, deleteAt map[string][]int64, deletes func(key string) int) bool {
	happened, rev, known := outcome(&op.Input, putAt, deleteAt, deletes)
	switch {
	case !known:
		return false
	case happened:
		op.Unknown = false
		op.Return = lin.UnknownReturn
		op.Output = lin.Output{Revision: rev - revBase, Succeeded: true}
	default:
		op.Unknown, op.Failed = false, true
		op.Output = lin.Output{Err: "settled: no effect in the committed log"}
	}
	return true
}

// accountedDeletes are the deletes that answered operations account for:
// an answered write's revision is exact, so its delete of a key is the
// log's delete of that key at that revision, if there is one.
func accountedDeletes(ops []lin.Op) map[keyRev]bool {
	accounted := map[keyRev]bool{}
	for i := range ops {
		op := &ops[i]
		if op.Unknown || op.Failed || op.Output.Revision <= 0 {
			continue
		}
		rev := op.Output.Revision + revBase
		switch op.Input.Kind {
		case lin.KindDelete:
			if op.Output.Deleted > 0 {
				accounted[keyRev{op.Input.Key, rev}] = true
			}
		case lin.KindTxn:
			// A branch that only deletes, and deleted nothing, created
			// no revision: rev is then someone else's.
			if op.Output.Succeeded && (hasPut(&op.Input) || op.Output.Deleted > 0) {
				accountFor(accounted, &op.Input, rev)
			}
		}
	}
	return accounted
}

// accountFor marks the deletes of a transaction's Then branch, which took
// effect at store revision rev.
func accountFor(accounted map[keyRev]bool, in *lin.Input, rev int64) {
	for _, t := range in.Then {
		if t.Kind == lin.KindDelete {
			accounted[keyRev{t.Key, rev}] = true
		}
	}
}

// hasPut reports whether a write puts a value (which the log then names).
func hasPut(in *lin.Input) bool {
	if in.Kind == lin.KindPut {
		return true
	}
	for _, t := range in.Then {
		if t.Kind == lin.KindPut {
			return true
		}
	}
	return false
}

// revisionFloor returns, for a virtual time t, the highest store revision
// an operation answered before t reported (0: none). The store had
// reached it by t, so a write called at t or later created (if anything)
// a higher revision.
func revisionFloor(ops []lin.Op) func(t int64) int64 {
	type ret struct{ at, rev int64 }
	var rs []ret
	for i := range ops {
		op := &ops[i]
		if !op.Unknown && !op.Failed && op.Return != lin.UnknownReturn && op.Output.Revision > 0 {
			rs = append(rs, ret{op.Return, op.Output.Revision + revBase})
		}
	}
	slices.SortFunc(rs, func(a, b ret) int { return cmp.Compare(a.at, b.at) })
	for i := 1; i < len(rs); i++ {
		rs[i].rev = max(rs[i].rev, rs[i-1].rev)
	}
	return func(t int64) int64 {
		i := sort.Search(len(rs), func(i int) bool { return rs[i].at >= t })
		if i == 0 {
			return 0
		}
		return rs[i-1].rev
	}
}

// countAbove counts the revisions above floor.
func countAbove(revs []int64, floor int64) int {
	n := 0
	for _, r := range revs {
		if r > floor {
			n++
		}
	}
	return n
}

type keyRev struct {
	key string
	rev int64
}

// outcome says whether an unknown write took effect (and at which store
// revision), or known=false if the log cannot tell. deletes counts the
// unaccounted deletes of a key the write may have made (nil for a write
// with a put).
func outcome(in *lin.Input, putAt map[string]int64, deleteAt map[string][]int64, deletes func(key string) int) (happened bool, rev int64, known bool) {
	switch in.Kind {
	case lin.KindPut:
		rev, ok := putAt[in.Value]
		return ok, rev, true
	case lin.KindDelete:
		return false, 0, deletes(in.Key) <= 0
	case lin.KindTxn:
		for _, t := range in.Then {
			if t.Kind == lin.KindPut {
				rev, ok := putAt[t.Value]
				return ok, rev, true
			}
		}
		// A lease revoke: its key was put once, so it is deleted at most
		// once, and only by the revoke (no lease expires during a run).
		if len(in.Then) == 1 && in.Then[0].Kind == lin.KindDelete && len(in.Compares) == 0 {
			k := in.Then[0].Key
			switch {
			case deletes(k) <= 0:
				return false, 0, true
			case len(deleteAt[k]) == 1:
				return true, deleteAt[k][0], true
			}
		}
	}
	return false, 0, false
}
