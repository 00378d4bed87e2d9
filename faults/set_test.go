package faults

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Set
		err  error
	}{
		{"none", None, nil},
		{"all", All, nil},
		{"swarm", SwarmSet, nil},
		{"crash", Of(Crash), nil},
		{" crash , packet ", Of(Crash, Packet), nil},
		{"crash,crash", Of(Crash), nil},
		{"all,lose-synced", All.With(LoseSynced), nil},
		{"swarm,disk-corrupt-majority", SwarmSet.With(DiskCorruptMajority), nil},
		{"disk-torn,disk-corrupt,disk-full,disk-slow,clock-drift,membership,partition",
			Of(DiskTorn, DiskCorrupt, DiskFull, DiskSlow, ClockDrift, Membership, Partition), nil},
		{"", None, ErrBadFaultList},
		{"crash,,packet", None, ErrBadFaultList},
		{"none,crash", None, ErrBadFaultList},
		{"bogus", None, ErrUnknownFault},
		{"crash,Partition", None, ErrUnknownFault},
	} {
		got, err := Parse(c.in)
		if c.err != nil {
			require.ErrorIs(t, err, c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.True(t, c.want.Equal(got), "%s: got %s, want %s", c.in, got, c.want)
		back, err := Parse(got.String())
		require.NoError(t, err)
		require.True(t, got.Equal(back), "round trip of %q", c.in)
	}
	_, err := Parse("crash,bogus")
	require.ErrorContains(t, err, `"bogus"`, "the error names the unknown fault")
}

func TestSetBasics(t *testing.T) {
	require.True(t, All.InModel())
	require.False(t, All.Has(LoseSynced))
	require.False(t, All.Has(DiskCorruptMajority))
	require.True(t, All.Has(Membership))
	require.False(t, Of(LoseSynced).InModel())
	require.Equal(t, "none", None.String())
	require.Equal(t, []string{"crash", "packet"}, Of(Packet, Crash).Names())
	require.Equal(t, Of(Crash), Of(Crash, Packet).Without(Packet))
	require.Equal(t, Of(Crash), Of(Crash, "no-such-fault"), "Of ignores unknown names")
}

func TestSwarm(t *testing.T) {
	counts := map[string]int{}
	const seeds = 2000
	for seed := range uint64(seeds) {
		s := Swarm(rand.New(rand.NewPCG(seed, 0)))
		require.Equal(t, s, Swarm(rand.New(rand.NewPCG(seed, 0))), "deterministic per seed")
		require.True(t, s.InModel(), "swarm never draws beyond-model faults")
		require.False(t, s.IsSwarm())
		for _, f := range s.Faults() {
			counts[f.Name()]++
		}
	}
	for _, f := range All.Faults() {
		p := 0.5
		if rf, ok := f.(Rated); ok {
			p = rf.SwarmChance()
		}
		sd := math.Sqrt(seeds * p * (1 - p))
		require.InDelta(t, seeds*p, counts[f.Name()], 5*sd, "%s drawn %d of %d", f.Name(), counts[f.Name()], seeds)
	}
	f, _ := Lookup(DiskSyncError)
	require.Implements(t, (*Rated)(nil), f, "disk-sync-error is drawn at its own, lower rate")
	r := rand.New(rand.NewPCG(1, 2))
	require.True(t, SwarmSet.With(LoseSynced).Resolve(r).Has(LoseSynced))
	require.Equal(t, Of(Crash), Of(Crash).Resolve(r))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"swarm", "none", "all", "crash,packet", "all,lose-synced", ",", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		back, err := Parse(s.String())
		require.NoError(t, err)
		require.True(t, s.Equal(back))
	})
}
