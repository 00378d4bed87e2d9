package mvcc

// Range reads the keys in [key, end) at o.Revision. A nil or empty end
// reads key alone; end "\x00" reads every key >= key (so key "\x00" with
// end "\x00" reads every key). Use PrefixEnd for a prefix. An end at or
// below key is an empty range. As in etcd, a negative revision reads the
// latest and a negative limit is no limit.
//
// Returned Value slices share the store's memory: callers must not modify
// them. They stay valid after later writes and compactions.
func (s *Store) Range(key, end []byte, o RangeOptions) (RangeResult, error) {
	if err := checkKey(key); err != nil {
		return RangeResult{}, err
	}
	if !o.validSort() {
		return RangeResult{}, ErrInvalidArgument
	}
	rev, err := s.checkReadRev(max(o.Revision, 0))
	if err != nil {
		return RangeResult{}, err
	}
	var res RangeResult
	switch {
	case o.postProcessed():
		res = s.rangeAt(key, end, rev, o.readOptions())
		o.finish(&res)
	case len(end) == 0 && rev == s.rev:
		res = s.getLatest(key, o)
	default:
		res = s.rangeAt(key, end, rev, o)
	}
	res.Revision = s.rev
	return res, nil
}

// getLatest reads one key at the current revision: the fast path, which
// touches the hash slot, the newest record and the key bytes.
func (s *Store) getLatest(key []byte, o RangeOptions) RangeResult {
	r := s.newest(key)
	if r == nil || r.tombstone() {
		return RangeResult{}
	}
	if o.CountOnly {
		return RangeResult{Count: 1}
	}
	return RangeResult{KVs: []KeyValue{s.kv(r, o.KeysOnly)}, Count: 1}
}

// rangeAt reads a validated range at rev. Like etcd it counts every key
// in the range even when Limit stops collecting.
func (s *Store) rangeAt(key, end []byte, rev int64, o RangeOptions) RangeResult {
	var res RangeResult
	s.ascend(key, end, func(ki *keyIndex) bool {
		r := s.liveAt(ki, rev)
		if r == nil {
			return true
		}
		res.Count++
		if o.CountOnly {
			return true
		}
		if o.Limit > 0 && int64(len(res.KVs)) >= o.Limit {
			res.More = true
			return true
		}
		res.KVs = append(res.KVs, s.kv(r, o.KeysOnly))
		return true
	})
	return res
}
