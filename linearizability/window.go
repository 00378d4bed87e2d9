package linearizability

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrUndecided is Window.Finish's error when the window cannot give
// CheckRevisions' verdict and reason without operations it has dropped
// (a failure, an operation that arrived for a revision already checked,
// a gap whose creator it cannot confirm): the caller must check the whole
// history instead.
var ErrUndecided = errors.New("linearizability: the window cannot decide without the operations it dropped")

// Window is CheckRevisions in a bounded window: a run feeds it each
// operation as it completes and, now and then, a revision below which no
// operation can still sit; it replays the revisions up to there and drops
// their operations, keeping the store state at that revision, the
// operations above it and a few words per revision no operation surely
// created. Finish checks the rest like CheckRevisions, starting from that
// state.
//
// Its verdict and reason are CheckRevisions' on the whole history (with
// the same hints and budget), or ErrUndecided. It replays a revision only
// where CheckRevisions' search would not choose: a revision with a sure
// creator, or a gap whose first candidate (the first transaction that
// only deletes and reported it) changes exactly the keys the write log
// says changed there, or a gap the write log
// says was a delete whose creator comes at Finish (a lease expiry the
// harness adds) and is then confirmed to be that first candidate. Real
// time: each operation's call records the highest revision returned
// before it (its floor), so the sweep is checked as operations complete;
// operations must be added in the order they return (settled ones, with
// no return time, at any time). Anything else, and any failure in the
// part dropped, is ErrUndecided: then CheckRevisions' search might have
// gone back to a choice the window made, or would name another witness.
// It is not safe for concurrent use.
type Window struct {
	maxSteps int64
	steps    int64
	st       revState
	next     int64 // the lowest revision not yet replayed
	writes   int   // writes among the dropped operations
	// retiredCall is the latest call among dropped operations.
	retiredCall int64
	pend        map[int64][]winOp  // known operations by revision, not yet replayed
	late        []winOp            // operations that returned out of order
	floors      map[int]int64      // per operation in flight (called, not added): its floor
	unknown     map[int]unknownOp  // operations of unknown outcome, till settled
	settled     map[int]settlement // operations settled during the run, as settled
	// OnDrop, if set, sees each operation the window lets go.
	OnDrop func(id int, op *Op)
	// The highest revision returned, by return time: before curT, and at it.
	curT, maxBefore, maxAt int64
	lastReturn             int64
	gaps                   []winGap // replayed revisions no operation surely created
	open                   []int    // gaps whose aboveRet is not known yet
	spoiled                string   // why the window is undecided
	dropped, added         int
}

// winOp is an operation of the window with its index in the history.
type winOp struct {
	id     int
	op     Op
	floor  int64 // the highest revision returned before its call
	called bool  // floor is known
}

// unknownOp is a winOp of unknown outcome, without its output (which an
// unknown outcome leaves out of the check): a long run holds many.
type unknownOp struct {
	id        int
	client    int
	call, ret int64
	floor     int64
	called    bool
	in        Input
}

// slim is o (of unknown outcome) as the window holds it till settled.
func slim(o winOp) unknownOp {
	return unknownOp{id: o.id, client: o.op.ClientID, call: o.op.Call, ret: o.op.Return, floor: o.floor, called: o.called, in: o.op.Input}
}

// winOp is o again as an operation of unknown outcome.
func (o *unknownOp) winOp() winOp {
	return winOp{id: o.id, floor: o.floor, called: o.called,
		op: Op{ClientID: o.client, Call: o.call, Return: o.ret, Input: o.in, Unknown: true}}
}

// winGap is a replayed revision no operation surely created.
type winGap struct {
	rev int64
	// creator is the fed transaction that created it, or -1: a creator
	// must come at Finish.
	creator int
	keys    []string // the keys the write log says changed (hints)
	// For a creator to come: the keys whose entries before rev are kept
	// (the log's, and those the unknown writes that touch them touch too),
	// those entries (of the live ones), the earliest
	// return among operations at rev, among operations above it, and the
	// latest call among operations below it.
	saved     []string
	before    []KV
	minRetAt  int64
	aboveRet  int64
	belowCall int64
}

