package linearizability

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/btree"
)

// DefaultRevisionSteps is the step budget CheckRevisions uses when given 0:
// one step is one operation executed or checked against a store state, so
// a history without gaps costs about one step per operation, and the budget
// only bites on a search among many unknown writes.
const DefaultRevisionSteps = 1 << 26

// CheckRevisions checks history against the whole-store model (the model
// StoreModel checks with porcupine) without searching for the order of the
// writes: every write that changed the store created exactly one revision
// and reported it, so the revisions put the known writes in order, and each
// read sits at the revision it reported. What is left to check is:
//
//   - real time, by a sweep over the operations sorted by return: an
//     operation that returned before another was called must not sit at a
//     higher revision, and the write that created revision R must not have
//     been called after an operation that saw R had returned;
//   - the states: replaying the writes in revision order from the empty
//     store, every operation's answer must be the one the store gives at
//     its revision.
//
// A revision no known write created (a gap) must have been created by a
// write of unknown outcome, or by a transaction that only deletes and
// whose answer does not count what it deleted (Output.DeletedKnown: a
// lease revoke's). Gaps are the only
// search: a depth-first choice among such writes, bounded by maxSteps
// (DefaultRevisionSteps if 0). Running out of steps is Unknown, so the
// verdict depends on the history and the budget, never on wall time.
//
// A failure's Reason names the operations that contradict each other.
// The result carries no visualisation (see CheckVerbose).
func CheckRevisions(history []Op, maxSteps int64) Result {
	return CheckRevisionsHinted(history, maxSteps, nil)
}

// RevisionHints maps a revision, numbered as the history reports them, to
// the keys that changed at it, as a write log says. They only order the
// search: at a gap, the writes that touch those keys are tried first, and
// among them first those that change exactly those keys, so a
// linearizable history is confirmed without backtracking. A wrong hint
// costs steps, never a wrong verdict.
type RevisionHints map[int64][]string

// CheckRevisionsHinted is CheckRevisions with hints for the search.
func CheckRevisionsHinted(history []Op, maxSteps int64, hints RevisionHints) Result {
	if maxSteps <= 0 {
		maxSteps = DefaultRevisionSteps
	}
	for i := range history {
		if err := validKind(&history[i]); err != nil && !history[i].Failed {
			return Result{Verdict: Unknown, Err: err, Reason: fmt.Sprintf("%v (op %d)", err, i), model: StoreModel()}
		}
	}
	c := &revChecker{h: history, maxSteps: maxSteps, hints: hints}
	v, reason := c.run()
	return Result{Verdict: v, Reason: reason, model: StoreModel()}
}

// Roles of a known operation at its revision.
const (
	roleReader  = iota // changed nothing: sits after the write of its revision
	roleCreator        // surely created its revision
	roleMaybe          // a transaction that only deletes, without a deleted count: created its revision or changed nothing
)

// revChecker is the state of one CheckRevisions call.
type revChecker struct {
	h        []Op
	hints    RevisionHints
	maxSteps int64
	steps    int64

	maxRev  int64
	role    []uint8 // per op of h, for known ops
	creator []int32 // per revision: the op that surely created it, or -1
	level   []int32 // known ops grouped by revision: ops of R are level[start[R]:start[R+1]]
	start   []int32
	unknown []int32 // unknown-outcome writes, by call time
	// Per unknown write (parallel to unknown), computed once: the highest
	// revision seen before its call. Unknown writes with equal inputs are
	// interchangeable, so they are grouped by input: a gap looks at the
	// first unused write of each group, not at every unknown write (on a
	// long run, thousands of them at each of thousands of gaps).
	unkFloor []int64
	groups   []unkGroup
	groupOf  map[int32]int32 // op index of an unknown write -> its group
	// groupsByKey lists the groups whose writes write a key (as misses
	// sees it), each once.
	groupsByKey map[string][]int32
	used        []bool // per op of h: chose to create a gap's revision

	known []knownOp // the known ops, in history order
	// byReturn: the known ops that have a return time, by return, each
	// with the highest revision among it and those before (and an op
	// that reported it).
	byReturn []returned

	st       revState
	usedHash uint64 // xor of mixRev(op index) over the ops used to fill gaps
	// dead holds the configurations (gap, state, used writes) whose every
	// continuation failed: the rest of a replay depends only on them, so
	// the search never explores one twice (as porcupine's cache does).
	dead  map[deadKey]bool
	terse bool     // read: a failure need not be rendered (see checkLevel)
	best  struct { // the failure found at the highest revision
		rev    int64
		reason string
	}

	// A window's residual check (window.go) sets these: the revisions
	// below lo were replayed and their operations dropped (st holds the
	// state at lo-1, steps what they cost), and baseWrites counts the
	// writes among them.
	lo         int64
	baseWrites int
	preUsed    []int32 // unknown writes the window placed at the gaps below lo

	// A witness check (see witness.go) sets these: h is then a
	// sub-history, ids maps its ops to their indices in the whole
	// history (for reasons), open says what the ops left out may have
	// written, and blame collects the ops a failure names.
	ids   []int
	open  *openWorld
	blame []int32
}

// run decides the verdict.
func (c *revChecker) run() (Verdict, string) {
	if reason := c.index(); reason != "" {
		return Fail, reason
	}
	if reason := c.sweep(); reason != "" {
		return Fail, reason
	}
	if c.open != nil {
		return c.replayOpen()
	}
	return c.search()
}

