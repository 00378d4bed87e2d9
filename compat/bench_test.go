package compat

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

var (
	benchFor     = flag.Duration("bench-for", 10*time.Second, "BenchmarkVsEtcd: how long each phase (writes, reads) runs per system")
	benchClients = flag.Int("bench-clients", 32, "BenchmarkVsEtcd: concurrent requests of the one load generator")
)

// BenchmarkVsEtcd measures writes/s and linearizable reads/s of a
// 3-process seedkv cluster and a 3-process etcd v3.7.3 cluster, started
// the same way (loopback, real disks, fsync on), with one clientv3 load
// generator, in one run, and reports the ratios. Run it with
//
//	cd compat && go test -run '^$' -bench VsEtcd -benchtime 1x
func BenchmarkVsEtcd(b *testing.B) {
	etcdBin := filepath.Join(binDir, "etcd")
	if err := build(binDir, etcdBin, ".", "go.etcd.io/etcd/server/v3"); err != nil {
		b.Fatal("build etcd:", err)
	}
	dir := b.TempDir()
	stopS, seps, err := startCluster(seedkvBin, filepath.Join(dir, "seedkv"))
	if err != nil {
		b.Fatal(err)
	}
	defer stopS()
	stopE, eeps, err := startEtcd(etcdBin, filepath.Join(dir, "etcd"))
	if err != nil {
		b.Fatal(err)
	}
	defer stopE()
	value := strings.Repeat("v", 128)
	b.ResetTimer()
	for range b.N {
		sw := load(b, seps, func(ctx context.Context, c *clientv3.Client, r *rand.Rand) error {
			_, err := c.Put(ctx, fmt.Sprintf("/bench/%d", r.IntN(10000)), value)
			return err
		})
		ew := load(b, eeps, func(ctx context.Context, c *clientv3.Client, r *rand.Rand) error {
			_, err := c.Put(ctx, fmt.Sprintf("/bench/%d", r.IntN(10000)), value)
			return err
		})
		sr := load(b, seps, func(ctx context.Context, c *clientv3.Client, r *rand.Rand) error {
			_, err := c.Get(ctx, fmt.Sprintf("/bench/%d", r.IntN(10000)))
			return err
		})
		er := load(b, eeps, func(ctx context.Context, c *clientv3.Client, r *rand.Rand) error {
			_, err := c.Get(ctx, fmt.Sprintf("/bench/%d", r.IntN(10000)))
			return err
		})
		b.ReportMetric(sw, "seedkv-writes/s")
		b.ReportMetric(ew, "etcd-writes/s")
		b.ReportMetric(sw/ew, "write-ratio")
		b.ReportMetric(sr, "seedkv-reads/s")
		b.ReportMetric(er, "etcd-reads/s")
		b.ReportMetric(sr/er, "read-ratio")
	}
}

// load runs op from *benchClients goroutines sharing one client for
// *benchFor and returns the successful operations per second.
func load(b *testing.B, eps []string, op func(context.Context, *clientv3.Client, *rand.Rand) error) float64 {
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *benchFor)
	defer cancel()
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for ctx.Err() == nil {
				if err := op(ctx, c, r); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > done.Load()/100 {
		b.Fatalf("%d of %d operations failed", f, f+done.Load())
	}
	return float64(done.Load()) / time.Since(start).Seconds()
}

// startEtcd starts three etcd members on loopback and returns a stop
// function and the client endpoints, once the cluster answers a write.
func startEtcd(bin, dir string) (func() error, []string, error) {
	var lns []net.Listener
	ports := make([]int, 6)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		lns = append(lns, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range lns {
		l.Close()
	}
	var ic, eps []string
	for i := range 3 {
		ic = append(ic, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
		eps = append(eps, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
	}
	var cmds []*exec.Cmd
	stop := func() error {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
		return nil
	}
	for i := range 3 {
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		cmd := exec.Command(bin, "--name", fmt.Sprintf("e%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprintf("e%d", i+1)),
			"--listen-client-urls", eps[i], "--advertise-client-urls", eps[i],
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(ic, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench", "--log-level", "error")
		if os.Getenv("COMPAT_VERBOSE") != "" {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			_ = stop()
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		_ = stop()
		return nil, nil, err
	}
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Put(ctx, "/ready", "1")
		cancel()
		if err == nil {
			return stop, eps, nil
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, nil, fmt.Errorf("etcd cluster not ready: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
