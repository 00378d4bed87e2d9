package harness

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// TestSerialMonotonic: a replica's serializable reads of the latest state
// never go back below an answer the replica sent before the call; reads
// that overlap, answers of other replicas and reads that got no answer
// are not compared.
func TestSerialMonotonic(t *testing.T) {
	read := func(member host.NodeID, call, ret, rev int64) *pastRead {
		return &pastRead{latest: true, code: api.CodeOK, member: member, call: call, ret: ret, rev: rev}
	}
	// revsOf notes every answer at its return, as the driver does.
	revsOf := func(reads []*pastRead) *answerRevs {
		rs := slices.Clone(reads)
		slices.SortStableFunc(rs, func(a, b *pastRead) int { return int(a.ret - b.ret) })
		var revs answerRevs
		for _, p := range rs {
			revs.note(api.OpRange, &api.Response{Header: api.Header{Member: p.member, Revision: p.rev}}, p.ret)
		}
		return &revs
	}
	ok := []*pastRead{
		read(1, 10, 20, 50),
		read(1, 15, 30, 40), // overlaps the first: either order is fine
		read(2, 25, 35, 10), // another replica may lag
		read(1, 21, 40, 50), // after the first returned: not below 50
		{latest: true, code: api.CodeUnavailable, member: 1, call: 45, ret: 46},
		{latest: false, code: api.CodeOK, member: 1, call: 50, ret: 51, rev: 3}, // a read of the past
	}
	require.NoError(t, checkSerialMonotonic(ok, revsOf(ok[:4])))

	back := append(slices.Clone(ok), read(1, 41, 60, 49))
	err := checkSerialMonotonic(back, revsOf(append(slices.Clone(ok[:4]), back[6])))
	require.ErrorIs(t, err, errPastRead)
	require.Contains(t, err.Error(), "replica 1 went back")
	require.Contains(t, err.Error(), "answered at revision 49")
	require.Contains(t, err.Error(), "answered at revision 50 at 20ns")

	// Any answer of the replica counts, a write's too.
	var revs answerRevs
	revs.note(api.OpPut, &api.Response{Header: api.Header{Member: 3, Revision: 70}}, 5)
	err = checkSerialMonotonic([]*pastRead{read(3, 6, 8, 60)}, &revs)
	require.ErrorContains(t, err, "replica 3 went back")
}

// TestReadRevBound: the revision a linearizable read must reach is the
// highest of the writes acknowledged before its call; failed writes and
// reads' answers do not raise it.
func TestReadRevBound(t *testing.T) {
	var revs answerRevs
	ans := func(rev int64, code api.ErrorCode) *api.Response {
		return &api.Response{Err: code, Header: api.Header{Member: 1, Revision: rev}}
	}
	revs.note(api.OpPut, ans(5, api.CodeOK), 10)
	revs.note(api.OpRange, ans(9, api.CodeOK), 12)
	revs.note(api.OpTxn, ans(7, api.CodeOK), 20)
	revs.note(api.OpPut, ans(8, api.CodeNotLeader), 25)
	revs.note(api.OpPut, ans(6, api.CodeOK), 30) // lower than 7: the maximum stays
	for _, tc := range []struct{ call, want int64 }{{10, 0}, {11, 5}, {20, 5}, {21, 7}, {100, 7}} {
		got, _ := revs.acked.before(tc.call)
		require.Equal(t, tc.want, got, "call at %d", tc.call)
	}
	got, _ := revs.member(1).before(13)
	require.EqualValues(t, 9, got, "per replica, every answer counts")
	got, _ = revs.member(2).before(100)
	require.Zero(t, got)

	r := &seedRun{revs: revs}
	r.checkReadRev(4, 21, api.Header{Member: 2, Revision: 7})
	require.Empty(t, r.failure)
	r.checkReadRev(4, 21, api.Header{Member: 2, Revision: 6})
	require.Contains(t, r.failure, "stale read: client 4's linearizable read called at 21ns was answered by replica 2 at revision 6, but a write was acknowledged at revision 7 at 20ns")
}
