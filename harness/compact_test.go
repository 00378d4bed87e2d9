package harness

import (
	"testing"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

func TestCombineWriteLogs(t *testing.T) {
	put := func(rev int64, k, v string) lin.LogEntry {
		return lin.LogEntry{Revision: rev, Changes: []lin.Change{{Key: k, Type: lin.EventPut, Value: v}}}
	}
	buffer := func(log ...lin.LogEntry) *lin.LogBuffer {
		b := &lin.LogBuffer{}
		for _, e := range log {
			for _, c := range e.Changes {
				b.Append(e.Revision, []byte(c.Key), []byte(c.Value), c.Type == lin.EventDelete)
			}
		}
		return b
	}
	watched := buffer(put(2, "/k/1", "a"), put(3, "/k/2", "b"), put(4, "/k/1", "c"))
	revs := func(log []lin.LogEntry) (out []int64) {
		for _, e := range log {
			out = append(out, e.Revision)
		}
		return out
	}

	log, gap, disagree := combine(watched, []lin.LogEntry{put(3, "/k/2", "b"), put(4, "/k/1", "c"), put(5, "/k/3", "d")}, 3, 1)
	require.NoError(t, gap)
	require.NoError(t, disagree)
	require.Equal(t, []int64{2, 3, 4, 5}, revs(log))

	_, _, disagree = combine(watched, []lin.LogEntry{put(3, "/k/2", "b"), put(4, "/k/1", "x")}, 3, 7)
	require.ErrorContains(t, disagree, `at revision 4 the cluster served put "/k/1"=c, but replica 7 holds put "/k/1"=x`)

	_, gap, _ = combine(buffer(put(2, "/k/1", "a")), []lin.LogEntry{put(4, "/k/1", "c")}, 4, 1)
	require.ErrorContains(t, gap, "holds revisions up to 2 only, replicas may have compacted to 3")

	// A replica that lists more history than the harness needs: the
	// part below from is compared, not used twice.
	log, gap, disagree = combine(watched, []lin.LogEntry{put(2, "/k/1", "a"), put(3, "/k/2", "b"), put(4, "/k/1", "c")}, 4, 1)
	require.NoError(t, gap)
	require.NoError(t, disagree)
	require.Equal(t, []int64{2, 3, 4}, revs(log))
}

// A watch may end with ErrCompacted only for a revision below a compaction
// requested (and not refused) by then.
func TestWatchCompactedEnd(t *testing.T) {
	r := &seedRun{logWatch: &logWatcher{comp: []compaction{
		{rev: 10, call: 100, ret: 150, acked: true},
		{rev: 30, call: 200, ret: 210, refused: true},
		{rev: 20, call: 300}, // unanswered: may have happened
	}}}
	for _, tc := range []struct {
		want, at int64
		ok       bool
	}{
		{want: 9, at: 120, ok: true},   // asked for, not yet answered
		{want: 9, at: 90, ok: false},   // before any compaction was asked for
		{want: 10, at: 250, ok: false}, // 10 is the compaction point: readable
		{want: 25, at: 250, ok: false}, // the compaction at 30 was refused
		{want: 19, at: 301, ok: true},  // the unanswered one covers it
	} {
		ws := &watchStream{start: 2, err: api.ErrCompacted, errAt: tc.at, errNext: tc.want, compactRev: tc.want + 1}
		err := r.checkWatchEnd(ws)
		if tc.ok {
			require.NoError(t, err, "%+v", tc)
		} else {
			require.ErrorContains(t, err, "no compaction above it", "%+v", tc)
		}
	}
	// The compact revision reported must cover the watch's position and
	// be one requested by then.
	for _, tc := range []struct {
		compact int64
		ok      bool
	}{
		{compact: 10, ok: true},
		{compact: 20, ok: true},  // the unanswered request may have taken effect
		{compact: 9, ok: false},  // the watch's own position: not compacted
		{compact: 0, ok: false},  // not reported
		{compact: 30, ok: false}, // refused
	} {
		ws := &watchStream{start: 2, err: api.ErrCompacted, errAt: 301, errNext: 9, compactRev: tc.compact}
		err := r.checkWatchEnd(ws)
		if tc.ok {
			require.NoError(t, err, "%+v", tc)
		} else {
			require.ErrorContains(t, err, "reported compact revision", "%+v", tc)
		}
	}
	require.NoError(t, r.checkWatchEnd(&watchStream{err: api.ErrUnavailable}))
}
