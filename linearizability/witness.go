package linearizability

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// A witness is a small set of operations of a failing history that cannot
// be linearized together, whatever the operations left out did.
//
// A sub-history of a store history is not a history of its own: every
// revision was created by some write, and a sub-history leaves most of
// those writes out. CheckWitness therefore checks a sub-history against
// what is known of the operations left out, and no more:
//
//   - a known write left out created its revision and may have written
//     any key its branch writes (to any value);
//   - a revision no known write created (a gap) was created by a write of
//     unknown outcome, or by a transaction that only deletes and reported
//     it: the gap may hold any key such a write writes, but only a write
//     no operation of the sub-history rules out (one that returned before
//     the write was called and saw the gap's revision or a later one); a
//     gap no write can fill fails;
//   - nothing else changed the store.
//
// Between two revisions the sub-history looks at, a key no write left out
// may have touched holds what the sub-history says it holds; a key one may
// have touched may hold anything that write could have left (a value
// written at that revision, or nothing). Real time (an operation that
// returned before another was called does not sit at a later revision)
// and one creator per revision are checked as in CheckRevisions.
//
// Each of these rules holds in every linearizable history, so a
// sub-history that fails CheckWitness proves the whole history is not
// linearizable, and a sub-history of a linearizable history always passes
// (TestPropertyWitnessSound). Adding an operation to a sub-history only
// adds constraints, so shrinking by deletion keeps a failure: a witness is
// 1-minimal, every operation in it is needed.

// Witness is a minimal set of operations that cannot be linearized.
type Witness struct {
	// Ops are the operations' indices in the history, ascending.
	Ops []int
	// Reason says why they cannot be linearized together; it names the
	// operations by their index in the history.
	Reason string
	// Checks counts the sub-history checks the shrinking ran.
	Checks int
}

// ErrNoWitness is returned by MinimalWitness for a history whose
// violation no sub-history shows on its own: it needs the whole history
// (a count of its writes, or the search over writes of unknown outcome
// for the one that created a revision), or the history is linearizable.
var ErrNoWitness = errors.New("linearizability: no sub-history fails on its own")

// openWorld is what a witness check knows of the whole history: which
// keys the operations outside a sub-history may have written, and at
// which revisions.
type openWorld struct {
	h        []Op
	keyRevs  map[string][]int64 // per key, ascending: revisions whose known creator writes it
	gaps     []int64            // ascending: revisions no known write surely created
	unknown  []int              // writes of unknown outcome
	maybeAt  map[int64][]string // per gap: keys the delete-only txns that reported it delete
	maybeRev map[string][]int64 // per key, ascending: the gaps a delete-only txn that deletes it reported
	universe []string           // sorted: every key any operation may write
	writes   int                // operations that may have created a revision
}

func newOpenWorld(h []Op) *openWorld {
	w := &openWorld{h: h, keyRevs: map[string][]int64{}, maybeAt: map[int64][]string{}, maybeRev: map[string][]int64{}}
	maybes := map[int64][]string{}
	all := map[string]bool{}
	var maxRev int64
	created := map[int64]bool{}
	for i := range h {
		op := &h[i]
		if op.Failed {
			continue
		}
		for _, k := range writtenKeys(&op.Input) {
			all[k] = true
		}
		if op.Unknown {
			if op.Input.IsWrite() {
				w.writes++
				w.unknown = append(w.unknown, i)
			}
			continue
		}
		rev := op.Output.Revision
		maxRev = max(maxRev, rev)
		switch knownRole(op) {
		case roleCreator:
			w.writes++
			created[rev] = true
			for _, k := range branchWrites(op) {
				w.keyRevs[k] = append(w.keyRevs[k], rev)
			}
		case roleMaybe:
			w.writes++
			maybes[rev] = append(maybes[rev], branchWrites(op)...)
		}
	}
	for _, revs := range w.keyRevs {
		slices.Sort(revs)
	}
	// A revision above the count of writes fails any sub-history that
	// reports it (revChecker.index): no gaps up there.
	for r := int64(1); r <= min(maxRev, int64(w.writes)); r++ {
		if !created[r] {
			w.gaps = append(w.gaps, r)
			if ks := maybes[r]; ks != nil {
				w.maybeAt[r] = ks
				for _, k := range ks {
					w.maybeRev[k] = append(w.maybeRev[k], r)
				}
			}
		}
	}
	w.universe = sortedKeys(all)
	return w
}

