package mvcc

import (
	"bytes"
	"slices"
)

// Put sets key to value, attached to lease (0 for none), at a new
// revision, which it returns. With prevKV it also returns the key's
// previous key-value, if the key existed.
func (s *Store) Put(key, value []byte, lease int64, prevKV bool) (rev int64, prev *KeyValue, err error) {
	if err := s.checkPut(key, value, lease); err != nil {
		return 0, nil, err
	}
	if err := s.checkSpace(recordCost(len(key), len(value)), 1); err != nil {
		return 0, nil, err
	}
	main := s.rev + 1
	prev = s.putAt(key, value, lease, main, 0, prevKV)
	s.rev = main
	return s.rev, prev, nil
}

// checkPut validates a put's arguments against the current state.
func (s *Store) checkPut(key, value []byte, lease int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueBytes {
		return ErrValueTooLarge
	}
	if lease != 0 && s.leases[lease] == nil {
		return ErrLeaseNotFound
	}
	return nil
}

// checkSpace fails with ErrNoSpace if adding cost quota units and records
// new records would take the store past its limits.
func (s *Store) checkSpace(cost int64, records int) error {
	if s.size+cost > s.quota || s.log.n+records > MaxRecords {
		s.probes.Hit(probeNoSpace)
		return ErrNoSpace
	}
	return nil
}

// putAt appends a put of key at (main, sub). The caller has validated it.
func (s *Store) putAt(key, value []byte, lease, main int64, sub uint32, prevKV bool) *KeyValue {
	slot, fp, ki := s.slotFor(key)
	if ki == nil {
		ki = newKeyIndex(key)
		s.tree.insert(ki)
	}
	r := record{ki: ki, key: ki.key, main: main, sub: sub, create: main, version: 1, lease: lease}
	var prev *KeyValue
	if len(ki.revs) > 0 {
		if last := s.latest(ki); !last.tombstone() {
			r.create, r.version = last.create, last.version+1
			if prevKV {
				kv := s.kv(last, false)
				prev = &kv
			}
			if last.lease != lease {
				s.detach(last.lease, ki)
			}
		}
	}
	s.attach(lease, ki)
	r.vlen = uint32(len(value))
	r.vref = s.vals.add(value)
	pos := s.log.append(r)
	ki.revs = append(ki.revs, pos)
	s.table.set(slot, fp, pos)
	s.size += recordCost(len(key), len(value))
	return prev
}

// deleteAt appends a tombstone for ki's live version at (main, sub) and
// returns the deleted key-value.
func (s *Store) deleteAt(ki *keyIndex, main int64, sub uint32) KeyValue {
	last := s.latest(ki)
	prev := s.kv(last, false)
	s.detach(last.lease, ki)
	pos := s.log.append(record{ki: ki, key: ki.key, main: main, sub: sub})
	ki.revs = append(ki.revs, pos)
	fp := fingerprint(hashString(ki.key))
	slot, _ := find(s, ki.key, fp)
	s.table.set(slot, fp, pos)
	s.size += recordCost(len(ki.key), 0)
	return prev
}

// liveKeys returns the keys in [key, end) live at the current revision.
func (s *Store) liveKeys(key, end []byte) []*keyIndex {
	var kis []*keyIndex
	s.ascend(key, end, func(ki *keyIndex) bool {
		if !s.latest(ki).tombstone() {
			kis = append(kis, ki)
		}
		return true
	})
	return kis
}

// DeleteRange deletes the keys in [key, end) (end as for Range) at one new
// revision and returns how many it deleted and the store's revision after
// (unchanged if nothing was deleted). With prevKV it returns the deleted
// key-values. Deletes work past the quota.
func (s *Store) DeleteRange(key, end []byte, prevKV bool) (deleted, rev int64, prevs []KeyValue, err error) {
	if err := checkKey(key); err != nil {
		return 0, 0, nil, err
	}
	kis := s.liveKeys(key, end)
	if len(kis) == 0 {
		return 0, s.rev, nil, nil
	}
	if s.log.n+len(kis) > MaxRecords {
		return 0, 0, nil, ErrNoSpace
	}
	prevs = s.deleteKeys(kis, s.rev+1, 0, prevKV)
	s.rev++
	return int64(len(kis)), s.rev, prevs, nil
}

// deleteKeys deletes kis at main with subs from sub on.
func (s *Store) deleteKeys(kis []*keyIndex, main int64, sub uint32, prevKV bool) []KeyValue {
	var prevs []KeyValue
	for i, ki := range kis {
		kv := s.deleteAt(ki, main, sub+uint32(i))
		if prevKV {
			prevs = append(prevs, kv)
		}
	}
	return prevs
}

// Txn runs a transaction: if every compare holds at the current revision
// it runs t.Success, otherwise t.Failure. The writes of the branch share
// one new revision (sub-revisions order them); a Range op sees the writes
// of the ops before it. A Txn that writes nothing leaves the revision
// unchanged. On error nothing is applied.
func (s *Store) Txn(t TxnRequest) (TxnResponse, error) { return s.TxnInto(nil, t) }

