package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemoryStorage(t *testing.T) {
	s := NewMemoryStorage()
	require.NoError(t, s.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 3, Term: 2}}))
	require.NoError(t, s.Append([]Entry{{Index: 4, Term: 2}, {Index: 5, Term: 3}, {Index: 6, Term: 3}}))
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, uint64(4), first)
	require.Equal(t, uint64(6), last)

	for _, tc := range []struct {
		lo, hi, max uint64
		n           int
		err         error
	}{
		{3, 5, 1 << 20, 0, ErrCompacted},
		{4, 8, 1 << 20, 0, ErrUnavailable},
		{4, 7, 1 << 20, 3, nil},
		{4, 7, 1, 1, nil}, // size limit, but at least one
		{5, 5, 1 << 20, 0, nil},
	} {
		ents, err := s.Entries(tc.lo, tc.hi, tc.max)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%+v", tc)
			continue
		}
		require.NoError(t, err)
		require.Len(t, ents, tc.n, "%+v", tc)
	}
	term, err := s.Term(3)
	require.NoError(t, err)
	require.Equal(t, uint64(2), term, "the snapshot's term is retained")
	_, err = s.Term(2)
	require.ErrorIs(t, err, ErrCompacted)
	_, err = s.Term(7)
	require.ErrorIs(t, err, ErrUnavailable)

	// Overwriting a suffix does not disturb slices handed out before.
	held, _ := s.Entries(4, 7, 1<<20)
	require.NoError(t, s.Append([]Entry{{Index: 5, Term: 4}}))
	require.Equal(t, uint64(3), held[1].Term)
	last, _ = s.LastIndex()
	require.Equal(t, uint64(5), last)
	require.ErrorIs(t, s.Append([]Entry{{Index: 9, Term: 4}}), ErrUnavailable, "gap")

	// Snapshot and compaction.
	snap, err := s.CreateSnapshot(5, ConfState{Voters: []uint64{1}}, []byte("sm"))
	require.NoError(t, err)
	require.Equal(t, uint64(4), snap.Meta.Term)
	_, err = s.CreateSnapshot(4, ConfState{}, nil)
	require.ErrorIs(t, err, ErrSnapOutOfDate)
	require.NoError(t, s.Compact(5))
	require.ErrorIs(t, s.Compact(4), ErrCompacted)
	first, _ = s.FirstIndex()
	require.Equal(t, uint64(6), first)
	require.ErrorIs(t, s.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 2, Term: 1}}), ErrSnapOutOfDate)
}
