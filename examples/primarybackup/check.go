package primarybackup

import (
	"errors"
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/seedkv/seedkv/harness"
)

// Outcome is what a client learnt of an operation.
type Outcome uint8

// The outcomes.
const (
	// Pending: not answered yet.
	Pending Outcome = iota
	// OK: answered (a read with its value).
	OK
	// Failed: the write was refused; it had no effect.
	Failed
	// Unknown: no answer (timeout); a write may or may not have happened.
	Unknown
)

// Op is one client operation on the register.
type Op struct {
	Client       int
	Call, Return int64 // virtual time in nanoseconds
	Write        bool
	Value        string // the value written, or read
	Outcome      Outcome
}

// History is every operation of a run, in call order.
type History []Op

// call records the start of an operation and returns its index.
func (h *History) call(client int, at int64, write bool, value string) int {
	*h = append(*h, Op{Client: client, Call: at, Write: write, Value: value})
	return len(*h) - 1
}

// ret records the end of operation i: a read's value, or the error.
func (h *History) ret(i int, at int64, read string, err error) {
	op := &(*h)[i]
	op.Return = at
	switch {
	case err == nil:
		op.Outcome = OK
		if !op.Write {
			op.Value = read
		}
	case errors.Is(err, ErrFailed):
		op.Outcome = Failed
	default:
		op.Outcome = Unknown
	}
}

// Model is the register's sequential specification for porcupine: the
// state is the value ("" at first); a write sets it, a read returns it.
var Model = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(Op)
		if in.Write {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		if in := input.(Op); in.Write {
			return fmt.Sprintf("write(%q)", in.Value)
		}
		return fmt.Sprintf("read() -> %q", output)
	},
}

// Operations is h as porcupine takes it: failed writes and unanswered
// reads constrain nothing and are left out. A write of unknown outcome
// that no read saw is left out too (it may take effect after everything
// else, where it changes nothing); one that a read saw took effect before
// that read did, so it returns no later than the first read of its value
// returned. (Unknown writes left open until the end made porcupine's
// search time out on a thousand operations.)
func Operations(h History) []porcupine.Operation {
	seen := map[string]int64{} // value -> earliest return of a read of it
	for _, op := range h {
		if !op.Write && op.Outcome == OK {
			if t, ok := seen[op.Value]; !ok || op.Return < t {
				seen[op.Value] = op.Return
			}
		}
	}
	var ops []porcupine.Operation
	for _, op := range h {
		ret := op.Return
		switch {
		case op.Outcome == Failed, op.Outcome == Pending, op.Outcome == Unknown && !op.Write:
			continue
		case op.Outcome == Unknown:
			t, ok := seen[op.Value]
			if !ok {
				continue
			}
			ret = max(t, op.Call)
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: op, Call: op.Call, Output: op.Value, Return: ret})
	}
	return ops
}

// Check checks h: a stale read (StaleRead) is a violation and its
// witness; without one, porcupine checks h against Model (bounded by
// timeout of wall time: past it, the verdict is unknown). The stale-read
// scan goes first because porcupine's search of a history that is not
// linearizable can be long (it timed out on 7 of 100 seeds of the buggy
// system when it went first).
func Check(h History, timeout time.Duration) harness.CheckResult {
	if err := StaleRead(h); err != nil {
		return harness.CheckResult{Err: err}
	}
	switch porcupine.CheckOperationsTimeout(Model, Operations(h), timeout) {
	case porcupine.Illegal:
		return harness.CheckResult{Err: fmt.Errorf("not linearizable (porcupine, %d operations); no single stale read explains it", len(h))}
	case porcupine.Unknown:
		return harness.CheckResult{Unknown: fmt.Sprintf("porcupine ran out of %v on %d operations", timeout, len(h))}
	}
	return harness.CheckResult{}
}

// StaleRead finds, by call time, the first answered read that returned a
// value older than one acknowledged before the read began: some write W2
// was acknowledged before the read's call and called after the write of
// the value read had returned (or the value read is the initial one). A
// read of a value no client wrote is reported too. Values written are
// unique. It returns nil if there is none.
func StaleRead(h History) error {
	writer := map[string]*Op{}
	for i := range h {
		if h[i].Write {
			writer[h[i].Value] = &h[i]
		}
	}
	for i := range h {
		r := &h[i]
		if r.Write || r.Outcome != OK {
			continue
		}
		w, ok := writer[r.Value]
		if !ok && r.Value != "" {
			return fmt.Errorf("client %d read %q at %v, a value no client wrote", r.Client, r.Value, time.Duration(r.Call))
		}
		for j := range h {
			w2 := &h[j]
			if !w2.Write || w2.Outcome != OK || w2.Return >= r.Call || w2 == w {
				continue
			}
			if w == nil || w.Outcome != Unknown && w2.Call > w.Return {
				return fmt.Errorf("stale read: client %d read %q (called at %v), but client %d's write of %q was acknowledged at %v, after %s",
					r.Client, r.Value, time.Duration(r.Call), w2.Client, w2.Value, time.Duration(w2.Return), writtenAt(w))
			}
		}
	}
	return nil
}

func writtenAt(w *Op) string {
	if w == nil {
		return "the initial value"
	}
	return fmt.Sprintf("the write of %q returned at %v", w.Value, time.Duration(w.Return))
}
