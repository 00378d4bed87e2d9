package mvcc

// Focused tests for the behaviours that the differential test against
// etcd v3.7.3 (compat/mvccdiff_test.go) found seedkv getting wrong. Each
// states etcd's answer as a table row or a short scenario, so that it
// fails if the store drifts from etcd again.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func txnOK(t *testing.T, s *Store, req TxnRequest) TxnResponse {
	t.Helper()
	resp, err := s.Txn(req)
	require.NoError(t, err)
	return resp
}

// etcd reports, per op of a Txn, the revision the Txn is at when the op
// runs: the one before the Txn until the first change, the Txn's own after.
func TestEtcdTxnPerOpRevisions(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "1") // rev 2
	resp := txnOK(t, s, TxnRequest{Success: []Op{
		OpGet([]byte("a"), nil, RangeOptions{}),
		OpDelete([]byte("zz"), nil, false), // deletes nothing
		OpPutKV([]byte("b"), []byte("x"), 0, false),
		OpGet([]byte("a"), nil, RangeOptions{}),
		OpDelete([]byte("zz"), nil, false),
	}})
	require.Equal(t, int64(3), resp.Revision)
	var revs []int64
	for _, r := range resp.Responses {
		revs = append(revs, r.Revision)
	}
	require.Equal(t, []int64{2, 2, 3, 3, 3}, revs)
	require.Equal(t, int64(2), resp.Responses[0].Range.Revision)
	require.Equal(t, int64(3), resp.Responses[3].Range.Revision)

	// A Txn that changes nothing reports the current revision everywhere.
	resp = txnOK(t, s, TxnRequest{Success: []Op{OpGet([]byte("a"), nil, RangeOptions{}), OpDelete([]byte("zz"), nil, false)}})
	require.Equal(t, []int64{3, 3}, []int64{resp.Responses[0].Revision, resp.Responses[1].Revision})
}

// etcd's keys-only range reads only its key index: no value, no lease.
func TestEtcdKeysOnlyHasNoLease(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.LeaseGrant(7, time.Minute, time.Unix(0, 0)))
	_, _, err := s.Put([]byte("k"), []byte("v"), 7, false)
	require.NoError(t, err)
	for _, end := range [][]byte{nil, {0}} {
		r, err := s.Range([]byte("k"), end, RangeOptions{KeysOnly: true})
		require.NoError(t, err)
		require.Equal(t, []KeyValue{{Key: []byte("k"), CreateRevision: 2, ModRevision: 2, Version: 1}}, r.KVs)
		r, err = s.Range([]byte("k"), end, RangeOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(7), r.KVs[0].Lease)
	}
}

func TestEtcdNegativeLimitIsNoLimit(t *testing.T) {
	s := New(Config{})
	for _, k := range []string{"a", "b", "c"} {
		put(t, s, k, "v")
	}
	r, err := s.Range([]byte("a"), []byte{0}, RangeOptions{Limit: -1})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, keysOf(r))
	require.False(t, r.More)
	resp := txnOK(t, s, TxnRequest{Success: []Op{OpGet([]byte("a"), []byte{0}, RangeOptions{Limit: -2})}})
	require.Equal(t, []string{"a", "b", "c"}, keysOf(resp.Responses[0].Range))
}

// etcd reads the latest at a negative revision, except that a Txn checks
// it against the compaction revision first (-1 before any compaction).
func TestEtcdNegativeReadRevisions(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "1")
	put(t, s, "a", "2") // rev 3
	txnRead := func(rev int64) error {
		_, err := s.Txn(TxnRequest{Success: []Op{OpGet([]byte("a"), nil, RangeOptions{Revision: rev})}})
		return err
	}
	for _, tc := range []struct {
		name    string
		compact int64 // 0: none; else Compact(compact-1)
		rev     int64
		txnErr  error
	}{
		{"fresh -1", 0, -1, nil},
		{"fresh -2", 0, -2, ErrCompacted},
		{"after Compact(0) -1", 1, -1, ErrCompacted},
		{"after Compact(2) -1", 3, -1, ErrCompacted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s = New(Config{})
			put(t, s, "a", "1")
			put(t, s, "a", "2")
			if tc.compact != 0 {
				require.NoError(t, s.Compact(tc.compact-1))
			}
			r, err := s.Range([]byte("a"), nil, RangeOptions{Revision: tc.rev})
			require.NoError(t, err, "a plain range at a negative revision reads the latest")
			require.Equal(t, "2", string(r.KVs[0].Value))
			require.ErrorIs(t, txnRead(tc.rev), tc.txnErr)
			if tc.txnErr == nil {
				resp := txnOK(t, s, TxnRequest{Success: []Op{OpGet([]byte("a"), nil, RangeOptions{Revision: tc.rev})}})
				require.Equal(t, "2", string(resp.Responses[0].Range.KVs[0].Value))
			}
		})
	}
}

