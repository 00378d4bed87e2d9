package harness

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
)

// storeHasher is a HistoryHasher over a bare mvcc store.
type storeHasher struct{ s *mvcc.Store }

func (h storeHasher) HashKV(rev int64) (uint64, int64, error) { return h.s.HashKV(rev) }
func (h storeHasher) CurrentRevision() int64                  { return h.s.CurrentRevision() }

// loggedStore applies puts, deletes (of one key or a prefix) and txns that put
// and delete in one revision to a store, and keeps the write log the
// harness would have watched.
type loggedStore struct {
	s   *mvcc.Store
	log []lin.LogEntry
}

func (l *loggedStore) put(t require.TestingT, key, val string) {
	rev, _, err := l.s.Put([]byte(key), []byte(val), 0, false)
	require.NoError(t, err)
	l.log = lin.AppendChange(l.log, rev, []byte(key), []byte(val), false)
}

func (l *loggedStore) del(t require.TestingT, key, end string) {
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	_, rev, prevs, err := l.s.DeleteRange([]byte(key), e, true)
	require.NoError(t, err)
	for _, p := range prevs {
		l.log = lin.AppendChange(l.log, rev, p.Key, nil, true)
	}
}

// TestExpectedHashKVMatchesStore holds the harness's model of what
// compaction keeps (expectedHashKV, computed from the write log alone) to
// the real store's HashKV, over random histories with compactions and
// snapshot restores, at every revision the store can still hash.
func TestExpectedHashKVMatchesStore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := &loggedStore{s: mvcc.New(mvcc.Config{})}
		keys := []string{"a", "b", "c", "d"}
		n := rapid.IntRange(1, 60).Draw(t, "steps")
		for range n {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4:
				l.put(t, rapid.SampledFrom(keys).Draw(t, "key"), fmt.Sprint(rapid.IntRange(0, 9).Draw(t, "val")))
			case 5, 6:
				l.del(t, rapid.SampledFrom(keys).Draw(t, "key"), "")
			case 7:
				l.del(t, "a", "c")
			case 8:
				lo := l.s.CompactRevision() + 1
				if lo <= l.s.CurrentRevision() {
					require.NoError(t, l.s.Compact(rapid.Int64Range(lo, l.s.CurrentRevision()).Draw(t, "compact")))
				}
			case 9:
				r, err := mvcc.Restore(l.s.Snapshot(), mvcc.Config{})
				require.NoError(t, err)
				l.s = r
			}
		}
		for rev := max(l.s.CompactRevision(), 1); rev <= l.s.CurrentRevision(); rev++ {
			got, c, err := l.s.HashKV(rev)
			require.NoError(t, err)
			require.Equal(t, expectedHashKV(l.log, c, rev), got, "revision %d, compacted at %d", rev, c)
		}
	})
}

// TestHashAgainstLogNamesTheDifference: a store whose history differs
// from the log fails with the replica, the revisions and where the
// difference starts; one reporting a compaction nobody asked for fails
// too; a matching one passes.
func TestHashAgainstLogNamesTheDifference(t *testing.T) {
	l := &loggedStore{s: mvcc.New(mvcc.Config{})}
	l.put(t, "a", "1") // 2
	l.put(t, "b", "1") // 3
	l.del(t, "a", "")  // 4
	l.put(t, "b", "2") // 5
	l.put(t, "c", "1") // 6
	require.NoError(t, l.s.Compact(5))
	r := &seedRun{logWatch: &logWatcher{comp: []compaction{{rev: 5, acked: true}}}}
	require.NoError(t, r.hashAgainstLog(3, storeHasher{l.s}, l.log, "at the end"))

	// The same store, told by the log that revision 6 wrote another value.
	bad := append([]lin.LogEntry(nil), l.log...)
	bad[len(bad)-1] = lin.LogEntry{Revision: 6, Changes: []lin.Change{{Key: "c", Type: lin.EventPut, Value: "2"}}}
	err := r.hashAgainstLog(3, storeHasher{l.s}, bad, "at the end")
	require.ErrorContains(t, err, "replica 3 at the end holds a different history than the write log: HashKV at revision 6 (compacted at 5)")
	require.ErrorContains(t, err, "the first revision whose hash differs is 6")

	// A log that says the delete at 4 never happened: the difference is
	// in what compaction kept.
	noDelete := append([]lin.LogEntry(nil), l.log[:2]...)
	noDelete = append(noDelete, lin.LogEntry{Revision: 4, Changes: []lin.Change{{Key: "d", Type: lin.EventPut, Value: "x"}}})
	noDelete = append(noDelete, l.log[3:]...)
	err = r.hashAgainstLog(3, storeHasher{l.s}, noDelete, "at the end")
	require.ErrorContains(t, err, "it differs already at the compaction revision 5")

	// No compaction was asked for at 5.
	r2 := &seedRun{logWatch: &logWatcher{comp: []compaction{{rev: 4, acked: true}}}}
	require.ErrorContains(t, r2.hashAgainstLog(2, storeHasher{l.s}, l.log, "at 1s"),
		"replica 2 at 1s reports compaction revision 5, but no compaction at 5 was asked for")

	// A log that does not start at the first write is not a model.
	require.NoError(t, r.hashAgainstLog(3, storeHasher{l.s}, bad[1:], "at the end"))
}

// TestCrossHashKV: replicas at the same compaction revision must agree.
func TestCrossHashKV(t *testing.T) {
	a, b := &loggedStore{s: mvcc.New(mvcc.Config{})}, &loggedStore{s: mvcc.New(mvcc.Config{})}
	for _, l := range []*loggedStore{a, b} {
		l.put(t, "a", "1")
		l.put(t, "b", "1")
	}
	ids := []host.NodeID{1, 2}
	require.NoError(t, crossHashKV(ids, []HistoryHasher{storeHasher{a.s}, storeHasher{b.s}}))
	require.NoError(t, b.s.Compact(3))
	require.NoError(t, crossHashKV(ids, []HistoryHasher{storeHasher{a.s}, storeHasher{b.s}}), "different compactions are not compared")
	require.NoError(t, a.s.Compact(3))
	require.NoError(t, crossHashKV(ids, []HistoryHasher{storeHasher{a.s}, storeHasher{b.s}}))
	c := &loggedStore{s: mvcc.New(mvcc.Config{})}
	c.put(t, "a", "1")
	c.put(t, "b", "2")
	require.NoError(t, c.s.Compact(3))
	require.ErrorContains(t, crossHashKV([]host.NodeID{1, 3}, []HistoryHasher{storeHasher{a.s}, storeHasher{c.s}}),
		"replicas 1 and 3 hold different histories: HashKV at revision 3 (both compacted at 3)")
}
