package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// statusWatch compares StatusInto, with one reused Status per node for
// the whole test, against Status after every step: roles, terms,
// progress and membership all change underneath the reused value.
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
		require.Equal(t, normalStatus(want), normalStatus(*st), "%s: node %d", step, id)
	}
}

// normalStatus maps the empty lists and map StatusInto may return to nil,
// as Status returns them.
func normalStatus(st Status) Status {
	if len(st.ConfState.Voters) == 0 {
		st.ConfState.Voters = nil
	}
	if len(st.ConfState.Learners) == 0 {
		st.ConfState.Learners = nil
	}
	if len(st.Progress) == 0 {
		st.Progress = nil
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
	require.Len(t, w.reuse[1].Progress, 4)
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
	require.Empty(t, w.reuse[1].Progress, "a former leader's reused map is emptied")
	require.Len(t, w.reuse[lead].Progress, 3)
}

// Reading the status into a reused value allocates nothing once it has
// grown, on a leader and on a follower.
func TestStatusIntoAllocatesNothing(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	for _, id := range []uint64{1, 2} {
		var st Status
		c.nodes[id].rn.StatusInto(&st)
		allocs := testing.AllocsPerRun(100, func() { c.nodes[id].rn.StatusInto(&st) })
		require.Zero(t, allocs, "node %d", id)
	}
}

// BenchmarkStatus compares Status with StatusInto on a 5-node leader, the
// call the simulator's commit check makes on every acknowledgement.
func BenchmarkStatus(b *testing.B) {
	c := newCluster(b, 5, nil)
	c.campaign(1)
	rn := c.nodes[1].rn
	b.Run("Status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = rn.Status()
		}
	})
	b.Run("StatusInto", func(b *testing.B) {
		b.ReportAllocs()
		var st Status
		for b.Loop() {
			rn.StatusInto(&st)
		}
	})
}