// NewWindow starts a window checking with a budget of maxSteps
// (DefaultRevisionSteps if 0), as CheckRevisions counts them.
func NewWindow(maxSteps int64) *Window {
	if maxSteps <= 0 {
		maxSteps = DefaultRevisionSteps
	}
	w := &Window{maxSteps: maxSteps, pend: map[int64][]winOp{}, floors: map[int]int64{},
		unknown: map[int]unknownOp{}, settled: map[int]settlement{},
		curT: math.MinInt64, maxBefore: -1, maxAt: -1, retiredCall: math.MinInt64, lastReturn: math.MinInt64}
	w.st.init()
	return w
}

// Call notes that operation id (its index in the history) was called at
// virtual time at, which must not be before the latest return added.
func (w *Window) Call(id int, at int64) {
	w.floors[id] = w.floorAt(at)
}

// floorAt is the highest revision an added operation that returned
// before t reported (-1: none), for t at or after the latest return.
func (w *Window) floorAt(t int64) int64 {
	if t > w.curT {
		return max(w.maxBefore, w.maxAt)
	}
	return w.maxBefore
}

// Add adds operation id, finished: returned, failed, of unknown outcome
// (to be settled with Settle), or settled. An operation with a return
// time must be added when it returns (in return order); one added out of
// that order is checked at Finish, where it must be the creator a
// replayed gap waits for or sit above every replayed revision.
func (w *Window) Add(id int, op Op) {
	w.added++
	floor, called := w.floors[id]
	delete(w.floors, id)
	if op.Unknown && w.spoiled == "" {
		if !op.Input.IsWrite() && validKind(&op) == nil {
			w.dropped++ // the check leaves a read of unknown outcome out
			return
		}
		w.unknown[id] = slim(winOp{id: id, op: op, floor: floor, called: called})
		return
	}
	w.take(winOp{id: id, op: op, floor: floor, called: called})
}

// Settle gives the outcome of operation id, added with an unknown
// outcome: settled as known (with no return time), failed, or still
// unknown. An operation settled twice must be settled alike.
func (w *Window) Settle(id int, op Op) {
	u, ok := w.unknown[id]
	o := u.winOp()
	switch {
	case w.spoiled != "":
		return
	case !ok:
		if prev, was := w.settled[id]; !was || prev != settlementOf(&op) {
			w.spoil("op %d settled otherwise than before", id)
		}
		return
	case op.Unknown:
		o.op = op
		w.unknown[id] = slim(o)
		return
	}
	delete(w.unknown, id)
	w.settled[id] = settlementOf(&op)
	o.op = op
	w.take(o)
}

// settlement is what Settle remembers of a settled operation (a few
// words, not the operation): a second settlement must agree with it.
type settlement struct {
	ret, rev                   int64
	unknown, failed, succeeded bool
}

func settlementOf(op *Op) settlement {
	return settlement{ret: op.Return, rev: op.Output.Revision, unknown: op.Unknown, failed: op.Failed, succeeded: op.Output.Succeeded}
}

// Settles reports whether operation id was added with an unknown
// outcome (Settle gives its outcome).
func (w *Window) Settles(id int) bool {
	_, u := w.unknown[id]
	_, s := w.settled[id]
	return u || s
}

// Floor is the highest revision returned before operation id, in
// flight, was called (-1: none).
func (w *Window) Floor(id int) (int64, bool) {
	f, ok := w.floors[id]
	return f, ok
}

// UnknownFloor is Floor for an operation in flight or of unknown outcome.
func (w *Window) UnknownFloor(id int) (int64, bool) {
	if o, ok := w.unknown[id]; ok {
		return o.floor, o.called
	}
	return w.Floor(id)
}