// TxnInto is Txn with the op responses in buf's array when it has room
// for them (a new one otherwise): a caller that converts each response
// before the next transaction reuses one array.
func (s *Store) TxnInto(buf []OpResponse, t TxnRequest) (TxnResponse, error) {
	if err := checkTxn(t); err != nil {
		return TxnResponse{}, err
	}
	ok := true
	for i := range t.Compares {
		if !s.compare(&t.Compares[i]) {
			ok = false
			break
		}
	}
	ops := t.Failure
	s.probes.If(!ok, probeTxnElse)
	if ok {
		ops = t.Success
	}
	if err := s.checkOps(ops); err != nil {
		return TxnResponse{}, err
	}
	resp := TxnResponse{Succeeded: ok}
	if len(ops) > 0 && cap(buf) >= len(ops) {
		resp.Responses = buf[:len(ops)]
		clear(resp.Responses)
	} else {
		resp.Responses = make([]OpResponse, len(ops))
	}
	main, sub := s.rev+1, uint32(0)
	for i := range ops {
		r := &resp.Responses[i]
		*r = s.applyOp(&ops[i], main, &sub)
		// As etcd: each op reports the revision the Txn is at when it
		// runs, which moves to main with the first change.
		r.Revision = s.rev
		if sub > 0 {
			r.Revision = main
		}
		if r.Kind == OpRange {
			r.Range.Revision = r.Revision
		}
	}
	if sub > 0 {
		s.rev = main
	}
	resp.Revision = s.rev
	return resp, nil
}

// applyOp applies one validated op of a Txn at main, counting sub-revisions.
func (s *Store) applyOp(op *Op, main int64, sub *uint32) OpResponse {
	out := OpResponse{Kind: op.Kind}
	switch op.Kind {
	case OpRange:
		rev := op.Range.Revision
		if rev <= 0 {
			rev = main // the latest, including this Txn's earlier writes
		}
		if op.Range.postProcessed() {
			out.Range = s.rangeAt(op.Key, op.End, rev, op.Range.readOptions())
			op.Range.finish(&out.Range)
		} else {
			out.Range = s.rangeAt(op.Key, op.End, rev, op.Range)
		}
	case OpPut:
		out.Prev = s.putAt(op.Key, op.Value, op.Lease, main, *sub, op.PrevKV)
		*sub++
	case OpDeleteRange:
		kis := s.liveKeys(op.Key, op.End)
		out.Prevs = s.deleteKeys(kis, main, *sub, op.PrevKV)
		out.Deleted = int64(len(kis))
		*sub += uint32(len(kis))
	}
	return out
}

// checkTxn validates a Txn's shape: sizes, kinds, keys and, as etcd does
// for both branches, that no branch writes a key twice.
func checkTxn(t TxnRequest) error {
	if len(t.Compares) > MaxTxnOps || len(t.Success) > MaxTxnOps || len(t.Failure) > MaxTxnOps {
		return ErrTooManyOps
	}
	for i := range t.Compares {
		c := &t.Compares[i]
		if err := checkKey(c.Key); err != nil {
			return err
		}
		if c.Target < CompareVersion || c.Target > CompareLease || c.Result < Equal || c.Result > Greater {
			return ErrInvalidArgument
		}
	}
	// As etcd's gRPC handler: every op of both branches is checked before
	// either branch is checked for overlapping writes.
	for _, ops := range [][]Op{t.Success, t.Failure} {
		if err := checkOpShapes(ops); err != nil {
			return err
		}
	}
	for _, ops := range [][]Op{t.Success, t.Failure} {
		if err := checkOverlaps(ops, t.PutThenDelete); err != nil {
			return err
		}
	}
	return nil
}

// checkOpShapes validates ops one by one without looking at the store.
func checkOpShapes(ops []Op) error {
	for i := range ops {
		op := &ops[i]
		if err := checkKey(op.Key); err != nil {
			return err
		}
		switch op.Kind {
		case OpRange:
			// A negative limit is no limit and a negative revision is
			// checked against the store (checkOps), as in etcd.
			if !op.Range.validSort() {
				return ErrInvalidArgument
			}
		case OpPut:
			if len(op.Value) > MaxValueBytes {
				return ErrValueTooLarge
			}
		case OpDeleteRange:
		default:
			return ErrInvalidArgument
		}
	}
	return nil
}

