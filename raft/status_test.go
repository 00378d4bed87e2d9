package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// statusWatch compares StatusInto (with one reused Status per node for
// the whole test) and WithProgress against Status after every step:
// roles, terms, progress and membership all change underneath the reused
// value.
type statusWatch struct {
	c     *cluster
	reuse map[uint64]*Status
}

func (w *statusWatch) check(t *testing.T, step string) {
	t.Helper()
	for _, id := range w.c.ids {
		st := w.reuse[id]
		if st == nil {
			st = &Status{}
			w.reuse[id] = st
		}
		n := w.c.nodes[id]
		want := n.rn.Status()
		n.rn.StatusInto(st)
		require.Nil(t, st.Progress, "%s: node %d", step, id)
		var visited []uint64
		got := *st
		n.rn.WithProgress(func(id uint64, pr ProgressStatus) {
			if got.Progress == nil {
				got.Progress = map[uint64]ProgressStatus{}
			}
			got.Progress[id] = pr
			visited = append(visited, id)
		})
		require.Equal(t, normalStatus(want), normalStatus(got), "%s: node %d", step, id)
		require.True(t, slices.IsSorted(visited), "%s: node %d visits %v", step, id, visited)
	}
}

// normalStatus maps the empty lists StatusInto may return to nil, as
// Status returns them.
func normalStatus(st Status) Status {
	if len(st.ConfState.Voters) == 0 {
		st.ConfState.Voters = nil
	}
	if len(st.ConfState.Learners) == 0 {
		st.ConfState.Learners = nil
	}
	return st
}

// StatusInto gives what Status gives, through elections, a learner that
// joins and is promoted, a removed leader and a new one.
func TestStatusIntoMatchesStatus(t *testing.T) {
	c := newCluster(t, 3, nil)
	w := &statusWatch{c: c, reuse: map[uint64]*Status{}}
	w.check(t, "start")
	c.campaign(1)
	w.check(t, "campaign 1")
	require.NoError(t, c.propose(1, "a"))
	w.check(t, "propose a")
	c.addNode(4, NewMemoryStorage())
	require.NoError(t, c.confChange(1, ConfChangeAddLearner, 4))
	c.tickAll(2)
	w.check(t, "learner 4")
	require.Equal(t, []uint64{4}, w.reuse[1].ConfState.Learners)
	require.NoError(t, c.confChange(1, ConfChangeAddVoter, 4))
	w.check(t, "voter 4")
	require.Equal(t, []uint64{1, 2, 3, 4}, w.reuse[1].ConfState.Voters)
	c.isolate(2)
	require.NoError(t, c.propose(1, "b"))
	w.check(t, "2 isolated")
	c.heal()
	c.tickAll(2)
	w.check(t, "healed")
	require.NoError(t, c.confChange(1, ConfChangeRemoveNode, 1))
	w.check(t, "1 removed")
	c.isolate(1)
	c.tickAll(40)
	w.check(t, "new leader")
	lead := c.leader()
	require.NotEqual(t, uint64(1), lead)
	require.Equal(t, RoleLeader, w.reuse[lead].Role)
	require.Equal(t, []uint64{2, 3, 4}, w.reuse[lead].ConfState.Voters)
}

// Reading the status into a reused value and visiting the progress
// allocate nothing once the value has grown, on a leader and on a
// follower.
func TestStatusIntoAllocatesNothing(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	for _, id := range []uint64{1, 2} {
		var st Status
		var match uint64
		c.nodes[id].rn.StatusInto(&st)
		allocs := testing.AllocsPerRun(100, func() {
			c.nodes[id].rn.StatusInto(&st)
			c.nodes[id].rn.WithProgress(func(_ uint64, pr ProgressStatus) { match += pr.Match })
		})
		require.Zero(t, allocs, "node %d", id)
	}
}

// BenchmarkStatus compares Status with StatusInto and WithProgress on a
// 5-node leader, what the simulator's commit check reads on every
// acknowledgement.
func BenchmarkStatus(b *testing.B) {
	c := newCluster(b, 5, nil)
	c.campaign(1)
	rn := c.nodes[1].rn
	b.Run("Status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = rn.Status().Progress[2].Match
		}
	})
	b.Run("StatusInto+WithProgress", func(b *testing.B) {
		b.ReportAllocs()
		var st Status
		var match uint64
		for b.Loop() {
			rn.StatusInto(&st)
			rn.WithProgress(func(id uint64, pr ProgressStatus) {
				if id == 2 {
					match = pr.Match
				}
			})
		}
		_ = match
	})
}
