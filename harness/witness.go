package harness

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// WitnessOp is one operation of a linearizability failure's minimal
// witness: the few operations that cannot be linearized together, however
// the rest of the history ran (see linearizability.MinimalWitness). A
// report highlights them by ID.
type WitnessOp struct {
	// ID is the operation's index in the checked history: its line in
	// history.txt and its number ("op 12") in the reasons.
	ID int `json:"id"`
	// Client is the client that issued it.
	Client int `json:"client"`
	// Op describes the request and the answer, e.g.
	// "put(/k1, v17) -> rev 42".
	Op string `json:"op"`
	// Keys are the keys it reads, compares or writes (a range: its prefix).
	Keys []string `json:"keys"`
	// Values are the values it writes.
	Values []string `json:"values,omitempty"`
	// Revision is the store revision its answer reported (0 if its
	// outcome is unknown).
	Revision int64 `json:"revision"`
	// Call is the virtual time it was called.
	Call time.Duration `json:"call"`
	// Return is the virtual time it returned, or -1 if it never did.
	Return time.Duration `json:"return"`
	// Replica is the replica that answered (0: no answer reached the
	// client).
	Replica uint64 `json:"replica"`
	// Faults are the fault episodes active at some time between its call
	// and its return (the end of the run if it never returned), as
	// "name detail [start, end]".
	Faults []string `json:"faults,omitempty"`
	// EarlierFault is, when no fault was active during it, the last
	// episode that had ended before its call, as Faults names it ("" if
	// none): a replica may still lag behind it.
	EarlierFault string `json:"earlier_fault,omitempty"`
}

// String is the operation on one line, as witness.txt and the reason
// print it.
func (w WitnessOp) String() string {
	ret := "never returned"
	if w.Return >= 0 {
		ret = "returned " + w.Return.String()
	}
	replica := "no answer"
	if w.Replica != 0 {
		replica = fmt.Sprintf("answered by replica %d", w.Replica)
	}
	faults := "none"
	switch {
	case len(w.Faults) > 0:
		faults = strings.Join(w.Faults, "; ")
	case w.EarlierFault != "":
		faults = "none (the last one before: " + w.EarlierFault + ")"
	}
	return fmt.Sprintf("op %d client %d %s | called %v, %s, %s | faults: %s",
		w.ID, w.Client, w.Op, w.Call, ret, replica, faults)
}

// WitnessText renders a witness for witness.txt: the reason, then one
// operation per line ("" for no witness).
func WitnessText(reason string, ops []WitnessOp) string {
	if len(ops) == 0 {
		return ""
	}
	var b strings.Builder
	plural := "s"
	if len(ops) == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "minimal witness: %d operation%s that cannot be linearized together, whatever the others did\n", len(ops), plural)
	if reason != "" {
		fmt.Fprintf(&b, "why: %s\n", reason)
	}
	for _, o := range ops {
		fmt.Fprintf(&b, "  %s\n", o)
	}
	return b.String()
}

// noteAnswer records which replica answered history op hid, for a
// failure's witness and artifacts. A run checked in a window records
// none: it has no artifacts, and a failure runs it again with the whole
// history, whose record the witness reads.
func (r *seedRun) noteAnswer(hid int, member host.NodeID) {
	if hid < 0 || r.window != nil {
		return
	}
	for len(r.answeredBy) <= hid {
		r.answeredBy = append(r.answeredBy, 0)
	}
	r.answeredBy[hid] = member
}

// witness shrinks a failing history to its minimal witness and describes
// each operation; the reason is the witness check's, "" if there is none.
func (r *seedRun) witness(ops []lin.Op) ([]WitnessOp, string) {
	w, err := lin.MinimalWitness(ops)
	switch {
	case errors.Is(err, lin.ErrNoWitness):
		r.notef("linearizability: no witness smaller than the history (the violation needs the search over unknown outcomes or a count of all writes)")
		return nil, ""
	case err != nil:
		r.notef("linearizability: witness: %v", err)
		return nil, ""
	}
	r.notef("linearizability: minimal witness of %d ops found in %d sub-history checks", len(w.Ops), w.Checks)
	var episodes []episode
	if r.nemesis != nil {
		for _, e := range r.nemesis.Episodes() {
			episodes = append(episodes, episode{e.Name + " " + e.Detail, e.Start, e.End})
		}
	}
	out := make([]WitnessOp, len(w.Ops))
	for j, i := range w.Ops {
		out[j] = r.describeWitnessOp(i, &ops[i], episodes)
	}
	return out, w.Reason
}

