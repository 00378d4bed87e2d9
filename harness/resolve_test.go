package harness

import (
	"testing"
	"time"

	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/sim"
	"github.com/stretchr/testify/require"
)

func TestResolveUnknown(t *testing.T) {
	known := func(in lin.Input, out lin.Output) lin.Op { return lin.Op{Input: in, Output: out, Return: 10} }
	unknown := func(in lin.Input) lin.Op { return lin.Op{Input: in, Unknown: true, Return: lin.UnknownReturn} }
	txnPutDel := lin.Input{Kind: lin.KindTxn, Key: "/k/1",
		Then: []lin.TxnOp{{Kind: lin.KindPut, Key: "/k/1", Value: "t1"}, {Kind: lin.KindDelete, Key: "/k/2"}}}
	revoke := lin.Input{Kind: lin.KindTxn, Key: "/l/a", Then: []lin.TxnOp{{Kind: lin.KindDelete, Key: "/l/a"}}}
	ops := []lin.Op{
		unknown(lin.Put("/k/1", "a")),                              // 0: in the log at store revision 2
		unknown(lin.Put("/k/1", "b")),                              // 1: not in the log
		known(txnPutDel, lin.Output{Revision: 2, Succeeded: true}), // 2: revision 3 (deleted nothing)
		unknown(lin.Delete("/k/2")),                                // 3: the delete of /k/2 at 4 is nobody else's
		unknown(lin.Delete("/k/3")),                                // 4: no delete of /k/3 in the log
		unknown(revoke),                                            // 5: its key deleted at 5
		unknown(lin.Get("/k/1")),                                   // 6: reads are left alone
	}
	log := []lin.LogEntry{
		{Revision: 2, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "a"}}},
		{Revision: 3, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "t1"}}},
		{Revision: 4, Changes: []lin.Change{{Key: "/k/2", Type: lin.EventDelete}}},
		{Revision: 5, Changes: []lin.Change{{Key: "/l/a", Type: lin.EventDelete}}},
	}
	require.Equal(t, 4, resolveUnknown(ops, log))
	require.False(t, ops[0].Unknown)
	require.Equal(t, int64(1), ops[0].Output.Revision, "model revision of store revision 2")
	require.Equal(t, lin.UnknownReturn, ops[0].Return)
	require.True(t, ops[1].Failed)
	require.True(t, ops[3].Unknown, "an unaccounted delete of /k/2 exists: it may be this one")
	require.True(t, ops[4].Failed)
	require.False(t, ops[5].Unknown)
	require.True(t, ops[5].Output.Succeeded)
	require.Equal(t, int64(4), ops[5].Output.Revision)
	require.True(t, ops[6].Unknown)
}

// TestResolveUnknownDeletes: an unknown delete is settled as
// having no effect when every unaccounted delete of its key came before
// its call (an operation answered before the call had reported that
// revision or a later one), or when a transaction settled from the log
// accounts for the delete.
func TestResolveUnknownDeletes(t *testing.T) {
	op := func(in lin.Input, call, ret, rev int64) lin.Op {
		return lin.Op{Input: in, Call: call, Return: ret, Output: lin.Output{Revision: rev - revBase}}
	}
	unknown := func(in lin.Input, call int64) lin.Op {
		return lin.Op{Input: in, Call: call, Unknown: true, Return: lin.UnknownReturn}
	}
	txnPutDel := lin.Input{Kind: lin.KindTxn, Key: "/k/1",
		Then: []lin.TxnOp{{Kind: lin.KindPut, Key: "/k/1", Value: "t1"}, {Kind: lin.KindDelete, Key: "/k/3"}}}
	ops := []lin.Op{
		unknown(lin.Delete("/k/2"), 10),        // 0: may be the delete at 3
		op(lin.Get("/k/9"), 20, 30, 3),         // 1: the store is at 3 by 30
		unknown(lin.Delete("/k/2"), 40),        // 2: called after 30: cannot be the delete at 3
		unknown(txnPutDel, 50),                 // 3: in the log at 4, with its delete of /k/3
		unknown(lin.Delete("/k/3"), 45),        // 4: the delete of /k/3 at 4 is the transaction's
		unknown(lin.Delete("/k/3"), 46),        // 5: likewise
		op(lin.Put("/k/8", "x"), 60, 70, 5),    // 6
		unknown(lin.Delete("/k/4"), 65),        // 7: the delete of /k/4 at 6 may be this one
		unknown(lin.Delete("/k/4"), 75),        // 8: called after the store reached 5: may be too
		op(lin.Get("/k/4"), 80, 90, 6),         // 9
		unknown(lin.Delete("/k/4"), 95),        // 10: called after the store reached 6: no effect
		unknown(lin.Put("/k/5", "never"), 100), // 11: not in the log
	}
	log := []lin.LogEntry{
		{Revision: 2, Changes: []lin.Change{{Key: "/k/2", Type: lin.EventPut, Value: "v"}}},
		{Revision: 3, Changes: []lin.Change{{Key: "/k/2", Type: lin.EventDelete}}},
		{Revision: 4, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "t1"}, {Key: "/k/3", Type: lin.EventDelete}}},
		{Revision: 5, Changes: []lin.Change{{Key: "/k/8", Type: lin.EventPut, Value: "x"}}},
		{Revision: 6, Changes: []lin.Change{{Key: "/k/4", Type: lin.EventDelete}}},
	}
	require.Equal(t, 6, resolveUnknown(ops, log))
	require.True(t, ops[0].Unknown)
	require.True(t, ops[2].Failed, "called after the only delete of /k/2")
	require.False(t, ops[3].Unknown)
	require.Equal(t, int64(4-revBase), ops[3].Output.Revision)
	require.True(t, ops[4].Failed, "the settled transaction accounts for the delete of /k/3")
	require.True(t, ops[5].Failed)
	require.True(t, ops[7].Unknown)
	require.True(t, ops[8].Unknown)
	require.True(t, ops[10].Failed, "called after the only delete of /k/4")
	require.True(t, ops[11].Failed)
}

// TestUnknownCheckIsRetried: a linearizability check that runs out
// of its wall-time budget is run again with a longer one before the
// verdict is unknown.
func TestUnknownCheckIsRetried(t *testing.T) {
	for _, keep := range []bool{false, true} {
		var budgets []time.Duration
		r := &seedRun{cfg: DefaultConfig(), w: sim.NewWorld(1, sim.DefaultConfig())}
		r.cfg.KeepArtifacts = keep
		r.checkFns = &checkFns{
			check: func(_ lin.Model, _ []lin.Op, d time.Duration) lin.Verdict {
				budgets = append(budgets, d)
				return map[bool]lin.Verdict{true: lin.Unknown, false: lin.Pass}[len(budgets) == 1]
			},
			verbose: func(_ lin.Model, _ []lin.Op, d time.Duration) lin.Result {
				budgets = append(budgets, d)
				return lin.Result{Verdict: map[bool]lin.Verdict{true: lin.Unknown, false: lin.Pass}[len(budgets) == 1]}
			},
		}
		require.Equal(t, lin.Pass, r.checkLinearizable(nil).Verdict, "keep artifacts %v", keep)
		require.Equal(t, []time.Duration{r.cfg.CheckTimeout, checkRetryFactor * r.cfg.CheckTimeout}, budgets)
	}
}
