package harness

import (
	"fmt"

	lin "github.com/seedkv/seedkv/linearizability"
)

// Checker names the linearizability checker of a run, as `-checker` takes it.
type Checker string

// The checkers.
const (
	// CheckRevision places every operation at the revision it reported
	// and checks real time with a sweep (lin.CheckRevisions): near-linear,
	// bounded by a step budget, so its verdict is a function of seed and
	// code alone. The default.
	CheckRevision Checker = "revision"
	// CheckPorcupine searches for a linearization with porcupine, bounded
	// by wall time (Config.CheckTimeout): the reference.
	CheckPorcupine Checker = "porcupine"
	// CheckBoth runs both and fails the seed if they disagree (unless
	// porcupine ran out of time).
	CheckBoth Checker = "both"
)

// ParseChecker parses a `-checker` value.
func ParseChecker(s string) (Checker, error) {
	switch Checker(s) {
	case CheckRevision, CheckPorcupine, CheckBoth:
		return Checker(s), nil
	}
	return "", fmt.Errorf("%w: checker %q (want revision, porcupine or both)", ErrBadConfig, s)
}

// historyHook, if set (by benchmarks and tests, never concurrently with
// RunMany), sees every settled history before it is checked.
var historyHook func(ops []lin.Op, hints lin.RevisionHints)

// checkHistory checks the (settled) client history with the configured
// checker.
func (r *seedRun) checkHistory(ops []lin.Op) lin.Result {
	if historyHook != nil {
		historyHook(ops, r.hints)
	}
	if r.window != nil {
		return r.window.check(ops, r.hints)
	}
	switch r.cfg.Checker {
	case CheckPorcupine:
		return r.checkLinearizable(ops)
	case CheckBoth:
		rev := r.checkRevisions(ops)
		por := r.checkLinearizable(ops)
		if por.Verdict != lin.Unknown && rev.Verdict != por.Verdict {
			return lin.Result{Verdict: lin.Fail, Reason: fmt.Sprintf(
				"checkers disagree: revision says %v (%s), porcupine says %v (%s)", rev.Verdict, rev.Reason, por.Verdict, por.Reason)}
		}
		if por.Verdict == lin.Fail {
			return por // it carries the visualisation
		}
		return rev
	}
	return r.checkRevisions(ops)
}

// checkRevisions runs the revision checker; a failing history kept for
// artifacts also gets porcupine's visualisation.
func (r *seedRun) checkRevisions(ops []lin.Op) lin.Result {
	if r.cfg.KeepArtifacts {
		return lin.CheckRevisionsHintedVerbose(ops, r.cfg.CheckSteps, r.cfg.CheckTimeout, r.hints)
	}
	return lin.CheckRevisionsHinted(ops, r.cfg.CheckSteps, r.hints)
}

// revisionHints turns the write log into hints for the revision
// checker's search: the keys that changed at each revision no operation
// of ops surely created (the search consults hints only there; on a long
// run hints for every revision would cost megabytes).
func revisionHints(log []lin.LogEntry, ops []lin.Op) lin.RevisionHints {
	return revisionHintsIf(log, ops, func(int64) bool { return true })
}

// revisionHintsIf is revisionHints for the revisions keep selects (as
// the history numbers them): a history checked in a window holds no
// longer the writes that surely created the revisions it replayed.
func revisionHintsIf(log []lin.LogEntry, ops []lin.Op, keep func(rev int64) bool) lin.RevisionHints {
	created := map[int64]bool{}
	for i := range ops {
		if lin.SurelyCreated(&ops[i]) {
			created[ops[i].Output.Revision] = true
		}
	}
	h := lin.RevisionHints{}
	for _, e := range log {
		if created[e.Revision-revBase] || !keep(e.Revision-revBase) {
			continue
		}
		keys := make([]string, len(e.Changes))
		for i, c := range e.Changes {
			keys[i] = c.Key
		}
		h[e.Revision-revBase] = keys
	}
	return h
}
