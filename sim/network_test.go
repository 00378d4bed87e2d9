package sim

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// recorder is a process that remembers who sent it what.
type recorder struct {
	h    host.Host
	from map[host.NodeID]int
	n    int
}

func (r *recorder) Receive(from host.NodeID, _ []byte) { r.from[from]++; r.n++ }

// netWorld builds a world of n recorder nodes 1..n.
func netWorld(t testing.TB, seed uint64, cfg Config, n int) (*World, []*recorder) {
	t.Helper()
	w := NewWorld(seed, cfg)
	recs := make([]*recorder, n+1)
	for i := 1; i <= n; i++ {
		id := host.NodeID(i)
		require.NoError(t, w.AddNode(id, func(h host.Host) host.Process {
			recs[id] = &recorder{h: h, from: map[host.NodeID]int{}}
			return recs[id]
		}))
	}
	return w, recs
}

// sendAll sends k messages on every ordered pair, through the senders' hosts.
func sendAll(recs []*recorder, k int) {
	for _, a := range recs[1:] {
		for _, b := range recs[1:] {
			if a != b {
				for range k {
					a.h.Send(b.h.ID(), []byte("m"))
				}
			}
		}
	}
}

func TestNothingCrossesACut(t *testing.T) {
	w, recs := netWorld(t, 1, DefaultConfig(), 5)
	w.Net().Split([]host.NodeID{1, 2}, []host.NodeID{3, 4, 5})
	sendAll(recs, 20)
	require.True(t, w.RunUntilIdle(0))
	for _, a := range []host.NodeID{1, 2} {
		for _, b := range []host.NodeID{3, 4, 5} {
			require.Zero(t, recs[a].from[b], "%d -> %d crossed the split", b, a)
			require.Zero(t, recs[b].from[a], "%d -> %d crossed the split", a, b)
		}
	}
	require.Equal(t, 20, recs[1].from[2])
	require.Equal(t, 40, recs[3].from[4]+recs[3].from[5])

	// A cut made while messages are in flight stops them too.
	w.Net().Heal()
	sendAll(recs, 10)
	w.Net().Isolate(3)
	require.True(t, w.RunUntilIdle(0))
	require.Zero(t, recs[3].from[1])
	require.Equal(t, 10, recs[4].from[1]-0)
	st := w.Net().Stats()
	require.Equal(t, st.Sent, st.Delivered+st.Dropped)
}

func TestOneWayCut(t *testing.T) {
	w, recs := netWorld(t, 2, DefaultConfig(), 2)
	w.Net().Cut(1, 2)
	require.False(t, w.Net().Reachable(1, 2))
	require.True(t, w.Net().Reachable(2, 1))
	sendAll(recs, 100)
	require.True(t, w.RunUntilIdle(0))
	require.Zero(t, recs[2].from[1])
	require.Equal(t, 100, recs[1].from[2])
	w.Net().Connect(1, 2)
	sendAll(recs, 1)
	require.True(t, w.RunUntilIdle(0))
	require.Equal(t, 1, recs[2].from[1])
}

// within checks that k successes of n trials fit probability p within 5
// standard deviations (a false failure is ~1 in 3.5 million).
func within(t *testing.T, what string, k, n int, p float64) {
	t.Helper()
	sd := math.Sqrt(float64(n) * p * (1 - p))
	require.InDelta(t, p*float64(n), float64(k), 5*sd, "%s: %d of %d, expected p=%v", what, k, n, p)
}

func TestLossAndDuplicationRates(t *testing.T) {
	for _, c := range []struct{ loss, dup float64 }{{0.1, 0}, {0, 0.2}, {0.3, 0.05}, {0, 0}} {
		cfg := DefaultConfig()
		cfg.Net.Loss, cfg.Net.Duplicate = c.loss, c.dup
		w, recs := netWorld(t, 3, cfg, 2)
		const n = 100000
		for range n {
			recs[1].h.Send(2, []byte("x"))
		}
		require.True(t, w.RunUntilIdle(0))
		st := w.Net().Stats()
		require.Equal(t, uint64(n), st.Sent)
		within(t, "loss", int(st.Dropped), n, c.loss)
		within(t, "duplication", int(st.Duplicated), n-int(st.Dropped), c.dup)
		require.Equal(t, int(st.Delivered), recs[2].n)
		require.Equal(t, st.Sent-st.Dropped+st.Duplicated, st.Delivered)
	}
}

