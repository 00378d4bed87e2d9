package mvcc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func put(t *testing.T, s *Store, k, v string) int64 {
	t.Helper()
	rev, _, err := s.Put([]byte(k), []byte(v), 0, false)
	require.NoError(t, err)
	return rev
}

func get(t *testing.T, s *Store, k string, rev int64) *KeyValue {
	t.Helper()
	r, err := s.Range([]byte(k), nil, RangeOptions{Revision: rev})
	require.NoError(t, err)
	if len(r.KVs) == 0 {
		return nil
	}
	return &r.KVs[0]
}

func keysOf(r RangeResult) []string {
	var ks []string
	for _, kv := range r.KVs {
		ks = append(ks, string(kv.Key))
	}
	return ks
}

func TestNewStoreIsAtRevisionOne(t *testing.T) {
	s := New(Config{})
	require.Equal(t, int64(1), s.CurrentRevision())
	require.Equal(t, DefaultQuotaBytes, s.Quota())
	require.Equal(t, int64(2), put(t, s, "a", "1"))
}

func TestVersionResetAfterDelete(t *testing.T) {
	s := New(Config{})
	put(t, s, "k", "1") // rev 2
	put(t, s, "k", "2") // rev 3
	kv := get(t, s, "k", 0)
	require.Equal(t, KeyValue{Key: []byte("k"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2}, *kv)
	n, rev, prevs, err := s.DeleteRange([]byte("k"), nil, true)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, int64(4), rev)
	require.Equal(t, []KeyValue{*kv}, prevs)
	require.Nil(t, get(t, s, "k", 0))
	put(t, s, "k", "3") // rev 5: a new generation
	kv = get(t, s, "k", 0)
	require.Equal(t, KeyValue{Key: []byte("k"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1}, *kv)
	// The old generation is still readable in the past.
	require.Equal(t, int64(2), get(t, s, "k", 3).Version)
	require.Nil(t, get(t, s, "k", 4))
}

func TestDeleteNothingKeepsRevision(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "1")
	n, rev, _, err := s.DeleteRange([]byte("b"), nil, false)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, int64(2), rev)
	require.Equal(t, int64(2), s.CurrentRevision())
}

