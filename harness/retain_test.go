package harness

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

// A crashed replica's incarnation (its store, raft log and the WAL
// segment it had open, up to twice a segment's size with the disk's
// durable copy) must become garbage: nothing in the harness may keep it.
// A one-hour seed kept five of them alive through a reused buffer of
// inspectors (40 of its 100 MB live heap at 60 virtual minutes). The
// test runs seeds with crashes, keeps a weak pointer to every
// incarnation, and at the end of each run collects and counts the
// crashed ones still alive.
func TestCrashedIncarnationsAreNotRetained(t *testing.T) {
	requireNode(t)
	var made map[host.NodeID][]weak.Pointer[node.Node]
	cfg := testConfig()
	cfg.Nodes, cfg.Duration, cfg.Faults = 5, 30*time.Second, "crash,crash-storage,partition"
	cfg.ObservedCluster = func(obs node.Observer) ReplicaFunc {
		real := nodeReplica(DefaultScenario().Raft, obs)
		return func(h host.Host, peers []host.NodeID) host.Process {
			p := real(h, peers)
			if n, ok := p.(*node.Node); ok {
				made[h.ID()] = append(made[h.ID()], weak.Make(n))
			}
			return p
		}
	}
	defer func() { sliceHook = nil }()
	crashed := 0
	for seed := uint64(1); seed <= 4; seed++ {
		made = map[host.NodeID][]weak.Pointer[node.Node]{}
		alive := -1
		sliceHook = func(elapsed time.Duration) {
			if elapsed < cfg.Duration-50*time.Millisecond || alive >= 0 {
				return
			}
			runtime.GC()
			alive = 0
			for _, incs := range made {
				crashed += len(incs) - 1
				for _, p := range incs[:len(incs)-1] {
					if p.Value() != nil {
						alive++
					}
				}
			}
		}
		r := Run(cfg, seed)
		require.Equal(t, Pass, r.Verdict, "seed %d: %s", seed, r.Reason)
		require.Zero(t, alive, "seed %d: crashed incarnations still reachable at the run's end", seed)
	}
	require.Positive(t, crashed, "no replica crashed: the test saw nothing")
}
