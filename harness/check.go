package harness

import (
	"bytes"
	"fmt"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
)

// check runs every post-run check and sets the verdict: the first failing
// check decides the reason; a check that ran out of time makes the verdict
// unknown unless another one failed.
func (r *seedRun) check(res *Result) {
	start := time.Now()                                  // deliberate: check time is reported, not simulated
	defer func() { res.CheckTime = time.Since(start) }() // deliberate: reporting only
	res.Verdict = Pass
	fail := func(reason string) {
		if res.Verdict != Fail {
			res.Verdict, res.Reason = Fail, reason
		}
	}
	ops := r.hist.Ops()
	r.transfers.note()
	entries, disagree, err := r.writeLog()
	if err == nil && entries != nil {
		// A lost acknowledged write explains a failure to converge or to
		// make progress: it goes first, naming the write.
		if lost := r.lostWrites(ops, entries); lost != nil {
			reason := lost.Error()
			if r.failure != "" {
				reason += "; then: " + r.failure
			}
			fail(reason)
		}
	}
	if r.failure != "" {
		fail(r.failure)
	}
	if err == nil {
		r.checkWorkload(entries, fail)
	}
	if disagree != nil {
		fail(disagree.Error())
	}
	if r.operator != nil {
		refused, err := r.confTaps.check()
		if err != nil {
			fail(err.Error())
		}
		r.notef("membership: %d changes refused while another was pending", refused)
	}
	if err == nil && entries != nil {
		extra, lerr := r.leaseExpiries(ops, entries, r.skew.slack())
		if lerr != nil {
			fail("lease: " + lerr.Error())
		}
		r.notef("leases: %d granted, %d expiries in the write log (clock-skew slack %v)", len(r.leases.order), len(extra), r.skew.slack())
		ops = append(ops, extra...)
	}
	switch {
	case err != nil:
		fail(err.Error())
	case entries != nil:
		if err := r.checkWatches(entries); err != nil {
			fail(err.Error())
		}
		if err := r.checkPastReads(entries); err != nil {
			fail(err.Error())
		}
		n := resolveUnknown(ops, entries)
		r.hints = revisionHints(entries)
		r.notef("history: %d ops, %d unknown outcomes settled from the write log", len(ops), n)
	}
	if r.workload != nil {
		r.notef("history: %d probe ops, not checked (the workload's writes are not in it; its checkers ran)", len(ops))
		if r.cfg.KeepArtifacts {
			res.Artifacts = r.artifacts(ops, &lin.Result{})
		}
		return
	}
	if entries == nil && res.Verdict == Fail {
		// A broken cluster has no log to settle unknown outcomes with,
		// and the seed has failed already: spare the (then slow) search.
		r.notef("history: %d ops, not checked for linearizability", len(ops))
		if r.cfg.KeepArtifacts {
			res.Artifacts = r.artifacts(ops, &lin.Result{})
		}
		return
	}
	lr := r.checkHistory(ops)
	switch lr.Verdict {
	case lin.Fail:
		fail("linearizability: " + lr.Reason)
	case lin.Unknown:
		if res.Verdict == Pass {
			res.Verdict, res.Reason = Unknown, "linearizability: "+lr.Reason
		}
	}
	if r.cfg.KeepArtifacts {
		res.Artifacts = r.artifacts(ops, &lr)
	}
}

// checkRetryFactor: a check that ran out of time is run once more with
// this many times the budget before the verdict is unknown. The budget is
// wall time, so on a loaded machine a seed near it flipped between pass
// and unknown (simrun -nodes 7 -seed 1381); the retry makes that
// far rarer, though not impossible (porcupine has no deterministic budget).
const checkRetryFactor = 4

// checkLinearizable checks the client history against the whole-store
// model (it holds multi-key transactions and checks revisions). The fast
// check runs first; a failure is checked again verbosely, for its reason
// and visualisation.
func (r *seedRun) checkLinearizable(ops []lin.Op) lin.Result {
	m := lin.StoreModel()
	check, verbose := r.checkers()
	long := checkRetryFactor * r.cfg.CheckTimeout
	if !r.cfg.KeepArtifacts {
		v := check(m, ops, r.cfg.CheckTimeout)
		if v == lin.Unknown {
			r.notef("linearizability: check timed out after %v, again with %v", r.cfg.CheckTimeout, long)
			v = check(m, ops, long)
		}
		if v != lin.Fail {
			return lin.Result{Verdict: v, Reason: fmt.Sprintf("check timed out after %v and again after %v", r.cfg.CheckTimeout, long)}
		}
	}
	res := verbose(m, ops, r.cfg.CheckTimeout)
	if res.Verdict == lin.Unknown {
		r.notef("linearizability: check timed out after %v, again with %v", r.cfg.CheckTimeout, long)
		res = verbose(m, ops, long)
	}
	return res
}

// checkers are the linearizability checks (replaced by tests).
func (r *seedRun) checkers() (func(lin.Model, []lin.Op, time.Duration) lin.Verdict, func(lin.Model, []lin.Op, time.Duration) lin.Result) {
	if r.checkFns != nil {
		return r.checkFns.check, r.checkFns.verbose
	}
	return lin.Check, lin.CheckVerbose
}

// checkFns replaces the linearizability checks in tests.
type checkFns struct {
	check   func(lin.Model, []lin.Op, time.Duration) lin.Verdict
	verbose func(lin.Model, []lin.Op, time.Duration) lin.Result
}

// artifacts collects what a failure report needs.
func (r *seedRun) artifacts(ops []lin.Op, lr *lin.Result) *Artifacts {
	r.describeReplicas()
	a := &Artifacts{Summary: r.notes.Bytes(), Trace: r.trace.Bytes()}
	var h bytes.Buffer
	for i, op := range ops {
		ret := "unknown"
		switch {
		case op.Failed:
			ret = fmt.Sprintf("%v failed: %s", time.Duration(op.Return), op.Output.Err)
		case !op.Unknown:
			ret = fmt.Sprintf("%v rev=%d kvs=%v txn=%v ok=%v deleted=%d", time.Duration(op.Return),
				op.Output.Revision, op.Output.KVs, op.Output.TxnKVs, op.Output.Succeeded, op.Output.Deleted)
		}
		fmt.Fprintf(&h, "%d client=%d call=%v %s -> %s\n", i, op.ClientID, time.Duration(op.Call), op.Input, ret)
	}
	a.History = h.Bytes()
	var v bytes.Buffer
	if err := lr.Visualize(&v, r.timeline.faults(r.now())); err == nil {
		a.Visualization = v.Bytes()
	}
	return a
}