func TestRangeEnds(t *testing.T) {
	s := New(Config{})
	for _, k := range []string{"a", "ab", "abc", "b", "b\xff", "b\xff\xff", "c", "\xff", "\xff\xff"} {
		put(t, s, k, "v")
	}
	tests := []struct {
		name     string
		key, end string
		want     []string
	}{
		{"single key", "ab", "", []string{"ab"}},
		{"missing single key", "aa", "", nil},
		{"half-open range", "ab", "b", []string{"ab", "abc"}},
		{"end below key is empty", "b", "a", nil},
		{"end equal key is empty", "b", "b", nil},
		{"end \\x00 means all from key", "b\xff", "\x00", []string{"b\xff", "b\xff\xff", "c", "\xff", "\xff\xff"}},
		{"all keys", "\x00", "\x00", []string{"a", "ab", "abc", "b", "b\xff", "b\xff\xff", "c", "\xff", "\xff\xff"}},
		{"prefix", "ab", string(PrefixEnd([]byte("ab"))), []string{"ab", "abc"}},
		{"prefix ending in 0xff", "b\xff", string(PrefixEnd([]byte("b\xff"))), []string{"b\xff", "b\xff\xff"}},
		{"prefix of all 0xff", "\xff", string(PrefixEnd([]byte("\xff"))), []string{"\xff", "\xff\xff"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var end []byte
			if tc.end != "" {
				end = []byte(tc.end)
			}
			r, err := s.Range([]byte(tc.key), end, RangeOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, keysOf(r))
			require.Equal(t, int64(len(tc.want)), r.Count)
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "b"},
		{"abc", "abd"},
		{"a\xff", "b"},
		{"a\xff\xff", "b"},
		{"\x00", "\x01"},
		{"\xfe\xff", "\xff"},
		{"\xff", "\x00"},
		{"\xff\xff\xff", "\x00"},
		{"", "\x00"},
	}
	for _, tc := range tests {
		require.Equal(t, []byte(tc.want), PrefixEnd([]byte(tc.in)), "PrefixEnd(%q)", tc.in)
	}
	in := []byte("ab")
	PrefixEnd(in)
	require.Equal(t, []byte("ab"), in, "PrefixEnd must not modify its input")
}

func TestRangeOptions(t *testing.T) {
	s := New(Config{})
	for _, k := range []string{"a", "b", "c", "d"} {
		put(t, s, k, "v"+k) // revs 2..5
	}
	all := []byte{0}
	r, err := s.Range([]byte("a"), all, RangeOptions{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, keysOf(r))
	require.True(t, r.More)
	require.Equal(t, int64(4), r.Count)
	require.Equal(t, int64(5), r.Revision)

	r, err = s.Range([]byte("a"), all, RangeOptions{Limit: 4})
	require.NoError(t, err)
	require.False(t, r.More)
	require.Len(t, r.KVs, 4)

	r, err = s.Range([]byte("a"), all, RangeOptions{CountOnly: true})
	require.NoError(t, err)
	require.Empty(t, r.KVs)
	require.Equal(t, int64(4), r.Count)
	require.False(t, r.More)

	r, err = s.Range([]byte("a"), all, RangeOptions{KeysOnly: true, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, KeyValue{Key: []byte("a"), CreateRevision: 2, ModRevision: 2, Version: 1}, r.KVs[0])

	r, err = s.Range([]byte("a"), all, RangeOptions{Revision: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, keysOf(r))
	require.Equal(t, int64(5), r.Revision, "header revision is the current one")

	r, err = s.Range([]byte("a"), all, RangeOptions{Limit: -1})
	require.NoError(t, err, "a negative limit is no limit, as in etcd")
	require.Len(t, r.KVs, 4)
	_, err = s.Range(nil, nil, RangeOptions{})
	require.ErrorIs(t, err, ErrEmptyKey)
}

func TestCompactedAndFutureRevisions(t *testing.T) {
	s := New(Config{})
	put(t, s, "k", "1") // 2
	put(t, s, "k", "2") // 3
	put(t, s, "k", "3") // 4
	_, err := s.Range([]byte("k"), nil, RangeOptions{Revision: 5})
	require.ErrorIs(t, err, ErrFutureRevision)
	require.ErrorIs(t, s.Compact(5), ErrFutureRevision)

	require.NoError(t, s.Compact(3))
	require.Equal(t, int64(3), s.CompactRevision())
	_, err = s.Range([]byte("k"), nil, RangeOptions{Revision: 2})
	require.ErrorIs(t, err, ErrCompacted)
	require.Equal(t, "2", string(get(t, s, "k", 3).Value), "the compaction revision itself stays readable")
	require.Equal(t, "3", string(get(t, s, "k", 4).Value))
	require.ErrorIs(t, s.Compact(3), ErrCompacted)
	require.ErrorIs(t, s.Compact(2), ErrCompacted)
	_, err = s.Watch([]byte("k"), nil, 2, false)
	require.ErrorIs(t, err, ErrCompacted)
	_, err = s.Hash(2)
	require.ErrorIs(t, err, ErrCompacted)
}

func TestCompactKeepsLatestAndDropsDeleted(t *testing.T) {
	s := New(Config{})
	put(t, s, "live", "1")                                    // 2
	put(t, s, "dead", "1")                                    // 3
	_, _, _, err := s.DeleteRange([]byte("dead"), nil, false) // 4
	require.NoError(t, err)
	put(t, s, "x", "1") // 5
	require.NoError(t, s.Compact(5))
	require.Equal(t, 2, s.KeyCount(), "a key deleted before the compaction leaves the index")
	require.Equal(t, "1", string(get(t, s, "live", 0).Value))
	require.Equal(t, int64(2), get(t, s, "live", 5).ModRevision)
	require.Equal(t, 2, s.log.n)
}

func TestTxn(t *testing.T) {
	s := New(Config{})
	put(t, s, "k", "v") // 2

	// An empty Txn succeeds, runs nothing and keeps the revision.
	resp, err := s.Txn(TxnRequest{})
	require.NoError(t, err)
	require.Equal(t, TxnResponse{Succeeded: true, Responses: []OpResponse{}, Revision: 2}, resp)

	// Compare-and-swap on mod revision: success branch, one revision.
	resp, err = s.Txn(TxnRequest{
		Compares: []Compare{{Key: []byte("k"), Target: CompareModRevision, Result: Equal, Number: 2}},
		Success: []Op{
			OpPutKV([]byte("k"), []byte("w"), 0, true),
			OpPutKV([]byte("j"), []byte("x"), 0, false),
			OpGet([]byte("j"), nil, RangeOptions{}),
		},
	})
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.Equal(t, int64(3), resp.Revision)
	require.Equal(t, "v", string(resp.Responses[0].Prev.Value))
	require.Equal(t, "x", string(resp.Responses[2].Range.KVs[0].Value), "a read sees the Txn's earlier writes")
	require.Equal(t, int64(3), get(t, s, "j", 0).ModRevision)
	require.Equal(t, int64(3), get(t, s, "k", 0).ModRevision)

	// A failed compare runs the failure branch.
	resp, err = s.Txn(TxnRequest{
		Compares: []Compare{{Key: []byte("k"), Target: CompareValue, Result: Equal, Value: []byte("v")}},
		Failure:  []Op{OpDelete([]byte("j"), nil, true)},
	})
	require.NoError(t, err)
	require.False(t, resp.Succeeded)
	require.Equal(t, int64(1), resp.Responses[0].Deleted)
	require.Equal(t, int64(4), resp.Revision)

	// A missing key: version 0 holds, a value compare fails.
	ok := func(c Compare) bool {
		r, err := s.Txn(TxnRequest{Compares: []Compare{c}})
		require.NoError(t, err)
		return r.Succeeded
	}
	require.True(t, ok(Compare{Key: []byte("nope"), Target: CompareVersion, Result: Equal, Number: 0}))
	require.False(t, ok(Compare{Key: []byte("nope"), Target: CompareValue, Result: NotEqual, Value: []byte("x")}))
	require.True(t, ok(Compare{Key: []byte("k"), Target: CompareValue, Result: Greater, Value: []byte("v")}))
	require.True(t, ok(Compare{Key: []byte("k"), Target: CompareVersion, Result: Less, Number: 3}))
	// Over a range every key must hold.
	put(t, s, "k2", "a")
	require.False(t, ok(Compare{Key: []byte("k"), RangeEnd: []byte("l"), Target: CompareValue, Result: Equal, Value: []byte("w")}))
	require.True(t, ok(Compare{Key: []byte("k"), RangeEnd: []byte("l"), Target: CompareCreateRevision, Result: Greater, Number: 1}))

	// Duplicate keys and errors leave the store untouched.
	before := s.CurrentRevision()
	_, err = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("a"), nil, 0, false), OpPutKV([]byte("a"), nil, 0, false)}})
	require.ErrorIs(t, err, ErrDuplicateKey)
	_, err = s.Txn(TxnRequest{Failure: []Op{OpDelete([]byte("a"), []byte("c"), false), OpPutKV([]byte("b"), nil, 0, false)}})
	require.ErrorIs(t, err, ErrDuplicateKey, "both branches are checked")
	_, err = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("a"), nil, 0, false), OpPutKV([]byte("b"), nil, 99, false)}})
	require.ErrorIs(t, err, ErrLeaseNotFound)
	_, err = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("a"), nil, 0, false), OpGet([]byte("a"), nil, RangeOptions{Revision: 100})}})
	require.ErrorIs(t, err, ErrFutureRevision)
	_, err = s.Txn(TxnRequest{Success: make([]Op, MaxTxnOps+1)})
	require.ErrorIs(t, err, ErrTooManyOps)
	_, err = s.Txn(TxnRequest{Success: []Op{{Kind: 9, Key: []byte("a")}}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Equal(t, before, s.CurrentRevision())
	require.Nil(t, get(t, s, "a", 0))
}

func TestQuota(t *testing.T) {
	s := New(Config{QuotaBytes: 1000})
	v := make([]byte, 300)
	_, _, err := s.Put([]byte("a"), v, 0, false)
	require.NoError(t, err)
	_, _, err = s.Put([]byte("b"), v, 0, false)
	require.NoError(t, err)
	_, _, err = s.Put([]byte("c"), v, 0, false)
	require.ErrorIs(t, err, ErrNoSpace)
	_, err = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("c"), v, 0, false)}})
	require.ErrorIs(t, err, ErrNoSpace)
	// Reads, a Txn without puts, deletes and compaction still work.
	_, err = s.Range([]byte("a"), nil, RangeOptions{})
	require.NoError(t, err)
	_, err = s.Txn(TxnRequest{Success: []Op{OpGet([]byte("a"), nil, RangeOptions{})}})
	require.NoError(t, err)
	n, _, _, err := s.DeleteRange([]byte("a"), []byte("c"), false)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	require.NoError(t, s.Compact(s.CurrentRevision()))
	require.Equal(t, 2*recordCost(1, 0), s.Size(), "only the tombstones at the compaction revision remain")
	_, _, err = s.Put([]byte("c"), v, 0, false)
	require.NoError(t, err, "compaction freed space")
}

