package linearizability

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// windowCase is a history fed to a Window as a run would feed it.
type windowCase struct {
	h     []Op
	log   []LogEntry
	late  map[int]bool // ops added only at Finish, as the harness adds lease expiries
	early map[int]bool // unknown ops settled as soon as called
	hints RevisionHints
}

// settlePuts settles, as the harness does from the write log, some of
// the unknown puts: found in the log, they happened at its revision (with
// no return time); not found, they changed nothing. Some are settled at
// once (early), the rest at the end.
func (c *windowCase) settlePuts(rng *rand.Rand) {
	at := map[string]int64{}
	for _, e := range c.log {
		for _, ch := range e.Changes {
			if ch.Type == EventPut {
				at[ch.Value] = e.Revision
			}
		}
	}
	c.early = map[int]bool{}
	for i := range c.h {
		op := &c.h[i]
		if !op.Unknown || op.Input.Kind != KindPut || rng.IntN(3) == 0 {
			continue
		}
		if rev, ok := at[op.Input.Value]; ok {
			op.Unknown, op.Output = false, Output{Revision: rev}
		} else {
			op.Unknown, op.Failed = false, true
		}
		c.early[i] = rng.IntN(2) == 0
	}
}

// hintsOf are the write log's keys at each revision no op surely
// created, as the harness gives them.
func hintsOf(h []Op, log []LogEntry) RevisionHints {
	created := map[int64]bool{}
	for i := range h {
		if SurelyCreated(&h[i]) {
			created[h[i].Output.Revision] = true
		}
	}
	hints := RevisionHints{}
	for _, e := range log {
		if !created[e.Revision] {
			for _, c := range e.Changes {
				hints[e.Revision] = append(hints[e.Revision], c.Key)
			}
		}
	}
	return hints
}

// asMaybes turns some known deletes that deleted into transactions that
// only delete (the shape of a lease revoke or expiry: they create their
// revision or not, so their revision is a gap the search fills), and
// marks some of those to come late.
func asMaybes(rng *rand.Rand, h []Op, share float64) map[int]bool {
	late := map[int]bool{}
	for i := range h {
		op := &h[i]
		if op.Unknown || op.Failed || op.Input.Kind != KindDelete || op.Output.Deleted == 0 || rng.Float64() >= share {
			continue
		}
		op.Input = Input{Kind: KindTxn, Key: op.Input.Key, Then: []TxnOp{{Kind: KindDelete, Key: op.Input.Key}}}
		op.Output = Output{Revision: op.Output.Revision, Succeeded: true}
		if rng.IntN(2) == 0 {
			late[i] = true
		}
	}
	return late
}

// feed runs c through a window: calls and returns in time order, a
// retirement after an event with probability retire (up to below the
// lowest floor of the ops in flight), unknown and late ops at Finish.
func (c *windowCase) feed(rng *rand.Rand, budget int64, retire float64) (*Window, Result, error) {
	w := NewWindow(budget)
	type event struct {
		at   int64
		ret  bool
		id   int
		call bool
	}
	var evs []event
	for i := range c.h {
		if c.late[i] {
			continue
		}
		evs = append(evs, event{at: c.h[i].Call, id: i, call: true})
		if _, settled := c.early[i]; !settled && !c.h[i].Unknown {
			evs = append(evs, event{at: c.h[i].Return, id: i, ret: true})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	changes := func(rev int64) ([]Change, bool) {
		i, ok := slices.BinarySearchFunc(c.log, rev, func(e LogEntry, r int64) int { return cmp.Compare(e.Revision, r) })
		if !ok {
			return nil, false
		}
		return c.log[i].Changes, true
	}
	for _, e := range evs {
		if e.call {
			w.Call(e.id, e.at)
			if _, settled := c.early[e.id]; settled || c.h[e.id].Unknown { // it times out at once
				unknown := c.h[e.id]
				unknown.Unknown, unknown.Failed, unknown.Return, unknown.Output = true, false, UnknownReturn, Output{}
				w.Add(e.id, unknown)
				if c.early[e.id] {
					w.Settle(e.id, c.h[e.id])
				}
			}
			continue
		}
		w.Add(e.id, c.h[e.id])
		if rng.Float64() < retire {
			w.Retire(w.Horizon(), changes)
		}
	}
	for i := range c.h {
		switch {
		case c.late[i]:
			w.Add(i, c.h[i])
		case c.h[i].Unknown:
			w.Settle(i, c.h[i])
		default:
			if _, settled := c.early[i]; settled {
				w.Settle(i, c.h[i])
			}
		}
	}
	r, err := w.Finish(c.hints)
	return w, r, err
}

// TestWindowAgreesWithRevisions: on random histories, linearizable and
// not, with gaps filled by transactions that come in order or late, the
// window gives CheckRevisions' verdict and reason or says it cannot
// decide; on linearizable histories without unknown or late ops it always
// decides.
func TestWindowAgreesWithRevisions(t *testing.T) {
	decided := map[Verdict]int{}
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, rapid.Bool().Draw(t, "multiKey"))
		cfg.ops = rapid.IntRange(1, 300).Draw(t, "ops")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 7))
		h, log := genHistoryLog(rng, cfg)
		c := &windowCase{h: h, log: log}
		c.late = asMaybes(rng, c.h, rapid.Float64Range(0, 1).Draw(t, "maybes"))
		c.settlePuts(rng)
		if rapid.Bool().Draw(t, "mutate") {
			c.h, _ = mutate(rng, c.h)
		}
		c.hints = hintsOf(c.h, c.log)
		budget := int64(rapid.SampledFrom([]int{0, 50, 5000}).Draw(t, "budget"))
		want := CheckRevisionsHinted(c.h, budget, c.hints)
		_, got, err := c.feed(rng, budget, rapid.Float64Range(0, 1).Draw(t, "retire"))
		if err != nil {
			require.ErrorIs(t, err, ErrUndecided)
			return
		}
		decided[want.Verdict]++
		require.Equal(t, want.Verdict, got.Verdict, "whole: %s\nwindow: %s\n%s", want.Reason, got.Reason, dumpOps(c.h))
		require.Equal(t, want.Reason, got.Reason)
	})
	t.Logf("decided: %v", decided)
}