// IsGap reports whether rev, replayed, had no sure creator.
func (w *Window) IsGap(rev int64) bool {
	_, ok := slices.BinarySearchFunc(w.gaps, rev, func(g winGap, r int64) int { return cmp.Compare(g.rev, r) })
	return ok
}

// InFlight reports whether operation id was called and not yet added.
func (w *Window) InFlight(id int) bool {
	_, ok := w.floors[id]
	return ok
}

// Horizon is the highest revision no operation still in flight, or
// called later, may report: below the lowest floor of those in flight
// and below the floor of a call now (a later read may see that; one
// called at the time of the latest return does not count that return).
func (w *Window) Horizon() int64 {
	h := w.maxBefore - 1
	for _, f := range w.floors { // a minimum: the order of the visit does not matter
		h = min(h, f-1)
	}
	return h
}

// take takes in a finished operation of known outcome, or a failed one.
func (w *Window) take(o winOp) {
	op := &o.op
	id := o.id
	switch {
	case w.spoiled != "":
		return
	case op.Failed:
		w.dropped++
		return
	case validKind(op) != nil:
		w.spoil("op %d: %v", id, validKind(op))
		return
	case op.Output.Revision < 0:
		w.spoil("op %d reported a negative revision", id)
		return
	case o.called && o.floor > op.Output.Revision:
		w.spoil("op %d saw revision %d, below %d that returned before its call", id, op.Output.Revision, o.floor)
		return
	}
	rev := op.Output.Revision
	if op.Return != UnknownReturn {
		if op.Return < w.lastReturn {
			w.late = append(w.late, o)
			return
		}
		w.returned(op.Return, rev)
	}
	if rev < w.next {
		w.late = append(w.late, o)
		return
	}
	w.pend[rev] = append(w.pend[rev], o)
}

// returned folds a return, in order, into the floors and the gaps that
// wait for the first return above them.
func (w *Window) returned(t, rev int64) {
	w.lastReturn = t
	if t > w.curT {
		w.maxBefore, w.maxAt, w.curT = max(w.maxBefore, w.maxAt), -1, t
	}
	w.maxAt = max(w.maxAt, rev)
	kept := w.open[:0]
	for _, g := range w.open {
		if w.gaps[g].rev < rev {
			w.gaps[g].aboveRet = t
		} else {
			kept = append(kept, g)
		}
	}
	w.open = kept
}

func (w *Window) spoil(format string, args ...any) {
	if w.spoiled == "" {
		w.spoiled = fmt.Sprintf(format, args...)
	}
}

// Forget lets go of what Settle remembered of operation id, settled: the
// caller promises never to add or settle it again (it dropped the
// operation), so there is no second settlement to compare.
func (w *Window) Forget(id int) { delete(w.settled, id) }

// Spoil makes the window undecided, for the reason given (the first one
// stays): the caller found that something it told the window was wrong.
func (w *Window) Spoil(format string, args ...any) { w.spoil(format, args...) }

// Undecided says why the window cannot decide, or "".
func (w *Window) Undecided() string { return w.spoiled }

// Pending is the number of operations the window holds; Dropped those it
// replayed and let go.
func (w *Window) Pending() int   { return w.added - w.dropped }
func (w *Window) Dropped() int   { return w.dropped }
func (w *Window) Checked() int64 { return w.next }

// Retire replays the revisions up to upTo, as far as it can without a
// choice, and drops their operations. The caller promises that no
// operation it adds later, but settled ones and the creators of gaps, will
// report a revision at or below upTo (an operation still in flight may
// report its floor: upTo is below the lowest floor of those). changes
// gives the write log's changes at a revision (numbered as the history
// numbers them), for the gaps.
func (w *Window) Retire(upTo int64, changes func(rev int64) ([]Change, bool)) {
	for w.spoiled == "" && w.next <= upTo {
		if !w.replay(w.next, changes) {
			return
		}
	}
}

