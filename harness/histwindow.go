package harness

import (
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Windowed checking (see lin.Window). In a long run the client history
// is checked as it is recorded: each operation goes to a window when it
// is called and when it finishes, and every slice of virtual time the
// window replays the revisions no operation in flight can still report
// and lets their operations go; the history then drops the reads among
// them (the other checks read only writes and unknown outcomes). The
// window is told, when a put times out, at which revision the harness's
// watch of the write log saw its value (as resolveUnknown would settle
// it), so that its revision does not stay a gap.
//
// The window's verdict is the revision checker's on the whole history, or
// undecided. A run checked in a window that does not pass (any check,
// not only linearizability) is run again with the whole history, so that
// every reason, witness and op index is the one the whole history gives:
// the world is deterministic, so the second run is the same run. Not
// when the window decided the history is linearizable and only checks
// that read no history failed (windowOutcomeStands): a long seed that
// fails the Raft safety checker keeps its window's memory.

// HistoryWindow is Config.Window: whether a run checks its client history
// in a window as it goes.
type HistoryWindow string

// The settings of Config.Window.
const (
	WindowAuto   HistoryWindow = "auto"   // in runs of LongRun or more that allow it (the default, also "")
	WindowOff    HistoryWindow = "off"    // never: the whole history is kept and checked at the end
	WindowAlways HistoryWindow = "always" // whenever the run allows it, however short (to compare)
)

// ParseHistoryWindow parses a `-window` value.
func ParseHistoryWindow(s string) (HistoryWindow, error) {
	switch HistoryWindow(s) {
	case "", WindowAuto, WindowOff, WindowAlways:
		return HistoryWindow(s), nil
	}
	return "", fmt.Errorf("%w: window %q (want auto, off or always)", ErrBadConfig, s)
}

// mode is the window mode a setting asks for.
func (s HistoryWindow) mode() windowMode {
	switch s {
	case WindowOff:
		return windowOff
	case WindowAlways:
		return windowAlways
	}
	return windowAuto
}

// windowMode says whether a run checks its history in a window.
type windowMode uint8

const (
	windowAuto   windowMode = iota // in long runs that allow it (histWindow.wanted)
	windowOff                      // never: the whole history is kept
	windowAlways                   // whenever the run allows it, long or not (tests)
)

// histWindow feeds the run's history to a lin.Window.
type histWindow struct {
	r *seedRun
	w *lin.Window
	// puts maps the value of each timed-out put not settled yet to its
	// op (their number is the run's unknown writes, a few per cent).
	puts    map[string]int
	scanned int // the write log entries looked at for them
	// The acknowledged writes the window let go, by store revision, till
	// the write log's entry at their revision is seen to hold them; the
	// log's live keys before the entry at cursor (the next to look at).
	verify map[int64][]int
	live   map[string]bool
	cursor int
	// scratch holds the log entry settleFrom or verifyLog looks at, and
	// gapChanges the changes the window last asked for (it keeps none).
	scratch, gapChanges []lin.Change
	// accounted are the deletes that the writes dropped account for (see
	// accountedDeletes), for resolveUnknown.
	accounted map[keyRev]bool
	// dropped counts the ops dropped from the history, kept those it held
	// when it was taken.
	dropped, kept int
	// ids are the history ids of the operations the checks get (set when
	// the history is taken), total the number of operations recorded.
	ids   []int
	total int
	// undecided says why the window could not decide ("": it did, or
	// the run has not been checked yet).
	undecided string
	fences
}

// Fencing timed-out writes. A timed-out put (or transaction putting a
// value) whose value the write log never holds is settled at the end as
// having had no effect (resolveUnknown); till then the history and the
// window keep it, and a long run times out tens of thousands. seedkv's
// replicas apply each client's requests at most once, and refuse for
// good a request below the client's FinishedBelow watermark once they
// applied one carrying it (node's sessions). So once a later put of the
// same client, issued when the client's watermark had passed the
// timed-out request, is acknowledged at store revision R, the timed-out
// write took effect at a revision below R or never: if the harness's
// watch of the write log holds every revision up to R and not its value,
// the window settles it as no effect at once and the history drops it.
// The verdict does not rest on that promise: if the value ever shows in
// the write log (a replica that applied it late anyway), the window says
// it cannot decide, and the run is checked again with the whole history.
type fences struct {
	// open are each client's timed-out writes not settled yet, with
	// their request IDs, in the order they timed out.
	open map[int][]timedOutWrite
	// fenced wait for the write log to hold every revision up to theirs.
	fenced []timedOutWrite
	// early are the values of the writes settled as no effect early, to
	// catch one showing in the write log after all.
	early map[string]int
}

// timedOutWrite is a timed-out write that puts value (history op id,
// request reqID); rev is the store revision it is fenced at (0: not yet).
type timedOutWrite struct {
	id    int
	reqID api.RequestID
	value string
	rev   int64
}

// timedOut notes that client c's write hid (request reqID) timed out: if
// the write log has not settled it already, a later acknowledged put of
// the client may fence it.
func (hw *histWindow) timedOut(c *workClient, hid int, reqID api.RequestID) {
	op, ok := hw.r.hist.Op(hid)
	if !ok {
		return
	}
	v, ok := putValue(&op.Input)
	if !ok || !hw.unsettled(v, hid) {
		return
	}
	if hw.open == nil {
		hw.open, hw.early = map[int][]timedOutWrite{}, map[string]int{}
	}
	hw.open[c.id] = append(hw.open[c.id], timedOutWrite{id: hid, reqID: reqID, value: v})
}

// unsettled reports whether timed-out put id, of value v, waits to be
// settled.
func (hw *histWindow) unsettled(v string, id int) bool {
	got, ok := hw.puts[v]
	return ok && got == id
}

// fence is told that client c's put, issued with FinishedBelow watermark
// low, was acknowledged at store revision rev: its timed-out writes below
// low can take effect at revisions below rev only.
func (hw *histWindow) fence(c *workClient, low api.RequestID, rev int64) {
	open := hw.open[c.id]
	kept := open[:0]
	for _, t := range open {
		switch {
		case !hw.unsettled(t.value, t.id): // settled from the write log meanwhile
		case t.reqID < low:
			t.rev = rev
			hw.fenced = append(hw.fenced, t)
		default:
			kept = append(kept, t)
		}
	}
	clear(open[len(kept):])
	if len(kept) == 0 {
		delete(hw.open, c.id)
		return
	}
	hw.open[c.id] = kept
}

// settleFenced settles as no effect the fenced writes whose revision the
// harness's watch of the write log holds completely (it was scanned for
// their values: they are not in it).
func (hw *histWindow) settleFenced() {
	if len(hw.fenced) == 0 {
		return
	}
	held := hw.r.logWatch.held()
	kept := hw.fenced[:0]
	for _, t := range hw.fenced {
		switch {
		case !hw.unsettled(t.value, t.id):
		case t.rev > held:
			kept = append(kept, t)
		default:
			hw.settleNoEffect(t)
		}
	}
	clear(hw.fenced[len(kept):])
	hw.fenced = kept
}

// settleNoEffect settles fenced write t as resolveUnknown settles a write
// whose value the log does not hold, and drops it from the history.
func (hw *histWindow) settleNoEffect(t timedOutWrite) {
	op, ok := hw.r.hist.Op(t.id)
	if !ok {
		return
	}
	delete(hw.puts, t.value)
	hw.early[t.value] = t.id
	op.Unknown, op.Failed = false, true
	op.Output = lin.Output{Err: "settled: no effect in the committed log"}
	hw.w.Settle(t.id, op)
	hw.w.Forget(t.id)
	hw.r.hist.Drop(t.id)
	hw.dropped++
}

// lateEffects is lateEffect over the whole final write log (its part
// above the harness's watch comes from a replica).
func (hw *histWindow) lateEffects(log []lin.LogEntry) {
	if len(hw.early) == 0 {
		return
	}
	for i := range log {
		hw.lateEffect(&log[i])
	}
}

// lateEffect makes the window undecided if a write settled early as no
// effect shows in write log entry e after all.
func (hw *histWindow) lateEffect(e *lin.LogEntry) {
	for _, c := range e.Changes {
		if id, ok := hw.early[c.Value]; ok && c.Type == lin.EventPut {
			hw.w.Spoil("op %d, settled as no effect by its client's later put, shows in the write log at revision %d", id, e.Revision)
			return
		}
	}
}

// wantsWindow says whether the run can check its history in a window: a
// long run (unless mode says otherwise) of the built-in workload checked
// by the revision checker alone, with the harness's watch of the write
// log, no artifacts, no checks replaced and no hook that wants the whole
// history.
func (r *seedRun) wantsWindow(mode windowMode) bool {
	switch {
	case mode == windowOff, r.cfg.KeepArtifacts, r.cfg.Checker != CheckRevision, r.cfg.Checks != nil,
		r.workload != nil, r.logWatch == nil, historyHook != nil:
		return false
	}
	return mode == windowAlways || r.cfg.Duration >= LongRun
}

// startWindow taps the history into a window, if the run wants one.
func (r *seedRun) startWindow(mode windowMode) {
	if !r.wantsWindow(mode) {
		return
	}
	hw := &histWindow{r: r, w: lin.NewWindow(r.cfg.CheckSteps), puts: map[string]int{},
		verify: map[int64][]int{}, live: map[string]bool{}, accounted: map[keyRev]bool{}}
	r.window = hw
	hw.w.OnDrop = hw.letGo
	r.hist.OnCall = hw.w.Call
	r.hist.OnFinish = hw.finished
}

// finished takes in an operation as it finishes.
func (hw *histWindow) finished(id int, op *lin.Op) {
	floor, _ := hw.w.Floor(id)
	hw.w.Add(id, *op)
	switch {
	case (op.Failed || op.Unknown) && !op.Input.IsWrite(), op.Failed && !leaseOp(&op.Input):
		hw.r.hist.Drop(id) // no check reads it
		hw.dropped++
	case op.Unknown:
		if v, ok := putValue(&op.Input); ok {
			hw.puts[v] = id
			hw.settleSince(floor)
		}
	}
}

// putValue is the value by which the write log names a write's effect,
// as resolveUnknown looks it up: a put's value, or a transaction's first
// put in its Then branch.
func putValue(in *lin.Input) (string, bool) {
	if in.Kind == lin.KindPut {
		return in.Value, true
	}
	if in.Kind == lin.KindTxn {
		for _, t := range in.Then {
			if t.Kind == lin.KindPut {
				return t.Value, true
			}
		}
	}
	return "", false
}

// settleSince settles the timed-out puts whose value the write log holds
// above revision floor (as the history numbers it), scanning the log
// from its end.
func (hw *histWindow) settleSince(floor int64) {
	log := hw.r.logWatch.log
	i := log.Len()
	for i > 0 && log.Revision(i-1) > floor+revBase {
		i--
	}
	hw.settleFrom(i)
}

// settleFrom settles the timed-out puts whose value the harness's watch
// of the write log holds in its entries from the i-th on.
func (hw *histWindow) settleFrom(i int) {
	log := hw.r.logWatch.log
	for ; i < log.Len(); i++ {
		e := log.Entry(i, &hw.scratch)
		if len(hw.early) > 0 {
			hw.lateEffect(&e)
		}
		for _, c := range e.Changes {
			if c.Type != lin.EventPut {
				continue
			}
			if id, ok := hw.puts[c.Value]; ok {
				delete(hw.puts, c.Value)
				hw.settle(id, e.Revision)
			}
		}
	}
}

// settle settles timed-out put id as happened at store revision rev, as
// resolveUnknown will (Settle checks that it does).
func (hw *histWindow) settle(id int, rev int64) {
	op, ok := hw.r.hist.Op(id)
	if !ok {
		return
	}
	op.Unknown, op.Return = false, lin.UnknownReturn
	op.Output = lin.Output{Revision: rev - revBase, Succeeded: true}
	hw.w.Settle(id, op)
}

// advance settles the timed-out puts the write log has shown since the
// last time, replays what the window can and lets the history go of it.
func (hw *histWindow) advance() {
	if n := hw.r.logWatch.log.Len(); hw.scanned < n {
		if len(hw.puts) > 0 || len(hw.early) > 0 {
			hw.settleFrom(hw.scanned)
		}
		hw.scanned = n
	}
	hw.settleFenced()
	hw.w.Retire(hw.w.Horizon(), hw.changes)
	hw.verifyLog()
	hw.r.hist.Squeeze()
}

// letGo is told of each operation the window replayed and let go: a read
// is dropped from the history at once; an acknowledged write (not of a
// lease key: the lease check reads those) once the write log is seen to
// hold it at its revision (as the lost-writes check requires; one it
// does not hold stays for that check).
func (hw *histWindow) letGo(id int, op *lin.Op) {
	switch {
	case !op.Input.IsWrite():
		hw.r.hist.Drop(id)
		hw.dropped++
	case !op.Unknown && !op.Failed && op.Return != lin.UnknownReturn && op.Output.Revision > 0 && !leaseOp(&op.Input):
		rev := op.Output.Revision + revBase
		hw.verify[rev] = append(hw.verify[rev], id)
	}
}

// leaseOp reports whether an operation may delete a lease key: the lease
// check reads those (revokesByKey), so they stay in the history.
func leaseOp(in *lin.Input) bool {
	if in.Kind == lin.KindDelete && strings.HasPrefix(in.Key, leasePrefix) {
		return true
	}
	for _, br := range [][]lin.TxnOp{in.Then, in.Else} {
		for _, t := range br {
			if t.Kind == lin.KindDelete && strings.HasPrefix(t.Key, leasePrefix) {
				return true
			}
		}
	}
	return false
}

// verifyLog walks the harness's watch of the write log up to the last
// revision the window replayed, dropping each acknowledged write the
// window let go whose effect the entry of its revision holds, and noting
// the deletes it accounts for.
func (hw *histWindow) verifyLog() {
	log := hw.r.logWatch.log
	upTo := hw.w.Checked() - 1 + revBase // the last replayed, as the store numbers it
	for hw.cursor < log.Len() && log.Revision(hw.cursor) <= upTo {
		e := log.Entry(hw.cursor, &hw.scratch)
		for rev := range hw.verify { // revisions the log skipped: their writes stay
			if rev < e.Revision {
				delete(hw.verify, rev)
			}
		}
		for _, id := range hw.verify[e.Revision] {
			hw.verifyOne(id, &e)
		}
		delete(hw.verify, e.Revision)
		for _, c := range e.Changes {
			if c.Type == lin.EventPut {
				hw.live[c.Key] = true
			} else {
				delete(hw.live, c.Key)
			}
		}
		hw.cursor++
	}
}

// verifyOne drops write id if log entry e, at its revision, holds all
// its effect (as logIndex.missing judges it, with the live keys before e).
func (hw *histWindow) verifyOne(id int, e *lin.LogEntry) {
	op, ok := hw.r.hist.Op(id)
	if !ok {
		return
	}
	want := effectOf(&op, func(key string) bool { return hw.live[key] })
	for _, w := range want {
		if !hasChange(e.Changes, w) {
			return
		}
	}
	var acc []lin.Op
	acc = append(acc, op)
	for k := range accountedDeletes(acc) {
		hw.accounted[k] = true
	}
	hw.r.hist.Drop(id)
	hw.dropped++
}

// changes is the harness's watch of the write log at revision rev (as
// the history numbers it).
func (hw *histWindow) changes(rev int64) ([]lin.Change, bool) {
	log := hw.r.logWatch.log
	if i := log.Search(rev + revBase); i < log.Len() && log.Revision(i) == rev+revBase {
		hw.gapChanges = log.AppendChanges(hw.gapChanges[:0], i)
		return hw.gapChanges, true
	}
	return nil, false
}

// check gives the window the operations it has not seen in their final
// form (the outcomes settled from the write log, the lease expiries) and
// returns its verdict, or records why it cannot decide.
func (hw *histWindow) check(ops []lin.Op, hints lin.RevisionHints) lin.Result {
	for k := range ops {
		id := hw.total + k - len(hw.ids) // an op a check added
		if k < len(hw.ids) {
			id = hw.ids[k]
		}
		switch {
		case hw.w.Settles(id):
			hw.w.Settle(id, ops[k])
		case k >= len(hw.ids) || hw.w.InFlight(id):
			hw.w.Add(id, ops[k])
		}
	}
	res, err := hw.w.Finish(hints)
	if err != nil {
		hw.undecided = err.Error()
		return lin.Result{Verdict: lin.Unknown, Reason: err.Error()}
	}
	return res
}

// describe is the account's line about the window.
func (hw *histWindow) describe() string {
	return fmt.Sprintf("history window: %d revisions replayed as the run went, %d ops let go (%d of them dropped from the history; %d timed-out writes settled as no effect early, fenced by their client's later put), %d kept",
		hw.w.Checked(), hw.w.Dropped(), hw.dropped, len(hw.early), hw.kept)
}

// outcome says how the window went, for Result.window.
func (hw *histWindow) outcome() string {
	if hw.undecided != "" {
		return "undecided: " + hw.undecided
	}
	return "decided; " + hw.describe()
}

// floors is the revision floor (see revisionFloor) at the calls of the
// operations of unknown outcome in ops, as the window noted them when
// they were called (it saw every return, the reads dropped since
// included), raised by the operations the checks added.
func (hw *histWindow) floors(ops []lin.Op) func(t int64) int64 {
	byCall := map[int64]int64{}
	for k, id := range hw.ids {
		if !ops[k].Unknown {
			continue
		}
		if f, ok := hw.w.UnknownFloor(id); ok && f > 0 {
			byCall[ops[k].Call] = f + revBase
		}
	}
	added := revisionFloor(ops[len(hw.ids):])
	return func(t int64) int64 { return max(byCall[t], added(t)) }
}

// hinted selects the revisions (as the history numbers them) that may
// need hints: those the window has not replayed, and the gaps among
// those it has (every other revision it replayed was surely created).
func (hw *histWindow) hinted(rev int64) bool {
	return rev >= hw.w.Checked() || hw.w.IsGap(rev)
}