// branchWrites lists the keys a known operation wrote (in the branch a
// transaction took).
func branchWrites(op *Op) []string {
	in := op.Input
	if in.Kind == KindTxn {
		in.Then, in.Else = in.Else, nil
		if op.Output.Succeeded {
			in.Else = op.Input.Then
		}
	}
	return writtenKeys(&in)
}

// subCheck is the outcome of one sub-history check.
type subCheck struct {
	reason string // "" if the sub-history passes
	blame  []int  // history indices of the operations the reason names
	rev    int64  // the revision the failure was found at
}

// check checks the sub-history of the ops at ids (ascending).
func (w *openWorld) check(ids []int) subCheck {
	sub := make([]Op, len(ids))
	for j, i := range ids {
		sub[j] = w.h[i]
	}
	c := &revChecker{h: sub, ids: ids, maxSteps: DefaultRevisionSteps, open: w}
	v, reason := c.run()
	if v != Fail {
		return subCheck{}
	}
	out := subCheck{reason: reason, rev: c.best.rev}
	for _, j := range c.blame {
		out.blame = append(out.blame, ids[j])
		out.rev = max(out.rev, sub[j].Output.Revision)
	}
	return out
}

// CheckWitness checks the operations of history at ids (indices in any
// order) as a sub-history, knowing of the others only what they may have
// written (see the comment on Witness). Fail proves history is not
// linearizable.
func CheckWitness(history []Op, ids []int) Result {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, i := range ids {
		if i < 0 || i >= len(history) {
			return Result{Verdict: Unknown, Err: ErrBadOpID, Reason: fmt.Sprintf("%v: %d", ErrBadOpID, i), model: StoreModel()}
		}
	}
	if r := newOpenWorld(history).check(ids); r.reason != "" {
		return Result{Verdict: Fail, Reason: r.reason, model: StoreModel()}
	}
	return Result{Verdict: Pass, model: StoreModel()}
}

// MinimalWitness shrinks a failing history to a witness: a set of
// operations that fails CheckWitness and passes once any one of them is
// left out. It first narrows the history to the operations on the keys of
// the failure, up to its revision, then deletes operations in halving
// chunks and finally one at a time (delta debugging, with CheckWitness as
// the oracle). Each check is a replay without search, linear in the
// sub-history and its highest revision.
func MinimalWitness(history []Op) (Witness, error) {
	if i := firstDigested(history); i >= 0 {
		// The replay reads answers' keys: a digest has none.
		return Witness{}, fmt.Errorf("%w: op %d's answer is kept as a digest (a long run): replay the seed with artifacts", ErrDigested, i)
	}
	w := newOpenWorld(history)
	var all []int
	for i := range history {
		if op := &history[i]; !op.Failed && !op.Unknown {
			all = append(all, i)
		}
	}
	first := w.check(all)
	checks := 1
	if first.reason == "" {
		return Witness{Checks: checks}, ErrNoWitness
	}
	cand := all
	for _, narrow := range w.narrowings(all, first) {
		checks++
		if w.check(narrow).reason != "" {
			cand = narrow
			break
		}
	}
	ids, n := ddmin(cand, func(ids []int) bool { return w.check(ids).reason != "" })
	return Witness{Ops: ids, Reason: w.check(ids).reason, Checks: checks + n + 1}, nil
}

// narrowings are smaller candidate sets around a failure, smallest first:
// the operations it names; those at or below its revision that touch the
// keys they touch; every operation at or below its revision.
func (w *openWorld) narrowings(all []int, f subCheck) [][]int {
	var out [][]int
	if len(f.blame) > 0 {
		b := slices.Clone(f.blame)
		slices.Sort(b)
		out = append(out, slices.Compact(b))
	}
	keys := map[string]bool{}
	for _, i := range f.blame {
		for _, k := range w.keysOf(&w.h[i]) {
			keys[k] = true
		}
	}
	var onKeys, below []int
	for _, i := range all {
		if w.h[i].Output.Revision > f.rev {
			continue
		}
		below = append(below, i)
		for _, k := range w.keysOf(&w.h[i]) {
			if keys[k] {
				onKeys = append(onKeys, i)
				break
			}
		}
	}
	return append(out, onKeys, below)
}