// index classifies the operations and groups the known ones by revision.
func (c *revChecker) index() string {
	c.role = make([]uint8, len(c.h))
	c.used = make([]bool, len(c.h))
	c.known = make([]knownOp, 0, len(c.h))
	writes := 0
	for i := range c.h {
		op := &c.h[i]
		switch {
		case op.Failed:
			continue
		case op.Unknown:
			if op.Input.IsWrite() {
				c.unknown = append(c.unknown, int32(i))
				writes++
			}
			continue
		case op.Output.Revision < 0:
			return fmt.Sprintf("%s reported a negative revision", c.describe(i))
		}
		c.known = append(c.known, knownOp{call: op.Call, ret: op.Return, rev: op.Output.Revision, i: int32(i)})
		c.role[i] = knownRole(op)
		if c.role[i] != roleReader {
			writes++
		}
		c.maxRev = max(c.maxRev, op.Output.Revision)
	}
	if c.open != nil { // a sub-history: count the writes left out too
		writes = c.open.writes
	}
	writes += c.baseWrites
	if c.maxRev > int64(writes) {
		i := slices.IndexFunc(c.h, func(o Op) bool { return !o.Failed && !o.Unknown && o.Output.Revision == c.maxRev })
		c.blame = append(c.blame, int32(i))
		return fmt.Sprintf("%s reported revision %d, but the history holds only %d writes", c.describe(i), c.maxRev, writes)
	}
	slices.SortStableFunc(c.unknown, func(a, b int32) int { return cmp.Compare(c.h[a].Call, c.h[b].Call) })
	return c.group()
}

// SurelyCreated reports whether op, as the revision checker sees it, surely
// created the revision it reports: a known put, a delete that deleted, or
// a transaction whose branch puts or whose answer counts a key deleted. Hints (RevisionHints) are consulted
// only at the other revisions.
func SurelyCreated(op *Op) bool {
	return !op.Failed && !op.Unknown && knownRole(op) == roleCreator
}

// knownRole says what a known operation did at its revision.
func knownRole(op *Op) uint8 {
	in := &op.Input
	switch in.Kind {
	case KindPut:
		return roleCreator
	case KindDelete:
		if op.Output.Deleted != 0 {
			return roleCreator
		}
	case KindTxn:
		branch := in.Else
		if op.Output.Succeeded {
			branch = in.Then
		}
		role := uint8(roleReader)
		for _, t := range branch {
			switch t.Kind {
			case KindPut:
				return roleCreator
			case KindDelete:
				role = roleMaybe
			}
		}
		if op.Output.DeletedKnown {
			// Its answer counts the keys it deleted. One that deleted
			// none wrote nothing, and a Txn that writes nothing leaves
			// the revision as it was (etcd's, seedkv's mvcc): it sits at
			// the revision it saw, as a read. One that counts a key
			// claims the revision it reports (checked by exec).
			if op.Output.Deleted > 0 {
				return roleCreator
			}
			return roleReader
		}
		return role
	}
	return roleReader
}

// group buckets the known operations by revision (a counting sort) and
// finds each revision's sure creator; two sure creators of one revision
// contradict each other.
func (c *revChecker) group() string {
	n := c.maxRev + 1 - c.lo
	if n < 0 {
		n = 0
	}
	c.start = make([]int32, n+1)
	c.creator = make([]int32, n)
	for r := range c.creator {
		c.creator[r] = -1
	}
	known := c.knownOps()
	for _, k := range known {
		c.start[k.rev-c.lo+1]++
	}
	for r := int64(1); r <= n; r++ {
		c.start[r] += c.start[r-1]
	}
	c.level = make([]int32, c.start[n])
	fill := slices.Clone(c.start[:n])
	for _, k := range known {
		r, i := k.rev, int(k.i)
		c.level[fill[r-c.lo]] = k.i
		fill[r-c.lo]++
		if c.role[i] != roleCreator {
			continue
		}
		switch {
		case r == 0:
			return fmt.Sprintf("%s is a write that reported revision 0", c.describe(i))
		case c.creatorAt(r) >= 0:
			c.blame = append(c.blame, c.creatorAt(r), int32(i))
			return fmt.Sprintf("%s and %s both created revision %d", c.describe(int(c.creatorAt(r))), c.describe(i), r)
		}
		c.creator[r-c.lo] = int32(i)
	}
	return ""
}

// at lists the known operations that reported rev (lo <= rev <= maxRev).
func (c *revChecker) at(rev int64) []int32 {
	r := rev - c.lo
	return c.level[c.start[r]:c.start[r+1]]
}

// creatorAt is the operation that surely created rev, or -1.
func (c *revChecker) creatorAt(rev int64) int32 { return c.creator[rev-c.lo] }

// knownOp is a known operation's index with the times and revision the
// checks of real time and the grouping by revision read: they walk these
// instead of the 240-byte operations, each walk of which was memory bound
// on a 1M-op history.
type knownOp struct {
	call, ret, rev int64
	i              int32
}

// knownOps lists the known operations of h in order (index lists them as
// it goes; a window's replay of one revision calls group directly).
func (c *revChecker) knownOps() []knownOp {
	if c.known == nil {
		for i := range c.h {
			if op := &c.h[i]; !op.Failed && !op.Unknown {
				c.known = append(c.known, knownOp{call: op.Call, ret: op.Return, rev: op.Output.Revision, i: int32(i)})
			}
		}
	}
	return c.known
}

