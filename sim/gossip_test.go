package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// gossip is a small test protocol: every node keeps a set of rumors on its
// disk, invents new ones now and then and pushes its latest rumors to a
// random peer. It exercises timers, the network and the disk.
type gossip struct {
	h      host.Host
	peers  []host.NodeID
	known  map[uint64]bool
	order  []uint64 // rumors in the order learnt
	f      host.File
	synced int
}

const gossipFile = "rumors"

func startGossip(peers []host.NodeID) func(h host.Host) host.Process {
	return func(h host.Host) host.Process {
		g := &gossip{h: h, peers: peers, known: map[uint64]bool{}}
		fs := h.FS()
		f, err := fs.Open(gossipFile)
		if err != nil {
			f, err = fs.Create(gossipFile)
		}
		if err != nil {
			panic(err) // a test protocol: the disk is never down for a live node
		}
		g.f = f
		buf := make([]byte, f.Size())
		_, _ = f.ReadAt(buf, 0)
		for len(buf) >= 8 {
			g.learn(binary.LittleEndian.Uint64(buf), false)
			buf = buf[8:]
		}
		g.schedule()
		return g
	}
}

func (g *gossip) schedule() {
	g.h.After(time.Duration(10+g.h.Rand().IntN(20))*time.Millisecond, g.tick)
}

func (g *gossip) learn(v uint64, persist bool) {
	if g.known[v] {
		return
	}
	g.known[v] = true
	g.order = append(g.order, v)
	if persist {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		_, _ = g.f.WriteAt(b[:], g.f.Size())
	}
}

func (g *gossip) tick() {
	r := g.h.Rand()
	if r.IntN(10) == 0 {
		g.learn(r.Uint64(), true)
	}
	if r.IntN(4) == 0 {
		g.f.Sync(func(error) { g.synced++ })
	}
	peer := g.peers[r.IntN(len(g.peers))]
	if peer != g.h.ID() {
		recent := g.order[max(0, len(g.order)-16):]
		msg := make([]byte, 8*len(recent))
		for i, v := range recent {
			binary.LittleEndian.PutUint64(msg[8*i:], v)
		}
		g.h.Send(peer, msg)
	}
	g.schedule()
}

func (g *gossip) Receive(_ host.NodeID, p []byte) {
	for len(p) >= 8 {
		g.learn(binary.LittleEndian.Uint64(p), true)
		p = p[8:]
	}
}

// runGossip runs the gossip protocol among 5 nodes for 3 virtual seconds
// under random partitions, loss, duplication, crashes and clock drift.
func runGossip(t testing.TB, seed uint64, trace *bytes.Buffer) *World {
	cfg := DefaultConfig()
	cfg.Disk.TornWrites = true
	w := NewWorld(seed, cfg)
	if trace != nil {
		w.SetTraceWriter(trace)
	}
	ids := []host.NodeID{1, 2, 3, 4, 5}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, startGossip(ids)))
	}
	r := w.Rand("chaos")
	down := func() (d []host.NodeID) {
		for _, id := range ids {
			if !w.Alive(id) {
				d = append(d, id)
			}
		}
		return d
	}
	var chaos func()
	chaos = func() {
		id := ids[r.IntN(len(ids))]
		switch r.IntN(7) {
		case 0:
			cut := r.IntN(len(ids)-1) + 1
			perm := slices.Clone(ids)
			r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			w.Net().Split(perm[:cut], perm[cut:])
		case 1:
			w.Net().Heal()
		case 2:
			if w.Alive(id) && len(down()) < 2 {
				require.NoError(t, w.Crash(id))
			}
		case 3:
			if d := down(); len(d) > 0 {
				require.NoError(t, w.Restart(d[r.IntN(len(d))]))
			}
		case 4:
			require.NoError(t, w.Net().SetLoss(r.Float64()*0.3))
			require.NoError(t, w.Net().SetDuplicate(r.Float64()*0.1))
		case 5:
			require.NoError(t, w.SetClockRate(id, 0.5+r.Float64()))
		case 6:
			w.Net().Cut(id, ids[r.IntN(len(ids))])
		}
		w.Record("chaos", id, nil)
		w.After(time.Duration(20+r.IntN(80))*time.Millisecond, chaos)
	}
	w.After(0, chaos)
	w.RunFor(3 * time.Second)
	return w
}

func TestDeterminismSameSeed(t *testing.T) {
	var a, b bytes.Buffer
	wa := runGossip(t, 42, &a)
	wb := runGossip(t, 42, &b)
	require.Equal(t, wa.TraceHash(), wb.TraceHash())
	require.Greater(t, wa.Events(), uint64(1000), "the run should do something")
	require.Equal(t, a.Len(), b.Len())
	require.True(t, bytes.Equal(a.Bytes(), b.Bytes()), "same seed, same trace text")
	// The hash does not depend on whether a trace is written.
	require.Equal(t, wa.TraceHash(), runGossip(t, 42, nil).TraceHash())
	st := wa.Net().Stats()
	require.Positive(t, st.Delivered)
	require.Positive(t, st.Dropped)
	require.Positive(t, st.Duplicated)
	require.Contains(t, a.String(), " crash ")
	require.Contains(t, a.String(), " restart ")
	require.Contains(t, a.String(), " sync ")
}

func TestDeterminismDifferentSeeds(t *testing.T) {
	seen := map[uint64]uint64{}
	for seed := uint64(1); seed <= 20; seed++ {
		h := runGossip(t, seed, nil).TraceHash()
		prev, dup := seen[h]
		require.False(t, dup, "seeds %d and %d give the same hash", prev, seed)
		seen[h] = seed
	}
}

func TestDeterminismAcrossGoroutines(t *testing.T) {
	const seeds = 100
	serial := make([]uint64, seeds)
	for i := range serial {
		serial[i] = runGossip(t, uint64(i), nil).TraceHash()
	}
	parallel := make([]uint64, seeds)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				parallel[i] = runGossip(t, uint64(i), nil).TraceHash()
			}
		}()
	}
	for i := range seeds {
		work <- i
	}
	close(work)
	wg.Wait()
	for i := range serial {
		require.Equal(t, serial[i], parallel[i], fmt.Sprintf("seed %d", i))
	}
}
