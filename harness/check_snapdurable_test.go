package harness

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/snap"
	"github.com/seedkv/seedkv/wal"
)

// TestSnapshotDurable: the snapshot a durable WAL marker names must be in
// the synced directory, intact and the same snapshot.
func TestSnapshotDurable(t *testing.T) {
	s := raft.Snapshot{Meta: raft.SnapshotMeta{Index: 7, Term: 3}, Data: []byte("state")}
	good := snap.Encode(7, 3, s.Marshal())
	other := raft.Snapshot{Meta: raft.SnapshotMeta{Index: 9, Term: 3}, Data: []byte("state")}
	m := &wal.SnapshotMarker{Index: 7, Term: 3}
	torn := good[:len(good)-3]
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"intact", map[string][]byte{snap.Name(7, 3): good}, ""},
		{"an older one only", map[string][]byte{snap.Name(5, 3): snap.Encode(5, 3, s.Marshal())}, "missing"},
		{"none", map[string][]byte{}, "missing"},
		{"torn", map[string][]byte{snap.Name(7, 3): torn}, "does not load"},
		{"bit flip", map[string][]byte{snap.Name(7, 3): flipped}, "does not load"},
		{"not a raft snapshot", map[string][]byte{snap.Name(7, 3): snap.Encode(7, 3, []byte("x"))}, "does not decode"},
		{"another snapshot", map[string][]byte{snap.Name(7, 3): snap.Encode(7, 3, other.Marshal())}, "another snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := snapshotDurable(m, tc.files)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

// TestNumericGuardsAgree: a numeric guard means the same to the store as
// to the history's model. Each guard drawn on a key as last read holds
// in the store; after the key changes, the store's verdict is the one
// the model's operand and ordering give for the changed key.
func TestNumericGuardsAgree(t *testing.T) {
	cfg := DefaultScenario().applyTo(DefaultConfig())
	g := newGen(0, rand.New(rand.NewPCG(7, 7)), &cfg)
	st := mvcc.New(mvcc.Config{})
	k := kvKey(0)
	read := func() lin.KV {
		r, err := st.Range([]byte(k), nil, mvcc.RangeOptions{})
		require.NoError(t, err)
		require.Len(t, r.KVs, 1)
		kv := r.KVs[0]
		return lin.KV{Key: k, Value: string(kv.Value), ModRevision: modelRev(kv.ModRevision),
			CreateRevision: modelRev(kv.CreateRevision), Version: kv.Version}
	}
	holds := func(ac api.Compare) bool {
		c := mvcc.Compare{Key: ac.Key, Result: map[api.CompareResult]mvcc.CompareResult{
			api.CompareEqual: mvcc.Equal, api.CompareLess: mvcc.Less, api.CompareGreater: mvcc.Greater}[ac.Result]}
		switch ac.Target {
		case api.TargetMod:
			c.Target, c.Number = mvcc.CompareModRevision, ac.ModRevision
		case api.TargetCreate:
			c.Target, c.Number = mvcc.CompareCreateRevision, ac.CreateRevision
		default:
			c.Target, c.Number = mvcc.CompareVersion, ac.Version
		}
		r, err := st.Txn(mvcc.TxnRequest{Compares: []mvcc.Compare{c}})
		require.NoError(t, err)
		return r.Succeeded
	}
	model := func(lc lin.Compare, kv lin.KV) bool {
		have := map[lin.Target]int64{lin.TargetModRevision: kv.ModRevision,
			lin.TargetCreateRevision: kv.CreateRevision, lin.TargetVersion: kv.Version}[lc.Target]
		switch lc.Op {
		case lin.CmpLess:
			return have < lc.Num
		case lin.CmpGreater:
			return have > lc.Num
		}
		return have == lc.Num
	}
	seen := map[[2]int]bool{}
	for i := range 200 {
		_, _, err := st.Put([]byte(kvKey(1)), []byte("other"), 0, false) // moves the revision
		require.NoError(t, err)
		_, _, err = st.Put([]byte(k), []byte{byte(i)}, 0, false)
		require.NoError(t, err)
		g.lastKV[0], g.kvKnown[0] = read(), true
		lc, ac := g.numericGuard(0)
		seen[[2]int{int(lc.Target), int(lc.Op)}] = true
		require.True(t, holds(ac), "guard %+v on the key as read", ac)
		require.True(t, model(lc, g.lastKV[0]))
		_, _, err = st.Put([]byte(k), []byte("changed"), 0, false)
		require.NoError(t, err)
		require.Equal(t, model(lc, read()), holds(ac), "guard %+v / %+v after a change", lc, ac)
	}
	require.Len(t, seen, 9, "every target with every ordering")
}
