package primarybackup

import (
	"flag"
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Seeds is how many seeds the harness gets to find the bug.
const Seeds = 20

// The framework finds the backup-reads bug within Seeds seeds, with a
// stale read as the witness, reproducibly; the fixed system passes every
// one of those seeds.
func TestBugFoundAndFixed(t *testing.T) {
	var found *harness.Result
	for seed := uint64(1); seed <= Seeds && found == nil; seed++ {
		res := harness.Run(Config(Buggy), seed)
		require.NotEqual(t, harness.Unknown, res.Verdict, res.Reason)
		if res.Verdict == harness.Fail {
			found = &res
		}
	}
	require.NotNil(t, found, "the buggy system passed %d seeds", Seeds)
	t.Logf("buggy, seed %d: %s", found.Seed, found.Reason)
	require.Contains(t, found.Reason, "register: linearizable: stale read: ")
	again := harness.Run(Config(Buggy), found.Seed)
	require.Equal(t, found.TraceHash, again.TraceHash)
	require.Equal(t, found.Reason, again.Reason)

	for seed := uint64(1); seed <= Seeds; seed++ {
		res := harness.Run(Config(Fixed), seed)
		require.Equal(t, harness.Pass, res.Verdict, "fixed, seed %d: %s", seed, res.Reason)
		require.Positive(t, res.Ops)
		// The system offers no raft log and no write log: those checks
		// say so.
		outcomes := map[string]harness.CheckStatus{}
		for _, o := range res.Checks {
			outcomes[o.Name] = o.Status
		}
		require.Equal(t, harness.CheckPassed, outcomes["convergence"])
		require.Equal(t, harness.CheckPassed, outcomes["register: linearizable"])
		require.Equal(t, harness.CheckSkipped, outcomes["log-agreement"])
		require.Equal(t, harness.CheckSkipped, outcomes[harness.CheckLostWrites])
	}
}

var rateSeeds = flag.Int("rate-seeds", 10, "seeds of each system TestRates runs (from seed 101, or from 1 with -rate-from-1)")
var rateFrom1 = flag.Bool("rate-from-1", false, "TestRates starts at seed 1")

// TestRates measures how often the harness finds the bug: most seeds of
// the buggy system fail, every seed of the fixed one passes. The README's
// figure: go test ./examples/primarybackup -run TestRates -v -rate-seeds 100 -rate-from-1
func TestRates(t *testing.T) {
	first := uint64(101)
	if *rateFrom1 {
		first = 1
	}
	for _, s := range []System{Buggy, Fixed} {
		verdicts := map[harness.Verdict]int{}
		for seed := first; seed < first+uint64(*rateSeeds); seed++ {
			res := harness.Run(Config(s), seed)
			verdicts[res.Verdict]++
			if s == Fixed {
				require.Equal(t, harness.Pass, res.Verdict, "fixed, seed %d: %s", seed, res.Reason)
			}
		}
		t.Logf("%s, seeds %d-%d: %d fail, %d pass, %d unknown", s.Name(), first, first+uint64(*rateSeeds)-1,
			verdicts[harness.Fail], verdicts[harness.Pass], verdicts[harness.Unknown])
		if s == Buggy {
			require.GreaterOrEqual(t, 2*verdicts[harness.Fail], *rateSeeds, "the bug is found on at least half the seeds")
		}
	}
}

func ms(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }

func w(client int, call, ret int, v string, out Outcome) Op {
	return Op{Client: client, Call: ms(call), Return: ms(ret), Write: true, Value: v, Outcome: out}
}

func r(client int, call, ret int, v string) Op {
	return Op{Client: client, Call: ms(call), Return: ms(ret), Value: v, Outcome: OK}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		h    History
		fail string // "" means pass
	}{
		{"empty", nil, ""},
		{"initial read", History{r(0, 1, 2, "")}, ""},
		{"read after write", History{w(0, 1, 2, "a", OK), r(1, 3, 4, "a")}, ""},
		{"concurrent read sees either", History{w(0, 1, 5, "a", OK), r(1, 2, 3, ""), r(2, 2, 4, "a")}, ""},
		{"stale read", History{w(0, 1, 2, "a", OK), w(0, 3, 4, "b", OK), r(1, 5, 6, "a")},
			`stale read: client 1 read "a" (called at 5ms), but client 0's write of "b" was acknowledged at 4ms, after the write of "a" returned at 2ms`},
		{"stale initial", History{w(0, 1, 2, "a", OK), r(1, 3, 4, "")}, `client 1 read "" (called at 3ms)`},
		{"unwritten value", History{r(1, 3, 4, "x")}, `a value no client wrote`},
		{"unknown write seen late", History{w(0, 1, 2, "a", Unknown), r(1, 50, 60, "a")}, ""},
		{"unknown write never seen", History{w(0, 1, 2, "a", Unknown), r(1, 50, 60, "")}, ""},
		{"failed write has no effect", History{w(0, 1, 2, "a", Failed), r(1, 3, 4, "")}, ""},
		{"new then old", History{w(0, 1, 10, "a", OK), r(1, 2, 3, "a"), r(2, 4, 5, "")},
			"not linearizable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(tc.h, time.Second)
			require.Empty(t, res.Unknown)
			if tc.fail == "" {
				require.NoError(t, res.Err)
				return
			}
			require.Error(t, res.Err)
			require.Contains(t, res.Err.Error(), tc.fail)
		})
	}
}

