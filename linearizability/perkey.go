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
}

// keyOp is one operation as seen by one key's partition. For a Range it is
// the projection onto key: the Range observed kv (nil: key absent).
type keyOp struct {
	op  *Op
	key string
	kv  *KV // Range projection only
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
		s = keyState{exists: true, version: 1, createRev: rev}
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

func keyStep(s keyState, k *keyOp) (bool, keyState) {
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
		return ok, keyState{}
	case KindTxn:
		return keyTxn(s, op)
	}
	return false, s
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
			stepOK, s = true, keyState{}
		}
		ok = ok && stepOK
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
