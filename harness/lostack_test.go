package harness

import (
	"testing"

	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

// acked is an operation acknowledged at store revision rev.
func acked(client int, in lin.Input, rev int64, out lin.Output) lin.Op {
	out.Revision = rev - revBase
	return lin.Op{ClientID: client, Call: 1, Return: 2, Input: in, Output: out}
}

func TestCheckAcknowledged(t *testing.T) {
	put := func(k, v string) lin.Change { return lin.Change{Key: k, Type: lin.EventPut, Value: v} }
	del := func(k string) lin.Change { return lin.Change{Key: k, Type: lin.EventDelete} }
	log := []lin.LogEntry{
		{Revision: 2, Changes: []lin.Change{put("/k/1", "a")}},
		{Revision: 3, Changes: []lin.Change{put("/k/2", "b"), put("/k/1", "c")}},
		{Revision: 4, Changes: []lin.Change{del("/k/1")}},
		{Revision: 5, Changes: []lin.Change{put("/l/x", "l")}},
		{Revision: 6, Changes: []lin.Change{put("/k/5", "e")}},
	}
	revoke := lin.Input{Kind: lin.KindTxn, Key: "/l/x", Then: []lin.TxnOp{{Kind: lin.KindDelete, Key: "/l/x"}}}
	txn := lin.Input{Kind: lin.KindTxn, Key: "/k/2", Then: []lin.TxnOp{{Kind: lin.KindPut, Key: "/k/2", Value: "b"}, {Kind: lin.KindPut, Key: "/k/1", Value: "c"}}}
	for _, tc := range []struct {
		name string
		op   lin.Op
		lost string // "" if the op is in the log
	}{
		{"put at its revision", acked(1, lin.Put("/k/1", "a"), 2, lin.Output{}), ""},
		{"put at another revision", acked(1, lin.Put("/k/1", "a"), 3, lin.Output{}), `has no put of "/k/1"=a at revision 3, but put "/k/2"=b, put "/k/1"=c`},
		{"put past the end of the log", acked(2, lin.Put("/k/3", "z"), 9, lin.Output{}), "has no revision 9 (it ends at revision 6)"},
		{"txn with two puts", acked(1, txn, 3, lin.Output{Succeeded: true}), ""},
		{"txn's else branch writes nothing", acked(1, txn, 5, lin.Output{Succeeded: false}), ""},
		{"txn whose puts are missing", acked(1, txn, 2, lin.Output{Succeeded: true}), `has no put of "/k/2"=b at revision 2`},
		{"delete of a live key", acked(1, lin.Delete("/k/1"), 4, lin.Output{Deleted: 1}), ""},
		{"delete reported but missing", acked(1, lin.Delete("/k/2"), 4, lin.Output{Deleted: 1}), `has no delete of "/k/2" at revision 4`},
		{"delete of a missing key", acked(1, lin.Delete("/k/9"), 4, lin.Output{}), ""},
		{"revoke of a live lease key, not in the log", acked(3, revoke, 6, lin.Output{Succeeded: true}), `has no delete of "/l/x" at revision 6, but put "/k/5"=e`},
		{"revoke of a key not yet put", acked(3, revoke, 4, lin.Output{Succeeded: true}), ""},
		{"read", acked(1, lin.Get("/k/1"), 9, lin.Output{}), ""},
		{"unknown", lin.Op{Input: lin.Put("/k/1", "q"), Unknown: true, Return: lin.UnknownReturn}, ""},
		{"settled from the log", lin.Op{Input: lin.Put("/k/1", "q"), Return: lin.UnknownReturn, Output: lin.Output{Revision: 8}}, ""},
		{"refused", lin.Op{Input: lin.Put("/k/1", "q"), Failed: true, Return: 3, Output: lin.Output{Revision: 8}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAcknowledged([]lin.Op{tc.op}, log, func(int64) string { return "the log" })
			if tc.lost == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errLostWrite)
			require.Contains(t, err.Error(), tc.lost)
			require.Contains(t, err.Error(), "client "+itoa(tc.op.ClientID)+" op 0 ")
		})
	}
}

// TestLostWriteNamed: a replica that acknowledges a put it never applied
// fails the seed as a lost acknowledged write naming the put.
func TestLostWriteNamed(t *testing.T) {
	cfg := buggyConfig(DefaultConfig(), false, bugLoseWrite)
	cfg.Faults = "none"
	res := Run(cfg, 1)
	require.Equal(t, Fail, res.Verdict)
	require.Contains(t, res.Reason, "lost acknowledged write: client ")
	require.Contains(t, res.Reason, "put(/k/")
	t.Log(firstLine(res.Reason))
}
