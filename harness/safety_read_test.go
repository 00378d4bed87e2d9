package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
)

// A linearizable read answered in a term below that of a leader elected
// before the read was called was served by a deposed leadership.
func TestStaleReadCheck(t *testing.T) {
	now := time.Duration(0)
	rec := &recorder{}
	s := newSafetyChecker(func() time.Duration { return now }, rec.fail)
	now = time.Second
	s.BecameLeader(1, 2)
	now = 2 * time.Second
	s.BecameLeader(3, 4)
	now = 3 * time.Second
	s.BecameLeader(2, 3) // a stale term elected later changes nothing
	for _, tc := range []struct {
		call time.Duration
		term uint64
		want string
	}{
		{500 * time.Millisecond, 1, ""},  // no leader yet when called
		{1500 * time.Millisecond, 2, ""}, // the newest term then
		{2 * time.Second, 2, ""},         // called as term 4 began: not before
		{2500 * time.Millisecond, 4, ""}, // answered in the new term
		{2500 * time.Millisecond, 5, ""}, // a later term still
		{2500 * time.Millisecond, 2, "stale read: client 7's linearizable read called at 2.5s was answered by replica 1 in term 2, but replica 3 had become leader of term 4 before the call"},
		{4 * time.Second, 3, "replica 3 had become leader of term 4"},
	} {
		rec.fails = nil
		s.checkRead(7, tc.call, api.Header{Member: 1, RaftTerm: tc.term})
		if tc.want == "" {
			require.Empty(t, rec.fails, "call %v term %d", tc.call, tc.term)
			continue
		}
		require.Len(t, rec.fails, 1, "call %v term %d", tc.call, tc.term)
		require.Contains(t, rec.fails[0], tc.want)
	}
	require.True(t, linearizableRead(&api.RangeRequest{Key: []byte("k")}))
	require.False(t, linearizableRead(&api.RangeRequest{Key: []byte("k"), Serializable: true}))
	require.False(t, linearizableRead(&api.RangeRequest{Key: []byte("k"), Revision: 3}))
	require.False(t, linearizableRead(&api.PutRequest{Key: []byte("k")}))
}

// A read overlapping a promotion or removal (from its sending to a second
// after its answer; forever if it timed out) is not held to the voters
// read when its answer arrives: they may have changed after the leader
// answered (seeds 1507 and 1309 of -faults all on fb3c43d, 1318 default).
func TestVotersChangingWindow(t *testing.T) {
	var now time.Duration
	s := &safetyChecker{now: func() time.Duration { return now }}
	now = time.Second
	w := s.voterChangeSent()
	now = 2 * time.Second
	s.voterChangeAnswered(w, nil)
	now = 3 * time.Second
	require.True(t, s.votersChanging(2500*time.Millisecond), "called before the change could be applied everywhere")
	now = 4 * time.Second
	require.False(t, s.votersChanging(3500*time.Millisecond), "called after the change settled")
	w = s.voterChangeSent()
	now = 5 * time.Second
	s.voterChangeAnswered(w, client.ErrTimeout)
	now = 20 * time.Second
	require.True(t, s.votersChanging(19*time.Second), "a timed-out change may still apply")
}