// episode is a fault episode for matching against operations' times.
type episode struct {
	what       string
	start, end time.Duration // end -1: still active
}

// describeWitnessOp describes history op i.
func (r *seedRun) describeWitnessOp(i int, op *lin.Op, episodes []episode) WitnessOp {
	w := WitnessOp{
		ID: i, Client: op.ClientID, Op: lin.Describe(op), Keys: lin.Keys(&op.Input), Values: lin.Values(&op.Input),
		Call: time.Duration(op.Call), Return: -1,
	}
	if !op.Unknown {
		w.Revision = op.Output.Revision
	}
	end := r.w.Elapsed()
	if op.Return != lin.UnknownReturn {
		w.Return = time.Duration(op.Return)
		end = w.Return
	}
	if i < len(r.answeredBy) {
		w.Replica = uint64(r.answeredBy[i])
	}
	var earlier *episode
	for k := range episodes {
		e := &episodes[k]
		switch {
		case e.start <= end && (e.end < 0 || e.end >= w.Call):
			w.Faults = append(w.Faults, e.String())
		case e.end >= 0 && e.end < w.Call && (earlier == nil || e.end > earlier.end):
			earlier = e
		}
	}
	if len(w.Faults) == 0 && earlier != nil {
		w.EarlierFault = earlier.String()
	}
	return w
}

// String is "name detail [start, end]".
func (e *episode) String() string {
	to := "still active"
	if e.end >= 0 {
		to = e.end.String()
	}
	return fmt.Sprintf("%s [%v, %s]", strings.TrimSpace(e.what), e.start, to)
}

// witnessDetail is the linearizability failure's detail with its
// witness: the checker's reason and the witness's ops on the first line (a
// sweep prints only that), the witness's own reason and its operations
// below.
func witnessDetail(checker string, ops []WitnessOp, why string) string {
	if len(ops) == 0 {
		return checker
	}
	ids := make([]string, len(ops))
	for j, o := range ops {
		ids[j] = fmt.Sprint(o.ID)
	}
	if why == checker {
		why = "" // said on the first line already
	}
	return fmt.Sprintf("%s [minimal witness: ops %s]\n%s",
		checker, strings.Join(ids, ", "), strings.TrimRight(WitnessText(why, ops), "\n"))
}

// historyLine is op i as history.txt prints it: its call, and its answer
// with the replica that gave it, or why it has none.
func historyLine(i int, op *lin.Op, replica host.NodeID) string {
	var ret string
	switch {
	case op.Return == lin.UnknownReturn && op.Unknown:
		ret = "never returned (outcome unknown)"
	case op.Return == lin.UnknownReturn && op.Failed:
		ret = "never returned; settled from the write log: no effect"
	case op.Return == lin.UnknownReturn:
		ret = fmt.Sprintf("never returned; settled from the write log: rev=%d", op.Output.Revision)
	case op.Failed:
		ret = fmt.Sprintf("%v failed: %s", time.Duration(op.Return), op.Output.Err)
	default:
		ret = fmt.Sprintf("%v rev=%d kvs=%v txn=%v ok=%v deleted=%d", time.Duration(op.Return),
			op.Output.Revision, op.Output.KVs, op.Output.TxnKVs, op.Output.Succeeded, op.Output.Deleted)
	}
	if replica != 0 {
		ret += fmt.Sprintf(" replica=%d", replica)
	}
	return fmt.Sprintf("%d client=%d call=%v %s -> %s\n", i, op.ClientID, time.Duration(op.Call), op.Input, ret)
}