func TestLeases(t *testing.T) {
	s := New(Config{})
	t0 := time.Unix(1000, 0)
	require.NoError(t, s.LeaseGrant(7, 10*time.Second, t0))
	require.ErrorIs(t, s.LeaseGrant(7, time.Second, t0), ErrLeaseExists)
	require.ErrorIs(t, s.LeaseGrant(0, time.Second, t0), ErrInvalidArgument)
	require.ErrorIs(t, s.LeaseGrant(8, 0, t0), ErrInvalidArgument)
	require.NoError(t, s.LeaseGrant(8, 5*time.Second, t0))
	_, _, err := s.Put([]byte("a"), []byte("1"), 7, false)
	require.NoError(t, err)
	_, _, err = s.Put([]byte("b"), []byte("1"), 7, false)
	require.NoError(t, err)
	_, _, err = s.Put([]byte("c"), []byte("1"), 99, false)
	require.ErrorIs(t, err, ErrLeaseNotFound)
	_, _, err = s.Put([]byte("b"), []byte("2"), 8, false) // moves b to lease 8
	require.NoError(t, err)

	require.Empty(t, s.ExpiredLeases(t0.Add(4*time.Second)))
	require.Equal(t, []int64{8}, s.ExpiredLeases(t0.Add(5*time.Second)))
	require.Equal(t, []int64{7, 8}, s.ExpiredLeases(t0.Add(10*time.Second)))
	ttl, err := s.LeaseKeepAlive(7, t0.Add(9*time.Second))
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, ttl)
	require.Equal(t, []int64{8}, s.ExpiredLeases(t0.Add(10*time.Second)))
	info, err := s.LeaseTimeToLive(7, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, LeaseInfo{ID: 7, GrantedTTL: 10 * time.Second, Remaining: 9 * time.Second, Keys: [][]byte{[]byte("a")}}, info)

	rev := s.CurrentRevision()
	got, err := s.LeaseRevoke(7)
	require.NoError(t, err)
	require.Equal(t, rev+1, got)
	require.Nil(t, get(t, s, "a", 0))
	require.NotNil(t, get(t, s, "b", 0), "b moved to lease 8")
	_, err = s.LeaseRevoke(7)
	require.ErrorIs(t, err, ErrLeaseNotFound)
	require.Equal(t, []int64{8}, s.Leases())

	s.LeasePromote(t0.Add(time.Hour))
	require.Empty(t, s.ExpiredLeases(t0.Add(time.Hour)))
	// Promotion renews by exactly the TTL (lease 8's is 5s): a lease
	// must still end after a leader change.
	require.Empty(t, s.ExpiredLeases(t0.Add(time.Hour+5*time.Second-1)))
	require.Equal(t, []int64{8}, s.ExpiredLeases(t0.Add(time.Hour+5*time.Second)))
	// A far-future time saturates rather than wrapping.
	require.NoError(t, s.LeaseGrant(9, MaxLeaseTTL, time.Unix(0, 1<<62)))
	require.Equal(t, []int64{8}, s.ExpiredLeases(time.Unix(0, 1<<62+1<<61)))
}

