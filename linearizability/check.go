package linearizability

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a check.
type Verdict uint8

// Verdicts. Unknown means the check ran out of time (or the history could
// not be checked by the chosen model); it is never a pass.
const (
	Pass Verdict = iota + 1
	Fail
	Unknown
)

// String is the verdict as the command line reports it.
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// ErrUnsupported is returned (in Result.Err) when a history holds an
// operation the chosen model cannot check.
var ErrUnsupported = errors.New("linearizability: operation not supported by model")

// ErrTooLong is returned (in Result.Err) for a history longer than MaxOps.
var ErrTooLong = errors.New("linearizability: history longer than MaxOps")

// ErrDigested is returned (in Result.Err) by porcupine's checks for a
// history whose read answers are kept as digests (History.DigestReads).
var ErrDigested = errors.New("linearizability: read answers kept as digests")

// Model is a sequential specification of the KV API plus the conversion of
// a history into porcupine operations.
type Model struct {
	name    string
	prepare func(ops []Op) ([]porcupine.Operation, error)
	pm      porcupine.Model
}

// Name is "per-key" or "store".
func (m Model) Name() string { return m.name }

// StoreModel is the whole-store model with revisions: every operation kind,
// header revisions checked, no partitioning.
func StoreModel() Model {
	return Model{
		name:    "store",
		prepare: prepareStore,
		pm: porcupine.Model{
			Init: func() interface{} { return &storeState{hash: mixRev(0)} },
			Step: func(state, input, _ interface{}) (bool, interface{}) {
				return storeStep(state.(*storeState), input.(*storeOp))
			},
			Equal: func(a, b interface{}) bool { return storeEqual(a.(*storeState), b.(*storeState)) },
			Hash:  func(state interface{}) uint64 { return storeHash(state.(*storeState)) },
			DescribeOperation: func(input, _ interface{}) string {
				op := input.(*storeOp).op
				return describeOp(&op.Input, &op.Output, op.Unknown)
			},
			DescribeState: func(state interface{}) string { return describeStore(state.(*storeState)) },
		},
	}
}

// PerKeyModel is the per-key model: Get, Put, Delete, single-key Txn (CAS)
// and prefix Range, partitioned by key. A Range is checked as one read per
// key, which is a necessary condition only: the per-key model does not see
// a Range that mixes two moments, nor header revisions. Use StoreModel for
// those and for multi-key Txns.
func PerKeyModel() Model {
	return Model{
		name:    "per-key",
		prepare: preparePerKey,
		pm: porcupine.Model{
			Partition:      partitionByKey,
			PartitionEvent: partitionEventsByKey,
			Init:           func() interface{} { return keyState{} },
			Step: func(state, input, _ interface{}) (bool, interface{}) {
				return keyStep(state.(keyState), input.(*keyOp))
			},
			Hash: func(state interface{}) uint64 {
				s := state.(keyState)
				return hashKV(&KV{Value: s.value, Version: s.version, ModRevision: s.modRev, CreateRevision: s.createRev}) ^
					uint64(boolInt(s.exists)) ^ mixRev(s.rev) ^ mixRev(int64(s.done)+1<<40)
			},
			DescribeOperation: describeKeyOp,
			DescribeState:     func(state interface{}) string { return describeKey(state.(keyState)) },
		},
	}
}

func describeKeyOp(input, _ interface{}) string {
	k := input.(*keyOp)
	d := describeOp(&k.op.Input, &k.op.Output, k.op.Unknown)
	if k.op.Input.Kind == KindRange {
		d += fmt.Sprintf(" (here: %s)", describeKVs(kvSlice(k.kv)))
	}
	return d
}