// etcd's compactMainRev starts at -1: Compact(0) succeeds once.
func TestEtcdCompactZero(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "1")
	require.ErrorIs(t, s.Compact(-1), ErrCompacted)
	fresh, err := Restore(s.Snapshot(), Config{})
	require.NoError(t, err)
	require.NoError(t, s.Compact(0))
	require.Equal(t, int64(0), s.CompactRevision())
	require.ErrorIs(t, s.Compact(0), ErrCompacted)
	require.NoError(t, s.Compact(1))

	// The snapshot tells "compacted at 0" from "never compacted".
	require.NoError(t, fresh.Compact(0), "a restored never-compacted store still accepts Compact(0)")
	r, err := Restore(fresh.Snapshot(), Config{})
	require.NoError(t, err)
	require.ErrorIs(t, r.Compact(0), ErrCompacted)
	require.NoError(t, r.Compact(1))
}

// etcd's lessor accepts any ID but 0; a put with an unknown lease, negative
// or not, is "lease not found", checked only in the branch that runs.
func TestEtcdLeaseIDs(t *testing.T) {
	s := New(Config{})
	now := time.Unix(0, 0)
	require.NoError(t, s.LeaseGrant(-5, time.Minute, now))
	require.ErrorIs(t, s.LeaseGrant(0, time.Minute, now), ErrInvalidArgument)
	_, _, err := s.Put([]byte("k"), []byte("v"), -5, false)
	require.NoError(t, err)
	_, _, err = s.Put([]byte("k"), []byte("v"), -7, false)
	require.ErrorIs(t, err, ErrLeaseNotFound)
	resp := txnOK(t, s, TxnRequest{
		Compares: []Compare{{Key: []byte("k"), Target: CompareVersion, Result: Equal, Number: 1}},
		Success:  []Op{OpGet([]byte("k"), nil, RangeOptions{})},
		Failure:  []Op{OpPutKV([]byte("j"), nil, -7, false)},
	})
	require.True(t, resp.Succeeded)
	r, err := Restore(s.Snapshot(), Config{})
	require.NoError(t, err)
	info, err := r.LeaseTimeToLive(-5, now)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("k")}, info.Keys)
	rev, err := r.LeaseRevoke(-5)
	require.NoError(t, err)
	require.Equal(t, int64(3), rev)
}

// etcd's watch server refuses a watch whose end is at or below its key
// (ErrEmptyWatcherRange), but not the "from key" end, and takes an empty
// key (a watch that sees nothing); it answers a negative start revision
// with a compacted cancel.
func TestEtcdWatchRangesAndStarts(t *testing.T) {
	s := New(Config{})
	put(t, s, "b", "1")
	for _, tc := range []struct {
		key, end string
		err      error
	}{
		{"b", "", nil}, {"b", "c", nil}, {"b", "\x00", nil}, {"\x00", "\x00", nil}, {"", "c", nil}, {"", "", nil},
		{"b", "b", ErrInvalidArgument}, {"b", "a", ErrInvalidArgument}, {"b", "\x01", ErrInvalidArgument},
	} {
		var end []byte
		if tc.end != "" {
			end = []byte(tc.end)
		}
		_, err := s.Watch([]byte(tc.key), end, 0, false)
		require.ErrorIs(t, err, tc.err, "watch(%q, %q)", tc.key, tc.end)
	}
	w, err := s.Watch(nil, []byte("c"), 1, false)
	require.NoError(t, err)
	evs, err := w.Events(10)
	require.NoError(t, err)
	require.Empty(t, evs, "etcd's watch with an empty key sees nothing, whatever its end")
	_, err = s.Watch([]byte("b"), nil, -1, false)
	require.ErrorIs(t, err, ErrCompacted)
	_, err = s.Watch([]byte("b"), []byte("a"), -1, false)
	require.ErrorIs(t, err, ErrCompacted, "the start revision is checked before the range")
}

