package mvcc

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// The naive model: every key maps to the list of all its versions, never
// compacted (compaction only changes which revisions may be read).

type mver struct {
	main        int64
	sub         uint32
	val         string
	create, ver int64
	lease       int64
	del         bool
	key         string
	// superseded: a later change of the same Txn (same revision) wrote
	// the key again; compacting at that revision drops this change.
	superseded bool
}

type model struct {
	rev, compact int64
	hist         map[string][]*mver
	events       []*mver // every change, in revision order
	leases       map[int64]bool
}

func newModel() *model {
	// compact starts at -1 as etcd's compactMainRev: Compact(0) is
	// accepted once.
	return &model{rev: 1, compact: -1, hist: map[string][]*mver{}, leases: map[int64]bool{}}
}

func (m *model) at(key string, rev int64) *mver {
	vs := m.hist[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].main <= rev {
			if vs[i].del {
				return nil
			}
			return vs[i]
		}
	}
	return nil
}

func (m *model) kv(v *mver, keysOnly bool) KeyValue {
	kv := KeyValue{Key: []byte(v.key), CreateRevision: v.create, ModRevision: v.main, Version: v.ver}
	if !keysOnly { // etcd's keys-only range has no lease either
		kv.Lease = v.lease
		if v.val != "" {
			kv.Value = []byte(v.val)
		}
	}
	return kv
}

func modelIn(k string, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return k == string(key)
	case len(end) == 1 && end[0] == 0:
		return k >= string(key)
	default:
		return string(key) <= k && k < string(end)
	}
}