func TestWatch(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "1") // 2
	w, err := s.Watch([]byte("a"), []byte("c"), 2, true)
	require.NoError(t, err)
	put(t, s, "b", "1")                                           // 3
	put(t, s, "z", "1")                                           // 4 (outside)
	put(t, s, "a", "2")                                           // 5
	_, _, _, err = s.DeleteRange([]byte("a"), []byte("c"), false) // 6
	require.NoError(t, err)

	evs, err := w.Events(2)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, int64(2), evs[0].KV.ModRevision)
	require.Nil(t, evs[0].PrevKV)
	require.Equal(t, "b", string(evs[1].KV.Key))
	evs, err = w.Events(10)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, "2", string(evs[0].KV.Value))
	require.Equal(t, "1", string(evs[0].PrevKV.Value))
	require.Equal(t, Event{Type: EventDelete, KV: KeyValue{Key: []byte("a"), ModRevision: 6},
		PrevKV: &KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 5, Version: 2}}, evs[1])
	require.Equal(t, EventDelete, evs[2].Type)
	require.Equal(t, int64(6), evs[2].KV.ModRevision)
	evs, err = w.Events(10)
	require.NoError(t, err)
	require.Empty(t, evs)
	require.False(t, w.Pending())

	// A watcher left behind a compaction gets ErrCompacted.
	slow, err := s.Watch([]byte("a"), nil, 2, false)
	require.NoError(t, err)
	require.NoError(t, s.Compact(4))
	_, err = slow.Events(1)
	require.ErrorIs(t, err, ErrCompacted)
	// One at the compaction revision still sees every event from there.
	atc, err := s.Watch([]byte("\x00"), []byte("\x00"), 4, false)
	require.NoError(t, err)
	evs, err = atc.Events(100)
	require.NoError(t, err)
	require.Len(t, evs, 4)

	w.Cancel()
	_, err = w.Events(1)
	require.ErrorIs(t, err, ErrWatcherCanceled)
}