// etcd's gRPC check reads a delete's end "\x00" literally, so a "from key"
// delete overlaps no put: a branch may put a key and delete it at one
// revision. Watchers see both changes, prev_kv is the key before the Txn,
// and compacting at that revision keeps only the delete.
func TestEtcdFromKeyDeleteAndPutInOneTxn(t *testing.T) {
	s := New(Config{})
	put(t, s, "b", "old") // rev 2
	all := []byte{0}
	w, err := s.Watch([]byte("a"), all, 0, true)
	require.NoError(t, err)
	_, err = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("b"), []byte("x"), 0, false), OpDelete([]byte("b"), []byte("c"), false)}})
	require.ErrorIs(t, err, ErrDuplicateKey, "an ordinary range still overlaps")
	resp := txnOK(t, s, TxnRequest{Success: []Op{
		OpPutKV([]byte("b"), []byte("new"), 0, false),
		OpDelete([]byte("a"), all, true),
		OpPutKV([]byte("c"), []byte("c"), 0, false),
	}})
	require.Equal(t, int64(3), resp.Revision)
	require.Equal(t, int64(1), resp.Responses[1].Deleted)
	require.Equal(t, "new", string(resp.Responses[1].Prevs[0].Value))
	require.Nil(t, get(t, s, "b", 0))

	old := KeyValue{Key: []byte("b"), Value: []byte("old"), CreateRevision: 2, ModRevision: 2, Version: 1}
	evs, err := w.Events(10)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, EventPut, evs[0].Type)
	require.Equal(t, &old, evs[0].PrevKV)
	require.Equal(t, EventDelete, evs[1].Type)
	require.Equal(t, &old, evs[1].PrevKV, "prev_kv is the key at revision-1, before the Txn")

	snap, err := Restore(s.Snapshot(), Config{})
	require.NoError(t, err, "a snapshot holds a put and a delete of one key at one revision")
	for _, st := range []*Store{s, snap} {
		require.NoError(t, st.Compact(3))
		w, err := st.Watch([]byte("a"), all, 3, false)
		require.NoError(t, err)
		evs, err := w.Events(10)
		require.NoError(t, err)
		require.Len(t, evs, 2, "compaction keeps only b's last change at revision 3")
		require.Equal(t, EventDelete, evs[0].Type)
		require.Equal(t, "c", string(evs[1].KV.Key))
		_, err = Restore(st.Snapshot(), Config{})
		require.NoError(t, err)
	}
}

// etcd's gRPC handler checks every op of both branches (empty keys) before
// it checks either branch for overlapping writes.
func TestEtcdTxnValidationOrder(t *testing.T) {
	s := New(Config{})
	dup := []Op{OpPutKV([]byte("a"), nil, 0, false), OpPutKV([]byte("a"), nil, 0, false)}
	empty := []Op{OpGet(nil, nil, RangeOptions{})}
	_, err := s.Txn(TxnRequest{Success: dup, Failure: empty})
	require.ErrorIs(t, err, ErrEmptyKey)
	_, err = s.Txn(TxnRequest{Success: empty, Failure: dup})
	require.ErrorIs(t, err, ErrEmptyKey)
	_, err = s.Txn(TxnRequest{Success: dup})
	require.ErrorIs(t, err, ErrDuplicateKey)
}

// etcd's sort and revision filters, with its quirks: Count ignores the
// filters; a sort target with SortNone sorts ascending but, as the order
// counts as the default one, only the first Limit+1 keys are read and
// sorted; keys-only sorted by value keeps the lease.
func TestEtcdSortAndFilters(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.LeaseGrant(9, time.Minute, time.Unix(0, 0)))
	_, _, err := s.Put([]byte("d"), []byte("9"), 9, false) // rev 2
	require.NoError(t, err)
	put(t, s, "a", "3") // rev 3
	put(t, s, "b", "1") // rev 4
	put(t, s, "c", "2") // rev 5
	put(t, s, "a", "0") // rev 6: a is at version 2; mods a 6, b 4, c 5, d 2
	all := []byte{0}
	for _, tc := range []struct {
		name  string
		o     RangeOptions
		keys  []string
		count int64
		more  bool
	}{
		{"by value descending", RangeOptions{SortTarget: SortByValue, SortOrder: SortDescend}, []string{"d", "c", "b", "a"}, 4, false},
		{"by mod ascending, limit 2", RangeOptions{SortTarget: SortByMod, SortOrder: SortAscend, Limit: 2}, []string{"d", "b"}, 4, true},
		{"by mod, order none, limit 2: only a, b, c sorted", RangeOptions{SortTarget: SortByMod, Limit: 2}, []string{"b", "c"}, 4, true},
		{"by version, order none, limit 1: only a, b sorted", RangeOptions{SortTarget: SortByVersion, Limit: 1}, []string{"b"}, 4, true},
		{"by key descending", RangeOptions{SortOrder: SortDescend}, []string{"d", "c", "b", "a"}, 4, false},
		{"min mod 4: count unfiltered", RangeOptions{MinModRevision: 4}, []string{"a", "b", "c"}, 4, false},
		{"max create 3, limit 1", RangeOptions{MaxCreateRevision: 3, Limit: 1}, []string{"a"}, 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Range([]byte("a"), all, tc.o)
			require.NoError(t, err)
			require.Equal(t, tc.keys, keysOf(r))
			require.Equal(t, tc.count, r.Count)
			require.Equal(t, tc.more, r.More)
			resp := txnOK(t, s, TxnRequest{Success: []Op{OpGet([]byte("a"), all, tc.o)}})
			require.Equal(t, tc.keys, keysOf(resp.Responses[0].Range), "the same inside a Txn")
		})
	}
	r, err := s.Range([]byte("d"), nil, RangeOptions{KeysOnly: true, SortTarget: SortByValue})
	require.NoError(t, err)
	require.Equal(t, []KeyValue{{Key: []byte("d"), CreateRevision: 2, ModRevision: 2, Version: 1, Lease: 9}}, r.KVs)
	_, err = s.Range([]byte("a"), nil, RangeOptions{SortTarget: SortByValue + 1})
	require.ErrorIs(t, err, ErrInvalidArgument)
}
