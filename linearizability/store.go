package linearizability

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// storeState is the whole key space at one store revision. It is immutable:
// Step copies the kvs slice on write, so reads share it. hash is an
// order-independent fold of the entries and the revision, kept up to date
// incrementally, so Equal rejects most unequal states in O(1).
type storeState struct {
	rev  int64
	kvs  []KV // existing keys, sorted by key
	hash uint64
	// done counts the known-outcome ops linearized so far. Once the state
	// passes the highest revision any of them reported, none of the rest
	// can follow, so unknown writes may go there only when done is total.
	done int
}

// fnv-1a 64 over the fields of a KV.
func hashKV(kv *KV) uint64 {
	h := uint64(14695981039346656037)
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff // separator, so ("ab","c") != ("a","bc")
		h *= 1099511628211
	}
	num := func(n int64) {
		for i := 0; i < 8; i++ {
			h ^= uint64(byte(n >> (8 * i)))
			h *= 1099511628211
		}
	}
	str(kv.Key)
	str(kv.Value)
	num(kv.ModRevision)
	num(kv.CreateRevision)
	num(kv.Version)
	return h
}

func mixRev(rev int64) uint64 {
	x := uint64(rev) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *storeState) find(key string) (int, bool) {
	i := sort.Search(len(s.kvs), func(i int) bool { return s.kvs[i].Key >= key })
	return i, i < len(s.kvs) && s.kvs[i].Key == key
}

func (s *storeState) get(key string) *KV {
	if i, ok := s.find(key); ok {
		return &s.kvs[i]
	}
	return nil
}

func storeEqual(a, b *storeState) bool {
	if a == b {
		return true
	}
	if a.rev != b.rev || a.hash != b.hash || a.done != b.done || len(a.kvs) != len(b.kvs) {
		return false
	}
	for i := range a.kvs {
		if a.kvs[i] != b.kvs[i] {
			return false
		}
	}
	return true
}

// writer applies the writes of one transaction to a private copy of a state.
type writer struct {
	base    *storeState
	next    *storeState // nil until the first effective write
	changed bool
}

func (w *writer) cur() *storeState {
	if w.next != nil {
		return w.next
	}
	return w.base
}

func (w *writer) own() *storeState {
	if w.next == nil {
		kvs := make([]KV, len(w.base.kvs), len(w.base.kvs)+1)
		copy(kvs, w.base.kvs)
		w.next = &storeState{rev: w.base.rev, kvs: kvs, hash: w.base.hash ^ mixRev(w.base.rev), done: w.base.done}
	}
	return w.next
}

func (w *writer) put(key, value string) {
	rev := w.base.rev + 1 // every write of one txn shares its revision
	s := w.own()
	w.changed = true
	i, ok := s.find(key)
	if ok {
		old := &s.kvs[i]
		s.hash ^= hashKV(old)
		old.Value, old.ModRevision, old.Version = value, rev, old.Version+1
		s.hash ^= hashKV(old)
		return
	}
	kv := KV{Key: key, Value: value, ModRevision: rev, CreateRevision: rev, Version: 1}
	s.kvs = append(s.kvs, KV{})
	copy(s.kvs[i+1:], s.kvs[i:])
	s.kvs[i] = kv
	s.hash ^= hashKV(&kv)
}

// del deletes key and reports whether it existed. Deleting a missing key is
// not a change: alone it creates no revision, as in etcd.
func (w *writer) del(key string) bool {
	if _, ok := w.cur().find(key); !ok {
		return false
	}
	s := w.own()
	w.changed = true
	i, _ := s.find(key)
	s.hash ^= hashKV(&s.kvs[i])
	s.kvs = append(s.kvs[:i], s.kvs[i+1:]...)
	return true
}

// done returns the state after the transaction: a new revision if anything
// changed, the base state itself otherwise.
func (w *writer) done() *storeState {
	if !w.changed {
		return w.base
	}
	w.next.rev = w.base.rev + 1
	w.next.hash ^= mixRev(w.next.rev)
	return w.next
}

func compareHolds(c *Compare, kv *KV) bool {
	if c.Target == TargetValue {
		if kv == nil {
			return false // etcd: a value compare on a missing key fails
		}
		return cmpOrdered(strings.Compare(kv.Value, c.Value), c.Op)
	}
	var have int64
	if kv != nil {
		switch c.Target {
		case TargetVersion:
			have = kv.Version
		case TargetModRevision:
			have = kv.ModRevision
		case TargetCreateRevision:
			have = kv.CreateRevision
		}
	}
	switch {
	case have < c.Num:
		return cmpOrdered(-1, c.Op)
	case have > c.Num:
		return cmpOrdered(1, c.Op)
	}
	return cmpOrdered(0, c.Op)
}

func cmpOrdered(sign int, op CmpOp) bool {
	switch op {
	case CmpEqual:
		return sign == 0
	case CmpNotEqual:
		return sign != 0
	case CmpLess:
		return sign < 0
	case CmpGreater:
		return sign > 0
	}
	return false
}

// storeOp is an operation as the store model sees it, with facts about the
// whole history that prune porcupine's search among unknown writes.
type storeOp struct {
	op   *Op
	hist *storeHist
}

// storeHist holds facts about one history. claimed: the revisions that
// known-outcome writes created; a revision is created by exactly one write,
// so an unknown write cannot have created one of those. maxRev: the highest
// revision a known op reported; known: how many known ops there are.
// Without these, porcupine tries every order of the pending unknown writes
// at every point of the history.
type storeHist struct {
	claimed map[int64]bool
	maxRev  int64
	known   int
}