// sweep checks real time between known operations, in O(n log n): sorted
// by return, with the running highest revision, each operation's call
// finds the highest revision of everything that returned before it. The
// sort and the searches work on compact records (knownOp, returned), not
// on the operations: on a 1M-op history each probe into the operations
// was a cache miss.
func (c *revChecker) sweep() string {
	known := c.knownOps()
	c.byReturn = make([]returned, 0, len(known))
	for _, k := range known {
		if k.ret != UnknownReturn {
			c.byReturn = append(c.byReturn, returned{k.ret, k.rev, k.i})
		}
	}
	// Stable: ties keep history order. The history is nearly in return
	// order already, which the stable sort's insertion runs exploit.
	slices.SortStableFunc(c.byReturn, func(a, b returned) int { return cmp.Compare(a.t, b.t) })
	for k := 1; k < len(c.byReturn); k++ {
		if r := &c.byReturn[k]; c.byReturn[k-1].maxRev >= r.maxRev {
			r.maxRev, r.argMax = c.byReturn[k-1].maxRev, c.byReturn[k-1].argMax
		}
	}
	for _, o := range known {
		k := c.returnedBefore(o.call)
		if k > 0 && c.byReturn[k-1].maxRev > o.rev {
			a, i := int(c.byReturn[k-1].argMax), int(o.i)
			c.blame = append(c.blame, int32(a), int32(i))
			return fmt.Sprintf("%s returned at %v, before %s was called at %v, yet saw a later revision (%d > %d)",
				c.describe(a), time.Duration(c.h[a].Return), c.describe(i), time.Duration(c.h[i].Call),
				c.h[a].Output.Revision, c.h[i].Output.Revision)
		}
	}
	return ""
}

// returned is an entry of revChecker.byReturn: a return time, and the
// highest revision reported by an op that returned then or before, and
// the first such op (before the prefix pass, the op's own revision and
// index).
type returned struct {
	t, maxRev int64
	argMax    int32
}

// returnedBefore counts the known operations that returned before t.
func (c *revChecker) returnedBefore(t int64) int {
	k, _ := slices.BinarySearchFunc(c.byReturn, t, func(r returned, t int64) int { return cmp.Compare(r.t, t) })
	return k // the first return >= t
}

// highestBefore is the highest revision a known operation returned
// before t reported, or -1.
func (c *revChecker) highestBefore(t int64) int64 {
	if k := c.returnedBefore(t); k > 0 {
		return c.byReturn[k-1].maxRev
	}
	return -1
}

// maxDead bounds the memo of dead configurations (about 32 bytes each):
// past it the search goes on without remembering more.
const maxDead = 1 << 20

// deadKey identifies a configuration at a gap by hashes (64-bit each; a
// collision could only make the search skip a configuration).
type deadKey struct {
	rev         int64
	state, used uint64
}

// choice is a gap's revision and the writes that may have created it.
type choice struct {
	rev   int64
	cands []int32 // known maybe-creators of rev first, then unknown writes
	// rest: candidates that miss rev's hinted keys are still to be
	// listed (after cands, which hit them, have been tried).
	rest bool
	// keys are rev's hinted keys, if any. While exact is set (the first
	// pass over the candidates that hit them), a candidate is put in
	// place only if it changes exactly those keys; one that changes
	// the store otherwise waits in inexact for a second pass, ahead of
	// the rest (see advance). again counts the candidates that pass
	// listed twice in cands.
	keys    []string
	exact   bool
	inexact []int32
	again   int
	next    int     // the next candidate to try
	cur     int32   // the candidate in place, or -1
	mark    int     // undo-log length before rev
	key     deadKey // the configuration the choice starts from
}

// search replays the writes in revision order, choosing a creator for each
// gap, depth first.
func (c *revChecker) search() (Verdict, string) {
	if c.lo == 0 {
		c.st.init()
	}
	c.dead = map[deadKey]bool{}
	c.groupUnknown()
	for _, i := range c.preUsed {
		c.used[i] = true
		c.usedHash ^= mixRev(int64(i))
	}
	if c.lo == 0 && !c.checkLevel(0, -1) {
		return Fail, c.best.reason
	}
	// The stack holds at most one choice per gap, and on a long history
	// nearly every one (each hinted gap keeps its unhinted candidates in
	// reserve): sized once, it is never re-allocated and copied.
	gaps := 0
	for rev := max(c.lo, 1); rev <= c.maxRev; rev++ {
		if c.creatorAt(rev) < 0 {
			gaps++
		}
	}
	stack := make([]choice, 0, gaps)
	for rev := max(c.lo, 1); rev <= c.maxRev; {
		if c.steps > c.maxSteps {
			return Unknown, fmt.Sprintf("revision check ran out of its budget of %d steps at revision %d", c.maxSteps, rev)
		}
		var ok bool
		creator := c.creatorAt(rev)
		if creator >= 0 {
			ok = c.applyKnown(int(creator), rev)
		} else {
			if n := len(stack); n == 0 || stack[n-1].rev != rev {
				key := deadKey{rev, c.st.hash, c.usedHash}
				var cands []int32
				rest := false
				if !c.dead[key] {
					cands, rest = c.candidates(rev)
				}
				keys := c.hints[rev]
				stack = append(stack, choice{rev: rev, cands: cands, rest: rest, keys: keys, exact: len(keys) > 0,
					cur: -1, mark: c.st.undo.len(), key: key})
			}
			ok = c.advance(&stack[len(stack)-1])
			creator = stack[len(stack)-1].cur
		}
		if ok && c.checkLevel(rev, creator) {
			rev++
			if allTried(stack) { // nothing left to go back to
				stack = stack[:0]
				c.st.undo.reset()
			}
			continue
		}
		for { // back to the latest gap with a candidate left
			n := len(stack)
			if n == 0 {
				return Fail, c.best.reason
			}
			if top := &stack[n-1]; top.untried() {
				rev = top.rev
				break
			}
			c.undoChoice(&stack[n-1])
			if len(c.dead) < maxDead {
				c.dead[stack[n-1].key] = true
			}
			stack = stack[:n-1]
		}
	}
	return Pass, ""
}