// checkOverlaps fails with ErrDuplicateKey if a branch puts a key twice or
// puts a key that one of its deletes covers; with putThenDelete, a delete
// may cover a put before it (see TxnRequest.PutThenDelete).
func checkOverlaps(ops []Op, putThenDelete bool) error {
	// Backing arrays on the stack for the usual few ops: every replica
	// checks every transaction it applies.
	var putsBuf [8][]byte
	var putAtBuf, delsBuf [8]int
	puts := putsBuf[:0]
	putAt := putAtBuf[:0] // per put (in op order): its index in ops
	dels := delsBuf[:0]
	for i := range ops {
		switch ops[i].Kind {
		case OpPut:
			puts = append(puts, ops[i].Key)
			putAt = append(putAt, i)
		case OpDeleteRange:
			dels = append(dels, i)
		}
	}
	if hasDuplicate(puts) {
		return ErrDuplicateKey
	}
	for _, j := range dels {
		d := &ops[j]
		if isAllFrom(d.End) {
			// etcd's gRPC check (v3rpc checkIntervals) takes the end
			// "\x00" literally, as the empty interval [key, "\x00"), so a
			// "from key" delete overlaps no put: the branch runs, and a
			// put before it in the branch is deleted at the same revision.
			continue
		}
		for n, p := range puts {
			if putThenDelete && putAt[n] < j {
				continue // deleted at the same revision, as etcd's store does
			}
			if inRange(string(p), d.Key, d.End) {
				return ErrDuplicateKey
			}
		}
	}
	return nil
}

// hasDuplicate reports whether two keys of keys are equal: pair by pair
// for a few keys, by sorting a copy for more.
func hasDuplicate(keys [][]byte) bool {
	if len(keys) <= 8 {
		for i := range keys {
			for _, k := range keys[i+1:] {
				if bytes.Equal(keys[i], k) {
					return true
				}
			}
		}
		return false
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	for i := 1; i < len(sorted); i++ {
		if bytes.Equal(sorted[i-1], sorted[i]) {
			return true
		}
	}
	return false
}

// checkOps validates the branch that will run against the current state:
// leases exist, read revisions are readable, the writes fit the quota.
func (s *Store) checkOps(ops []Op) error {
	var cost int64
	records := 0
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case OpRange:
			if err := s.checkTxnReadRev(op.Range.Revision); err != nil {
				return err
			}
		case OpPut:
			if op.Lease != 0 && s.leases[op.Lease] == nil {
				return ErrLeaseNotFound
			}
			cost += recordCost(len(op.Key), len(op.Value))
			records++
		case OpDeleteRange:
			// Deletes are allowed past the quota; bound only the records.
			records += len(s.liveKeys(op.Key, op.End))
		}
	}
	if cost > 0 {
		return s.checkSpace(cost, records)
	}
	if s.log.n+records > MaxRecords {
		return ErrNoSpace
	}
	return nil
}

// checkTxnReadRev validates the read revision of a Txn's Range op as etcd
// does (etcdserver/txn checkRange): 0 is the latest, above the current
// revision is future, and anything below the compaction revision,
// negative ones included, is compacted; a negative revision that passes
// reads the latest.
func (s *Store) checkTxnReadRev(rev int64) error {
	if rev < 0 {
		if rev < s.compactRev {
			s.probes.Hit(probeReadCompacted)
			return ErrCompacted
		}
		return nil
	}
	_, err := s.checkReadRev(rev)
	return err
}

// compare evaluates one Compare at the current revision, as etcd does: a
// range compare holds if it holds for every key; a missing key compares
// as a zero KeyValue, except that a value compare on it fails.
func (s *Store) compare(c *Compare) bool {
	found, holds := false, true
	s.ascend(c.Key, c.RangeEnd, func(ki *keyIndex) bool {
		r := s.latest(ki)
		if r.tombstone() {
			return true
		}
		found = true
		if !s.compareRecord(c, r) {
			holds = false
			return false
		}
		return true
	})
	if !found {
		if c.Target == CompareValue {
			return false
		}
		return compareInt(c.Result, 0, c.Number)
	}
	return holds
}

func (s *Store) compareRecord(c *Compare, r *record) bool {
	switch c.Target {
	case CompareValue:
		return compareOrder(c.Result, bytes.Compare(s.vals.get(r.vref, r.vlen), c.Value))
	case CompareVersion:
		return compareInt(c.Result, r.version, c.Number)
	case CompareCreateRevision:
		return compareInt(c.Result, r.create, c.Number)
	case CompareModRevision:
		return compareInt(c.Result, r.main, c.Number)
	default: // CompareLease; checkTxn admits no other target
		return compareInt(c.Result, r.lease, c.Number)
	}
}

func compareInt(res CompareResult, a, b int64) bool {
	switch {
	case a < b:
		return compareOrder(res, -1)
	case a > b:
		return compareOrder(res, 1)
	}
	return compareOrder(res, 0)
}

// compareOrder says whether an ordering (-1, 0, 1) satisfies res.
func compareOrder(res CompareResult, order int) bool {
	switch res {
	case Equal:
		return order == 0
	case NotEqual:
		return order != 0
	case Less:
		return order < 0
	default: // Greater
		return order > 0
	}
}
