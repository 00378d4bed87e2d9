package linearizability

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func testLog(t *testing.T) *WriteLog {
	l, err := NewWriteLog([]LogEntry{
		{1, []Change{{"/a", EventPut, "v1"}}},
		{2, []Change{{"/b", EventPut, "v2"}}},
		{3, []Change{{"/a", EventPut, "v3"}, {"/b", EventDelete, ""}}},
		{4, []Change{{"/c", EventPut, "v4"}, {"/x", EventPut, "v5"}}},
		{6, []Change{{"/a", EventDelete, ""}}},
	})
	require.NoError(t, err)
	return l
}

func prev(key, value string, mod, create, version int64) *KV {
	k := kv(key, value, mod, create, version)
	return &k
}

// fullStream is a correct prefix watch on "/" from revision 1 with prev_kv.
func fullStream() WatchStream {
	return WatchStream{Key: "/", Prefix: true, StartRevision: 1, PrevKV: true, Events: []WatchEvent{
		{Revision: 1, Type: EventPut, Key: "/a", Value: "v1", Batch: 0},
		{Revision: 2, Type: EventPut, Key: "/b", Value: "v2", Batch: 1},
		{Revision: 3, Type: EventPut, Key: "/a", Value: "v3", PrevKV: prev("/a", "v1", 1, 1, 1), Batch: 1},
		{Revision: 3, Type: EventDelete, Key: "/b", PrevKV: prev("/b", "v2", 2, 2, 1), Batch: 1},
		{Revision: 4, Type: EventPut, Key: "/c", Value: "v4", Batch: 2},
		{Revision: 4, Type: EventPut, Key: "/x", Value: "v5", Batch: 2},
		{Revision: 6, Type: EventDelete, Key: "/a", PrevKV: prev("/a", "v3", 3, 1, 2), Batch: 3},
	}}
}

func TestWatchCorrectStreamsPass(t *testing.T) {
	l := testLog(t)
	s := fullStream()
	require.NoError(t, CheckWatch(&s, l))

	key := WatchStream{Key: "/a", StartRevision: 2, Events: []WatchEvent{
		{Revision: 3, Type: EventPut, Key: "/a", Value: "v3"},
		{Revision: 6, Type: EventDelete, Key: "/a"},
	}}
	require.NoError(t, CheckWatch(&key, l))

	// A stream that stops early is fine: no gaps up to what it received.
	short := fullStream()
	short.Events = short.Events[:4]
	require.NoError(t, CheckWatch(&short, l))

	// From "now" (start 0): checked from the first event.
	now := WatchStream{Key: "/a", Events: []WatchEvent{{Revision: 6, Type: EventDelete, Key: "/a"}}}
	require.NoError(t, CheckWatch(&now, l))

	require.NoError(t, CheckWatch(&WatchStream{Key: "/a"}, l))
}

