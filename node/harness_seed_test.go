package node_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

// TestHarnessSeed replays one harness seed (SEED=n) with the real node and
// prints every replica's state at the end: a debugging aid.
func TestHarnessSeed(t *testing.T) {
	s := os.Getenv("SEED")
	if s == "" {
		t.Skip("SEED not set")
	}
	seed, _ := strconv.ParseUint(s, 10, 64)
	nodes := map[host.NodeID]*node.Node{}
	cfg := harness.DefaultConfig()
	cfg.Cluster = func() harness.ReplicaFunc {
		return func(h host.Host, peers []host.NodeID) host.Process {
			snapEvery, _ := strconv.ParseUint(os.Getenv("SNAPENTRIES"), 10, 64)
			n := node.Start(h, node.Config{Members: peers, Join: peers == nil,
				SnapshotEntries: snapEvery, CatchUpEntries: snapEvery / 5}).(*node.Node)
			nodes[h.ID()] = n
			return n
		}
	}
	res := harness.Run(cfg, seed)
	t.Logf("verdict %v: %s", res.Verdict, res.Reason)
	for id := host.NodeID(1); id <= 10; id++ {
		n := nodes[id]
		if n == nil {
			continue
		}
		st := n.Status()
		fmt.Printf("%d: %+v %s\n", id, st, n.DebugString())
		if from := os.Getenv("WATCHFROM"); from != "" {
			rev, _ := strconv.ParseInt(from, 10, 64)
			w, err := n.StoreForTest().Watch([]byte("/"), []byte("0"), rev, false)
			if err != nil {
				fmt.Println(err)
				continue
			}
			evs, _ := w.Events(12)
			for _, e := range evs {
				fmt.Printf(" %d:%s", e.KV.ModRevision, e.KV.Key)
			}
			fmt.Println()
		}
	}
}

// TestHarnessSeedsSmallSnapshots runs SNAPSEEDS seeds (from SNAPSEED,
// default 1) of the harness with replicas that snapshot every 50 entries
// and keep 10 behind, so that snapshots, compaction of the raft log and
// catch-up by snapshot happen under every fault (the harness's default
// replicas rarely reach a snapshot).
func TestHarnessSeedsSmallSnapshots(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SNAPSEEDS"))
	if n <= 0 {
		t.Skip("SNAPSEEDS not set")
	}
	first, _ := strconv.ParseUint(os.Getenv("SNAPSEED"), 10, 64)
	first = max(first, 1)
	cfg := harness.DefaultConfig()
	cfg.Cluster = func() harness.ReplicaFunc {
		return func(h host.Host, peers []host.NodeID) host.Process {
			return node.Start(h, node.Config{Members: peers, Join: peers == nil,
				SnapshotEntries: 50, CatchUpEntries: 10})
		}
	}
	failed := 0
	for seed := first; seed < first+uint64(n); seed++ {
		if res := harness.Run(cfg, seed); res.Verdict != harness.Pass {
			failed++
			t.Errorf("seed %d: %v: %s", seed, res.Verdict, res.Reason)
		}
	}
	t.Logf("%d seeds, %d failed", n, failed)
}
