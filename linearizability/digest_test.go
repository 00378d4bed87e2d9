package linearizability

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// digested is h with every Get and Range answer replaced by its digest,
// as History.DigestReads keeps them.
func digested(h []Op) []Op {
	out := make([]Op, len(h))
	copy(out, h)
	for i := range out {
		if k := out[i].Input.Kind; (k == KindGet || k == KindRange) && !out[i].Unknown && !out[i].Failed {
			out[i].Output.Digest, out[i].Output.KVs = DigestKVs(out[i].Output.KVs), nil
		}
	}
	return out
}

// A history with its read answers kept as digests gets the same verdict
// from the revision checker as the full one, linearizable or not.
func TestDigestedReadsKeepTheVerdict(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	var pass, fail int
	for seed := 0; seed < n; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 5))
		cfg := genConfig{clients: 1 + rng.IntN(5), ops: 1 + rng.IntN(40), keys: 1 + rng.IntN(4), multiKey: rng.IntN(2) == 0, unknown: rng.Float64() * 0.3}
		h := genHistory(rng, cfg)
		if rng.IntN(2) == 0 {
			h, _ = mutate(rng, h)
		}
		full := CheckRevisions(h, 0)
		dig := CheckRevisions(digested(h), 0)
		require.Equal(t, full.Verdict, dig.Verdict, "seed %d: full: %s; digested: %s\n%s", seed, full.Reason, dig.Reason, dumpOps(h))
		if full.Verdict == Pass {
			pass++
		} else {
			fail++
		}
	}
	t.Logf("%d pass, %d fail", pass, fail)
	require.Positive(t, pass)
	require.Positive(t, fail)
}

// A wrong read kept as a digest is still caught, and its reason says the
// answer was kept as a digest and what the store held.
func TestDigestedWrongReadFails(t *testing.T) {
	h := digested([]Op{
		op(0, 0, 10, Put("/k", "v1"), wrote(1)),
		op(1, 20, 30, Range("/"), got(1, kv("/k", "v9", 1, 1, 1))),
	})
	r := CheckRevisions(h, 0)
	require.Equal(t, Fail, r.Verdict)
	require.Contains(t, r.Reason, "digest")
	require.Contains(t, r.Reason, "/k=v1@1")
	// porcupine's models need the answers: it refuses, never passes.
	p := CheckVerbose(StoreModel(), h, time.Second)
	require.Equal(t, Unknown, p.Verdict)
	require.ErrorIs(t, p.Err, ErrDigested)
}

// Digests tell answers apart by every field, and are never 0.
func TestDigestKVs(t *testing.T) {
	base := []KV{kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 4, 4, 1)}
	variants := [][]KV{
		nil,
		base[:1],
		{kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 4, 4, 2)},
		{kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 4, 3, 1)},
		{kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 5, 4, 1)},
		{kv("/a", "v1", 3, 2, 2), kv("/b", "v3", 4, 4, 1)},
		{kv("/a", "v1", 3, 2, 2), kv("/c", "v2", 4, 4, 1)},
		{kv("/a", "v1/b", 3, 2, 2)}, // key/value boundaries count
		{kv("/a", "v", 3, 2, 2), kv("1/b", "v2", 4, 4, 1)},
	}
	seen := map[uint64]int{DigestKVs(base): -1}
	for i, v := range variants {
		d := DigestKVs(v)
		require.NotZero(t, d)
		j, dup := seen[d]
		require.False(t, dup, "variant %d digests like %d", i, j)
		seen[d] = i
	}
	require.Equal(t, DigestKVs(base), DigestKVs([]KV{kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 4, 4, 1)}))
}