func kvSlice(kv *KV) []KV {
	if kv == nil {
		return nil
	}
	return []KV{*kv}
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, o := range history {
		k := o.Input.(*keyOp).key
		byKey[k] = append(byKey[k], o)
	}
	keys := sortedKeys(byKey)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

func partitionEventsByKey(history []porcupine.Event) [][]porcupine.Event {
	keyOf := map[int]string{} // return events carry no input: match by id
	byKey := map[string][]porcupine.Event{}
	for _, e := range history {
		if e.Kind == porcupine.CallEvent {
			keyOf[e.Id] = e.Value.(*keyOp).key
		}
		k := keyOf[e.Id]
		byKey[k] = append(byKey[k], e)
	}
	keys := sortedKeys(byKey)
	out := make([][]porcupine.Event, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checked reports whether op takes part in the check: refused ops had no
// effect, and a read whose answer was lost constrains nothing.
func checked(op *Op) bool {
	return !op.Failed && !(op.Unknown && !op.Input.IsWrite())
}

func toPorcupine(op *Op, input interface{}) porcupine.Operation {
	return porcupine.Operation{ClientId: op.ClientID, Call: op.Call, Return: op.Return, Input: input}
}

func prepareStore(ops []Op) ([]porcupine.Operation, error) {
	hist := newStoreHist(ops)
	out := make([]porcupine.Operation, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		if err := validKind(op); err != nil {
			return nil, err
		}
		if checked(op) {
			out = append(out, toPorcupine(op, &storeOp{op: op, hist: hist}))
		}
	}
	return out, nil
}

func validKind(op *Op) error {
	if op.Input.Kind < KindGet || op.Input.Kind > KindTxn {
		return fmt.Errorf("%w: %s", ErrUnsupported, op.Input.Kind)
	}
	return nil
}

// txnKey returns the one key a Txn touches, or false if it touches several.
func txnKey(in *Input) (string, bool) {
	key, seen := "", false
	same := func(k string) bool {
		if !seen {
			key, seen = k, true
		}
		return k == key
	}
	for _, c := range in.Compares {
		if !same(c.Key) {
			return "", false
		}
	}
	for _, br := range [][]TxnOp{in.Then, in.Else} {
		for _, t := range br {
			if !same(t.Key) {
				return "", false
			}
		}
	}
	return key, seen
}

func preparePerKey(ops []Op) ([]porcupine.Operation, error) {
	written := map[string]bool{} // every key any op may write: the Range universe
	for i := range ops {
		for _, k := range writtenKeys(&ops[i].Input) {
			written[k] = true
		}
	}
	universe := sortedKeys(written)
	hist := newKeyHist(ops)
	out := make([]porcupine.Operation, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		if err := validKind(op); err != nil {
			return nil, err
		}
		if !checked(op) {
			continue
		}
		switch op.Input.Kind {
		case KindRange:
			for _, k := range projectRange(op, universe) {
				k.hist = hist
				out = append(out, toPorcupine(op, k))
			}
		case KindTxn:
			key, ok := txnKey(&op.Input)
			if !ok {
				return nil, fmt.Errorf("%w: per-key model, multi-key %s", ErrUnsupported, op.Input)
			}
			if op.Unknown && hasRevCompare(&op.Input) {
				return nil, fmt.Errorf("%w: per-key model, unknown-outcome revision compare %s", ErrUnsupported, op.Input)
			}
			out = append(out, toPorcupine(op, &keyOp{op: op, key: key, hist: hist}))
		default:
			out = append(out, toPorcupine(op, &keyOp{op: op, key: op.Input.Key, hist: hist}))
		}
	}
	for _, o := range out {
		if k := o.Input.(*keyOp); !k.op.Unknown {
			hist.known[k.key]++
		}
	}
	return out, nil
}

func hasRevCompare(in *Input) bool {
	for _, c := range in.Compares {
		if c.Target == TargetModRevision || c.Target == TargetCreateRevision {
			return true
		}
	}
	return false
}

// projectRange turns a Range into one read per key: every written key with
// the prefix, plus any key the Range returned (a key never written fails in
// its own partition).
func projectRange(op *Op, universe []string) []*keyOp {
	got := map[string]*KV{}
	for i := range op.Output.KVs {
		got[op.Output.KVs[i].Key] = &op.Output.KVs[i]
	}
	var out []*keyOp
	for _, k := range universe {
		if strings.HasPrefix(k, op.Input.Key) {
			out = append(out, &keyOp{op: op, key: k, kv: got[k]})
			delete(got, k)
		}
	}
	for _, k := range sortedKeys(got) {
		out = append(out, &keyOp{op: op, key: k, kv: got[k]})
	}
	return out
}

func writtenKeys(in *Input) []string {
	switch in.Kind {
	case KindPut, KindDelete:
		return []string{in.Key}
	case KindTxn:
		var ks []string
		for _, br := range [][]TxnOp{in.Then, in.Else} {
			for _, t := range br {
				if t.Kind != KindGet {
					ks = append(ks, t.Key)
				}
			}
		}
		return ks
	}
	return nil
}

// Result is a verdict with what is needed to explain it.
type Result struct {
	Verdict Verdict
	// Reason says why a check failed or was not decided.
	Reason string
	// Err is set when the history could not be checked by the model
	// (ErrUnsupported, ErrTooLong); the verdict is then Unknown.
	Err error

	model   Model
	info    porcupine.LinearizationInfo
	hasInfo bool
}

// Check checks history against m, giving up after timeout of wall time
// (0: no bound). The history must start from an empty store (record any
// preloading as operations) and hold every write that created a revision. Wall time only decides whether the verdict is Unknown:
// porcupine reports Illegal only for a partition it finished exploring, so
// Pass and Fail are the same on any machine.
func Check(m Model, history []Op, timeout time.Duration) Verdict {
	return check(m, history, timeout, false).Verdict
}

// CheckVerbose is Check keeping porcupine's linearization info, so a
// failing history can be visualised with Result.Visualize. It is slower.
func CheckVerbose(m Model, history []Op, timeout time.Duration) Result {
	return check(m, history, timeout, true)
}

func check(m Model, history []Op, timeout time.Duration, verbose bool) Result {
	if len(history) > MaxOps {
		return Result{Verdict: Unknown, Err: ErrTooLong, Reason: ErrTooLong.Error(), model: m}
	}
	if i := firstDigested(history); i >= 0 {
		err := fmt.Errorf("%w: op %d's answer is kept as a digest (History.DigestReads): only the revision checker takes it", ErrDigested, i)
		return Result{Verdict: Unknown, Err: err, Reason: err.Error(), model: m}
	}
	ops, err := m.prepare(dropInvisibleWrites(boundSettledWrites(boundUnknownWrites(history))))
	if err != nil {
		return Result{Verdict: Unknown, Err: err, Reason: err.Error(), model: m}
	}
	r := Result{model: m}
	// The quick checks find reads of values that no write could have
	// produced; porcupine would need an exhaustive search to refute them.
	if reason := quickCheck(history); reason != "" {
		r.Verdict, r.Reason = Fail, reason
		if verbose {
			_, r.info = porcupine.CheckOperationsVerbose(m.pm, ops, timeout)
			r.hasInfo = true
		}
		return r
	}
	var res porcupine.CheckResult
	if verbose {
		res, r.info = porcupine.CheckOperationsVerbose(m.pm, ops, timeout)
		r.hasInfo = true
	} else {
		res = porcupine.CheckOperationsTimeout(m.pm, ops, timeout)
	}
	switch res {
	case porcupine.Ok:
		r.Verdict = Pass
	case porcupine.Illegal:
		r.Verdict, r.Reason = Fail, fmt.Sprintf("history is not linearizable under the %s model", m.name)
	default:
		r.Verdict, r.Reason = Unknown, fmt.Sprintf("linearizability check timed out after %v", timeout)
	}
	return r
}

// boundUnknownWrites returns a copy of history in which an unknown-outcome
// write whose (unique) value some completed operation read gets that read's
// return as its own: it must have taken effect by then. Without this, such a
// write stays pending to the end and porcupine tries it at every point.
func boundUnknownWrites(history []Op) []Op {
	type kv struct{ key, value string }
	writer := map[kv]int{} // -1: written by several ops, not unique
	for i := range history {
		for _, w := range putsOf(&history[i].Input) {
			if _, dup := writer[w]; dup {
				writer[w] = -1
			} else {
				writer[w] = i
			}
		}
	}
	out := make([]Op, len(history))
	copy(out, history)
	for i := range history {
		r := &history[i]
		if r.Failed || r.Unknown {
			continue
		}
		for _, kvs := range append([][]KV{r.Output.KVs}, r.Output.TxnKVs...) {
			for _, got := range kvs {
				w, ok := writer[kv{got.Key, got.Value}]
				if ok && w >= 0 && out[w].Unknown && r.Return < out[w].Return && r.Return >= out[w].Call {
					out[w].Return = r.Return
				}
			}
		}
	}
	return out
}

// boundSettledWrites returns history (a copy if anything changes) in which
// a write whose effect is known but whose answer was lost (not Unknown,
// Return UnknownReturn, Output.Revision R: a harness settled it from the
// committed log) gets a return time: every completed operation reports the
// store revision at its linearization point, so one that reported R or
// more was linearized after the write, which had taken effect by that
// operation's return. Left open to the end, each such write is tried at
// every later point of the search; with many clients (simrun -nodes 15)
// histories of a few thousand operations then timed out as unknown.
func boundSettledWrites(history []Op) []Op {
	type done struct{ rev, ret int64 }
	var ds []done
	settled := false
	for i := range history {
		op := &history[i]
		switch {
		case op.Failed || op.Unknown || op.Output.Revision <= 0:
		case op.Return != UnknownReturn:
			ds = append(ds, done{op.Output.Revision, op.Return})
		case op.Input.IsWrite():
			settled = true
		}
	}
	if !settled || len(ds) == 0 {
		return history
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].rev < ds[j].rev })
	for j := len(ds) - 2; j >= 0; j-- { // suffix minimum of the returns
		ds[j].ret = min(ds[j].ret, ds[j+1].ret)
	}
	out := make([]Op, len(history))
	copy(out, history)
	for i := range out {
		op := &out[i]
		if op.Failed || op.Unknown || op.Return != UnknownReturn || op.Output.Revision <= 0 || !op.Input.IsWrite() {
			continue
		}
		j := sort.Search(len(ds), func(j int) bool { return ds[j].rev >= op.Output.Revision })
		// A bound before the call is a contradiction: leave it for the
		// search to report.
		if j < len(ds) && ds[j].ret > op.Call {
			op.Return = ds[j].ret
		}
	}
	return out
}

// dropInvisibleWrites removes unknown-outcome writes that provably took
// effect, if at all, after every completed operation, where nothing saw
// them. Kept pending, porcupine would try every subset of them before each
// trailing read.
//
// The argument rests on revisions, which every completed operation reports:
// a write that changes anything creates a
// revision; the revisions completed writes surely created are claimed; the
// others up to the highest revision any completed op reports, R, are gaps,
// and only a write called before some op reported a revision >= the gap
// can have filled it. An unknown write called after that, or any unknown
// write if there is no gap, either changed nothing or created a revision
// above R, after every completed op. A write whose value was read is never
// dropped. Dropping an unknown write only removes a possibility, so it can
// never turn a violation into a pass.
func dropInvisibleWrites(history []Op) []Op {
	var maxRev int64
	for i := range history {
		if op := &history[i]; !op.Failed && !op.Unknown {
			maxRev = max(maxRev, op.Output.Revision)
		}
	}
	claimed := claimedRevisions(history)
	var lastGap int64
	for r := maxRev; r >= 1; r-- {
		if !claimed[r] {
			lastGap = r
			break
		}
	}
	bound := int64(-1) // calls after bound cannot have filled a gap
	if lastGap > 0 {
		bound = UnknownReturn
		for i := range history {
			op := &history[i]
			if !op.Failed && !op.Unknown && op.Output.Revision >= lastGap {
				bound = min(bound, op.Return)
			}
		}
	}
	out := history[:0:0]
	for i := range history {
		op := &history[i]
		invisible := op.Unknown && op.Input.IsWrite() && op.Return == UnknownReturn && op.Call > bound
		if !invisible {
			out = append(out, *op)
		}
	}
	return out
}

// putsOf lists the (key, value) pairs an input may write.
func putsOf(in *Input) []struct{ key, value string } {
	var out []struct{ key, value string }
	switch in.Kind {
	case KindPut:
		out = append(out, struct{ key, value string }{in.Key, in.Value})
	case KindTxn:
		for _, br := range [][]TxnOp{in.Then, in.Else} {
			for _, t := range br {
				if t.Kind == KindPut {
					out = append(out, struct{ key, value string }{t.Key, t.Value})
				}
			}
		}
	}
	return out
}

// quickCheck returns why the history is impossible, or "": a read returned
// a value that no write of that key ever carried, or one whose only write
// was called after the read returned.
func quickCheck(history []Op) string {
	type kv struct{ key, value string }
	firstCall := map[kv]int64{}
	for i := range history {
		op := &history[i]
		if op.Failed {
			continue
		}
		note := func(key, value string) {
			if c, ok := firstCall[kv{key, value}]; !ok || op.Call < c {
				firstCall[kv{key, value}] = op.Call
			}
		}
		switch op.Input.Kind {
		case KindPut:
			note(op.Input.Key, op.Input.Value)
		case KindTxn:
			for _, br := range [][]TxnOp{op.Input.Then, op.Input.Else} {
				for _, t := range br {
					if t.Kind == KindPut {
						note(t.Key, t.Value)
					}
				}
			}
		}
	}
	for i := range history {
		op := &history[i]
		if op.Failed || op.Unknown {
			continue
		}
		for _, kvs := range append([][]KV{op.Output.KVs}, op.Output.TxnKVs...) {
			for _, r := range kvs {
				call, ok := firstCall[kv{r.Key, r.Value}]
				if !ok {
					return fmt.Sprintf("op %d (client %d) %s read %s=%q, a value never written",
						i, op.ClientID, op.Input, r.Key, r.Value)
				}
				if call > op.Return {
					return fmt.Sprintf("op %d (client %d) %s read %s=%q before any write of it was called",
						i, op.ClientID, op.Input, r.Key, r.Value)
				}
			}
		}
	}
	return ""
}

// Fault is a fault active during part of a run, shown on the
// visualisation's timeline.
type Fault struct {
	Name   string // e.g. "partition", "crash"
	Detail string // e.g. "{1,2} | {3,4,5}"
	Start  int64  // virtual nanoseconds
	End    int64  // virtual nanoseconds; Start if a point in time
}

// Visualize writes porcupine's HTML visualisation of the checked history to
// w, with faults as annotations on their own timeline rows and the reason
// on a "verdict" row. It needs a Result from CheckVerbose. Operations the
// check left out (refused ops, reads with lost answers, unknown writes that
// provably nobody saw) do not appear.
func (r *Result) Visualize(w io.Writer, faults []Fault) error {
	if !r.hasInfo {
		return errors.New("linearizability: Visualize needs a Result from CheckVerbose")
	}
	info := r.info
	anns := make([]porcupine.Annotation, 0, len(faults)+1)
	for _, f := range faults {
		anns = append(anns, porcupine.Annotation{
			Tag:             "fault: " + f.Name,
			Start:           f.Start,
			End:             f.End,
			Description:     strings.TrimSpace(f.Name + " " + f.Detail),
			Details:         fmt.Sprintf("%s %s from %v to %v", f.Name, f.Detail, time.Duration(f.Start), time.Duration(f.End)),
			BackgroundColor: "#f8d7da",
		})
	}
	if r.Reason != "" {
		anns = append(anns, porcupine.Annotation{Tag: "verdict", Description: r.Verdict.String(), Details: r.Reason})
	}
	info.AddAnnotations(anns)
	return porcupine.Visualize(r.model.pm, info, w)
}

// VisualizePath is Visualize into a new file at path.
func (r *Result) VisualizePath(path string, faults []Fault) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Visualize(f, faults); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
