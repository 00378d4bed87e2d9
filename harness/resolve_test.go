package harness

import (
	"testing"

	lin "github.com/seedkv/seedkv/linearizability"
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