func TestSnapshotRoundTripAndCorruption(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.LeaseGrant(3, time.Minute, time.Unix(5, 0)))
	put(t, s, "a", "1")
	_, _, err := s.Put([]byte("b"), []byte("x"), 3, false)
	require.NoError(t, err)
	put(t, s, "a", "2")
	_, _, _, err = s.DeleteRange([]byte("a"), nil, false)
	require.NoError(t, err)
	require.NoError(t, s.Compact(3))
	b := s.Snapshot()
	r, err := Restore(b, Config{})
	require.NoError(t, err)
	require.Equal(t, b, r.Snapshot())
	h1, err := s.Hash(0)
	require.NoError(t, err)
	h2, err := r.Hash(0)
	require.NoError(t, err)
	require.Equal(t, h1, h2)
	require.Equal(t, s.Size(), r.Size())
	_, err = r.LeaseRevoke(3)
	require.NoError(t, err)
	require.Nil(t, get(t, r, "b", 0), "lease attachments are restored")

	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		_, err := Restore(c, Config{})
		require.ErrorIs(t, err, ErrCorruptSnapshot, "flipped byte %d", i)
	}
	_, err = Restore(b[:len(b)-1], Config{})
	require.ErrorIs(t, err, ErrCorruptSnapshot)
}

// AppendSnapshot appends exactly Snapshot's bytes after a prefix, whether
// the buffer has room or must grow, and they restore.
func TestAppendSnapshotAfterPrefix(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.LeaseGrant(3, time.Minute, time.Unix(5, 0)))
	put(t, s, "a", "1")
	_, _, err := s.Put([]byte("b"), []byte("x"), 3, false)
	require.NoError(t, err)
	want := s.Snapshot()
	require.LessOrEqual(t, len(want)-s.SnapshotSizeHint(), 64, "the hint is about the size")
	for _, room := range []int{3, 8, len(want) + 3} {
		prefix := make([]byte, 3, room)
		copy(prefix, "pfx")
		got := s.AppendSnapshot(prefix)
		require.Equal(t, "pfx", string(got[:3]), "room %d", room)
		require.Equal(t, want, got[3:], "room %d", room)
		r, err := Restore(got[3:], Config{})
		require.NoError(t, err)
		require.Equal(t, want, r.Snapshot())
	}
}

func TestHashStringMatchesHashKey(t *testing.T) {
	for _, k := range []string{"", "a", "abcdefgh", "abcdefghi", "/registry/pods/default/pod-00000001"} {
		require.Equal(t, hashKey([]byte(k)), hashString(k), k)
	}
}