// keysOf lists the keys an operation reads, compares or writes; a Range
// stands for every key with its prefix that any operation writes.
func (w *openWorld) keysOf(op *Op) []string {
	in := &op.Input
	switch in.Kind {
	case KindRange:
		return w.withPrefix(in.Key)
	case KindTxn:
		var ks []string
		for _, c := range in.Compares {
			ks = append(ks, c.Key)
		}
		for _, br := range [][]TxnOp{in.Then, in.Else} {
			for _, t := range br {
				ks = append(ks, t.Key)
			}
		}
		return ks
	}
	return []string{in.Key}
}

// withPrefix lists the keys of the universe with prefix p.
func (w *openWorld) withPrefix(p string) []string {
	j := sort.SearchStrings(w.universe, p)
	var out []string
	for ; j < len(w.universe) && strings.HasPrefix(w.universe[j], p); j++ {
		out = append(out, w.universe[j])
	}
	return out
}

// ddmin shrinks ids (for which fails holds) by deleting chunks of halving
// size, ending with single operations, until no single deletion keeps the
// failure. It returns the result and the number of calls to fails.
func ddmin(ids []int, fails func([]int) bool) ([]int, int) {
	cur := slices.Clone(ids)
	calls := 0
	for chunk := max(len(cur)/2, 1); ; {
		removed := false
		for start := 0; start < len(cur) && len(cur) > 1; {
			end := min(start+chunk, len(cur))
			try := append(slices.Clone(cur[:start]), cur[end:]...)
			calls++
			if len(try) > 0 && fails(try) {
				cur, removed = try, true
				continue // the next chunk now starts here
			}
			start = end
		}
		if chunk == 1 && !removed {
			return cur, calls
		}
		if chunk > 1 {
			chunk = max(chunk/2, 1)
		}
	}
}

// openKey is what a witness check knows of one key at revision at.
type openKey struct {
	kv     KV
	exists bool
	// unsure: the version and create revision are not known (a put over
	// a key a left-out write may have changed).
	unsure bool
	at     int64 // the revision the state is known at
	from   int   // the op (of the sub-history) that made it known, -1: the empty store
}

// matches reports whether a read answer x (nil: no key) agrees with s.
func (s *openKey) matches(x *KV) bool {
	if x == nil || !s.exists {
		return x == nil && !s.exists
	}
	if x.Key != s.kv.Key || x.Value != s.kv.Value || x.ModRevision != s.kv.ModRevision {
		return false
	}
	return s.unsure || x.Version == s.kv.Version && x.CreateRevision == s.kv.CreateRevision
}

// openReplay replays a sub-history in revision order; keys holds what it
// knows of each key it has met.
type openReplay struct {
	c    *revChecker
	keys map[string]*openKey
	src  int // on failure: the op whose state the failing op contradicts, or -1
	// minHB is, per key, the lowest revision that an op of the
	// sub-history which returned before a write of unknown outcome
	// writing the key was called saw (-1: none returned before): that
	// write can fill only gaps above it. minAll is the same over all
	// such writes.
	minHB  map[string]int64
	minAll int64
}