// allTried reports whether every choice on the stack has tried its last
// candidate: a later failure is then final.
func allTried(stack []choice) bool {
	for i := range stack {
		if stack[i].untried() {
			return false
		}
	}
	return true
}

// untried reports whether the choice has a candidate left to try.
func (ch *choice) untried() bool { return ch.next < len(ch.cands) || len(ch.inexact) > 0 || ch.rest }

// candidates lists the writes that may have created gap rev: the known
// transactions that only delete and reported rev, then the unused unknown
// writes that no operation that returned before their call rules out (it
// saw rev or later), one of each input (equal inputs are interchangeable:
// a write allowed at rev is allowed at every later gap too), in call
// order. With hints for rev, those that write a hinted key come first
// (advance tries those that change exactly the hinted keys before the
// others), and only they are listed now (rest reports that the others
// follow, see restCandidates): a long history's gaps are each filled by a
// hinted write, and listing every other candidate at every gap cost time
// in the number of distinct unknown writes.
func (c *revChecker) candidates(rev int64) (cands []int32, rest bool) {
	keys := c.hints[rev]
	hit := func(i int32) bool { return len(keys) == 0 || c.misses(i, keys) == 0 }
	cands = c.maybes(rev, cands, hit)
	if len(keys) == 0 {
		return c.unknownReps(rev, cands, func(int32) bool { return true }), false
	}
	var gs []int32
	for _, k := range keys {
		gs = append(gs, c.groupsByKey[k]...)
	}
	slices.Sort(gs)
	return c.repsOf(rev, cands, slices.Compact(gs)), true
}

// restCandidates lists the candidates of gap rev that candidates left out:
// those that write none of its hinted keys, in the same order.
func (c *revChecker) restCandidates(rev int64) []int32 {
	keys := c.hints[rev]
	miss := func(i int32) bool { return c.misses(i, keys) != 0 }
	cands := c.maybes(rev, nil, miss)
	return c.unknownReps(rev, cands, func(g int32) bool {
		return missesAll(c.groups[g].keys, keys)
	})
}

// maybes appends to cands the known transactions at rev that only delete
// and may have created it, if keep says so.
func (c *revChecker) maybes(rev int64, cands []int32, keep func(int32) bool) []int32 {
	for _, i := range c.at(rev) {
		if c.role[i] == roleMaybe && c.noneSawBefore(int(i), rev) && keep(i) {
			cands = append(cands, i)
		}
	}
	return cands
}

// unknownReps appends to cands, in call order, the first unused unknown
// write of each group that keep selects, if it may have created rev.
func (c *revChecker) unknownReps(rev int64, cands []int32, keep func(g int32) bool) []int32 {
	var gs []int32
	for g := range c.groups {
		if keep(int32(g)) {
			gs = append(gs, int32(g))
		}
	}
	return c.repsOf(rev, cands, gs)
}