func (m *model) keys(key, end []byte) []string {
	var ks []string
	for k := range m.hist {
		if modelIn(k, key, end) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

func (m *model) readRev(rev int64) (int64, error) {
	switch {
	case rev == 0:
		return m.rev, nil
	case rev > m.rev:
		return 0, ErrFutureRevision
	case rev < m.compact:
		return 0, ErrCompacted
	}
	return rev, nil
}

func (m *model) rangeAt(key, end []byte, rev int64, o RangeOptions) RangeResult {
	var r RangeResult
	for _, k := range m.keys(key, end) {
		v := m.at(k, rev)
		if v == nil {
			continue
		}
		r.Count++
		if o.CountOnly {
			continue
		}
		if o.Limit > 0 && int64(len(r.KVs)) >= o.Limit {
			r.More = true
			continue
		}
		r.KVs = append(r.KVs, m.kv(v, o.KeysOnly))
	}
	return r
}

func (m *model) write(key string, v *mver) {
	v.key = key
	if h := m.hist[key]; len(h) > 0 && h[len(h)-1].main == v.main {
		h[len(h)-1].superseded = true // a put and a "from key" delete in one Txn
	}
	m.hist[key] = append(m.hist[key], v)
	m.events = append(m.events, v)
}

// hashKV is the HashKV a correct store gives at rev, from the model's
// own rule of what compaction keeps (etcd's keyIndex.compact): every
// change after the compaction revision; at or below it, only each key's
// newest change, unless that is a delete below the compaction revision.
func (m *model) hashKV(rev int64) uint64 {
	c := max(m.compact, 0)
	var h HistoryHasher
	for _, v := range m.events {
		if v.main > rev {
			break
		}
		if v.main <= c {
			vs := m.hist[v.key]
			newest := vs[0]
			for _, w := range vs {
				if w.main <= c {
					newest = w
				}
			}
			if newest != v || (v.del && v.main < c) {
				continue
			}
		}
		if v.del {
			h.Add(v.key, nil, v.main, v.sub, 0, 0)
			continue
		}
		h.Add(v.key, []byte(v.val), v.main, v.sub, v.create, v.ver)
	}
	return h.Sum()
}

func (m *model) put(key, val string, lease, main int64, sub uint32) *KeyValue {
	v := &mver{main: main, sub: sub, val: val, create: main, ver: 1, lease: lease}
	cur := m.at(key, main)
	var prev *KeyValue
	if cur != nil {
		v.create, v.ver = cur.create, cur.ver+1
		kv := m.kv(cur, false)
		prev = &kv
	}
	m.write(key, v)
	return prev
}

func (m *model) deleteRange(key, end []byte, main int64, sub uint32) []KeyValue {
	var prevs []KeyValue
	for _, k := range m.keys(key, end) {
		cur := m.at(k, main)
		if cur == nil {
			continue
		}
		prevs = append(prevs, m.kv(cur, false))
		m.write(k, &mver{main: main, sub: sub, del: true})
		sub++
	}
	return prevs
}

func (m *model) compare(c Compare) bool {
	found := false
	for _, k := range m.keys(c.Key, c.RangeEnd) {
		v := m.at(k, m.rev)
		if v == nil {
			continue
		}
		found = true
		var ord int
		switch c.Target {
		case CompareValue:
			ord = cmpStr(v.val, string(c.Value))
		case CompareVersion:
			ord = cmpInt(v.ver, c.Number)
		case CompareCreateRevision:
			ord = cmpInt(v.create, c.Number)
		case CompareModRevision:
			ord = cmpInt(v.main, c.Number)
		case CompareLease:
			ord = cmpInt(v.lease, c.Number)
		}
		if !holds(c.Result, ord) {
			return false
		}
	}
	if !found {
		return c.Target != CompareValue && holds(c.Result, cmpInt(0, c.Number))
	}
	return true
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func holds(r CompareResult, ord int) bool {
	switch r {
	case Equal:
		return ord == 0
	case NotEqual:
		return ord != 0
	case Less:
		return ord < 0
	}
	return ord > 0
}

func modelDup(ops []Op) bool {
	for i, a := range ops {
		for j, b := range ops {
			if i == j || a.Kind != OpPut {
				continue
			}
			if b.Kind == OpPut && string(a.Key) == string(b.Key) {
				return true
			}
			// As etcd's gRPC check, a "from key" delete overlaps nothing.
			if b.Kind == OpDeleteRange && !(len(b.End) == 1 && b.End[0] == 0) && modelIn(string(a.Key), b.Key, b.End) {
				return true
			}
		}
	}
	return false
}

func (m *model) txn(t TxnRequest) (TxnResponse, error) {
	if modelDup(t.Success) || modelDup(t.Failure) {
		return TxnResponse{}, ErrDuplicateKey
	}
	ok := true
	for _, c := range t.Compares {
		ok = ok && m.compare(c)
	}
	ops := t.Failure
	if ok {
		ops = t.Success
	}
	for _, op := range ops {
		if op.Kind == OpRange {
			if _, err := m.readRev(op.Range.Revision); err != nil {
				return TxnResponse{}, err
			}
		}
		if op.Kind == OpPut && op.Lease != 0 && !m.leases[op.Lease] {
			return TxnResponse{}, ErrLeaseNotFound
		}
	}
	resp := TxnResponse{Succeeded: ok, Responses: []OpResponse{}}
	main, sub := m.rev+1, uint32(0)
	for _, op := range ops {
		out := OpResponse{Kind: op.Kind}
		switch op.Kind {
		case OpRange:
			rev := op.Range.Revision
			if rev <= 0 {
				rev = main
			}
			out.Range = m.rangeAt(op.Key, op.End, rev, op.Range)
		case OpPut:
			prev := m.put(string(op.Key), string(op.Value), op.Lease, main, sub)
			if op.PrevKV {
				out.Prev = prev
			}
			sub++
		case OpDeleteRange:
			prevs := m.deleteRange(op.Key, op.End, main, sub)
			out.Deleted = int64(len(prevs))
			sub += uint32(len(prevs))
			if op.PrevKV {
				out.Prevs = prevs
			}
		}
		out.Revision = m.rev // etcd's per-op header: before the Txn until its first change
		if sub > 0 {
			out.Revision = main
		}
		if op.Kind == OpRange {
			out.Range.Revision = out.Revision
		}
		resp.Responses = append(resp.Responses, out)
	}
	if sub > 0 {
		m.rev = main
	}
	resp.Revision = m.rev
	return resp, nil
}

// revokeLeaseKeys deletes, in key order, every live key carrying lease id.
func (m *model) revoke(id int64) {
	var ks []string
	for k := range m.hist {
		if v := m.at(k, m.rev); v != nil && v.lease == id {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	delete(m.leases, id)
	if len(ks) == 0 {
		return
	}
	m.rev++
	for i, k := range ks {
		m.write(k, &mver{main: m.rev, sub: uint32(i), del: true})
	}
}

// mwatch is a watcher with its model position.
type mwatch struct {
	w        *Watcher
	key, end []byte
	prevKV   bool
	main     int64
	sub      uint32
}

func (m *model) watchEvents(mw *mwatch, max int) ([]Event, error) {
	if mw.main < m.compact {
		return nil, ErrCompacted
	}
	var evs []Event
	for _, v := range m.events {
		if v.main < mw.main || (v.main == mw.main && v.sub < mw.sub) || !modelIn(v.key, mw.key, mw.end) {
			continue
		}
		if v.superseded && v.main <= m.compact {
			continue // compaction keeps only a key's last change at its revision
		}
		ev := Event{Type: EventPut, KV: m.kv(v, false)}
		if v.del {
			ev = Event{Type: EventDelete, KV: KeyValue{Key: []byte(v.key), ModRevision: v.main}}
		}
		// As etcd's watch server: the key at the event's revision - 1
		// (before the event's whole Txn), unless that is compacted or
		// the event starts a generation.
		if prev := m.at(v.key, v.main-1); mw.prevKV && prev != nil && v.main-1 >= m.compact && (v.del || v.create != v.main) {
			kv := m.kv(prev, false)
			ev.PrevKV = &kv
		}
		evs = append(evs, ev)
		if len(evs) == max {
			mw.main, mw.sub = v.main, v.sub+1
			return evs, nil
		}
	}
	if mw.main <= m.rev { // a watcher starting in the future keeps its start
		mw.main, mw.sub = m.rev+1, 0
	}
	return evs, nil
}

var (
	keyPool = []string{"a", "ab", "abc", "b", "b\xff", "c", "\xff", "\xff\xff"}
	valPool = []string{"", "x", "y", "zz"}
)

func genKey(t *rapid.T, label string) []byte {
	return []byte(rapid.SampledFrom(keyPool).Draw(t, label))
}

func genEnd(t *rapid.T, key []byte, label string) []byte {
	switch rapid.IntRange(0, 4).Draw(t, label) {
	case 0:
		return nil
	case 1:
		return []byte{0}
	case 2:
		return PrefixEnd(key)
	default:
		return genKey(t, label+"k")
	}
}

func genOp(t *rapid.T, m *model) Op {
	key := genKey(t, "opkey")
	switch rapid.IntRange(0, 2).Draw(t, "opkind") {
	case 0:
		return OpGet(key, genEnd(t, key, "opend"), genRangeOpts(t, m))
	case 1:
		return OpPutKV(key, []byte(rapid.SampledFrom(valPool).Draw(t, "opval")), rapid.Int64Range(0, 3).Draw(t, "oplease"), rapid.Bool().Draw(t, "opprev"))
	default:
		return OpDelete(key, genEnd(t, key, "opend"), rapid.Bool().Draw(t, "opprev"))
	}
}

func genRangeOpts(t *rapid.T, m *model) RangeOptions {
	rev := int64(0)
	if rapid.Bool().Draw(t, "past") {
		rev = rapid.Int64Range(max(m.compact-1, 1), m.rev+1).Draw(t, "rev")
	}
	return RangeOptions{
		Revision:  rev,
		Limit:     rapid.Int64Range(0, 3).Draw(t, "limit"),
		CountOnly: rapid.IntRange(0, 4).Draw(t, "countonly") == 0,
		KeysOnly:  rapid.Bool().Draw(t, "keysonly"),
	}
}

func genCompare(t *rapid.T, m *model) Compare {
	key := genKey(t, "ckey")
	c := Compare{
		Key:    key,
		Target: CompareTarget(rapid.IntRange(int(CompareVersion), int(CompareLease)).Draw(t, "target")),
		Result: CompareResult(rapid.IntRange(int(Equal), int(Greater)).Draw(t, "result")),
		Value:  []byte(rapid.SampledFrom(valPool).Draw(t, "cval")),
		Number: rapid.Int64Range(0, m.rev+1).Draw(t, "cnum"),
	}
	if rapid.IntRange(0, 3).Draw(t, "crange") == 0 {
		c.RangeEnd = genEnd(t, key, "cend")
	}
	return c
}

func TestStoreMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, replica, m := New(Config{}), New(Config{}), newModel()
		var watchers []*mwatch
		now := time.Unix(1000, 0)
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				key, val := genKey(t, "key"), rapid.SampledFrom(valPool).Draw(t, "val")
				lease, prevKV := rapid.Int64Range(0, 3).Draw(t, "lease"), rapid.Bool().Draw(t, "prevkv")
				rev, prev, err := s.Put(key, []byte(val), lease, prevKV)
				_, _, rerr := replica.Put(key, []byte(val), lease, prevKV)
				require.Equal(t, err, rerr)
				if lease != 0 && !m.leases[lease] {
					require.ErrorIs(t, err, ErrLeaseNotFound)
					return
				}
				require.NoError(t, err)
				mprev := m.put(string(key), val, lease, m.rev+1, 0)
				m.rev++
				if !prevKV {
					mprev = nil
				}
				require.Equal(t, m.rev, rev)
				require.Equal(t, mprev, prev)
			},
			"delete": func(t *rapid.T) {
				key := genKey(t, "key")
				end, prevKV := genEnd(t, key, "end"), rapid.Bool().Draw(t, "prevkv")
				n, rev, prevs, err := s.DeleteRange(key, end, prevKV)
				require.NoError(t, err)
				_, _, _, err = replica.DeleteRange(key, end, prevKV)
				require.NoError(t, err)
				mprevs := m.deleteRange(key, end, m.rev+1, 0)
				if len(mprevs) > 0 {
					m.rev++
				}
				require.Equal(t, int64(len(mprevs)), n)
				require.Equal(t, m.rev, rev)
				if prevKV {
					require.Equal(t, mprevs, prevs)
				}
			},
			"range": func(t *rapid.T) {
				key := genKey(t, "key")
				end, o := genEnd(t, key, "end"), genRangeOpts(t, m)
				got, err := s.Range(key, end, o)
				rev, merr := m.readRev(o.Revision)
				if merr != nil {
					require.ErrorIs(t, err, merr)
					return
				}
				require.NoError(t, err)
				want := m.rangeAt(key, end, rev, o)
				want.Revision = m.rev
				require.Equal(t, want, got)
			},
			"txn": func(t *rapid.T) {
				var req TxnRequest
				for range rapid.IntRange(0, 2).Draw(t, "ncmp") {
					req.Compares = append(req.Compares, genCompare(t, m))
				}
				for range rapid.IntRange(0, 3).Draw(t, "nsucc") {
					req.Success = append(req.Success, genOp(t, m))
				}
				for range rapid.IntRange(0, 3).Draw(t, "nfail") {
					req.Failure = append(req.Failure, genOp(t, m))
				}
				got, err := s.Txn(req)
				if err == nil { // the replica applies what committed
					_, rerr := replica.Txn(req)
					require.NoError(t, rerr)
				}
				want, merr := m.txn(req)
				if merr != nil {
					require.ErrorIs(t, err, merr)
					return
				}
				require.NoError(t, err)
				require.Equal(t, want, got)
			},
			"compact": func(t *rapid.T) {
				rev := rapid.Int64Range(max(m.compact-1, 0), m.rev+1).Draw(t, "rev")
				err := s.Compact(rev)
				switch {
				case rev > m.rev:
					require.ErrorIs(t, err, ErrFutureRevision)
				case rev <= m.compact:
					require.ErrorIs(t, err, ErrCompacted)
				default:
					require.NoError(t, err)
					m.compact = rev
				}
			},
			"leaseGrant": func(t *rapid.T) {
				id := rapid.Int64Range(1, 3).Draw(t, "id")
				err := s.LeaseGrant(id, time.Second, now)
				require.Equal(t, err, replica.LeaseGrant(id, time.Second, now))
				if m.leases[id] {
					require.ErrorIs(t, err, ErrLeaseExists)
					return
				}
				require.NoError(t, err)
				m.leases[id] = true
			},
			"leaseRevoke": func(t *rapid.T) {
				id := rapid.Int64Range(1, 3).Draw(t, "id")
				rev, err := s.LeaseRevoke(id)
				_, rerr := replica.LeaseRevoke(id)
				require.Equal(t, err, rerr)
				if !m.leases[id] {
					require.ErrorIs(t, err, ErrLeaseNotFound)
					return
				}
				require.NoError(t, err)
				m.revoke(id)
				require.Equal(t, m.rev, rev)
			},
			"snapshotRestore": func(t *rapid.T) {
				b := s.Snapshot()
				r, err := Restore(b, Config{})
				require.NoError(t, err)
				require.Equal(t, b, r.Snapshot())
				require.Equal(t, s.Size(), r.Size())
				s = r
				for _, mw := range watchers {
					mw.w.s = r
				}
			},
			"watch": func(t *rapid.T) {
				key := genKey(t, "key")
				end := genEnd(t, key, "end")
				start := rapid.Int64Range(max(m.compact-1, 0), m.rev+2).Draw(t, "start")
				prevKV := rapid.Bool().Draw(t, "prevkv")
				w, err := s.Watch(key, end, start, prevKV)
				if len(end) > 0 && !(len(end) == 1 && end[0] == 0) && string(end) <= string(key) {
					require.ErrorIs(t, err, ErrInvalidArgument, "an empty watch range, as etcd's ErrEmptyWatcherRange")
					return
				}
				if start != 0 && start < m.compact {
					require.ErrorIs(t, err, ErrCompacted)
					return
				}
				require.NoError(t, err)
				if start == 0 {
					start = m.rev + 1
				}
				watchers = append(watchers, &mwatch{w: w, key: key, end: end, prevKV: prevKV, main: start})
			},
			"watchEvents": func(t *rapid.T) {
				if len(watchers) == 0 {
					t.Skip("no watchers")
				}
				i := rapid.IntRange(0, len(watchers)-1).Draw(t, "watcher")
				mw := watchers[i]
				n := rapid.IntRange(1, 4).Draw(t, "max")
				got, err := mw.w.Events(n)
				want, merr := m.watchEvents(mw, n)
				if merr != nil {
					require.ErrorIs(t, err, merr)
					watchers = slices.Delete(watchers, i, i+1)
					return
				}
				require.NoError(t, err)
				require.Equal(t, want, got)
			},
			"": func(t *rapid.T) {
				require.Equal(t, m.rev, s.CurrentRevision())
				require.Equal(t, max(m.compact, 0), s.CompactRevision())
				require.Equal(t, m.rev, replica.CurrentRevision())
				h1, err := s.Hash(0)
				require.NoError(t, err)
				h2, err := replica.Hash(0)
				require.NoError(t, err)
				require.Equal(t, h2, h1, "hash does not depend on compaction")
				at := rapid.Int64Range(max(m.compact, 1), m.rev).Draw(t, "hashkv rev")
				hk, c, err := s.HashKV(at)
				require.NoError(t, err)
				require.Equal(t, max(m.compact, 0), c)
				require.Equal(t, m.hashKV(at), hk, "HashKV at %d, compacted at %d", at, c)
				require.LessOrEqual(t, s.Size(), replica.Size())
				require.Equal(t, s.Leases(), replica.Leases())
			},
		})
	})
}
