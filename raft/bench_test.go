package raft

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchNode is a replica in the in-memory benchmark loop.
type benchNode struct {
	rn      *RawNode
	storage *MemoryStorage
	inbox   []Message
	applied uint64 // applied normal entries with data
}

// benchCluster runs n nodes single-threaded: every Ready is persisted to
// MemoryStorage, its messages delivered, its entries applied, then Advance.
type benchCluster struct {
	nodes []*benchNode
}

func newBenchCluster(b *testing.B, n int) *benchCluster {
	c := &benchCluster{}
	var voters []uint64
	for i := 1; i <= n; i++ {
		voters = append(voters, uint64(i))
	}
	for _, id := range voters {
		s := NewMemoryStorage()
		if err := s.ApplySnapshot(BootstrapSnapshot(voters, nil)); err != nil {
			b.Fatal(err)
		}
		rn, err := NewRawNode(Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
			MaxInflightMsgs: 256, Rand: rand.New(rand.NewPCG(1, id))})
		if err != nil {
			b.Fatal(err)
		}
		c.nodes = append(c.nodes, &benchNode{rn: rn, storage: s})
	}
	if err := c.nodes[0].rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	c.run()
	if c.nodes[0].rn.Status().Role != RoleLeader {
		b.Fatal("no leader")
	}
	return c
}

func (c *benchCluster) send(msgs []Message) {
	for i := range msgs {
		to := c.nodes[msgs[i].To-1]
		to.inbox = append(to.inbox, msgs[i])
	}
}

// run handles Readies and delivers messages until the cluster is quiet.
func (c *benchCluster) run() {
	for busy := true; busy; {
		busy = false
		for _, n := range c.nodes {
			for n.rn.HasReady() {
				busy = true
				rd := n.rn.Ready()
				c.send(rd.Messages)
				if err := n.storage.Append(rd.Entries); err != nil {
					panic(err)
				}
				if !rd.HardState.IsEmpty() {
					_ = n.storage.SetHardState(rd.HardState)
				}
				c.send(rd.MessagesAfterPersist)
				for i := range rd.CommittedEntries {
					if len(rd.CommittedEntries[i].Data) > 0 {
						n.applied++
					}
				}
				n.rn.Advance()
			}
		}
		for _, n := range c.nodes {
			if len(n.inbox) == 0 {
				continue
			}
			busy = true
			inbox := n.inbox
			n.inbox = n.inbox[len(n.inbox):] // keep appending after
			for i := range inbox {
				_ = n.rn.Step(inbox[i])
			}
			if len(n.inbox) == 0 {
				n.inbox = inbox[:0] // reuse the buffer
			}
		}
	}
}

// compact keeps the storages small in long runs.
func (c *benchCluster) compact() {
	for _, n := range c.nodes {
		st := n.rn.Status()
		if keep := uint64(1024); st.Applied > keep {
			if first, _ := n.storage.FirstIndex(); st.Applied-keep > first {
				_, _ = n.storage.CreateSnapshot(st.Applied-keep, st.ConfState, nil)
				_ = n.storage.Compact(st.Applied - keep)
			}
		}
	}
}

func benchmarkCommit(b *testing.B, nodes, perRound int) {
	c := newBenchCluster(b, nodes)
	lead := c.nodes[0]
	data := make([]byte, 128)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := lead.applied
	for done := 0; done < b.N; {
		k := min(perRound, b.N-done)
		for range k {
			if err := lead.rn.Propose(data); err != nil {
				b.Fatal(err)
			}
		}
		done += k
		c.run()
		if done%(1<<14) < perRound {
			c.compact()
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	// allocs/op is rounded down to an integer; this is the exact figure.
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/proposal")
	commits := lead.applied - start
	if commits != uint64(b.N) {
		b.Fatalf("committed %d of %d proposals", commits, b.N)
	}
	b.ReportMetric(float64(commits)/b.Elapsed().Seconds(), "commits/s")
	if cpu > 0 {
		// The same rate per CPU-second used (all threads, GC included):
		// steadier than wall time on a loaded machine.
		b.ReportMetric(float64(commits)/cpu.Seconds(), "commits/cpu-s")
	}
}

// Each op is one proposal: allocs/op is allocations per proposal.
func BenchmarkCommit3Nodes1PerRound(b *testing.B)  { benchmarkCommit(b, 3, 1) }
func BenchmarkCommit3Nodes64PerRound(b *testing.B) { benchmarkCommit(b, 3, 64) }
func BenchmarkCommit5Nodes1PerRound(b *testing.B)  { benchmarkCommit(b, 5, 1) }