// repsOf appends to cands, in call order, the first unused unknown write
// of each of the groups gs (each once), if it may have created rev.
func (c *revChecker) repsOf(rev int64, cands []int32, gs []int32) []int32 {
	var ks []int32 // positions in c.unknown
	for _, g := range gs {
		if k := c.groups[g].first(c); k >= 0 && c.unkFloor[k] < rev {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks) // by call, as the unknown writes are
	for _, k := range ks {
		cands = append(cands, c.unknown[k])
	}
	return cands
}

// unkGroup is the unknown writes with one input, by call.
type unkGroup struct {
	members []int32  // positions in revChecker.unknown, ascending
	next    int      // members before next are all used
	keys    []string // the keys the input may write (hintKeys), listed once
}

// first returns the group's earliest unused member (a position in
// c.unknown), or -1.
func (g *unkGroup) first(c *revChecker) int32 {
	for g.next < len(g.members) && c.used[c.unknown[g.members[g.next]]] {
		g.next++
	}
	if g.next == len(g.members) {
		return -1
	}
	return g.members[g.next]
}

// release notes that op i, a member, is unused again.
func (g *unkGroup) release(c *revChecker, i int32) {
	for j := g.next - 1; j >= 0; j-- {
		if c.unknown[g.members[j]] == i {
			g.next = j
			return
		}
	}
}

// groupUnknown groups the unknown writes by input, in order of first call,
// and notes each one's revision floor.
func (c *revChecker) groupUnknown() {
	c.unkFloor = make([]int64, len(c.unknown))
	c.groupOf = make(map[int32]int32, len(c.unknown))
	c.groupsByKey = map[string][]int32{}
	byInput := map[string]int32{}
	for k, i := range c.unknown {
		c.unkFloor[k] = c.highestBefore(c.h[i].Call)
		in := c.h[i].Input.String()
		g, ok := byInput[in]
		if !ok {
			g = int32(len(c.groups))
			byInput[in] = g
			c.groups = append(c.groups, unkGroup{keys: hintKeys(&c.h[i].Input)})
			for _, key := range c.groups[g].keys {
				if gs := c.groupsByKey[key]; len(gs) == 0 || gs[len(gs)-1] != g {
					c.groupsByKey[key] = append(gs, g)
				}
			}
		}
		c.groups[g].members = append(c.groups[g].members, int32(k))
		c.groupOf[i] = g
	}
}

// misses is 0 if op i writes one of keys, else 1.
func (c *revChecker) misses(i int32, keys []string) int {
	if missesAll(hintKeys(&c.h[i].Input), keys) {
		return 1
	}
	return 0
}

// missesAll reports whether none of writes is among keys.
func missesAll(writes, keys []string) bool {
	for _, k := range writes {
		if slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

// hintKeys are the keys a write may change, as hints name them: a put's
// or delete's key, and the key of every put or delete in a transaction's
// branches.
func hintKeys(in *Input) []string {
	var ks []string
	if in.Kind == KindPut || in.Kind == KindDelete {
		ks = append(ks, in.Key)
	}
	for _, br := range [][]TxnOp{in.Then, in.Else} {
		for _, t := range br {
			if t.Kind != KindGet {
				ks = append(ks, t.Key)
			}
		}
	}
	return ks
}

// noneSawBefore reports whether no other operation at rev returned before
// op i, the creator of rev, was called.
func (c *revChecker) noneSawBefore(i int, rev int64) bool {
	return c.sawBefore(i, rev) < 0
}

// sawBefore returns an operation at rev, other than i, that returned
// before op i was called, or -1.
func (c *revChecker) sawBefore(i int, rev int64) int {
	for _, j := range c.at(rev) {
		if int(j) != i && c.h[j].Return < c.h[i].Call {
			return int(j)
		}
	}
	return -1
}

// advance puts the next candidate that changes the store in place as the
// creator of ch.rev. At a hinted gap, the candidates that hit the hinted
// keys are tried in two passes: first only one that changes exactly those
// keys is taken, then, if none did or each failed later, those that
// changed the store otherwise, in the same order; then the rest. The
// write log names every key its revision changed, so on a linearizable
// history the first pass finds the creator; taking the first candidate
// that changed the store (a transaction that deletes one of two hinted
// keys, or a hinted key and another) was a wrong choice at a third of a
// 1 h history's gaps, each found out only revisions later, after every
// unknown write of the run had been tried at the gaps in between.
func (c *revChecker) advance(ch *choice) bool {
	c.undoChoice(ch)
	for ch.untried() {
		if ch.next == len(ch.cands) {
			ch.exact = false
			if len(ch.inexact) > 0 { // no exact candidate held up: the second pass
				ch.cands, ch.again = append(ch.cands, ch.inexact...), len(ch.inexact)
				ch.inexact = nil
				continue
			}
			// the hinted candidates failed
			ch.cands, ch.rest = append(ch.cands, c.restCandidates(ch.rev)...), false
			continue
		}
		i := ch.cands[ch.next]
		ch.next++
		c.steps++
		changed, bad := c.exec(int(i), ch.rev, true)
		if changed && bad == "" {
			if !ch.exact || c.st.changedExactly(ch.mark, ch.keys) {
				ch.cur, c.used[i] = i, true
				c.usedHash ^= mixRev(int64(i))
				return true
			}
			ch.inexact = append(ch.inexact, i)
		}
		c.st.rollback(ch.mark)
	}
	if len(ch.cands) == 0 {
		c.fail(ch.rev, fmt.Sprintf("revision %d (seen by %s) was created by no write: no write of unknown outcome could have, and no transaction that only deletes reported it",
			ch.rev, c.describe(c.someAt(ch.rev))))
	} else {
		c.fail(ch.rev, fmt.Sprintf("revision %d (seen by %s) was created by no write: none of the %d candidates changes the store at revision %d",
			ch.rev, c.describe(c.someAt(ch.rev)), len(ch.cands)-ch.again, ch.rev-1))
	}
	return false
}

// undoChoice takes ch's candidate out of place.
func (c *revChecker) undoChoice(ch *choice) {
	c.st.rollback(ch.mark)
	if ch.cur >= 0 {
		c.used[ch.cur] = false
		if g, ok := c.groupOf[ch.cur]; ok {
			c.groups[g].release(c, ch.cur)
		}
		c.usedHash ^= mixRev(int64(ch.cur))
		ch.cur = -1
	}
}

// someAt returns an operation that reported rev or, if none, the first
// that reported a later revision.
func (c *revChecker) someAt(rev int64) int {
	for r := rev; r <= c.maxRev; r++ {
		if l := c.at(r); len(l) > 0 {
			return int(l[0])
		}
	}
	return -1
}

// applyKnown applies op i, the sure creator of rev.
func (c *revChecker) applyKnown(i int, rev int64) bool {
	c.steps++
	if j := c.sawBefore(i, rev); j >= 0 {
		return c.fail(rev, fmt.Sprintf("%s returned at %v, before %s, which created revision %d, was called at %v",
			c.describe(j), time.Duration(c.h[j].Return), c.describe(i), rev, time.Duration(c.h[i].Call)))
	}
	changed, bad := c.exec(i, rev, true)
	switch {
	case bad != "":
		return c.fail(rev, bad)
	case !changed:
		return c.fail(rev, fmt.Sprintf("%s changed nothing at revision %d", c.describe(i), rev-1))
	}
	return true
}

// checkLevel checks every known operation at rev but its creator against
// the state at rev: each must have read it and changed nothing.
func (c *revChecker) checkLevel(rev int64, creator int32) bool {
	for _, i := range c.at(rev) {
		if i == creator {
			continue
		}
		c.steps++
		// A failure at or below the best one found is only counted: its
		// reason would be dropped, and rendering the store's keys for it
		// was most of the search's time on a long history (each wrong
		// candidate for a gap fails a read).
		c.terse = c.best.reason != "" && rev <= c.best.rev
		bad := c.read(int(i), rev)
		c.terse = false
		if bad == terseFailure {
			return false
		}
		if bad != "" {
			return c.fail(rev, bad)
		}
	}
	return true
}

// fail records a failure at rev (the one at the highest revision is
// reported) and returns false.
func (c *revChecker) fail(rev int64, reason string) bool {
	if c.best.reason == "" || rev > c.best.rev {
		c.best.rev, c.best.reason = rev, reason
	}
	return false
}

// describe names op i for a reason.
func (c *revChecker) describe(i int) string {
	if i < 0 {
		return "no operation"
	}
	op := &c.h[i]
	id := i
	if c.ids != nil {
		id = c.ids[i]
	}
	return fmt.Sprintf("op %d (client %d, %s)", id, op.ClientID, describeOp(&op.Input, &op.Output, op.Unknown))
}

// holds renders what a read returned or the store holds.
func (c *revChecker) holds(kvs []KV) string {
	return "[" + describeKVs(kvs) + "]"
}

// terseFailure is what read returns for a failure in terse mode.
const terseFailure = "(failed)"

// rendered is the reason render gives, or terseFailure in terse mode.
func (c *revChecker) rendered(render func() string) string {
	if c.terse {
		return terseFailure
	}
	return render()
}

// read checks op i, which changed nothing, against the state at rev. In
// terse mode (c.terse) a failure returns terseFailure, unrendered.
func (c *revChecker) read(i int, rev int64) string {
	op := &c.h[i]
	in, out := &op.Input, &op.Output
	mismatch := func(what string, want, got []KV) string {
		return c.rendered(func() string {
			return fmt.Sprintf("%s: %s read %s, but at revision %d the store holds %s",
				c.describe(i), what, c.holds(got), rev, c.holds(want))
		})
	}
	// A long run keeps Get and Range answers as digests: the state's
	// digest of a key or prefix is kept up to date, so neither side is
	// listed unless the check fails.
	digested := func(what, key string, state func(string) []KV) string {
		return c.rendered(func() string {
			return fmt.Sprintf("%s: %s read %s, but at revision %d the store holds %s",
				c.describe(i), what, answerOf(out), rev, c.holds(state(key)))
		})
	}
	listed := func(what string, want []KV) string {
		if slices.Equal(want, out.KVs) {
			return ""
		}
		return mismatch(what, want, out.KVs)
	}
	switch in.Kind {
	case KindGet:
		if out.Digest == 0 {
			return listed(in.Key, c.st.get(in.Key))
		}
		if c.st.getDigest(in.Key) != out.Digest {
			return digested(in.Key, in.Key, c.st.get)
		}
	case KindRange:
		if out.Digest == 0 {
			if want := c.st.prefix(in.Key); !slices.Equal(want, out.KVs) {
				return mismatch("prefix "+in.Key, want, out.KVs) // concatenated only here: once per listed range read, it was half of the allocations of checking a 30 s history
			}
			return ""
		}
		if c.st.prefixDigest(in.Key) != out.Digest {
			return digested("prefix "+in.Key, in.Key, c.st.prefix)
		}
	case KindDelete:
		if want := c.st.get(in.Key); len(want) > 0 {
			return c.rendered(func() string {
				return fmt.Sprintf("%s deleted nothing, but at revision %d the store holds %s", c.describe(i), rev, c.holds(want))
			})
		}
	case KindTxn:
		if c.st.compares(in) != out.Succeeded {
			return c.rendered(func() string {
				return fmt.Sprintf("%s took the wrong branch: at revision %d the compares are %v", c.describe(i), rev, !out.Succeeded)
			})
		}
		if out.DeletedKnown && out.Deleted != 0 {
			return c.rendered(func() string {
				return fmt.Sprintf("%s deleted %d keys, yet changed nothing", c.describe(i), out.Deleted)
			})
		}
		branch := c.branch(op)
		if len(out.TxnKVs) > len(branch) {
			return c.rendered(func() string {
				return fmt.Sprintf("%s answered more reads than its branch has", c.describe(i))
			})
		}
		for k, t := range branch {
			want := c.st.get(t.Key)
			switch {
			case t.Kind == KindDelete && len(want) > 0:
				return c.rendered(func() string {
					return fmt.Sprintf("%s changed nothing, but at revision %d it would delete %s", c.describe(i), rev, c.holds(want))
				})
			case t.Kind == KindGet && k < len(out.TxnKVs) && !slices.Equal(want, out.TxnKVs[k]):
				return mismatch(t.Key, want, out.TxnKVs[k])
			}
		}
	}
	return ""
}

// branch is the branch a known transaction took.
func (c *revChecker) branch(op *Op) []TxnOp {
	if op.Output.Succeeded {
		return op.Input.Then
	}
	return op.Input.Else
}

// exec applies op i as the write that creates rev, checking its answer
// if known and check is set. It reports whether the store changed and,
// if the answer does not match, why.
func (c *revChecker) exec(i int, rev int64, check bool) (changed bool, bad string) {
	op := &c.h[i]
	in, out := &op.Input, &op.Output
	check = check && !op.Unknown
	switch in.Kind {
	case KindPut:
		c.st.put(in.Key, in.Value, rev)
		return true, ""
	case KindDelete:
		changed = c.st.del(in.Key)
		if check && changed != (out.Deleted > 0) || out.Deleted > 1 {
			bad = fmt.Sprintf("%s: at revision %d, %s", c.describe(i), rev-1, existence(in.Key, !changed))
		}
		return changed, bad
	case KindGet, KindRange:
		return false, ""
	}
	succeeded := c.st.compares(in)
	if check && succeeded != out.Succeeded {
		return false, fmt.Sprintf("%s took the wrong branch: at revision %d the compares are %v", c.describe(i), rev-1, succeeded)
	}
	branch := in.Else
	if succeeded {
		branch = in.Then
	}
	if check && len(out.TxnKVs) > len(branch) {
		return false, fmt.Sprintf("%s answered more reads than its branch has", c.describe(i))
	}
	deleted := int64(0)
	for k, t := range branch {
		switch t.Kind {
		case KindGet:
			if want := c.st.get(t.Key); check && k < len(out.TxnKVs) && !slices.Equal(want, out.TxnKVs[k]) && bad == "" {
				bad = fmt.Sprintf("%s: %s read %s, but there the store holds %s (revision %d, before its own writes)",
					c.describe(i), t.Key, c.holds(out.TxnKVs[k]), c.holds(want), rev-1)
			}
		case KindPut:
			c.st.put(t.Key, t.Value, rev)
			changed = true
		case KindDelete:
			if c.st.del(t.Key) {
				changed = true
				deleted++
			}
		}
	}
	if check && out.DeletedKnown && deleted != out.Deleted && bad == "" {
		bad = fmt.Sprintf("%s deleted %d keys, but at revision %d its branch deletes %d", c.describe(i), out.Deleted, rev-1, deleted)
	}
	return changed, bad
}

func existence(key string, missing bool) string {
	if missing {
		return key + " does not exist"
	}
	return key + " exists"
}

// revState is the key space at the revision being replayed: a B-tree by
// key, with an undo log so a search can go back to an earlier choice.
type revState struct {
	kvs *btree.BTreeG[KV] // for prefix reads
	// byKey holds the same entries for point lookups: a long history's
	// store holds thousands of keys, and a tree lookup per read and write
	// was a third of checking a 1 h history.
	byKey map[string]revEntry
	undo  undoLog
	hash  uint64 // xor of hashKV over the keys: equal states, equal hashes
	// scratch holds the answer of the last get or prefix.
	scratch []KV
	// sums keeps, for each prefix a digested range read asked for, the
	// number and digest sum (see DigestKVs) of the keys under it, kept
	// up to date by set (and so by rollback): a long run's range reads
	// answer more keys as its store grows, and checking one costs a
	// lookup instead of a scan.
	sums map[string]*prefixSum
	// sumsGen counts the sums started: an entry's list of the sums over
	// its key is stale if of another generation.
	sumsGen int
}

// prefixSum is the number and digest sum of the keys under a prefix.
type prefixSum struct {
	n   int
	sum uint64
}

// prefixDigest is DigestKVs of the keys with prefix p, from the running
// sum (started with one scan the first time p is asked for).
func (s *revState) prefixDigest(p string) uint64 {
	ps, ok := s.sums[p]
	if !ok {
		ps = &prefixSum{}
		for _, kv := range s.prefix(p) {
			ps.n++
			ps.sum += kvDigest(&kv)
		}
		if s.sums == nil {
			s.sums = map[string]*prefixSum{}
		}
		s.sums[p] = ps
		s.sumsGen++
	}
	return digestOf(ps.n, ps.sum)
}

// sumsOver lists the sums of the prefixes key is under: by visiting the
// sums, or the key's own prefixes if there are fewer of those (a history
// may range over many prefixes). An entry keeps its key's list (see set).
func (s *revState) sumsOver(key string) []*prefixSum {
	var under []*prefixSum
	if len(s.sums) > len(key)+1 {
		for j := 0; j <= len(key); j++ {
			if ps, ok := s.sums[key[:j]]; ok {
				under = append(under, ps)
			}
		}
		return under
	}
	for p, ps := range s.sums { // sums commute: the order does not matter
		if strings.HasPrefix(key, p) {
			under = append(under, ps)
		}
	}
	return under
}

// account adds (sign 1) or removes (-1) kv from the sums under, those of
// the prefixes its key is under.
func (s *revState) account(kv *KV, sign int, under []*prefixSum) {
	if len(under) == 0 {
		return
	}
	d := kvDigest(kv)
	for _, ps := range under {
		ps.n += sign
		ps.sum += uint64(sign) * d
	}
}

// undoRec restores one key: prev if had, else absent (prev.Key is the
// key either way).
type undoRec struct {
	prev KV
	had  bool
}

// undoChunk is the number of records in one chunk of an undoLog.
const undoChunk = 1024

// undoLog is a stack of undoRecs kept in fixed chunks. A search keeps
// every change since its oldest choice with a candidate left, and on a
// long history that is nearly every write (each hinted gap keeps its
// unhinted candidates in reserve): in one growing slice, re-allocating
// and copying it was half of checking a 1M-op history. Chunks are never
// copied, and those past the top are kept for reuse.
type undoLog struct {
	chunks []*[undoChunk]undoRec
	n      int
}

// len is the number of records.
func (l *undoLog) len() int { return l.n }

// push adds u on top.
func (l *undoLog) push(u undoRec) {
	if l.n == len(l.chunks)*undoChunk {
		l.chunks = append(l.chunks, new([undoChunk]undoRec))
	}
	l.chunks[l.n/undoChunk][l.n%undoChunk] = u
	l.n++
}

// pop removes and returns the top record (the log must not be empty).
func (l *undoLog) pop() undoRec {
	l.n--
	return l.chunks[l.n/undoChunk][l.n%undoChunk]
}

// reset empties the log, keeping its chunks.
func (l *undoLog) reset() { l.n = 0 }

// key is the key record j restores.
func (l *undoLog) key(j int) string { return l.chunks[j/undoChunk][j%undoChunk].prev.Key }

// changedExactly reports whether the changes after the undo log had
// length mark are to exactly the keys (each changed, no other).
func (s *revState) changedExactly(mark int, keys []string) bool {
	n := s.undo.len()
	for j := mark; j < n; j++ {
		if !slices.Contains(keys, s.undo.key(j)) {
			return false
		}
	}
	for _, k := range keys {
		j := mark
		for j < n && s.undo.key(j) != k {
			j++
		}
		if j == n {
			return false
		}
	}
	return true
}

func (s *revState) init() {
	s.kvs = btree.NewG(32, func(a, b KV) bool { return a.Key < b.Key })
	s.byKey = make(map[string]revEntry)
	s.undo.reset()
	s.hash = 0
	s.sums = nil
}

// set replaces key's entry (absent if !has), keeping the hash.
func (s *revState) set(key string, kv KV, has bool) {
	old, had := s.byKey[key]
	var under []*prefixSum
	if s.sums != nil {
		under = old.under
		if !had || old.gen != s.sumsGen { // a sum started since
			under = s.sumsOver(key)
		}
	}
	if had {
		s.hash ^= old.hash
		s.account(&old.kv, -1, under)
	}
	switch {
	case has:
		h := hashKV(&kv)
		s.byKey[key] = revEntry{kv: kv, hash: h, under: under, gen: s.sumsGen}
		s.kvs.ReplaceOrInsert(kv)
		s.hash ^= h
		s.account(&kv, 1, under)
	case had:
		delete(s.byKey, key)
		s.kvs.Delete(KV{Key: key})
	}
}

func (s *revState) lookup(key string) (KV, bool) {
	e, ok := s.byKey[key]
	return e.kv, ok
}

// revEntry is a key's entry in the state with its hashKV and the prefix
// sums its key is under, as sumsOver listed them when the sums were those
// of generation gen: a long run's writes are to a few keys, and finding
// their sums again at each write was a tenth of checking a 1M-op history.
type revEntry struct {
	kv    KV
	hash  uint64
	under []*prefixSum
	gen   int
}

// getDigest is DigestKVs of what a Get of key answers now, from the
// entry's kept hash: a long run keeps Get answers as digests, and hashing
// the entry again for each was a third of checking a 1 h history.
func (s *revState) getDigest(key string) uint64 {
	e, ok := s.byKey[key]
	if !ok {
		return noKVsDigest
	}
	return digestOf(1, mix64(e.hash))
}

// noKVsDigest is DigestKVs(nil).
var noKVsDigest = DigestKVs(nil)

// get returns key's entry as a read answers it. The slice is scratch,
// valid until the next get or prefix (the replay allocates nothing per
// read: on a long history, garbage collection would cost more than the
// check).
func (s *revState) get(key string) []KV {
	if kv, ok := s.lookup(key); ok {
		s.scratch = append(s.scratch[:0], kv)
		return s.scratch
	}
	return nil
}

// prefix returns the entries with prefix p, in key order, in the scratch
// slice like get.
func (s *revState) prefix(p string) []KV {
	out := s.scratch[:0]
	s.kvs.AscendGreaterOrEqual(KV{Key: p}, func(kv KV) bool {
		if !strings.HasPrefix(kv.Key, p) {
			return false
		}
		out = append(out, kv)
		return true
	})
	s.scratch = out
	if len(out) == 0 {
		return nil
	}
	return out
}

// put writes key=value at rev, as the store model's writer does: a new key
// is created at rev with version 1; an existing one keeps its creation.
func (s *revState) put(key, value string, rev int64) {
	kv, had := s.lookup(key)
	if had {
		s.undo.push(undoRec{prev: kv, had: true})
	} else {
		s.undo.push(undoRec{prev: KV{Key: key}})
		kv = KV{Key: key, CreateRevision: rev}
	}
	kv.Value, kv.ModRevision, kv.Version = value, rev, kv.Version+1
	s.set(key, kv, true)
}

// del deletes key and reports whether it existed.
func (s *revState) del(key string) bool {
	kv, had := s.lookup(key)
	if had {
		s.undo.push(undoRec{prev: kv, had: true})
		s.set(key, KV{}, false)
	}
	return had
}

// rollback undoes every change after the undo log had length mark.
func (s *revState) rollback(mark int) {
	for s.undo.len() > mark {
		u := s.undo.pop()
		s.set(u.prev.Key, u.prev, u.had)
	}
}

// compares evaluates a transaction's guards on the current state.
func (s *revState) compares(in *Input) bool {
	for i := range in.Compares {
		cm := &in.Compares[i]
		var kv *KV
		if got, ok := s.lookup(cm.Key); ok {
			kv = &got
		}
		if !compareHolds(cm, kv) {
			return false
		}
	}
	return true
}

// CheckRevisionsVerbose is CheckRevisions whose failure also carries
// porcupine's linearization info, for Result.Visualize: porcupine runs
// only on a failing history, within timeout of wall time, and only for
// the picture; the verdict and reason are the revision checker's.
func CheckRevisionsVerbose(history []Op, maxSteps int64, timeout time.Duration) Result {
	return CheckRevisionsHintedVerbose(history, maxSteps, timeout, nil)
}

// CheckRevisionsHintedVerbose is CheckRevisionsVerbose with hints for the
// search (see CheckRevisionsHinted).
func CheckRevisionsHintedVerbose(history []Op, maxSteps int64, timeout time.Duration, hints RevisionHints) Result {
	r := CheckRevisionsHinted(history, maxSteps, hints)
	if r.Verdict == Fail {
		p := CheckVerbose(StoreModel(), history, timeout)
		r.info, r.hasInfo = p.info, p.hasInfo
	}
	return r
}