func TestWatchViolations(t *testing.T) {
	l := testLog(t)
	cases := map[string]struct {
		mutate func(s *WatchStream)
		want   error
	}{
		"gap": {func(s *WatchStream) {
			s.Events = append(s.Events[:1], s.Events[2:]...) // drop revision 2
		}, ErrWatchGap},
		"duplicate": {func(s *WatchStream) {
			s.Events = append(s.Events[:2], s.Events[1:]...) // revision 2 twice
		}, ErrWatchDuplicate},
		"reordered": {func(s *WatchStream) {
			s.Events[0], s.Events[1] = s.Events[1], s.Events[0]
		}, ErrWatchOrder},
		"wrong prev_kv": {func(s *WatchStream) {
			s.Events[2].PrevKV = prev("/a", "v9", 1, 1, 1)
		}, ErrWatchPrevKV},
		"stale prev_kv revision": {func(s *WatchStream) {
			s.Events[6].PrevKV = prev("/a", "v3", 1, 1, 2)
		}, ErrWatchPrevKV},
		"missing prev_kv": {func(s *WatchStream) {
			s.Events[3].PrevKV = nil
		}, ErrWatchPrevKV},
		"prev_kv for a new key": {func(s *WatchStream) {
			s.Events[1].PrevKV = prev("/b", "v0", 1, 1, 1)
		}, ErrWatchPrevKV},
		"split revision across responses": {func(s *WatchStream) {
			s.Events[5].Batch = 3
		}, ErrWatchSplit},
		"split revision, stream ends inside it": {func(s *WatchStream) {
			s.Events = s.Events[:3]
		}, ErrWatchSplit},
		"split revision, part missing": {func(s *WatchStream) {
			s.Events = append(s.Events[:3], s.Events[4:]...)
		}, ErrWatchSplit},
		"event before start": {func(s *WatchStream) {
			s.StartRevision = 2
		}, ErrWatchBeforeStart},
		"wrong value": {func(s *WatchStream) {
			s.Events[4].Value = "v44"
		}, ErrWatchContent},
		"wrong type": {func(s *WatchStream) {
			s.Events[6].Type = EventPut
		}, ErrWatchContent},
		"event never committed": {func(s *WatchStream) {
			s.Events = append(s.Events, WatchEvent{Revision: 7, Type: EventPut, Key: "/a", Value: "v7", Batch: 4})
		}, ErrWatchNotInLog},
		"event at a revision with no watched change": {func(s *WatchStream) {
			s.Events = append(s.Events[:6:6], WatchEvent{Revision: 5, Type: EventPut, Key: "/a", Value: "v1", Batch: 4}, s.Events[6])
		}, ErrWatchNotInLog},
		"extra key in a revision": {func(s *WatchStream) {
			s.Events = append(s.Events[:2:2], WatchEvent{Revision: 2, Type: EventPut, Key: "/z", Value: "v2", Batch: 1})
		}, ErrWatchNotInLog},
		"prev_kv not asked for": {func(s *WatchStream) {
			s.PrevKV = false
		}, ErrWatchPrevKV},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := fullStream()
			c.mutate(&s)
			err := CheckWatch(&s, l)
			require.Error(t, err)
			require.True(t, errors.Is(err, c.want), "got %v", err)
			var we *WatchError
			require.True(t, errors.As(err, &we))
		})
	}
}

func TestWatchResumed(t *testing.T) {
	l := testLog(t)
	all := fullStream()
	first := WatchStream{Key: "/", Prefix: true, StartRevision: 1, PrevKV: true, Events: all.Events[:2]}
	second := WatchStream{Key: "/", Prefix: true, StartRevision: 3, PrevKV: true, Events: all.Events[2:]}
	require.NoError(t, CheckWatchResumed([]WatchStream{first, second}, l))

	// Resuming from an earlier revision re-delivers, which is allowed.
	again := second
	again.StartRevision, again.Events = 2, all.Events[1:]
	require.NoError(t, CheckWatchResumed([]WatchStream{first, again}, l))

	// Resuming past the next revision leaves a hole.
	hole := WatchStream{Key: "/", Prefix: true, StartRevision: 4, PrevKV: true, Events: all.Events[4:]}
	err := CheckWatchResumed([]WatchStream{first, hole}, l)
	require.True(t, errors.Is(err, ErrWatchResume), "got %v", err)

	// A resumed stream whose first event is before its resume revision.
	early := WatchStream{Key: "/", Prefix: true, StartRevision: 3, PrevKV: true, Events: all.Events[1:]}
	err = CheckWatchResumed([]WatchStream{first, early}, l)
	require.True(t, errors.Is(err, ErrWatchBeforeStart), "got %v", err)
}

func TestWriteLogRejectsMalformed(t *testing.T) {
	for name, entries := range map[string][]LogEntry{
		"descending": {{2, nil}, {1, nil}},
		"zero":       {{0, nil}},
		"dup key":    {{1, []Change{{"/a", EventPut, "1"}, {"/a", EventPut, "2"}}}},
		"bad type":   {{1, []Change{{"/a", 9, "1"}}}},
	} {
		_, err := NewWriteLog(entries)
		require.True(t, errors.Is(err, ErrBadLog), name)
	}
}

// A prev_kv that compaction may have dropped may be missing, and only
// then.
func TestWatchPrevKVMayBeCompacted(t *testing.T) {
	l := testLog(t)
	s := fullStream()
	s.Events[2].PrevKV = nil // revision 3 without its prev_kv
	err := CheckWatch(&s, l)
	require.ErrorIs(t, err, ErrWatchPrevKV, "no compaction: the prev_kv must be there")
	s.MayCompact = 2
	require.ErrorIs(t, CheckWatch(&s, l), ErrWatchPrevKV, "a compaction at 2 keeps revision 1's version for revision 3")
	s.MayCompact = 3
	require.NoError(t, CheckWatch(&s, l))
	s.Events[2].PrevKV = prev("/a", "v0", 1, 1, 1)
	require.ErrorIs(t, CheckWatch(&s, l), ErrWatchPrevKV, "a wrong prev_kv is wrong whatever the compaction")
}
