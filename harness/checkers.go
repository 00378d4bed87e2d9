package harness

import (
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// RunChecker is the extension point for checks (DESIGN.md "Checker"): a
// named judgement of a run's records that returns pass, fail with a
// witness, or skipped (see CheckResult). After the run (and its heal,
// liveness and convergence phases) the harness runs an ordered list of
// them; the first that fails decides the seed's reason. The defaults are
// DefaultCheckNames, in that order; Config.Checks may append to the list,
// replace or drop a check, or reorder it. A workload's own checkers
// (WorkloadRun.Checkers) take the place of "workload" in the list.
type RunChecker interface {
	// Name names the check ("linearizability"); the seed's reason is
	// the name, ": " and the witness.
	Name() string
	// Check returns the verdict. It runs on the harness's goroutine,
	// after the world stopped: it may read rec (and change
	// rec.History, which the checks after it see) but not the world.
	Check(rec *Records) CheckResult
}

// NewChecker makes a RunChecker of a name and a function.
func NewChecker(name string, check func(rec *Records) CheckResult) RunChecker {
	return funcChecker{name: name, fn: check}
}

type funcChecker struct {
	name string
	fn   func(*Records) CheckResult
}

func (c funcChecker) Name() string                   { return c.name }
func (c funcChecker) Check(rec *Records) CheckResult { return c.fn(rec) }

// The names of the default checks, in the order they run.
const (
	// CheckLostWrites: no acknowledged write is missing from the write log.
	CheckLostWrites = "lost-writes"
	// CheckRun: the run itself failed (liveness, convergence, log
	// agreement, safety, a livelock or a panic of the world).
	CheckRun = "run"
	// CheckWorkload stands for the workload's own checkers.
	CheckWorkload = "workload"
	// CheckLogDisagreement: every replica's write log agrees with what the
	// cluster served.
	CheckLogDisagreement = "log-disagreement"
	// CheckMembership: no membership change applied while another was
	// pending.
	CheckMembership = "membership"
	// CheckLease: leases expire no earlier than their TTL allows.
	CheckLease = "lease"
	// CheckWriteLog: the write log could be read.
	CheckWriteLog = "write-log"
	// CheckWatches: every watch stream delivered the write log's events in
	// order, none missing.
	CheckWatches = "watches"
	// CheckPastReads: every read of the past matches the write log.
	CheckPastReads = "past-reads"
	// CheckLinearizability: the client history is linearizable.
	CheckLinearizability = "linearizability"
)

// DefaultCheckNames lists the default checks in the order they run.
func DefaultCheckNames() []string {
	return []string{CheckLostWrites, CheckRun, CheckWorkload, CheckLogDisagreement, CheckMembership,
		CheckLease, CheckWriteLog, CheckHashKV, CheckWatches, CheckPastReads, CheckLinearizability}
}

// CheckStatus is the outcome of one check.
type CheckStatus string

// The outcomes.
const (
	CheckPassed  CheckStatus = "pass"
	CheckFailed  CheckStatus = "fail"
	CheckSkipped CheckStatus = "skipped"
	CheckUnknown CheckStatus = "unknown"
)

// CheckOutcome is what one check of a run concluded (Result.Checks).
type CheckOutcome struct {
	// Name names the check.
	Name string
	// Status is pass, fail, skipped or unknown.
	Status CheckStatus
	// Detail is the witness of a failure, or why the check was skipped
	// or undecided.
	Detail string
}

// String is "name: status" and the detail, if any.
func (o CheckOutcome) String() string {
	if o.Detail == "" {
		return o.Name + ": " + string(o.Status)
	}
	return o.Name + ": " + string(o.Status) + " (" + o.Detail + ")"
}

// ReplicaView is one running replica as the checks see it.
type ReplicaView struct {
	ID host.NodeID
	// Inspector is what the system offers of it (see System.Inspect).
	Inspector Inspector
}

// builtin is a default check. With bare set, its witness names the check
// itself ("liveness: ...", "watch 3 ...") and is the whole reason.
type builtin struct {
	name string
	bare bool
	fn   func(*Records) CheckResult
}

func (c builtin) Name() string                   { return c.name }
func (c builtin) Check(rec *Records) CheckResult { return c.fn(rec) }

// skipped is the result of a check that lacks its input.
func skipped(why string) CheckResult { return CheckResult{Skipped: why} }

// result turns an error into a verdict.
func result(err error) CheckResult { return CheckResult{Err: err} }

// noWriteLog says why a check that needs the write log is skipped.
func (r *seedRun) noWriteLog() CheckResult {
	if r.logErr != nil {
		return skipped("no write log: " + r.logErr.Error())
	}
	return skipped("no write log: system " + r.sys.Name() + " offers none (WriteLogger) and does not serve seedkv's protocol")
}

// checkList is the run's ordered check list: the defaults, through
// Config.Checks.
func (r *seedRun) checkList(res *Result) []RunChecker {
	var list []RunChecker
	for _, name := range DefaultCheckNames() {
		if name == CheckWorkload {
			list = append(list, r.workloadCheckers()...)
			continue
		}
		list = append(list, r.defaultCheck(name, res))
	}
	if r.cfg.Checks != nil {
		list = r.cfg.Checks(list)
	}
	return list
}

// workloadCheckers are the configured workload's checkers; they need the
// write log to have been read (if it could not be, that failure is the
// reason).
func (r *seedRun) workloadCheckers() []RunChecker {
	if r.workload == nil {
		return r.recipeCheckers()
	}
	var list []RunChecker
	for _, c := range r.workload.Checkers() {
		list = append(list, NewChecker(c.Name(), func(rec *Records) CheckResult {
			if r.logErr != nil {
				return skipped("no write log: " + r.logErr.Error())
			}
			return c.Check(rec)
		}))
	}
	return list
}

// defaultCheck is the default check of that name.
func (r *seedRun) defaultCheck(name string, res *Result) RunChecker {
	bare := func(fn func(*Records) CheckResult) RunChecker { return builtin{name: name, bare: true, fn: fn} }
	switch name {
	case CheckLostWrites:
		return bare(r.checkLostWrites)
	case CheckRun:
		return bare(func(*Records) CheckResult {
			if r.failure != "" {
				return result(errors.New(r.failure))
			}
			return CheckResult{}
		})
	case CheckLogDisagreement:
		return bare(func(rec *Records) CheckResult {
			if r.disagree == nil && rec.WriteLog == nil {
				return r.noWriteLog()
			}
			return result(r.disagree)
		})
	case CheckMembership:
		return bare(r.checkMembership)
	case CheckLease:
		return builtin{name: name, fn: r.checkLeases}
	case CheckWriteLog:
		return bare(func(rec *Records) CheckResult {
			if r.logErr == nil && rec.WriteLog == nil {
				return r.noWriteLog()
			}
			return result(r.logErr)
		})
	case CheckHashKV:
		return builtin{name: name, fn: r.checkHashKV}
	case CheckWatches:
		return bare(r.needsLog(func(rec *Records) error { return r.checkWatches(rec.WriteLog) }))
	case CheckPastReads:
		return bare(r.needsLog(func(rec *Records) error { return r.checkPastReads(rec.WriteLog) }))
	case CheckLinearizability:
		return builtin{name: name, fn: func(rec *Records) CheckResult { return r.checkLinearizability(rec, res) }}
	}
	panic("harness: no default check " + name)
}

// needsLog runs check only if the write log is there.
func (r *seedRun) needsLog(check func(*Records) error) func(*Records) CheckResult {
	return func(rec *Records) CheckResult {
		if rec.WriteLog == nil {
			return r.noWriteLog()
		}
		return result(check(rec))
	}
}

// checkLostWrites looks for acknowledged writes missing from the write
// log. A lost write explains a failure to converge or to make progress:
// it goes first, naming the write, and the run's failure follows it.
func (r *seedRun) checkLostWrites(rec *Records) CheckResult {
	if rec.WriteLog == nil {
		return r.noWriteLog()
	}
	lost := r.lostWrites(rec.History, rec.WriteLog)
	if lost == nil {
		return CheckResult{}
	}
	reason := lost.Error()
	if r.failure != "" {
		reason += "; then: " + r.failure
	}
	return result(errors.New(reason))
}

// checkMembership checks the membership changes the operator made.
func (r *seedRun) checkMembership(*Records) CheckResult {
	if r.operator == nil {
		return skipped("no membership changes in this run")
	}
	refused, err := r.confTaps.check()
	r.notef("membership: %d changes refused while another was pending", refused)
	return result(err)
}

// checkLeases checks lease expiries against the write log and adds them
// to the history (an expiry deletes keys, as a write would).
func (r *seedRun) checkLeases(rec *Records) CheckResult {
	if rec.WriteLog == nil {
		return r.noWriteLog()
	}
	extra, err := r.leaseExpiries(rec.History, rec.WriteLog, r.skew.slack())
	r.notef("leases: %d granted, %d expiries in the write log (clock-skew slack %v)", len(r.leases.order), len(extra), r.skew.slack())
	rec.History = append(rec.History, extra...)
	if err == nil {
		err = r.checkLeaseEnds(rec, r.skew.slack())
	}
	return result(err)
}

// checkLinearizability settles unknown outcomes from the write log and
// checks the history with the configured checker.
func (r *seedRun) checkLinearizability(rec *Records, res *Result) CheckResult {
	ops := rec.History
	if rec.WriteLog != nil {
		var floor func(int64) int64
		var dropped map[keyRev]bool
		keep := func(int64) bool { return true }
		if r.window != nil {
			r.window.lateEffects(rec.WriteLog)
			floor, dropped, keep = r.window.floors(ops), r.window.accounted, r.window.hinted
		}
		n := resolveUnknownWith(ops, rec.WriteLog, floor, dropped)
		r.hints = revisionHintsIf(rec.WriteLog, ops, keep)
		r.notef("history: %d ops, %d unknown outcomes settled from the write log", len(ops), n)
	}
	switch {
	case r.workload != nil:
		r.notef("history: %d probe ops, not checked (the workload's writes are not in it; its checkers ran)", len(ops))
		return skipped("the workload's own checkers judge its history")
	case rec.WriteLog == nil && res.Verdict == Fail:
		// A broken cluster has no log to settle unknown outcomes with,
		// and the seed has failed already: spare the (then slow) search.
		r.notef("history: %d ops, not checked for linearizability", len(ops))
		return skipped("the seed failed already and there is no write log to settle unknown outcomes with")
	}
	r.linResult = r.checkHistory(ops)
	switch r.linResult.Verdict {
	case lin.Fail:
		res.Witness, res.WitnessReason = r.witness(ops)
		return result(errors.New(witnessDetail(r.linResult.Reason, res.Witness, res.WitnessReason)))
	case lin.Unknown:
		return CheckResult{Unknown: r.linResult.Reason}
	}
	return CheckResult{}
}

// records is what the checks judge.
func (r *seedRun) records() *Records {
	rec := &Records{End: r.w.Elapsed(), TraceHash: r.w.TraceHash()}
	if r.window != nil {
		r.window.total, r.window.kept = r.hist.Len(), r.hist.Kept()
		r.notef("%s", r.window.describe())
		rec.History, r.window.ids = r.hist.TakeWithIDs()
	} else {
		rec.History = r.hist.Take()
	}
	entries, disagree, err := r.writeLog()
	r.disagree, r.logErr = disagree, err
	if err == nil {
		rec.WriteLog = entries
		rec.History = append(rec.History, r.recipeOps(entries)...)
	}
	ids, ins := r.inspectors()
	for i, id := range ids {
		rec.Replicas = append(rec.Replicas, ReplicaView{ID: id, Inspector: ins[i]})
	}
	return rec
}

// runCheck runs one check and folds its outcome into res: the first
// failure decides the reason; an undecided check makes a passing verdict
// unknown.
func (r *seedRun) runCheck(c RunChecker, rec *Records, res *Result) {
	out := c.Check(rec)
	o := CheckOutcome{Name: c.Name(), Status: CheckPassed}
	switch {
	case out.Err != nil:
		o.Status, o.Detail = CheckFailed, out.Err.Error()
		reason := c.Name() + ": " + o.Detail
		if b, ok := c.(builtin); ok && b.bare {
			reason = o.Detail
		}
		if res.Verdict != Fail {
			res.Verdict, res.Reason = Fail, reason
		}
	case out.Skipped != "":
		o.Status, o.Detail = CheckSkipped, out.Skipped
	case out.Unknown != "":
		o.Status, o.Detail = CheckUnknown, out.Unknown
		if res.Verdict == Pass {
			res.Verdict, res.Reason = Unknown, c.Name()+": "+out.Unknown
		}
	}
	r.outcome(o)
}

// outcome records a check's outcome for Result.Checks and the account.
func (r *seedRun) outcome(o CheckOutcome) {
	r.outcomes = append(r.outcomes, o)
	r.notef("check %s", o)
}

// Skipped lists the checks of a result that were skipped, with why
// ("name: why").
func (res *Result) Skipped() []string {
	var s []string
	for _, o := range res.Checks {
		if o.Status == CheckSkipped {
			s = append(s, fmt.Sprintf("%s: %s", o.Name, o.Detail))
		}
	}
	return s
}
