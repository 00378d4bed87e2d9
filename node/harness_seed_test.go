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
			n := node.Start(h, node.Config{Members: peers, Join: peers == nil}).(*node.Node)
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
