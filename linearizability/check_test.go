package linearizability

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// op builds a completed operation.
func op(client int, call, ret int64, in Input, out Output) Op {
	return Op{ClientID: client, Call: call, Return: ret, Input: in, Output: out}
}

// unknown builds an operation whose outcome is unknown.
func unknown(client int, call int64, in Input) Op {
	return Op{ClientID: client, Call: call, Return: UnknownReturn, Input: in, Unknown: true}
}

func kv(key, value string, mod, create, version int64) KV {
	return KV{Key: key, Value: value, ModRevision: mod, CreateRevision: create, Version: version}
}

func got(rev int64, kvs ...KV) Output { return Output{KVs: kvs, Revision: rev} }
func wrote(rev int64) Output          { return Output{Revision: rev} }

var models = []Model{PerKeyModel(), StoreModel()}

func TestHandMadeViolationsFail(t *testing.T) {
	cases := map[string][]Op{
		"stale read": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(0, 20, 30, Put("/k", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
		},
		"lost write": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Put("/j", "v2"), wrote(2)),
			op(1, 40, 50, Get("/k"), got(2)),
		},
		"duplicated write": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Put("/k", "v2"), wrote(2)),
			op(2, 40, 50, Get("/k"), got(2, kv("/k", "v2", 2, 1, 2))),
			// v1's proposal applied a second time, as a retry would.
			op(2, 60, 70, Get("/k"), got(3, kv("/k", "v1", 3, 1, 3))),
		},
		"read of a value never written": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, Get("/k"), got(1, kv("/k", "v9", 1, 1, 1))),
		},
		"read from the future": {
			op(1, 0, 10, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
			op(0, 20, 30, Put("/k", "v1"), wrote(1)),
		},
		"stale prefix range": {
			op(0, 0, 10, Put("/k1", "v1"), wrote(1)),
			op(0, 20, 30, Delete("/k1"), Output{Revision: 2, Deleted: 1}),
			op(1, 40, 50, Range("/k"), got(1, kv("/k1", "v1", 1, 1, 1))),
		},
		"cas succeeded twice on one version": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			op(1, 20, 30, CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: 1}, "v2"), Output{Succeeded: true, Revision: 2}),
			op(2, 40, 50, CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: 1}, "v3"), Output{Succeeded: true, Revision: 3}),
		},
	}
	for name, h := range cases {
		for _, m := range models {
			t.Run(name+"/"+m.Name(), func(t *testing.T) {
				require.Equal(t, Fail, Check(m, h, 10*time.Second))
				r := CheckVerbose(m, h, 10*time.Second)
				require.Equal(t, Fail, r.Verdict)
				require.NotEmpty(t, r.Reason)
			})
		}
	}
}