func TestLatencyReorders(t *testing.T) {
	w := NewWorld(4, DefaultConfig())
	var got []byte
	require.NoError(t, w.AddNode(1, func(h host.Host) host.Process { return procFunc(nil) }))
	require.NoError(t, w.AddNode(2, func(h host.Host) host.Process {
		return procFunc(func(_ host.NodeID, p []byte) { got = append(got, p[0]) })
	}))
	for i := range 100 {
		require.NoError(t, w.Net().Send(1, 2, []byte{byte(i)}))
	}
	require.True(t, w.RunUntilIdle(0))
	require.Len(t, got, 100)
	reordered := false
	for i := 1; i < len(got); i++ {
		reordered = reordered || got[i] < got[i-1]
	}
	require.True(t, reordered)
	lo, hi := DefaultConfig().Net.Base, DefaultConfig().Net.Base+DefaultConfig().Net.Jitter+DefaultConfig().Net.Tail
	require.GreaterOrEqual(t, w.Elapsed(), lo)
	require.LessOrEqual(t, w.Elapsed(), hi)
}

type procFunc func(from host.NodeID, p []byte)

func (f procFunc) Receive(from host.NodeID, p []byte) {
	if f != nil {
		f(from, p)
	}
}

func TestCrashDropsInFlight(t *testing.T) {
	w, recs := netWorld(t, 5, DefaultConfig(), 2)
	recs[1].h.Send(2, []byte("x"))
	old := recs[2]
	require.NoError(t, w.Crash(2))
	require.NoError(t, w.Restart(2)) // back before the message arrives
	require.True(t, w.RunUntilIdle(0))
	require.Zero(t, old.n)
	require.Zero(t, recs[2].n, "a message in flight to a crashed incarnation is dropped")
	require.Equal(t, uint64(1), w.Net().Stats().Dropped)
}

func TestNetworkBadInput(t *testing.T) {
	w, recs := netWorld(t, 6, DefaultConfig(), 2)
	n := w.Net()
	require.ErrorIs(t, n.SetLatency(-time.Millisecond, 0, 0, 0), ErrBadConfig)
	require.ErrorIs(t, n.SetLatency(0, -1, 0, 0), ErrBadConfig)
	require.ErrorIs(t, n.SetLatency(0, 0, 1.5, 0), ErrBadConfig)
	require.ErrorIs(t, n.SetLoss(-0.1), ErrBadConfig)
	require.ErrorIs(t, n.SetLoss(math.NaN()), ErrBadConfig)
	require.ErrorIs(t, n.SetDuplicate(2), ErrBadConfig)
	require.Equal(t, DefaultConfig().Net, n.Config(), "a rejected setting changes nothing")
	require.ErrorIs(t, n.Send(1, 99, []byte("x")), ErrUnknownNode)
	recs[1].h.Send(99, []byte("x")) // no error channel: counted and traced
	st := n.Stats()
	require.Equal(t, uint64(2), st.Dropped)
	require.Equal(t, uint64(2), st.Sent)

	cfg := DefaultConfig()
	cfg.Net.Base = -1
	_, err := New(1, cfg)
	require.ErrorIs(t, err, ErrBadConfig)
	require.Panics(t, func() { NewWorld(1, cfg) })
}

// TestPayloadModifiedInFlight: without CopyPayloads a sender that reuses
// its buffer is caught at delivery; with it the original bytes arrive.
func TestPayloadModifiedInFlight(t *testing.T) {
	for _, copyPayloads := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Net.CopyPayloads = copyPayloads
		w := NewWorld(1, cfg)
		var got []byte
		require.NoError(t, w.AddNode(1, func(host.Host) host.Process {
			return procFunc(func(_ host.NodeID, p []byte) { got = append([]byte(nil), p...) })
		}))
		buf := []byte("hello")
		require.NoError(t, w.Net().Send(2, 1, buf))
		buf[0] = 'j' // breaks the Send contract
		if !copyPayloads {
			require.PanicsWithError(t, ErrPayloadModified.Error()+": 2 -> 1, 5 bytes", func() { w.RunUntilIdle(0) })
			continue
		}
		require.True(t, w.RunUntilIdle(0))
		require.Equal(t, "hello", string(got))
	}
}
