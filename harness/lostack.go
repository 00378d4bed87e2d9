package harness

import (
	"errors"
	"fmt"
	"sort"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
)

// errLostWrite is wrapped by every "lost acknowledged write" failure.
var errLostWrite = errors.New("lost acknowledged write")

// checkAcknowledged requires every write the history records as
// acknowledged with a revision to be in the write log at that revision:
// each of its puts with its value, a delete that reported a deleted key as
// that key's delete, and a transaction's delete of a key the log holds
// live just before as that key's delete. Writes settled from the log
// (resolveUnknown) are not acknowledgements and are skipped. The error
// names the operation: client, history index, input and revision.
//
// Within the fault model this never fails: a write is acknowledged only
// once it is committed, and a committed write is never lost. Beyond it
// (lose-synced, disk-corrupt-majority) it is the first symptom worth
// reporting, before "replicas did not catch up".
func checkAcknowledged(ops []lin.Op, log []lin.LogEntry, source func(rev int64) string) error {
	idx := newLogIndex(log)
	for i := range ops {
		op := &ops[i]
		if op.Unknown || op.Failed || op.Return == lin.UnknownReturn || op.Output.Revision <= 0 || !op.Input.IsWrite() {
			continue
		}
		rev := op.Output.Revision + revBase
		if missing := idx.missing(op, rev); missing != "" {
			return fmt.Errorf("%w: client %d op %d %s acknowledged at revision %d (returned at %v): %s %s",
				errLostWrite, op.ClientID, i, op.Input, rev, time.Duration(op.Return), source(rev), missing)
		}
	}
	return nil
}

// logIndex answers "what changed at revision r" and "was key k live just
// before r" over a write log.
type logIndex struct {
	log  []lin.LogEntry
	keys map[string][]keyChange // per key, in revision order
}

type keyChange struct {
	rev int64
	put bool
}

func newLogIndex(log []lin.LogEntry) *logIndex {
	x := &logIndex{log: log, keys: map[string][]keyChange{}}
	for _, e := range log {
		for _, c := range e.Changes {
			x.keys[c.Key] = append(x.keys[c.Key], keyChange{e.Revision, c.Type == lin.EventPut})
		}
	}
	return x
}

// at returns the log entry of revision rev, or nil.
func (x *logIndex) at(rev int64) *lin.LogEntry {
	i := sort.Search(len(x.log), func(i int) bool { return x.log[i].Revision >= rev })
	if i < len(x.log) && x.log[i].Revision == rev {
		return &x.log[i]
	}
	return nil
}

// liveBefore reports whether key was live just before revision rev.
func (x *logIndex) liveBefore(key string, rev int64) bool {
	cs := x.keys[key]
	i := sort.Search(len(cs), func(i int) bool { return cs[i].rev >= rev })
	return i > 0 && cs[i-1].put
}

// missing says what of op's effect the log lacks at rev ("" if nothing).
func (x *logIndex) missing(op *lin.Op, rev int64) string {
	want := effectOf(op, func(key string) bool { return x.liveBefore(key, rev) })
	if len(want) == 0 {
		return ""
	}
	e := x.at(rev)
	if e == nil {
		last := int64(0)
		if n := len(x.log); n > 0 {
			last = x.log[n-1].Revision
		}
		return fmt.Sprintf("has no revision %d (it ends at revision %d)", rev, last)
	}
	for _, w := range want {
		if !hasChange(e.Changes, w) {
			return fmt.Sprintf("has no %s of %q%s at revision %d, but %s", w.Type, w.Key, valueSuffix(w), rev, describeChanges(e.Changes))
		}
	}
	return ""
}

// effectOf is the changes an acknowledged write op must have made at its
// revision: a put's, a delete's that deleted something, and the taken
// branch's puts and its deletes of keys live before it (live).
func effectOf(op *lin.Op, live func(key string) bool) []lin.Change {
	var want []lin.Change
	in := &op.Input
	switch in.Kind {
	case lin.KindPut:
		want = append(want, lin.Change{Key: in.Key, Type: lin.EventPut, Value: in.Value})
	case lin.KindDelete:
		if op.Output.Deleted > 0 {
			want = append(want, lin.Change{Key: in.Key, Type: lin.EventDelete})
		}
	case lin.KindTxn:
		branch := in.Else
		if op.Output.Succeeded {
			branch = in.Then
		}
		for _, t := range branch {
			switch {
			case t.Kind == lin.KindPut:
				want = append(want, lin.Change{Key: t.Key, Type: lin.EventPut, Value: t.Value})
			case t.Kind == lin.KindDelete && live(t.Key):
				want = append(want, lin.Change{Key: t.Key, Type: lin.EventDelete})
			}
		}
	}
	return want
}

func hasChange(cs []lin.Change, w lin.Change) bool {
	for _, c := range cs {
		if c == w {
			return true
		}
	}
	return false
}

func valueSuffix(c lin.Change) string {
	if c.Type == lin.EventPut {
		return "=" + c.Value
	}
	return ""
}

// describeChanges lists a revision's changes for a failure message.
func describeChanges(cs []lin.Change) string {
	b := []byte{}
	for i, c := range cs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%s %q%s", c.Type, c.Key, valueSuffix(c))
	}
	return string(b)
}

// lostWrites checks the acknowledged writes against the write log and, if
// the run failed already (replicas that did not catch up, no progress
// after heal), against every running replica's own log as far as it
// reaches: a replica that applied a revision differently from what a
// client was told has lost that write, even if the most advanced replica
// still holds it.
func (r *seedRun) lostWrites(ops []lin.Op, log []lin.LogEntry) error {
	source := func(rev int64) string {
		if rev < r.logFrom {
			return "the harness's watch of the write log (replicas may have compacted below revision " + itoa(int(r.logFrom)) + ")"
		}
		return "the write log (of replica " + itoa(int(r.logSource)) + ", the most advanced)"
	}
	if err := checkAcknowledged(ops, log, source); err != nil {
		return err
	}
	if r.failure == "" {
		return nil
	}
	ids, ins := r.inspectors()
	for k, id := range ids {
		rev, _, err := ins[k].KVHash()
		if err != nil || rev < 2 {
			continue
		}
		own, err := r.replicaLog(id, ins[k], rev)
		if err != nil {
			continue // unreadable: the failure already on record stands
		}
		if err := checkAcknowledged(acknowledgedWithin(ops, r.logFrom, rev), own, func(int64) string { return "replica " + itoa(int(id)) + "'s own log" }); err != nil {
			return err
		}
	}
	return nil
}

// acknowledgedWithin keeps the operations acknowledged at store revisions
// in [from, rev] (a replica that has not reached a revision has not lost
// it, and one may have compacted what is below from).
func acknowledgedWithin(ops []lin.Op, from, rev int64) []lin.Op {
	out := make([]lin.Op, 0, len(ops))
	for _, op := range ops {
		if r := op.Output.Revision + revBase; r >= from && r <= rev {
			out = append(out, op)
		}
	}
	return out
}