// replay replays revision rev and drops its operations; false if it
// cannot tell without a choice (nothing is changed then).
func (w *Window) replay(rev int64, changes func(int64) ([]Change, bool)) bool {
	ops := w.pend[rev]
	slices.SortFunc(ops, func(a, b winOp) int { return cmp.Compare(a.id, b.id) })
	c := &revChecker{maxSteps: w.maxSteps, steps: w.steps, lo: rev, maxRev: rev, st: w.st}
	for _, o := range ops {
		c.h = append(c.h, o.op)
		c.ids = append(c.ids, o.id)
		c.role = append(c.role, knownRole(&o.op))
	}
	if reason := c.group(); reason != "" {
		w.spoil("%s", reason)
		return false
	}
	gap := winGap{rev: rev, creator: -1}
	ok := true
	switch creator := c.creatorAt(rev); {
	case rev == 0:
	case c.steps > c.maxSteps:
		w.spoil("out of steps at revision %d", rev)
		return false
	case creator >= 0:
		ok = c.applyKnown(int(creator), rev)
	default:
		var fit bool
		if gap, fit = w.gapAt(c, rev, changes); !fit {
			return false
		}
	}
	creator := c.creatorAt(rev)
	if gap.creator >= 0 {
		creator = int32(slices.Index(c.ids, gap.creator))
	}
	if !ok || !c.checkLevel(rev, creator) {
		w.spoil("revision %d: %s", rev, c.best.reason)
		return false
	}
	if rev > 0 && c.creatorAt(rev) < 0 {
		w.gaps = append(w.gaps, gap)
		if gap.creator < 0 {
			w.noteAwaited(len(w.gaps)-1, ops)
		}
	}
	for i, o := range ops {
		if c.role[i] != roleReader {
			w.writes++
		}
		w.retiredCall = max(w.retiredCall, o.op.Call)
	}
	c.st.undo.reset()
	w.st, w.steps, w.next = c.st, c.steps, rev+1
	w.dropped += len(ops)
	if w.OnDrop != nil {
		for i := range ops {
			w.OnDrop(ops[i].id, &ops[i].op)
		}
	}
	delete(w.pend, rev)
	return true
}

// gapAt replays gap rev as CheckRevisions' search would on its first
// try: the first transaction at rev that only deletes, may have created
// it (no operation at rev returned before its call) and touches a key the
// write log changed there, if it changes exactly those keys (the search
// tries those first); with none, the write log's deletes, for a creator
// that comes at Finish. It reports false, changing nothing, if neither
// applies.
func (w *Window) gapAt(c *revChecker, rev int64, changes func(int64) ([]Change, bool)) (winGap, bool) {
	gap := winGap{rev: rev, creator: -1}
	chs, ok := changes(rev)
	if !ok || len(chs) == 0 {
		return gap, false
	}
	for _, ch := range chs {
		gap.keys = append(gap.keys, ch.Key)
	}
	for i := range c.h {
		if c.role[i] != roleMaybe || !c.noneSawBefore(i, rev) || c.misses(int32(i), gap.keys) != 0 {
			continue
		}
		mark := c.st.undo.len()
		c.steps++
		if changed, bad := c.exec(i, rev, true); !changed || bad != "" || !c.st.changedExactly(mark, gap.keys) {
			c.st.rollback(mark)
			return gap, false // the search would try another candidate
		}
		gap.creator = c.ids[i]
		return gap, true
	}
	// A creator to come (a transaction at rev that misses the log's keys
	// is tried only after every candidate that writes them): the log's changes must be deletes of live keys.
	for _, ch := range chs {
		_, live := c.st.lookup(ch.Key)
		if ch.Type != EventDelete || !live || slices.Contains(gap.saved, ch.Key) {
			return gap, false
		}
		gap.saved = append(gap.saved, ch.Key)
	}
	for _, o := range w.unknown { // the keys only matter as a set
		if hitsKeys(&o.in, gap.keys) {
			for _, k := range touchedKeys(&o.in) {
				if !slices.Contains(gap.saved, k) {
					gap.saved = append(gap.saved, k)
				}
			}
		}
	}
	slices.Sort(gap.saved[len(chs):])
	for _, k := range gap.saved {
		if kv, live := c.st.lookup(k); live {
			gap.before = append(gap.before, kv)
		}
	}
	c.steps++
	for _, ch := range chs {
		c.st.del(ch.Key)
	}
	return gap, true
}