// replayOpen is the witness check's state replay: the sub-history's
// creators in revision order, each other operation checked at its
// revision, keys a left-out write may have touched in between taken as
// unknown until an operation reads or writes them again.
func (c *revChecker) replayOpen() (Verdict, string) {
	o := &openReplay{c: c, keys: map[string]*openKey{}, src: -1}
	o.boundUnknown()
	if rev, bad := o.unfillable(); bad != "" {
		return o.fail(rev, bad, c.someAt(rev))
	}
	for rev := int64(0); rev <= c.maxRev; rev++ {
		level := c.at(rev)
		if len(level) == 0 {
			continue
		}
		creator := c.creatorAt(rev)
		if creator >= 0 {
			if j := c.sawBefore(int(creator), rev); j >= 0 {
				c.blame = append(c.blame, int32(j), creator)
				return Fail, fmt.Sprintf("%s returned at %v, before %s, which created revision %d, was called at %v",
					c.describe(j), time.Duration(c.h[j].Return), c.describe(int(creator)), rev, time.Duration(c.h[creator].Call))
			}
			if bad := o.write(int(creator), rev); bad != "" {
				return o.fail(rev, bad, int(creator))
			}
		}
		for _, i := range level {
			if i == creator || c.role[i] == roleMaybe { // a maybe-creator is left unchecked: it may be either
				continue
			}
			if bad := o.read(int(i), rev); bad != "" {
				return o.fail(rev, bad, int(i))
			}
		}
	}
	return Pass, ""
}

// boundUnknown computes minHB and minAll.
func (o *openReplay) boundUnknown() {
	c, w := o.c, o.c.open
	o.minHB, o.minAll = map[string]int64{}, math.MaxInt64
	for _, u := range w.unknown {
		hb := c.highestBefore(w.h[u].Call)
		o.minAll = min(o.minAll, hb)
		for _, k := range writtenKeys(&w.h[u].Input) {
			if cur, ok := o.minHB[k]; !ok || hb < cur {
				o.minHB[k] = hb
			}
		}
	}
}

// unfillable finds the lowest gap at or below the sub-history's highest
// revision that no write can have created: every write of unknown
// outcome was called after an op here that had seen it returned, and no
// delete-only transaction reported it.
func (o *openReplay) unfillable() (int64, string) {
	c, w := o.c, o.c.open
	for _, r := range w.gaps {
		if r > c.maxRev || r > o.minAll {
			break
		}
		if w.maybeAt[r] == nil {
			return r, fmt.Sprintf("revision %d (seen by %s) was created by no write: every write of unknown outcome was called after an operation that had seen it returned, and no transaction that only deletes reported it",
				r, c.describe(c.someAt(r)))
		}
	}
	return 0, ""
}

// fail blames op i and the op whose state it contradicts.
func (o *openReplay) fail(rev int64, reason string, i int) (Verdict, string) {
	c := o.c
	c.best.rev = rev
	c.blame = append(c.blame, int32(i))
	if o.src >= 0 && o.src != i {
		c.blame = append(c.blame, int32(o.src))
	}
	return Fail, reason
}

// contradicts notes s's op as the one a failing op contradicts.
func (o *openReplay) contradicts(s *openKey) { o.src = s.from }

// view returns what is known of key k and whether a left-out write may
// have changed it after that, up to revision r.
func (o *openReplay) view(k string, r int64) (*openKey, bool) {
	s := o.keys[k]
	if s == nil {
		s = &openKey{from: -1}
		o.keys[k] = s
	}
	return s, o.touched(k, s.at, r)
}

// touched reports whether a left-out write may have written k at a
// revision in (a, b].
func (o *openReplay) touched(k string, a, b int64) bool {
	if a >= b {
		return false
	}
	w := o.c.open
	// The highest gap up to b is the one most writes of unknown outcome
	// can fill.
	if j := sort.Search(len(w.gaps), func(j int) bool { return w.gaps[j] > b }) - 1; j >= 0 && w.gaps[j] > a {
		if hb, ok := o.minHB[k]; ok && hb < w.gaps[j] {
			return true
		}
	}
	mr := w.maybeRev[k]
	if j := sort.Search(len(mr), func(j int) bool { return mr[j] > a }); j < len(mr) && mr[j] <= b {
		return true
	}
	revs := w.keyRevs[k]
	for j := sort.Search(len(revs), func(j int) bool { return revs[j] > a }); j < len(revs) && revs[j] <= b; j++ {
		if !o.createdHere(revs[j]) {
			return true
		}
	}
	return false
}

// touchedAt reports whether a left-out write may have written k at
// revision m.
func (o *openReplay) touchedAt(k string, m int64) bool {
	w := o.c.open
	if _, gap := slices.BinarySearch(w.gaps, m); gap {
		if hb, ok := o.minHB[k]; ok && hb < m || slices.Contains(w.maybeAt[m], k) {
			return true
		}
	}
	_, ok := slices.BinarySearch(w.keyRevs[k], m)
	return ok && !o.createdHere(m)
}

