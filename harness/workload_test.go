package harness

import (
	"math/rand/v2"
	"testing"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
)

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/k/", "/k0"},
		{"/", "0"},
		{"a\xff", "b"},
		{"\xff\xff", "\x00"},
		{"", "\x00"},
	} {
		require.Equal(t, tc.want, string(prefixEnd(tc.in)), "%q", tc.in)
	}
}

func TestKVIndex(t *testing.T) {
	for _, tc := range []struct {
		key string
		i   int
		ok  bool
	}{
		{"/k/0", 0, true}, {"/k/17", 17, true}, {"/k/", 0, false}, {"/l/c1.2", 0, false}, {"/k/x", 0, false},
	} {
		i, ok := kvIndex(tc.key)
		require.Equal(t, tc.ok, ok, tc.key)
		if ok {
			require.Equal(t, tc.i, i, tc.key)
		}
	}
}

// Every write the generator makes carries a value no other write carries,
// which settling unknown outcomes from the log relies on.
func TestGeneratedWritesAreUnique(t *testing.T) {
	cfg := DefaultScenario().applyTo(DefaultConfig()) // fixed keys and mix
	seen := map[string]bool{}
	for c := range 4 {
		g := newGen(c, rand.New(rand.NewPCG(1, uint64(c))), &cfg)
		for i := range 2000 {
			s := g.next(int64(i) * 1e6)
			if s.kind == opLeasePut {
				require.GreaterOrEqual(t, s.ttl, cfg.MinLeaseTTL)
				require.LessOrEqual(t, s.ttl, cfg.MaxLeaseTTL)
				s = g.putUnder(int64(g.seq+1), s.ttl, int64(i)*1e6)
			}
			if s.kind == opWatch {
				continue
			}
			require.NotNil(t, s.body)
			_, err := api.Encode(&api.Request{ID: 1, Body: s.body})
			require.NoError(t, err, "%s", s.kind)
			for _, v := range writtenValues(&s.input) {
				require.False(t, seen[v], "value %q written twice", v)
				seen[v] = true
			}
		}
	}
	require.Greater(t, len(seen), 1000)
}

func writtenValues(in *lin.Input) []string {
	var vs []string
	if in.Kind == lin.KindPut {
		vs = append(vs, in.Value)
	}
	for _, br := range [][]lin.TxnOp{in.Then, in.Else} {
		for _, t := range br {
			if t.Kind == lin.KindPut {
				vs = append(vs, t.Value)
			}
		}
	}
	return vs
}

// The mix is honoured: a kind with weight zero never comes up.
func TestMixWeights(t *testing.T) {
	cfg := DefaultScenario().applyTo(DefaultConfig())
	cfg.Mix = Mix{Get: 1, Put: 1}
	g := newGen(0, rand.New(rand.NewPCG(2, 3)), &cfg)
	counts := map[opKind]int{}
	for range 1000 {
		counts[g.next(0).kind]++
	}
	require.Len(t, counts, 2)
	require.Greater(t, counts[opGet], 300)
	require.Greater(t, counts[opPut], 300)
}

// keyString is string(b) for every name, the table's for the usual keys.
func TestKeyString(t *testing.T) {
	for _, k := range []string{"", "/k/", "/k/0", "/k/7", "/k/63", "/k/64", "/k/05", "/k/1x", "/k/123", "/j/1", "/k/00", "x"} {
		require.Equal(t, k, keyString([]byte(k)))
	}
	for i := range kvKeys {
		require.Equal(t, kvKey(i), keyString([]byte(kvKey(i))))
		require.Zero(t, testing.AllocsPerRun(10, func() { _ = keyString([]byte(kvKeys[i])) }), "key %d", i)
	}
}