// noteAwaited records, for gap g whose creator comes at Finish, what its
// real-time checks need of the operations dropped now: the earliest
// return at its revision, the latest call below it, the earliest return
// above it (if any operation above has returned).
func (w *Window) noteAwaited(g int, ops []winOp) {
	gap := &w.gaps[g]
	gap.minRetAt, gap.aboveRet, gap.belowCall = UnknownReturn, UnknownReturn, w.retiredCall
	for _, o := range ops {
		gap.minRetAt = min(gap.minRetAt, o.op.Return)
	}
	for rev, ops := range w.pend { // the order of the visit does not matter: a minimum
		if rev > gap.rev {
			for _, o := range ops {
				gap.aboveRet = min(gap.aboveRet, o.op.Return)
			}
		}
	}
	if gap.aboveRet == UnknownReturn {
		w.open = append(w.open, g)
	}
}

// Finish checks what the window still holds, with hints for the whole
// history, and returns CheckRevisions' result on the whole history, or
// ErrUndecided.
func (w *Window) Finish(hints RevisionHints) (Result, error) {
	if w.spoiled != "" {
		return Result{}, fmt.Errorf("%w: %s", ErrUndecided, w.spoiled)
	}
	var rest []winOp
	for _, ops := range w.pend {
		rest = append(rest, ops...)
	}
	creators, used, reason := w.settleGaps(hints, &rest)
	if reason != "" {
		return Result{}, fmt.Errorf("%w: %s", ErrUndecided, reason)
	}
	slices.SortFunc(rest, func(a, b winOp) int { return cmp.Compare(a.id, b.id) })
	c := &revChecker{maxSteps: w.maxSteps, steps: w.steps, lo: w.next, st: w.st, hints: hints,
		baseWrites: w.writes + creators}
	for i, o := range rest {
		c.h = append(c.h, o.op)
		c.ids = append(c.ids, o.id)
		if slices.Contains(used, o.id) {
			c.preUsed = append(c.preUsed, int32(i))
		}
	}
	if reason := c.index(); reason != "" {
		return Result{Verdict: Fail, Reason: reason, model: StoreModel()}, nil
	}
	if reason := c.sweep(); reason != "" {
		return Result{Verdict: Fail, Reason: reason, model: StoreModel()}, nil
	}
	v, reason := c.search()
	if v == Fail && len(w.gaps) > 0 {
		// The search might have gone back to a gap replayed already.
		return Result{}, fmt.Errorf("%w: the rest fails, and the search could have chosen otherwise at revision %d", ErrUndecided, w.gaps[0].rev)
	}
	return Result{Verdict: v, Reason: reason, model: StoreModel()}, nil
}

