package node

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// BenchmarkClusterWrites measures client writes committed (acknowledged,
// hence durable on a quorum) in a 3-node cluster on the simulated world,
// per wall second and per virtual second. Many concurrent clients each
// keep a window of writes outstanding, so raft batches.
func BenchmarkClusterWrites(b *testing.B) {
	const (
		clients = 32
		window  = 32 // outstanding writes per client
	)
	c := newCluster(b, 3, 1, Config{SnapshotEntries: 20000, CatchUpEntries: 2000})
	require.NotZero(b, c.waitLeader(5*time.Second))
	var acked, failed int
	value := make([]byte, 64)
	var cls []*client.Client
	for i := range clients {
		cls = append(cls, c.addClient(host.NodeID(1000+i), client.Options{}))
	}
	issued := 0
	var issue func(cl *client.Client, i int)
	issue = func(cl *client.Client, i int) {
		if issued >= b.N {
			return
		}
		issued++
		key := fmt.Appendf(nil, "/bench/%d/%d", i, issued%64)
		cl.Put(key, value, client.PutOptions{}, func(_ *api.PutResponse, _ api.Header, err error) {
			if err != nil {
				failed++
			} else {
				acked++
			}
			issue(cl, i)
		})
	}
	c.w.RunFor(100 * time.Millisecond) // let the clients start
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := c.w.Elapsed()
	for i, cl := range cls {
		for range window {
			issue(cl, i)
		}
	}
	for acked+failed < b.N {
		c.w.RunFor(10 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	virtual := c.w.Elapsed() - start
	// On a shared machine wall time includes waiting for a core; CPU time
	// (this process, all threads) is what one otherwise idle core needs.
	b.ReportMetric(float64(acked)/cpu.Seconds(), "writes/cpu-s")
	b.ReportMetric(float64(acked)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(acked)/virtual.Seconds(), "virtual-writes/s")
	if failed > 0 {
		b.ReportMetric(float64(failed), "failed")
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