// createdHere reports whether an op of the sub-history surely created m.
func (o *openReplay) createdHere(m int64) bool {
	return m <= o.c.maxRev && o.c.creatorAt(m) >= 0
}

// observe checks that op i read x (nil: no key) for key k at revision r,
// then takes it as known.
func (o *openReplay) observe(i int, k string, r int64, x *KV) string {
	s, unsure := o.view(k, r)
	ok := s.matches(x)
	if !ok && unsure {
		ok = x == nil || x.Key == k && x.ModRevision > s.at && x.ModRevision <= r && o.touchedAt(k, x.ModRevision)
	}
	if !ok {
		o.contradicts(s)
		return fmt.Sprintf("%s: %s read %s at revision %d, but %s left it %s at revision %d, and no write left out %s",
			o.c.describe(i), k, o.c.holds(kvSlice(x)), r, o.source(s), o.c.holds(s.kvs()), s.at, o.couldHave(k, x, s.at, r))
	}
	n := &openKey{exists: x != nil, at: max(r, s.at), from: i}
	if x != nil {
		n.kv = *x
	}
	o.keys[k] = n
	return ""
}

// couldHave says what no left-out write could do, for a reason.
func (o *openReplay) couldHave(k string, x *KV, a, b int64) string {
	if x == nil || !o.touched(k, a, b) {
		return fmt.Sprintf("touched %s in between", k)
	}
	return fmt.Sprintf("wrote %s at revision %d", k, x.ModRevision)
}

// source names the op a key state came from.
func (o *openReplay) source(s *openKey) string {
	if s.from < 0 {
		return "the empty store"
	}
	return o.c.describe(s.from)
}

// kvs is the state as a read would answer it.
func (s *openKey) kvs() []KV {
	if !s.exists {
		return nil
	}
	return []KV{s.kv}
}

// one is a read answer of at most one key.
func one(kvs []KV) (*KV, bool) {
	switch len(kvs) {
	case 0:
		return nil, true
	case 1:
		return &kvs[0], true
	}
	return nil, false
}

// read checks op i, which changed nothing, at revision rev.
func (o *openReplay) read(i int, rev int64) string {
	c := o.c
	op := &c.h[i]
	in, out := &op.Input, &op.Output
	switch in.Kind {
	case KindGet:
		x, ok := one(out.KVs)
		if !ok {
			return fmt.Sprintf("%s: a get answered %d keys", c.describe(i), len(out.KVs))
		}
		return o.observe(i, in.Key, rev, x)
	case KindRange:
		return o.readRange(i, rev)
	case KindDelete:
		s, unsure := o.view(in.Key, rev)
		if s.exists && !unsure {
			o.contradicts(s)
			return fmt.Sprintf("%s deleted nothing, but %s left %s at revision %d and no write left out touched it since",
				c.describe(i), o.source(s), c.holds(s.kvs()), s.at)
		}
		o.keys[in.Key] = &openKey{at: max(rev, s.at), from: i}
		return ""
	case KindTxn:
		return o.txn(i, rev, false)
	}
	return ""
}

