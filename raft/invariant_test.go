package raft

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/internal/invariant"
)

// requireViolation runs f and requires that it panics with a violated
// invariant whose message contains want.
func requireViolation(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		err, ok := recover().(error)
		require.True(t, ok, "no invariant violation")
		require.True(t, errors.Is(err, invariant.ErrViolated), "%v", err)
		require.Contains(t, err.Error(), want)
	}()
	f()
}

// soleLeader returns a single-voter RawNode that has won its election and
// handled every Ready.
func soleLeader(t *testing.T) *RawNode {
	s := NewMemoryStorage()
	require.NoError(t, s.ApplySnapshot(BootstrapSnapshot([]uint64{1}, nil)))
	rn, err := NewRawNode(Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
		Rand: rand.New(rand.NewPCG(1, 1))})
	require.NoError(t, err)
	require.NoError(t, rn.Campaign())
	for rn.HasReady() {
		rd := rn.Ready()
		require.NoError(t, s.Append(rd.Entries))
		require.NoError(t, s.SetHardState(rd.HardState))
		rn.Advance()
	}
	require.Equal(t, RoleLeader, rn.Status().Role)
	return rn
}

// The hard state never goes back: a term or commit index lower than the
// last Ready's is a violation (here forced by breaking the state).
func TestInvariantHardStateNeverDecreases(t *testing.T) {
	rn := soleLeader(t)
	rn.r.term--
	requireViolation(t, "hard state went back", func() { rn.Ready() })

	rn = soleLeader(t)
	rn.r.log.committed--
	requireViolation(t, "hard state went back", func() { rn.Ready() })
}

// A leader never truncates its log: an append or snapshot reaching the
// leader's handlers is a violation.
func TestInvariantLeaderNeverTruncates(t *testing.T) {
	rn := soleLeader(t)
	requireViolation(t, "may truncate its log", func() {
		rn.r.handleAppendEntries(&Message{Type: MsgApp, From: 2, Term: rn.r.term})
	})
	requireViolation(t, "may truncate its log", func() {
		rn.r.handleSnapshot(&Message{Type: MsgSnap, From: 2, Term: rn.r.term,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 100, Term: rn.r.term}}})
	})
}

// Applied never passes committed.
func TestInvariantAppliedWithinCommitted(t *testing.T) {
	rn := soleLeader(t)
	require.PanicsWithValue(t, "raft: applied 3 past committed 2", func() {
		rn.r.log.appliedTo(rn.r.log.committed + 1)
	})
}
