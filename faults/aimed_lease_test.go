package faults

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// expiryToy is toyProtocol with a leader and last log terms the test
// moves, and appends that all carry a lease expiry once the test says so
// (the chatty replicas' moment 3).
type expiryToy struct {
	toyProtocol
	lead   *host.NodeID
	last   map[host.NodeID]uint64
	expiry *bool // whether appends carry an expiry yet
}

func (p expiryToy) Leader() host.NodeID            { return *p.lead }
func (p expiryToy) CarriesExpiry(b []byte) bool    { return *p.expiry && Moment(b[0]) == MomentAppend }
func (p expiryToy) LastTerm(id host.NodeID) uint64 { return p.last[id] }

// isolated lists the replicas cut off from every other one.
func isolated(w *sim.World, ids []host.NodeID) []host.NodeID {
	out := map[host.NodeID]int{}
	for _, l := range w.Net().Cuts() {
		out[l[0]]++
		out[l[1]]++
	}
	var iso []host.NodeID
	for _, id := range ids {
		if out[id] == 2*(len(ids)-1) {
			iso = append(iso, id)
		}
	}
	return iso
}

// runUntil runs w in 1ms steps until cond holds, for at most d.
func runUntil(w *sim.World, d time.Duration, cond func() bool) bool {
	for end := w.Elapsed() + d; w.Elapsed() < end; {
		if cond() {
			return true
		}
		w.RunFor(time.Millisecond)
	}
	return cond()
}

// TestIsolateExpirerFlapsLeadership: the fault cuts off the leader whose
// append carries an expiry, lets it back in once another replica leads;
// in most episodes it then waits until the old leader's log ends in the
// new leader's term, cuts the new leader off, cuts off each later leader
// that is not the old one (chain of them, letting the one before back
// in), and ends the episode (every link restored) once the old leader
// leads or the chain is spent. The episode outlasts its drawn hold while
// it waits. Without an ExpiryReader it never injects.
func TestIsolateExpirerFlapsLeadership(t *testing.T) {
	ids := []host.NodeID{1, 2, 3, 4, 5}
	flapped, rejoined := 0, 0
	for seed := uint64(1); seed <= 16; seed++ {
		chain := float64(2 * (seed % 2)) // odd seeds: up to two leaders after the first new one
		w, _ := chattyWorld(t, seed, len(ids))
		spec := Spec{Name: IsolateExpirer, Gap: Duration(50 * time.Millisecond), Hold: Duration(20 * time.Millisecond),
			Params: map[string]float64{"span_s": 3, "chain": chain}}
		n, err := NewFromSpecs(w, ids, []Spec{spec}, w.Rand("n"))
		require.NoError(t, err)
		lead, expiry := host.NodeID(1), false
		toy := expiryToy{lead: &lead, last: map[host.NodeID]uint64{1: 3, 2: 3, 3: 3, 4: 3, 5: 3}, expiry: &expiry}
		n.SetProtocol(toy)
		require.NoError(t, n.Start(30*time.Second))
		cutOnly := func(id host.NodeID) func() bool {
			return func() bool {
				iso := isolated(w, ids)
				return len(iso) == 1 && iso[0] == id && len(w.Net().Cuts()) == 2*(len(ids)-1)
			}
		}

		w.RunFor(time.Second) // no expiry yet: far past the drawn hold, still armed
		require.Empty(t, w.Net().Cuts())
		expiry = true
		require.True(t, runUntil(w, time.Second, func() bool { return len(w.Net().Cuts()) > 0 }), "seed %d: never cut off", seed)
		require.True(t, cutOnly(1)(), "seed %d: the leader with the expiry alone is cut off: %v", seed, w.Net().Cuts())
		w.RunFor(time.Second) // the episode waits for a new leader
		require.True(t, cutOnly(1)(), "seed %d: the episode ended before a new leader", seed)

		lead, toy.last[2] = 2, 5
		require.True(t, runUntil(w, 100*time.Millisecond, func() bool { return len(w.Net().Cuts()) == 0 }),
			"seed %d: the old leader was never let back in", seed)
		if len(n.Active()) == 0 {
			rejoined++ // the episode ends with the old leader back in
			continue
		}
		flapped++
		w.RunFor(time.Second) // the old leader's log does not end in term 5 yet
		require.Empty(t, w.Net().Cuts(), "seed %d: the new leader was cut off before the old one took its entries", seed)
		toy.last[1] = 5
		require.True(t, runUntil(w, 100*time.Millisecond, cutOnly(2)), "seed %d: the new leader was never cut off", seed)

		lead = 3
		if chain > 0 {
			require.True(t, runUntil(w, 100*time.Millisecond, cutOnly(3)), "seed %d: a leader that is not the old one is cut off in turn", seed)
			lead = 1
		}
		require.True(t, runUntil(w, 100*time.Millisecond, func() bool { return len(w.Net().Cuts()) == 0 }),
			"seed %d: the last leader cut off was never let back in", seed)
		require.Empty(t, n.Active(), "seed %d: the episode ends once the old leader leads or the chain is spent", seed)
		detail := n.Episodes()[0].Detail
		want := "leader 1 after expiry append(| delivered), back in under leader 2, then 2 cut off, then leader 3"
		if chain > 0 {
			want = "leader 1 after expiry append(| delivered), back in under leader 2, then 2 cut off, then 3 cut off, then leader 1"
		}
		require.Regexp(t, "^"+want+"$", detail, "seed %d", seed)
		n.HealAll()
		require.Empty(t, w.Net().Cuts())
	}
	require.Positive(t, flapped)
	require.Positive(t, rejoined)

	// Without an ExpiryReader, no episode injects.
	w, _, trace := aimedWorld(t, IsolateExpirer, true)
	w.RunFor(5 * time.Second)
	require.Zero(t, count(*trace, "fault/"))
}

// TestAtBaseline: a disk speed, disk capacity, clock rate or network
// setting off its value before any fault is not the baseline; HealAll
// restores it.
func TestAtBaseline(t *testing.T) {
	w, ids := chattyWorld(t, 3, 3)
	n, err := NewFromSpecs(w, ids, nil, w.Rand("n"))
	require.NoError(t, err)
	require.NoError(t, n.Start(time.Second))
	require.True(t, n.AtBaseline())
	for i, off := range []func(){
		func() { require.NoError(t, w.Disk(2).SetSlow(5)) },
		func() { require.NoError(t, w.Disk(3).SetCapacity(1<<20)) },
		func() { require.NoError(t, w.SetClockRate(1, 1.1)) },
		func() { require.NoError(t, w.Net().SetLoss(0.1)) },
		func() { require.NoError(t, w.Net().SetDuplicateDelay(time.Second)) },
	} {
		off()
		require.False(t, n.AtBaseline(), "setting %d", i)
		n.HealAll()
		require.True(t, n.AtBaseline(), "setting %d", i)
	}
}
