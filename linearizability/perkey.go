package linearizability

import "fmt"

// keyState is one key in the per-key model. Revisions are learned: a write
// whose outcome is unknown has an unknown revision (0) until a read reports
// it. It is a comparable value, so porcupine's Equal is ==.
type keyState struct {
	exists    bool
	value     string
	version   int64
	modRev    int64 // 0: unknown
	createRev int64 // 0: unknown
	// rev is a lower bound on the store revision: the revision the last
	// known op of this key reported, or the least revision an unknown write
	// since then can have created. done counts the known ops linearized.
	rev  int64
	done int
}

// keyOp is one operation as seen by one key's partition. For a Range it is
// the projection onto key: the Range observed kv (nil: key absent).
type keyOp struct {
	op   *Op
	key  string
	kv   *KV // Range projection only
	hist *keyHist
}

// keyHist holds facts about the whole history that prune the search among
// unknown writes, as storeHist does for the store model.
type keyHist struct {
	// nextFree[r] is the least revision above r that no known write
	// claimed, for r < len(nextFree); above, every revision is free.
	nextFree []int64
	maxRev   int64
	known    map[string]int // known ops per key partition
}

func newKeyHist(ops []Op) *keyHist {
	h := &keyHist{known: map[string]int{}}
	for i := range ops {
		if op := &ops[i]; !op.Unknown && !op.Failed {
			h.maxRev = max(h.maxRev, op.Output.Revision)
		}
	}
	claimed := claimedRevisions(ops)
	h.nextFree = make([]int64, h.maxRev+1)
	free := h.maxRev + 1
	for r := h.maxRev; r >= 0; r-- {
		h.nextFree[r] = free
		if !claimed[r] {
			free = r
		}
	}
	return h
}

func (h *keyHist) next(rev int64) int64 {
	if rev < int64(len(h.nextFree)) {
		return h.nextFree[rev]
	}
	return rev + 1
}

// keyStep steps one key's state and keeps its revision bound: a known op's
// revision never goes back, and a known op that changes the key creates a
// newer one; an unknown write that changes the key takes the least free
// revision, and only before the highest known revision while known ops of
// this key remain.
func keyStep(s keyState, k *keyOp) (bool, keyState) {
	ok, next := keyExec(s, k)
	if !ok {
		return false, s
	}
	if !k.op.Unknown {
		r := k.op.Output.Revision
		if r < s.rev || (changed(s, next) && r == s.rev) {
			return false, s
		}
		next.rev, next.done = r, s.done+1
		return true, next
	}
	if !changed(s, next) {
		return true, s
	}
	g := k.hist.next(s.rev)
	if g > k.hist.maxRev && s.done < k.hist.known[k.key] {
		return false, s
	}
	next.rev = g
	return true, next
}

// observe checks that reading s could have returned kv (nil: absent), and
// returns s with any revision it learns.
func (s keyState) observe(kv *KV) (bool, keyState) {
	if kv == nil {
		return !s.exists, s
	}
	if !s.exists || kv.Value != s.value || kv.Version != s.version {
		return false, s
	}
	if s.modRev == 0 {
		s.modRev = kv.ModRevision
	} else if kv.ModRevision != s.modRev {
		return false, s
	}
	if s.createRev == 0 {
		s.createRev = kv.CreateRevision
	} else if kv.CreateRevision != s.createRev {
		return false, s
	}
	return true, s
}

// put applies a write with revision rev (0: unknown); a known revision must
// be newer than the key's last known one.
func (s keyState) put(value string, rev int64) (bool, keyState) {
	ok := rev == 0 || rev > s.modRev
	if s.exists {
		s.version++
	} else {
		s = keyState{exists: true, version: 1, createRev: rev, rev: s.rev, done: s.done}
	}
	s.value, s.modRev = value, rev
	return ok, s
}

func oneKV(kvs []KV) (*KV, bool) {
	switch len(kvs) {
	case 0:
		return nil, true
	case 1:
		return &kvs[0], true
	}
	return nil, false
}

func keyExec(s keyState, k *keyOp) (bool, keyState) {
	op := k.op
	in, out := &op.Input, &op.Output
	switch in.Kind {
	case KindRange:
		if op.Unknown {
			return true, s
		}
		return s.observe(k.kv)
	case KindGet:
		if op.Unknown {
			return true, s
		}
		kv, ok := oneKV(out.KVs)
		if !ok {
			return false, s
		}
		return s.observe(kv)
	case KindPut:
		rev := out.Revision
		if op.Unknown {
			rev = 0
		}
		return s.put(in.Value, rev)
	case KindDelete:
		ok := op.Unknown || out.Deleted == boolInt(s.exists)
		return ok, s.deleted()
	case KindTxn:
		return keyTxn(s, op)
	}
	return false, s
}

// changed reports whether a write changed the key (a read may only learn
// revisions).
func changed(a, b keyState) bool {
	return a.exists != b.exists || a.value != b.value || a.version != b.version
}

// deleted is s after a delete: absent, keeping the bookkeeping fields.
func (s keyState) deleted() keyState {
	if !s.exists {
		return s
	}
	return keyState{rev: s.rev, done: s.done}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// keyTxn executes a single-key Txn. A revision compare against a key whose
// revision is unknown cannot be evaluated; then the reported branch is
// trusted (prepare rejects such compares in unknown-outcome txns).
func keyTxn(s keyState, op *Op) (bool, keyState) {
	in, out := &op.Input, &op.Output
	succeeded := true
	for i := range in.Compares {
		c := &in.Compares[i]
		revCmp := c.Target == TargetModRevision || c.Target == TargetCreateRevision
		if revCmp && s.exists && (s.modRev == 0 || s.createRev == 0) {
			succeeded = out.Succeeded
			break
		}
		if !compareHolds(c, s.kvPtr()) {
			succeeded = false
			break
		}
	}
	ok := op.Unknown || out.Succeeded == succeeded
	branch := in.Else
	if succeeded {
		branch = in.Then
	}
	rev := out.Revision
	if op.Unknown {
		rev = 0
	}
	deleted := int64(0)
	for i, t := range branch {
		var stepOK bool
		switch t.Kind {
		case KindGet:
			stepOK = true
			if !op.Unknown && i < len(out.TxnKVs) {
				kv, one := oneKV(out.TxnKVs[i])
				stepOK, s = s.observe(kv)
				stepOK = stepOK && one
			}
		case KindPut:
			stepOK, s = s.put(t.Value, rev)
		case KindDelete:
			deleted += boolInt(s.exists)
			stepOK, s = true, s.deleted()
		}
		ok = ok && stepOK
	}
	if !op.Unknown && out.DeletedKnown && out.Deleted != deleted {
		ok = false
	}
	return ok, s
}

func (s keyState) kvPtr() *KV {
	if !s.exists {
		return nil
	}
	return &KV{Value: s.value, Version: s.version, ModRevision: s.modRev, CreateRevision: s.createRev}
}

func describeKey(s keyState) string {
	if !s.exists {
		return "absent"
	}
	return fmt.Sprintf("%s (mod %d, create %d, v%d)", s.value, s.modRev, s.createRev, s.version)
}
