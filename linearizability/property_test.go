package linearizability

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// drawConfig draws a workload shape; multiKey only for the store model.
func drawConfig(t *rapid.T, multiKey bool) genConfig {
	return genConfig{
		clients:  rapid.IntRange(1, 5).Draw(t, "clients"),
		ops:      rapid.IntRange(1, 150).Draw(t, "ops"),
		keys:     rapid.IntRange(1, 4).Draw(t, "keys"),
		multiKey: multiKey,
		unknown:  rapid.Float64Range(0, 0.2).Draw(t, "unknown"),
	}
}

// Histories produced by a sequential execution against the reference store,
// with call/return intervals around each linearization point and some
// outcomes unknown, always pass.
func TestPropertyGeneratedHistoriesPass(t *testing.T) {
	for _, tc := range []struct {
		name     string
		model    Model
		multiKey bool
	}{
		{"store", StoreModel(), true},
		{"store-single-key", StoreModel(), false},
		{"per-key", PerKeyModel(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				cfg := drawConfig(t, tc.multiKey)
				seed := rapid.Uint64().Draw(t, "seed")
				h := genHistory(rand.New(rand.NewPCG(seed, 1)), cfg)
				r := CheckVerbose(tc.model, h, 20*time.Second)
				if r.Verdict != Pass {
					t.Fatalf("verdict %v: %s", r.Verdict, r.Reason)
				}
			})
		})
	}
}

// Both models agree on generated histories that they both can check, and a
// history shortened to any prefix of calls stays linearizable.
func TestPropertyPrefixClosed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t, false)
		cfg.unknown = 0
		h := genHistory(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 2)), cfg)
		// Ops are sorted by call; cutting at a call time keeps every op
		// whose call came first, and marks those still running unknown.
		cut := rapid.IntRange(0, len(h)).Draw(t, "cut")
		if cut == len(h) {
			return
		}
		at := h[cut].Call
		var prefix []Op
		for _, o := range h {
			if o.Call >= at {
				continue
			}
			if o.Return >= at {
				o.Unknown, o.Return, o.Output = true, UnknownReturn, Output{}
			}
			prefix = append(prefix, o)
		}
		for _, m := range models {
			require.Equal(t, Pass, Check(m, prefix, 20*time.Second), m.Name())
		}
	})
}

func benchCheck(b *testing.B, m Model, cfg genConfig) {
	b.ReportAllocs()
	rng := rand.New(rand.NewPCG(42, 42))
	hs := make([][]Op, 16)
	for i := range hs {
		hs[i] = genHistory(rng, cfg)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if v := Check(m, hs[i%len(hs)], time.Minute); v != Pass {
			b.Fatalf("history %d: %v", i%len(hs), v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/check")
}

// BenchmarkCheck1000Ops5Clients checks 1,000-operation histories of 5
// clients over 5 keys, 5% of outcomes unknown (half of those applied),
// or none.
func BenchmarkCheck1000Ops5Clients(b *testing.B) {
	single := genConfig{clients: 5, ops: 1000, keys: 5, unknown: 0.05}
	multi := single
	multi.multiKey = true
	none := single
	none.unknown = 0
	b.Run("per-key", func(b *testing.B) { benchCheck(b, PerKeyModel(), single) })
	b.Run("store", func(b *testing.B) { benchCheck(b, StoreModel(), single) })
	b.Run("store-multikey-txn", func(b *testing.B) { benchCheck(b, StoreModel(), multi) })
	b.Run("per-key-no-unknown", func(b *testing.B) { benchCheck(b, PerKeyModel(), none) })
	b.Run("store-no-unknown", func(b *testing.B) { benchCheck(b, StoreModel(), none) })
}