// The recorder keeps operations in chunks: ids, outcomes and order survive
// chunk boundaries; Take hands over what Ops copies and empties it; with
// DigestReads only Get and Range answers become digests.
func TestHistoryChunksAndDigests(t *testing.T) {
	var h History
	h.DigestReads = true
	n := 3*historyChunkLen + 7
	for i := range n {
		id := h.Call(i%3, int64(i), Get(fmt.Sprint("/k", i)))
		require.Equal(t, i, id)
		switch i % 4 {
		case 0:
			require.NoError(t, h.Return(id, int64(i)+1, got(1, kv("/k", fmt.Sprint(i), 1, 1, 1))))
		case 1:
			require.NoError(t, h.Timeout(id))
		case 2:
			require.NoError(t, h.Fail(id, int64(i)+1, "refused"))
		}
	}
	p := h.Call(9, int64(n), Put("/p", "v"))
	require.NoError(t, h.Return(p, int64(n)+1, wrote(2)))
	require.ErrorIs(t, h.Return(historyChunkLen, 0, Output{}), ErrBadOpID) // case 0: returned already
	require.ErrorIs(t, h.Return(n+1, 0, Output{}), ErrBadOpID)
	ops := h.Ops()
	require.Len(t, ops, n+1)
	for i, o := range ops[:n] {
		require.Equal(t, int64(i), o.Call)
		switch i % 4 {
		case 0:
			require.Nil(t, o.Output.KVs)
			require.Equal(t, DigestKVs([]KV{kv("/k", fmt.Sprint(i), 1, 1, 1)}), o.Output.Digest)
		case 1, 3: // timed out, never returned
			require.True(t, o.Unknown, "op %d", i)
			require.Equal(t, UnknownReturn, o.Return)
		case 2:
			require.True(t, o.Failed)
		}
	}
	require.Zero(t, ops[n].Output.Digest, "a put's answer is kept as it is")
	require.Equal(t, ops, h.Take())
	require.Zero(t, h.Len())
	require.Empty(t, h.Ops())
}

// The minimal witness needs the answers' keys: a digested history gets
// ErrDigested, never a witness built on empty answers.
func TestDigestedHistoryHasNoWitness(t *testing.T) {
	h := []Op{
		op(0, 0, 10, Put("/k", "v1"), wrote(1)),
		op(0, 20, 30, Put("/k", "v2"), wrote(2)),
		op(1, 40, 50, Get("/k"), got(1, kv("/k", "v1", 1, 1, 1))),
	}
	_, err := MinimalWitness(h)
	require.NoError(t, err)
	_, err = MinimalWitness(digested(h))
	require.ErrorIs(t, err, ErrDigested)
}

// An answer out of key order, or with a key twice, never digests like
// the ordered one (a store answers in order).
func TestDigestKVsOrder(t *testing.T) {
	a, b := kv("/a", "v1", 3, 2, 2), kv("/b", "v2", 4, 4, 1)
	require.NotEqual(t, DigestKVs([]KV{a, b}), DigestKVs([]KV{b, a}))
	require.NotEqual(t, DigestKVs([]KV{a}), DigestKVs([]KV{a, a}))
	require.NotZero(t, DigestKVs([]KV{b, a}))
}

// The running digest of the keys under a prefix equals DigestKVs of
// what a scan lists, through puts, deletes and rollbacks, for prefixes
// asked for before and after the changes.
func TestPrefixDigestFollowsTheStore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var s revState
	s.init()
	prefixes := []string{"/", "/k/", "/k/1", "/l/", "/k/10", "/x"}
	keys := []string{"/k/1", "/k/10", "/k/2", "/l/a", "/l/b", "/m", "/k/11"}
	for step := 0; step < 3000; step++ {
		mark := s.undo.len()
		for range 1 + rng.IntN(3) {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(3) == 0 {
				s.del(k)
			} else {
				s.put(k, fmt.Sprint("v", step), int64(step+1))
			}
		}
		if rng.IntN(4) == 0 {
			s.rollback(mark)
		}
		p := prefixes[rng.IntN(len(prefixes))]
		got := s.prefixDigest(p)
		require.Equal(t, DigestKVs(s.prefix(p)), got, "step %d prefix %q", step, p)
		k := keys[rng.IntN(len(keys))]
		require.Equal(t, DigestKVs(s.get(k)), s.getDigest(k), "step %d key %q", step, k)
		require.Equal(t, s.kvs.Len(), len(s.byKey), "the tree and the map hold the same keys")
	}
	require.Len(t, s.sums, len(prefixes))
}