// settleGaps checks the operations that came out of order and gives
// each replayed gap that waits for its creator the one CheckRevisions'
// search would try first: a transaction at its revision that came late
// (a lease expiry), else the first write of unknown outcome that may
// have created it; that creator must make the write log's change. The
// others join the rest (which they must not precede in real time). It
// returns how many late transactions it placed and the unknown writes
// it used (ids), or why the window cannot decide.
func (w *Window) settleGaps(hints RevisionHints, rest *[]winOp) (int, []int, string) {
	for _, g := range w.gaps {
		if !slices.Equal(hints[g.rev], g.keys) {
			return 0, nil, fmt.Sprintf("the write log's keys at revision %d changed", g.rev)
		}
	}
	for _, o := range w.unknown {
		*rest = append(*rest, o.winOp()) // sorted by id later
	}
	creators := map[int64]winOp{}
	var late []winOp // known, with a return time, out of order
	for _, o := range w.late {
		if o.op.Return != UnknownReturn {
			late = append(late, o)
		}
		if rev := o.op.Output.Revision; rev < w.next {
			if _, dup := creators[rev]; dup {
				return 0, nil, fmt.Sprintf("two operations came late for revision %d", rev)
			}
			creators[rev] = o
			continue
		}
		if o.op.Return != UnknownReturn && o.op.Return < w.retiredCall {
			return 0, nil, fmt.Sprintf("op %d returned before an operation dropped was called", o.id)
		}
		*rest = append(*rest, o)
	}
	aboveRet := UnknownReturn // the earliest return among the rest
	for _, o := range *rest {
		if !o.op.Unknown && !o.op.Failed {
			aboveRet = min(aboveRet, o.op.Return)
		}
	}
	u := w.unknownWrites(late)
	var placed []winOp
	for g := range w.gaps {
		gap := &w.gaps[g]
		if gap.creator >= 0 {
			continue
		}
		if o, ok := creators[gap.rev]; ok {
			if reason := w.confirm(gap, o, aboveRet, hints); reason != "" {
				return 0, nil, reason
			}
			delete(creators, gap.rev)
			placed = append(placed, o)
			continue
		}
		if reason := u.place(gap, hints); reason != "" {
			return 0, nil, reason
		}
	}
	for rev, o := range creators { // any one will do: the window cannot decide
		return 0, nil, fmt.Sprintf("op %d came late for revision %d, replayed already", o.id, rev)
	}
	if reason := lateOrder(placed); reason != "" {
		return 0, nil, reason
	}
	w.steps += u.steps
	if w.steps > w.maxSteps { // the search would have run out among the replayed revisions
		return 0, nil, "out of steps among the revisions replayed"
	}
	return len(placed), u.usedIDs, ""
}

// unknownSet is the writes of unknown outcome as CheckRevisions' search
// sees them: by call, grouped by input, each with its floor.
type unknownSet struct {
	ops     []winOp
	floor   []int64
	used    []bool
	usedIDs []int
	steps   int64 // the candidates tried beyond one per gap
}

// unknownWrites lists the writes still of unknown outcome, by call (then
// id), with their floors raised by the late operations that returned
// before their call.
func (w *Window) unknownWrites(late []winOp) *unknownSet {
	u := &unknownSet{}
	for _, o := range w.unknown {
		if o.in.IsWrite() {
			u.ops = append(u.ops, o.winOp())
		}
	}
	slices.SortFunc(u.ops, func(a, b winOp) int {
		return cmp.Or(cmp.Compare(a.op.Call, b.op.Call), cmp.Compare(a.id, b.id))
	})
	for _, o := range u.ops {
		f := o.floor
		if !o.called {
			f = math.MaxInt64 // never a candidate here: the window cannot tell
		}
		for _, l := range late {
			if l.op.Return < o.op.Call {
				f = max(f, l.op.Output.Revision)
			}
		}
		u.floor = append(u.floor, f)
	}
	u.used = make([]bool, len(u.ops))
	return u
}

// place gives gap its first candidate among the unknown writes, as the
// search lists them: of each input that writes a key the gap changed
// (any key if it has no hints), the first unused write, if nothing
// returned before its call had seen the gap's revision; the earliest
// called of those. It must make the write log's change.
func (u *unknownSet) place(gap *winGap, hints RevisionHints) string {
	keys := hints[gap.rev]
	firstOf := map[string]bool{}
	for k, o := range u.ops {
		in := o.op.Input.String()
		if u.used[k] || firstOf[in] {
			continue
		}
		firstOf[in] = true
		if len(keys) > 0 && !hitsKeys(&o.op.Input, keys) || u.floor[k] >= gap.rev {
			continue
		}
		if gap.replay(o, hints) != "" {
			u.steps++ // the search tries the next candidate, as here
			continue
		}
		u.used[k] = true
		u.usedIDs = append(u.usedIDs, o.id)
		return ""
	}
	return fmt.Sprintf("no write of unknown outcome that writes its keys can have created gap %d", gap.rev)
}