func newStoreHist(ops []Op) *storeHist {
	h := &storeHist{claimed: claimedRevisions(ops)}
	for i := range ops {
		if op := &ops[i]; !op.Unknown && !op.Failed {
			h.known++
			h.maxRev = max(h.maxRev, op.Output.Revision)
		}
	}
	return h
}

// storeStep executes op against s; ok is false if the store could not have
// answered op's output from state s.
func storeStep(s *storeState, so *storeOp) (bool, *storeState) {
	if so.op.Unknown && surelyWrites(s, &so.op.Input) && !so.hist.freeAfter(s) {
		return false, s // rejected before copying the state
	}
	ok, next := storeExec(s, so.op)
	if !ok {
		return false, s
	}
	if !so.op.Unknown {
		n := *next
		n.done++
		return true, &n
	}
	if next.rev != s.rev && !so.hist.freeAfter(s) {
		return false, s
	}
	return true, next
}

// freeAfter reports whether an unknown write may create the revision after
// s: one no known write claimed, and past the known ones only at the end.
func (h *storeHist) freeAfter(s *storeState) bool {
	r := s.rev + 1
	return !h.claimed[r] && (r <= h.maxRev || s.done == h.known)
}

// surelyWrites reports whether in, executed on s, puts a key (and so
// creates a revision), without copying s.
func surelyWrites(s *storeState, in *Input) bool {
	switch in.Kind {
	case KindPut:
		return true
	case KindTxn:
		branch := in.Then
		for i := range in.Compares {
			if !compareHolds(&in.Compares[i], s.get(in.Compares[i].Key)) {
				branch = in.Else
				break
			}
		}
		for _, t := range branch {
			if t.Kind == KindPut {
				return true
			}
		}
	}
	return false
}

func storeHash(s *storeState) uint64 { return s.hash ^ mixRev(int64(s.done)+1<<40) }

// claimedRevisions collects the revisions known-outcome ops surely created.
// A Txn whose branch only deletes may have created none, so it claims none,
// unless its answer counts a key deleted.
func claimedRevisions(ops []Op) map[int64]bool {
	claimed := map[int64]bool{}
	for i := range ops {
		op := &ops[i]
		if op.Unknown || op.Failed || op.Output.Revision == 0 {
			continue
		}
		switch op.Input.Kind {
		case KindPut:
			claimed[op.Output.Revision] = true
		case KindDelete:
			if op.Output.Deleted > 0 {
				claimed[op.Output.Revision] = true
			}
		case KindTxn:
			branch := op.Input.Else
			if op.Output.Succeeded {
				branch = op.Input.Then
			}
			for _, t := range branch {
				if t.Kind == KindPut {
					claimed[op.Output.Revision] = true
				}
			}
			if op.Output.DeletedKnown && op.Output.Deleted > 0 {
				claimed[op.Output.Revision] = true
			}
		}
	}
	return claimed
}

func storeExec(s *storeState, op *Op) (bool, *storeState) {
	in, out := &op.Input, &op.Output
	known := !op.Unknown
	switch in.Kind {
	case KindGet:
		var kvs []KV
		if kv := s.get(in.Key); kv != nil {
			kvs = []KV{*kv}
		}
		return !known || (slices.Equal(kvs, out.KVs) && out.Revision == s.rev), s
	case KindRange:
		return !known || (slices.Equal(s.prefix(in.Key), out.KVs) && out.Revision == s.rev), s
	case KindPut:
		w := writer{base: s}
		w.put(in.Key, in.Value)
		next := w.done()
		return !known || out.Revision == next.rev, next
	case KindDelete:
		w := writer{base: s}
		deleted := int64(0)
		if w.del(in.Key) {
			deleted = 1
		}
		next := w.done()
		return !known || (out.Deleted == deleted && out.Revision == next.rev), next
	case KindTxn:
		return storeTxn(s, op)
	}
	return false, s
}

func storeTxn(s *storeState, op *Op) (bool, *storeState) {
	in, out := &op.Input, &op.Output
	succeeded := true
	for i := range in.Compares {
		if !compareHolds(&in.Compares[i], s.get(in.Compares[i].Key)) {
			succeeded = false
			break
		}
	}
	branch := in.Else
	if succeeded {
		branch = in.Then
	}
	w := writer{base: s}
	ok := op.Unknown || (out.Succeeded == succeeded && len(out.TxnKVs) <= len(branch))
	deleted := int64(0)
	for i, t := range branch {
		switch t.Kind {
		case KindGet:
			if ok && !op.Unknown && i < len(out.TxnKVs) {
				var kvs []KV
				if kv := w.cur().get(t.Key); kv != nil {
					kvs = []KV{*kv}
				}
				ok = slices.Equal(kvs, out.TxnKVs[i])
			}
		case KindPut:
			w.put(t.Key, t.Value)
		case KindDelete:
			if w.del(t.Key) {
				deleted++
			}
		}
	}
	if !op.Unknown && out.DeletedKnown && out.Deleted != deleted {
		ok = false
	}
	next := w.done()
	return ok && (op.Unknown || out.Revision == next.rev), next
}

func (s *storeState) prefix(p string) []KV {
	i := sort.Search(len(s.kvs), func(i int) bool { return s.kvs[i].Key >= p })
	j := i
	for j < len(s.kvs) && strings.HasPrefix(s.kvs[j].Key, p) {
		j++
	}
	if i == j {
		return nil
	}
	return s.kvs[i:j]
}

func describeStore(s *storeState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d {", s.rev)
	for i, kv := range s.kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s (mod %d, create %d, v%d)", kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision, kv.Version)
	}
	b.WriteString("}")
	return b.String()
}