// TestWindowDecidesBothVerdicts: over a fixed set of generator seeds (so
// the test cannot pass or fail by luck of rapid's draws), the window
// decides both passing and failing histories, with CheckRevisions'
// verdict and reason. Without it TestWindowAgreesWithRevisions could pass
// with a window that never decides anything.
func TestWindowDecidesBothVerdicts(t *testing.T) {
	decided := map[Verdict]int{}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 9))
		// Small histories, half without unknown or late ops: the window
		// may leave those undecided, and the test needs decided cases.
		cfg := genConfig{clients: 1 + rng.IntN(5), ops: 1 + rng.IntN(60), keys: 1 + rng.IntN(4),
			multiKey: seed%2 == 0}
		maybes := 0.0
		if seed%4 >= 2 {
			cfg.unknown, maybes = 0.2*rng.Float64(), rng.Float64()
		}
		h, log := genHistoryLog(rng, cfg)
		c := &windowCase{h: h, log: log}
		c.late = asMaybes(rng, c.h, maybes)
		c.settlePuts(rng)
		if seed%3 != 0 {
			c.h, _ = mutate(rng, c.h)
		}
		c.hints = hintsOf(c.h, c.log)
		want := CheckRevisionsHinted(c.h, 5000, c.hints)
		_, got, err := c.feed(rng, 5000, rng.Float64())
		if err != nil {
			require.ErrorIs(t, err, ErrUndecided)
			continue
		}
		decided[want.Verdict]++
		require.Equal(t, want.Verdict, got.Verdict, "seed %d", seed)
		require.Equal(t, want.Reason, got.Reason, "seed %d", seed)
	}
	t.Logf("decided: %v", decided)
	require.Positive(t, decided[Pass])
	require.Positive(t, decided[Fail])
}

// TestWindowDecidesCleanHistories: a linearizable history whose ops are
// all known and come in order is always decided, with no op left but
// those above the last retirement.
func TestWindowDecidesCleanHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, rapid.Bool().Draw(t, "multiKey"))
		cfg.unknown = 0
		cfg.ops = rapid.IntRange(1, 300).Draw(t, "ops")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 8))
		h, log := genHistoryLog(rng, cfg)
		c := &windowCase{h: h, log: log}
		asMaybes(rng, c.h, rapid.Float64Range(0, 1).Draw(t, "maybes")) // all come in order here
		c.hints = hintsOf(c.h, c.log)
		w, got, err := c.feed(rng, 0, 1)
		require.NoError(t, err)
		require.Equal(t, Pass, got.Verdict, got.Reason)
		require.Positive(t, w.Dropped()+1)
	})
}

