package harness

import (
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
//     that an answered operation does not account for (a delete of a
//     missing key changes nothing); otherwise it stays unknown.
//
// This is sound given the log: if the log is wrong about a write, the
// reads that saw (or did not see) it contradict the patched history, and
// the log itself is checked by convergence, agreement and the watches.
// It returns how many operations were settled.
func resolveUnknown(ops []lin.Op, log []lin.LogEntry) int {
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
	// The deletes that answered operations account for: an answered
	// write's revision is exact, so its delete of a key is the log's
	// delete of that key at that revision, if there is one.
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
			if op.Output.Succeeded {
				for _, t := range op.Input.Then {
					if t.Kind == lin.KindDelete {
						accounted[keyRev{t.Key, rev}] = true
					}
				}
			}
		}
	}
	deletes := map[string]int{} // key -> deletes no answered op accounts for
	for k, revs := range deleteAt {
		for _, rev := range revs {
			if !accounted[keyRev{k, rev}] {
				deletes[k]++
			}
		}
	}
	settled := 0
	for i := range ops {
		op := &ops[i]
		if !op.Unknown || !op.Input.IsWrite() {
			continue
		}
		switch happened, rev, known := outcome(&op.Input, putAt, deleteAt, deletes); {
		case !known:
		case happened:
			op.Unknown = false
			op.Return = lin.UnknownReturn
			op.Output = lin.Output{Revision: rev - revBase, Succeeded: true}
			settled++
		default:
			op.Unknown, op.Failed = false, true
			op.Output = lin.Output{Err: "settled: no effect in the committed log"}
			settled++
		}
	}
	return settled
}

type keyRev struct {
	key string
	rev int64
}

// outcome says whether an unknown write took effect (and at which store
// revision), or known=false if the log cannot tell.
func outcome(in *lin.Input, putAt map[string]int64, deleteAt map[string][]int64, deletes map[string]int) (happened bool, rev int64, known bool) {
	switch in.Kind {
	case lin.KindPut:
		rev, ok := putAt[in.Value]
		return ok, rev, true
	case lin.KindDelete:
		return false, 0, deletes[in.Key] <= 0
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
			case deletes[k] <= 0:
				return false, 0, true
			case len(deleteAt[k]) == 1:
				return true, deleteAt[k][0], true
			}
		}
	}
	return false, 0, false
}