// hitsKeys reports whether a write may change one of keys.
func hitsKeys(in *Input, keys []string) bool {
	for _, k := range hintKeys(in) {
		if slices.Contains(keys, k) {
			return true
		}
	}
	return false
}

// confirm checks late operation o as the creator gap waits for.
func (w *Window) confirm(gap *winGap, o winOp, aboveRet int64, hints RevisionHints) string {
	rev := gap.rev
	op := &o.op
	switch {
	case knownRole(op) != roleMaybe:
		return fmt.Sprintf("op %d, late for gap %d, is no transaction that only deletes", o.id, rev)
	case gap.minRetAt < op.Call:
		return fmt.Sprintf("op %d, late for gap %d, was called after an operation at it returned", o.id, rev)
	case min(gap.aboveRet, aboveRet) < op.Call:
		return fmt.Sprintf("op %d, late for gap %d, was called after an operation above it returned", o.id, rev)
	case op.Return != UnknownReturn && op.Return < gap.belowCall:
		return fmt.Sprintf("op %d, late for gap %d, returned before an operation below it was called", o.id, rev)
	case len(hints[rev]) > 0 && !hitsKeys(&op.Input, hints[rev]):
		return fmt.Sprintf("op %d, late for gap %d, misses its keys", o.id, rev)
	}
	return gap.replay(o, hints)
}

// touchedKeys are the keys an operation reads or writes.
func touchedKeys(in *Input) []string {
	var ks []string
	for _, cm := range in.Compares {
		ks = append(ks, cm.Key)
	}
	if in.Kind != KindTxn {
		ks = append(ks, in.Key)
	}
	for _, br := range [][]TxnOp{in.Then, in.Else} {
		for _, t := range br {
			ks = append(ks, t.Key)
		}
	}
	return ks
}

// replay applies o as the creator of gap to the entries kept of the
// keys around it: it must touch no other key, delete the keys the log
// says it deleted and leave the others as they were.
func (gap *winGap) replay(o winOp, hints RevisionHints) string {
	op := &o.op
	for _, k := range touchedKeys(&op.Input) {
		if !slices.Contains(gap.saved, k) {
			return fmt.Sprintf("op %d, creator of gap %d, touches key %s the window did not keep", o.id, gap.rev, k)
		}
	}
	c := &revChecker{h: []Op{*op}, ids: []int{o.id}, hints: hints}
	c.st.init()
	for _, kv := range gap.before {
		c.st.set(kv.Key, kv, true)
	}
	changed, bad := c.exec(0, gap.rev, true)
	ok := changed && bad == ""
	left := 0
	for _, kv := range gap.before {
		if slices.Contains(gap.keys, kv.Key) {
			continue
		}
		left++
		got, live := c.st.lookup(kv.Key)
		ok = ok && live && got == kv
	}
	if !ok || c.st.kvs.Len() != left {
		return fmt.Sprintf("op %d, creator of gap %d, does not make the log's change", o.id, gap.rev)
	}
	return ""
}

// lateOrder checks real time among the late creators: one that returned
// before another was called must not sit higher.
func lateOrder(ops []winOp) string {
	byRet := slices.Clone(ops)
	slices.SortFunc(byRet, func(a, b winOp) int { return cmp.Compare(a.op.Return, b.op.Return) })
	for _, o := range ops {
		for _, a := range byRet {
			if a.op.Return >= o.op.Call {
				break
			}
			if a.op.Output.Revision > o.op.Output.Revision {
				return fmt.Sprintf("op %d returned before op %d was called, yet sits higher", a.id, o.id)
			}
		}
	}
	return ""
}