func TestLinearizableConcurrentAndUnknownPass(t *testing.T) {
	cases := map[string][]Op{
		"concurrent reads see old or new": {
			op(0, 0, 100, Put("/k", "v1"), wrote(1)),
			op(1, 10, 20, Get("/k"), got(0)),
			op(2, 30, 40, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
			op(1, 50, 60, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
		},
		"unknown write takes effect, another never does": {
			op(0, 0, 10, Put("/k", "v1"), wrote(1)),
			unknown(3, 20, Put("/k", "v2")),
			op(2, 110, 120, Get("/k"), got(2, kv("/k", "v2", 2, 1, 2))),
			op(0, 130, 140, Put("/k2", "v3"), wrote(3)),
			unknown(4, 150, Put("/k", "v4")),
			op(1, 160, 170, Range("/k"), got(3, kv("/k", "v2", 2, 1, 2), kv("/k2", "v3", 3, 3, 1))),
			unknown(1, 180, Get("/k")),
		},
		"unknown write never applied, revisions continue": {
			unknown(3, 0, Put("/k", "v5")),
			op(0, 10, 20, Put("/j", "v6"), wrote(1)),
			op(1, 30, 40, Get("/k"), got(1)),
		},
		"unknown write seen only through its revision": {
			unknown(3, 0, Put("/k", "v5")),
			op(0, 10, 20, Put("/j", "v6"), wrote(2)),
			op(1, 30, 40, Range("/j"), got(2, kv("/j", "v6", 2, 2, 1))),
			unknown(2, 50, Put("/k", "v7")), // called after every gap: dropped
		},
		"refused ops are ignored": {
			{ClientID: 0, Call: 0, Return: 5, Input: Put("/k", "v7"), Failed: true, Output: Output{Err: "no space"}},
			op(1, 10, 20, Get("/k"), got(0)),
		},
		"delete of a missing key creates no revision": {
			op(0, 0, 10, Delete("/k"), Output{Revision: 0}),
			op(0, 20, 30, Put("/k", "v1"), wrote(1)),
			op(1, 40, 50, CAS(Compare{Key: "/k", Target: TargetValue, Op: CmpEqual, Value: "v0"}, "v2"),
				Output{Succeeded: false, Revision: 1, TxnKVs: [][]KV{{kv("/k", "v1", 1, 1, 1)}}}),
			op(1, 60, 70, Delete("/k"), Output{Revision: 2, Deleted: 1}),
			op(1, 80, 90, Delete("/k"), Output{Revision: 2, Deleted: 0}),
		},
	}
	for name, h := range cases {
		for _, m := range models {
			t.Run(name+"/"+m.Name(), func(t *testing.T) {
				require.Equal(t, Pass, Check(m, h, 10*time.Second))
			})
		}
	}
}

func TestStoreModelCatchesWhatPerKeyCannot(t *testing.T) {
	// A Range that mixes two moments: /a's new value but /b's old one,
	// although /b was written first.
	h := []Op{
		op(0, 0, 10, Put("/b", "v1"), wrote(1)),
		op(0, 20, 30, Put("/a", "v2"), wrote(2)),
		op(1, 15, 40, Range("/"), got(2, kv("/a", "v2", 2, 2, 1))),
	}
	require.Equal(t, Fail, Check(StoreModel(), h, 10*time.Second))
	require.Equal(t, Pass, Check(PerKeyModel(), h[:2], 10*time.Second))
}

func TestPerKeyRejectsMultiKeyTxn(t *testing.T) {
	h := []Op{op(0, 0, 10, Input{Kind: KindTxn, Then: []TxnOp{{Kind: KindPut, Key: "/a", Value: "1"}, {Kind: KindPut, Key: "/b", Value: "2"}}}, Output{Succeeded: true, Revision: 1})}
	r := CheckVerbose(PerKeyModel(), h, time.Second)
	require.Equal(t, Unknown, r.Verdict)
	require.True(t, errors.Is(r.Err, ErrUnsupported))
	require.Equal(t, Pass, Check(StoreModel(), h, time.Second))
}

// hardHistory has n concurrent unknown-outcome writes and a final read no
// order of them can explain, so porcupine must explore every order.
func hardHistory(n int, m Model) []Op {
	var h []Op
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("/k%d", i)
		if m.Name() == "per-key" {
			key = "/k0"
		}
		h = append(h, unknown(i, int64(i), Put(key, fmt.Sprintf("v%d", i))))
	}
	bad := got(int64(n+5), kv("/k0", "v0", 1, 1, int64(n+5)))
	return append(h, op(n, 100, 110, Get("/k0"), bad))
}

func TestTimeoutIsUnknownNeverPass(t *testing.T) {
	for _, m := range models {
		t.Run(m.Name(), func(t *testing.T) {
			h := hardHistory(18, m)
			require.Equal(t, Unknown, Check(m, h, time.Millisecond))
			r := CheckVerbose(m, h, time.Millisecond)
			require.Equal(t, Unknown, r.Verdict)
			require.Contains(t, r.Reason, "timed out")
		})
	}
	// A small instance of the same shape is decided: it fails.
	for _, m := range models {
		require.Equal(t, Fail, Check(m, hardHistory(4, m), 0), m.Name())
	}
}

func TestVisualizeWithFaults(t *testing.T) {
	h := []Op{
		op(0, 0, 10, Put("/k", "v1"), wrote(1)),
		op(0, 20, 30, Put("/k", "v2"), wrote(2)),
		op(1, 40, 50, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
		unknown(2, 5, Put("/k", "v3")),
		op(3, 1, 60, Range("/"), got(2, kv("/k", "v2", 2, 1, 2))),
	}
	faults := []Fault{{Name: "partition", Detail: "{1,2} | {3,4,5}", Start: 15, End: 60}}
	for _, m := range models {
		r := CheckVerbose(m, h, 10*time.Second)
		require.Equal(t, Fail, r.Verdict)
		var buf bytes.Buffer
		require.NoError(t, r.Visualize(&buf, faults))
		html := buf.String()
		require.Contains(t, html, "partition {1,2} | {3,4,5}")
		// json.Marshal escapes '>' as \u003e.
		require.Contains(t, html, `get(/k) -\u003e [/k=v1@1] @ rev 1`)
		require.Contains(t, html, `put(/k, v2) -\u003e rev 2`)
	}
	path := t.TempDir() + "/viz.html"
	r := CheckVerbose(StoreModel(), h, 10*time.Second)
	require.NoError(t, r.VisualizePath(path, faults))
	plain := Result{}
	require.Error(t, plain.Visualize(&bytes.Buffer{}, nil))
}

func TestHistoryRecorder(t *testing.T) {
	var h History
	a := h.Call(0, 0, Put("/k", "v1"))
	b := h.Call(1, 5, Get("/k"))
	c := h.Call(2, 6, Put("/k", "v2"))
	d := h.Call(3, 7, Put("/k", "v3"))
	require.NoError(t, h.Return(a, 10, wrote(1)))
	require.NoError(t, h.Return(b, 12, got(1, kv("/k", "v1", 1, 1, 1))))
	require.NoError(t, h.Timeout(c))
	require.NoError(t, h.Fail(d, 9, "no space"))
	e := h.Call(4, 20, Put("/k", "v4")) // never returns: unknown
	ops := h.Ops()
	require.Len(t, ops, 5)
	require.True(t, ops[c].Unknown)
	require.Equal(t, UnknownReturn, ops[c].Return)
	require.True(t, ops[d].Failed)
	require.True(t, ops[e].Unknown)
	require.ErrorIs(t, h.Return(a, 11, Output{}), ErrBadOpID)
	require.ErrorIs(t, h.Timeout(99), ErrBadOpID)
	require.ErrorIs(t, h.Fail(-1, 0, ""), ErrBadOpID)
	for _, m := range models {
		require.Equal(t, Pass, Check(m, ops, 10*time.Second))
	}
}

func TestDescribe(t *testing.T) {
	cas := CAS(Compare{Key: "/k", Target: TargetVersion, Op: CmpEqual, Num: 2}, "v9")
	require.Equal(t, "put(/k1, v17) -> rev 42", describeOp(&Input{Kind: KindPut, Key: "/k1", Value: "v17"}, &Output{Revision: 42}, false))
	require.Equal(t, "txn(if version(/k) = 2 then [put(/k, v9)] else [get(/k)]) -> else, rev 7 [/k=v3@5]",
		describeOp(&cas, &Output{Revision: 7, TxnKVs: [][]KV{{kv("/k", "v3", 5, 1, 3)}}}, false))
	require.Equal(t, "delete(/k) -> ? (unknown outcome)", describeOp(&Input{Kind: KindDelete, Key: "/k"}, &Output{}, true))
}

func TestVerdictDoesNotDependOnTimeout(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 20; i++ {
		h := genHistory(rng, genConfig{clients: 5, ops: 200, keys: 4, multiKey: true, unknown: 0.05})
		for _, m := range []Model{StoreModel()} {
			require.Equal(t, Check(m, h, 0), Check(m, h, time.Minute))
		}
	}
}

// settled builds a write whose effect a harness settled from the log: it
// happened, at revision rev, but its answer never came.
func settled(client int, call int64, in Input, rev int64) Op {
	return Op{ClientID: client, Call: call, Return: UnknownReturn, Input: in, Output: wrote(rev)}
}

// A settled write is bounded by the first return of an operation that saw
// its revision; the bound keeps linearizable histories passing and
// violations failing (regression: simrun -nodes 15 -seed 91007 timed out
// with ~190 settled writes left open to the end).
func TestSettledWritesBoundedByRevision(t *testing.T) {
	h := []Op{
		op(0, 0, 10, Put("/a", "v1"), wrote(1)),
		settled(1, 20, Put("/b", "v2"), 2),
		op(2, 30, 40, Get("/a"), got(1, kv("/a", "v1", 1, 1, 1))), // before the write
		op(0, 50, 60, Put("/a", "v3"), wrote(3)),                  // after it
		op(2, 70, 80, Get("/b"), got(3, kv("/b", "v2", 2, 2, 1))),
	}
	b := boundSettledWrites(h)
	require.Equal(t, int64(60), b[1].Return)
	require.Equal(t, UnknownReturn, h[1].Return, "input untouched")
	for _, m := range models {
		require.Equal(t, Pass, Check(m, h, 10*time.Second), m.Name())
	}
	// The put at revision 3 returned before the settled write's call: a
	// contradiction stays unbounded and fails.
	bad := []Op{
		op(0, 0, 10, Put("/a", "v1"), wrote(1)),
		op(0, 20, 30, Put("/a", "v3"), wrote(3)),
		settled(1, 40, Put("/b", "v2"), 2),
	}
	require.Equal(t, UnknownReturn, boundSettledWrites(bad)[2].Return)
	require.Equal(t, Fail, Check(StoreModel(), bad, 10*time.Second))
	// A read at a revision past the settled write that misses it fails.
	stale := []Op{
		op(0, 0, 10, Put("/a", "v1"), wrote(1)),
		settled(1, 20, Put("/b", "v2"), 2),
		op(0, 30, 40, Put("/a", "v3"), wrote(3)),
		op(2, 50, 60, Get("/b"), got(3)),
	}
	require.Equal(t, Fail, Check(StoreModel(), stale, 10*time.Second))
}