// TestWindowLateCreatorIsConfirmed: a gap the log says was a delete waits
// for its creator; one that comes at Finish and fits passes, one that
// was called after an op at its revision returned cannot be confirmed,
// and none at all leaves the window undecided.
func TestWindowLateCreatorIsConfirmed(t *testing.T) {
	expiry := func(call, ret int64) Op {
		return Op{ClientID: 9, Call: call, Return: ret,
			Input:  Input{Kind: KindTxn, Key: "/l", Then: []TxnOp{{Kind: KindDelete, Key: "/l"}}},
			Output: Output{Revision: 2, Succeeded: true}}
	}
	h := []Op{
		op(1, 0, 10, Put("/l", "a"), Output{Revision: 1}),
		op(1, 20, 30, Get("/l"), Output{Revision: 2}),
		op(1, 40, 50, Put("/x", "b"), Output{Revision: 3}),
		op(1, 60, 70, Get("/x"), got(3, kv("/x", "b", 3, 3, 1))),
	}
	log := []LogEntry{
		{Revision: 1, Changes: []Change{{Key: "/l", Type: EventPut, Value: "a"}}},
		{Revision: 2, Changes: []Change{{Key: "/l", Type: EventDelete}}},
		{Revision: 3, Changes: []Change{{Key: "/x", Type: EventPut, Value: "b"}}},
	}
	for _, tc := range []struct {
		name   string
		late   *Op
		decide bool
	}{
		{"fits", ptr(expiry(12, 25)), true},
		{"called after a read of its revision returned", ptr(expiry(35, 36)), false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &windowCase{h: slices.Clone(h), log: log, late: map[int]bool{}}
			if tc.late != nil {
				c.h = append(c.h, *tc.late)
				c.late[len(c.h)-1] = true
			}
			c.hints = hintsOf(c.h, c.log)
			want := CheckRevisionsHinted(c.h, 0, c.hints)
			w, got, err := c.feed(rand.New(rand.NewPCG(1, 1)), 0, 1)
			require.Equal(t, int64(3), w.Checked(), "revisions 0..2 replayed as they completed (3 is the latest)")
			if !tc.decide {
				require.True(t, errors.Is(err, ErrUndecided), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want.Verdict, got.Verdict)
			require.Equal(t, Pass, got.Verdict, got.Reason)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestWindowPassesATxnThatDeletedNothing: a guarded transaction that
// only deletes, answered that it deleted nothing, made no revision (the
// store leaves the revision as it was): it sits at the revision it saw,
// as a read. Taken as a candidate creator of that revision (a gap whose
// creator is an unknown delete), it failed the window's first try, and
// the window stopped there for the rest of the run (seed 1 at 1 h kept
// its whole history from revision 1,244 on).
func TestWindowPassesATxnThatDeletedNothing(t *testing.T) {
	guarded := Input{Kind: KindTxn, Key: "/k/2",
		Compares: []Compare{{Key: "/k/2", Target: TargetVersion, Op: CmpEqual, Num: 0}},
		Then:     []TxnOp{{Kind: KindDelete, Key: "/k/2"}, {Kind: KindDelete, Key: "/k/3"}},
		Else:     []TxnOp{{Kind: KindGet, Key: "/k/2"}}}
	h := []Op{
		op(1, 0, 10, Put("/k/2", "a"), wrote(1)),
		unknown(2, 12, Delete("/k/2")), // created revision 2, timed out
		op(3, 20, 30, guarded, Output{Revision: 2, Succeeded: true, DeletedKnown: true}),
		op(1, 40, 50, Put("/x", "b"), wrote(3)),
		op(1, 60, 70, Get("/x"), got(3, kv("/x", "b", 3, 3, 1))),
	}
	log := []LogEntry{
		{Revision: 1, Changes: []Change{{Key: "/k/2", Type: EventPut, Value: "a"}}},
		{Revision: 2, Changes: []Change{{Key: "/k/2", Type: EventDelete}}},
		{Revision: 3, Changes: []Change{{Key: "/x", Type: EventPut, Value: "b"}}},
	}
	c := &windowCase{h: h, log: log, hints: hintsOf(h, log)}
	want := CheckRevisionsHinted(c.h, 0, c.hints)
	require.Equal(t, Pass, want.Verdict, want.Reason)
	require.Equal(t, Pass, Check(StoreModel(), c.h, 20*time.Second))
	w, got, err := c.feed(rand.New(rand.NewPCG(1, 1)), 0, 1)
	require.Equal(t, int64(3), w.Checked(), "revisions 0..2 replayed as they completed (3 is the latest)")
	require.NoError(t, err)
	require.Equal(t, Pass, got.Verdict, got.Reason)

	// The same transaction answered that it deleted a key: it created
	// revision 2, where /k/2 was live, so its guard must have failed.
	bad := slices.Clone(h)
	bad[2].Output.Deleted = 1
	require.Equal(t, Fail, CheckRevisionsHinted(bad, 0, hintsOf(bad, log)).Verdict)
	require.Equal(t, Fail, Check(StoreModel(), bad, 20*time.Second))
}
