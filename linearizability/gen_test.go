package linearizability

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// refStore is an independent, obviously-correct sequential reference of the
// store, used to generate linearizable histories.
type refStore struct {
	rev int64
	kv  map[string]KV
}

func newRef() *refStore { return &refStore{kv: map[string]KV{}} }

func (r *refStore) getKVs(key string) []KV {
	if kv, ok := r.kv[key]; ok {
		return []KV{kv}
	}
	return nil
}

func (r *refStore) rangeKVs(prefix string) []KV {
	var out []KV
	for k, kv := range r.kv {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (r *refStore) cmp(c Compare) bool {
	kv, ok := r.kv[c.Key]
	if c.Target == TargetValue && !ok {
		return false
	}
	sign := 0
	if c.Target == TargetValue {
		sign = strings.Compare(kv.Value, c.Value)
	} else {
		n := map[Target]int64{TargetVersion: kv.Version, TargetModRevision: kv.ModRevision, TargetCreateRevision: kv.CreateRevision}[c.Target]
		if n < c.Num {
			sign = -1
		} else if n > c.Num {
			sign = 1
		}
	}
	return map[CmpOp]bool{CmpEqual: sign == 0, CmpNotEqual: sign != 0, CmpLess: sign < 0, CmpGreater: sign > 0}[c.Op]
}

// apply executes in and returns the output the store would give.
func (r *refStore) apply(in Input) Output {
	switch in.Kind {
	case KindGet:
		return Output{KVs: r.getKVs(in.Key), Revision: r.rev}
	case KindRange:
		return Output{KVs: r.rangeKVs(in.Key), Revision: r.rev}
	case KindPut:
		r.rev++
		r.putAt(in.Key, in.Value, r.rev)
		return Output{Revision: r.rev}
	case KindDelete:
		if _, ok := r.kv[in.Key]; !ok {
			return Output{Revision: r.rev}
		}
		r.rev++
		delete(r.kv, in.Key)
		return Output{Revision: r.rev, Deleted: 1}
	}
	// Txn
	ok := true
	for _, c := range in.Compares {
		ok = ok && r.cmp(c)
	}
	branch := in.Else
	if ok {
		branch = in.Then
	}
	out := Output{Succeeded: ok, TxnKVs: make([][]KV, len(branch)), DeletedKnown: true}
	newRev, wrote := r.rev+1, false
	for i, t := range branch {
		switch t.Kind {
		case KindGet:
			out.TxnKVs[i] = r.getKVs(t.Key)
			if out.TxnKVs[i] == nil {
				out.TxnKVs[i] = []KV{}
			}
		case KindPut:
			r.putAt(t.Key, t.Value, newRev)
			wrote = true
		case KindDelete:
			if _, had := r.kv[t.Key]; had {
				delete(r.kv, t.Key)
				wrote = true
				out.Deleted++
			}
		}
	}
	if wrote {
		r.rev = newRev
	}
	out.Revision = r.rev
	return out
}

func (r *refStore) putAt(key, value string, rev int64) {
	kv, ok := r.kv[key]
	if !ok {
		kv = KV{Key: key, CreateRevision: rev}
	}
	kv.Value, kv.ModRevision, kv.Version = value, rev, kv.Version+1
	r.kv[key] = kv
}

// genConfig shapes a generated workload.
type genConfig struct {
	clients  int
	ops      int
	keys     int
	multiKey bool    // multi-key txns and revision compares (store model only)
	unknown  float64 // share of ops with an unknown outcome
}

// genInput draws one random operation; values are unique.
func genInput(rng *rand.Rand, cfg genConfig, seq *int, ref *refStore) Input {
	key := func() string { return fmt.Sprintf("/k%d", rng.IntN(cfg.keys)) }
	val := func() string { *seq++; return fmt.Sprintf("v%d", *seq) }
	switch n := rng.IntN(11); {
	case n == 10:
		return deleteTxn(rng, cfg, key(), key(), ref)
	case n < 3:
		return Get(key())
	case n < 6:
		return Put(key(), val())
	case n < 7:
		return Delete(key())
	case n < 8:
		return Range([]string{"", "/k", "/k1"}[rng.IntN(3)])
	case n < 9 || !cfg.multiKey:
		k := key()
		c := Compare{Key: k, Target: TargetVersion, Op: CmpEqual, Num: int64(rng.IntN(3))}
		if cur, ok := ref.kv[k]; ok && rng.IntN(2) == 0 {
			c = Compare{Key: k, Target: TargetValue, Op: CmpEqual, Value: cur.Value}
		}
		if cfg.multiKey && rng.IntN(2) == 0 {
			c = Compare{Key: k, Target: TargetModRevision, Op: CmpLess, Num: ref.rev}
		}
		return CAS(c, val())
	default:
		a, b := key(), key()
		return Input{Kind: KindTxn,
			Compares: []Compare{{Key: a, Target: TargetCreateRevision, Op: CmpGreater, Num: 0}},
			Then:     []TxnOp{{Kind: KindDelete, Key: a}, {Kind: KindPut, Key: b, Value: val()}},
			Else:     []TxnOp{{Kind: KindGet, Key: b}, {Kind: KindPut, Key: a, Value: val()}},
		}
	}
}

// deleteTxn is a guarded transaction whose branch only deletes (etcd's
// lock release, the harness's deleteTxn): if a is as last seen, or
// absent, delete it (and b in multi-key histories), else read it. Its
// deletes often find nothing: it then makes no revision.
func deleteTxn(rng *rand.Rand, cfg genConfig, a, b string, ref *refStore) Input {
	c := Compare{Key: a, Target: TargetVersion, Op: CmpEqual, Num: 0}
	if cur, ok := ref.kv[a]; ok && rng.IntN(2) == 0 {
		c = Compare{Key: a, Target: TargetModRevision, Op: CmpEqual, Num: cur.ModRevision}
		if !cfg.multiKey {
			c = Compare{Key: a, Target: TargetValue, Op: CmpEqual, Value: cur.Value}
		}
	}
	in := Input{Kind: KindTxn, Key: a, Compares: []Compare{c},
		Then: []TxnOp{{Kind: KindDelete, Key: a}},
		Else: []TxnOp{{Kind: KindGet, Key: a}}}
	if cfg.multiKey && b != a {
		in.Then = append(in.Then, TxnOp{Kind: KindDelete, Key: b})
	}
	return in
}

// genHistory simulates cfg.clients sequential clients. Each operation takes
// effect at a random point inside its [call, return] interval, in that
// order, against the reference store; an unknown-outcome write takes effect
// or not at random. The result is linearizable by construction.
func genHistory(rng *rand.Rand, cfg genConfig) []Op {
	ops, _ := genHistoryLog(rng, cfg)
	return ops
}

// genHistoryLog is genHistory with the write log of the execution: the
// changes of each revision, in revision order.
func genHistoryLog(rng *rand.Rand, cfg genConfig) ([]Op, []LogEntry) {
	type pending struct {
		op    Op
		point int64
		apply bool
	}
	var ps []pending
	seq := 0
	ref := newRef() // only to make compares plausibly succeed
	next := make([]int64, cfg.clients)
	for i := 0; i < cfg.ops; i++ {
		c := i % cfg.clients
		call := next[c] + int64(rng.IntN(20))
		dur := int64(1 + rng.IntN(100))
		p := pending{op: Op{ClientID: c, Call: call, Return: call + dur, Input: genInput(rng, cfg, &seq, ref)}, apply: true}
		p.point = call + rng.Int64N(dur+1)
		if rng.Float64() < cfg.unknown {
			p.op.Unknown, p.op.Return = true, UnknownReturn
			p.apply = rng.IntN(2) == 0
			p.point = call + rng.Int64N(1000) // may land after everything
		}
		next[c] = call + dur
		ref.apply(p.op.Input)
		ps = append(ps, p)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].point < ps[j].point })
	ref = newRef()
	ops := make([]Op, 0, len(ps))
	var log []LogEntry
	for _, p := range ps {
		if p.apply {
			before := maps.Clone(ref.kv)
			out := ref.apply(p.op.Input)
			log = appendDiff(log, ref.rev, before, ref.kv)
			if !p.op.Unknown {
				p.op.Output = out
				if onlyDeletes(&p.op) && rng.IntN(4) == 0 {
					// As a lease revoke's answer: no deleted count.
					p.op.Output.DeletedKnown, p.op.Output.Deleted = false, 0
				}
			}
		}
		ops = append(ops, p.op)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops, log
}

// onlyDeletes reports whether op is a transaction whose taken branch
// deletes and puts nothing.
func onlyDeletes(op *Op) bool {
	if op.Input.Kind != KindTxn {
		return false
	}
	branch := op.Input.Else
	if op.Output.Succeeded {
		branch = op.Input.Then
	}
	deletes := false
	for _, t := range branch {
		switch t.Kind {
		case KindPut:
			return false
		case KindDelete:
			deletes = true
		}
	}
	return deletes
}

// appendDiff appends to log the changes from before to after (a state at
// revision rev), if any, in key order.
func appendDiff(log []LogEntry, rev int64, before, after map[string]KV) []LogEntry {
	var e LogEntry
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if old, ok := before[k]; !ok || old != after[k] {
			e.Changes = append(e.Changes, Change{Key: k, Type: EventPut, Value: after[k].Value})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[k]; !ok {
			e.Changes = append(e.Changes, Change{Key: k, Type: EventDelete})
		}
	}
	if len(e.Changes) == 0 {
		return log
	}
	e.Revision = rev
	return append(log, e)
}