// A sequential history of the register (no overlap) is linearizable
// exactly when every read returns the last write before it.
func TestCheckSequential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 30).Draw(t, "n")
		var h History
		last, stale := "", false
		for i := range n {
			if rapid.Bool().Draw(t, "write") {
				v := "v" + string(rune('a'+i))
				h = append(h, w(i%3, 2*i, 2*i+1, v, OK))
				last = v
				continue
			}
			v := last
			if rapid.IntRange(0, 9).Draw(t, "stale") == 0 && len(h) > 0 {
				v = h[rapid.IntRange(0, len(h)-1).Draw(t, "from")].Value
			}
			stale = stale || v != last
			h = append(h, r(i%3, 2*i, 2*i+1, v))
		}
		res := Check(h, time.Second)
		if stale {
			require.Error(t, res.Err)
		} else {
			require.NoError(t, res.Err)
		}
	})
}

func TestWireRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := Msg{
			Kind:    Kind(rapid.IntRange(int(KindWrite), int(KindUpdate)).Draw(t, "kind")),
			ID:      rapid.Uint64().Draw(t, "id"),
			Version: rapid.Uint64().Draw(t, "version"),
			Status:  Status(rapid.IntRange(0, int(StatusFailed)).Draw(t, "status")),
			Value:   rapid.StringN(0, MaxValue, MaxValue).Draw(t, "value"),
		}
		got, err := Decode(m.Encode())
		require.NoError(t, err)
		require.Equal(t, m, got)
	})
}

func TestDecodeErrors(t *testing.T) {
	good := Msg{Kind: KindRead, ID: 7, Value: "ab"}.Encode()
	for name, p := range map[string][]byte{
		"empty":     nil,
		"kind 0":    {0, 1, 0, 0, 0},
		"kind 9":    {9, 1, 0, 0, 0},
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 'x'),
		"status":    {byte(KindRead), 1, 0, 7, 0},
		"too long":  Msg{Kind: KindWrite, Value: string(make([]byte, MaxValue+1))}.Encode(),
		"id":        {byte(KindRead), 0x80},
	} {
		_, err := Decode(p)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Msg{Kind: KindUpdate, ID: 1, Version: 9, Value: "c1.2"}.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := Decode(p)
		if err != nil {
			return
		}
		again, err := Decode(m.Encode())
		require.NoError(t, err)
		require.Equal(t, m, again)
	})
}