// readRange checks a Range key by key: every key with the prefix that
// anything writes, and every key it returned.
func (o *openReplay) readRange(i int, rev int64) string {
	c := o.c
	op := &c.h[i]
	got := map[string]*KV{}
	for j := range op.Output.KVs {
		kv := &op.Output.KVs[j]
		if !strings.HasPrefix(kv.Key, op.Input.Key) || j > 0 && op.Output.KVs[j-1].Key >= kv.Key {
			return fmt.Sprintf("%s: the answer is not the keys with the prefix, in order", c.describe(i))
		}
		got[kv.Key] = kv
	}
	keys := o.c.open.withPrefix(op.Input.Key)
	for k := range got {
		if _, in := slices.BinarySearch(keys, k); !in {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if bad := o.observe(i, k, rev, got[k]); bad != "" {
			return bad
		}
	}
	return ""
}

// write applies op i, the sure creator of rev.
func (o *openReplay) write(i int, rev int64) string {
	c := o.c
	op := &c.h[i]
	in := &op.Input
	switch in.Kind {
	case KindPut:
		o.put(i, in.Key, in.Value, rev)
	case KindDelete:
		s, unsure := o.view(in.Key, rev-1)
		if !s.exists && !unsure {
			o.contradicts(s)
			return fmt.Sprintf("%s: at revision %d %s does not exist (%s left it so at revision %d, and no write left out touched it since)",
				c.describe(i), rev-1, in.Key, o.source(s), s.at)
		}
		if op.Output.Deleted > 1 {
			return fmt.Sprintf("%s deleted %d keys", c.describe(i), op.Output.Deleted)
		}
		o.keys[in.Key] = &openKey{at: rev, from: i}
	case KindTxn:
		return o.txn(i, rev, true)
	}
	return ""
}

// put writes key=value at rev on behalf of op i.
func (o *openReplay) put(i int, key, value string, rev int64) {
	s, unsure := o.view(key, rev-1)
	n := &openKey{exists: true, at: rev, from: i, kv: KV{Key: key, Value: value, ModRevision: rev, CreateRevision: rev, Version: 1}}
	switch {
	case unsure || s.exists && s.unsure:
		n.unsure = true
	case s.exists:
		n.kv.CreateRevision, n.kv.Version = s.kv.CreateRevision, s.kv.Version+1
	}
	o.keys[key] = n
}

// txn checks transaction i at rev: as the creator of rev (its compares
// and reads see rev-1) or as one that changed nothing.
func (o *openReplay) txn(i int, rev int64, creating bool) string {
	c := o.c
	op := &c.h[i]
	in, out := &op.Input, &op.Output
	at := rev
	if creating {
		at = rev - 1
	}
	if holds, known := o.compares(in, at); known && holds != out.Succeeded {
		return fmt.Sprintf("%s took the wrong branch: at revision %d the compares are %v (known from %s)",
			c.describe(i), at, holds, o.comparedFrom(in))
	}
	branch := c.branch(op)
	if len(out.TxnKVs) > len(branch) {
		return fmt.Sprintf("%s answered more reads than its branch has", c.describe(i))
	}
	for k, t := range branch {
		switch t.Kind {
		case KindGet:
			if k >= len(out.TxnKVs) {
				continue
			}
			x, ok := one(out.TxnKVs[k])
			if !ok {
				return fmt.Sprintf("%s: a get answered %d keys", c.describe(i), len(out.TxnKVs[k]))
			}
			if bad := o.observe(i, t.Key, at, x); bad != "" {
				return bad
			}
		case KindPut:
			o.put(i, t.Key, t.Value, rev)
		case KindDelete:
			s, unsure := o.view(t.Key, at)
			if !creating && s.exists && !unsure {
				o.contradicts(s)
				return fmt.Sprintf("%s changed nothing, but %s left %s at revision %d and no write left out touched it since",
					c.describe(i), o.source(s), c.holds(s.kvs()), s.at)
			}
			o.keys[t.Key] = &openKey{at: max(rev, s.at), from: i}
		}
	}
	return ""
}

// compares evaluates a transaction's guards at revision at where the
// state is known: known is false if a guard looks at something unknown
// and no known guard fails.
func (o *openReplay) compares(in *Input, at int64) (holds, known bool) {
	known = true
	for j := range in.Compares {
		cm := &in.Compares[j]
		s, unsure := o.view(cm.Key, at)
		if unsure || s.exists && s.unsure && cm.Target != TargetValue && cm.Target != TargetModRevision {
			known = false
			continue
		}
		var kv *KV
		if s.exists {
			kv = &s.kv
		}
		if !compareHolds(cm, kv) {
			return false, true
		}
	}
	return known, known
}

// comparedFrom names the ops the compared keys' states came from.
func (o *openReplay) comparedFrom(in *Input) string {
	var from []string
	for _, cm := range in.Compares {
		if s := o.keys[cm.Key]; s != nil {
			from = append(from, cm.Key+": "+o.source(s))
		}
	}
	return strings.Join(from, "; ")
}
