package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// procCluster is a cluster of member processes on loopback, each a child
// running this same executable.
type procCluster struct {
	exe     string
	dir     string
	names   []string
	client  []string // client host:port
	peer    []string // peer host:port
	log     io.Writer
	extra   []string // extra member flags
	mu      sync.Mutex
	procs   []*exec.Cmd
	exited  []chan struct{}
	stopped []bool // SIGSTOPped
}

// freePorts returns n ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// newProcCluster lays out n members under dir (not started yet).
func newProcCluster(n int, dir string, log io.Writer, extra []string) (*procCluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &procCluster{exe: exe, dir: dir, log: log, extra: extra,
		procs: make([]*exec.Cmd, n), exited: make([]chan struct{}, n), stopped: make([]bool, n)}
	for i := range n {
		c.names = append(c.names, fmt.Sprintf("s%d", i+1))
		c.client = append(c.client, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
		c.peer = append(c.peer, fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]))
	}
	return c, nil
}

// Endpoints is the clients' endpoint list, etcd style.
func (c *procCluster) Endpoints() string {
	urls := make([]string, len(c.client))
	for i, a := range c.client {
		urls[i] = "http://" + a
	}
	return strings.Join(urls, ",")
}

func (c *procCluster) args(i int) []string {
	var ic, cc []string
	for j, name := range c.names {
		ic = append(ic, name+"=http://"+c.peer[j])
		cc = append(cc, name+"=http://"+c.client[j])
	}
	a := []string{"--name", c.names[i], "--data-dir", filepath.Join(c.dir, c.names[i]),
		"--listen-client-urls", "http://" + c.client[i], "--listen-peer-urls", "http://" + c.peer[i],
		"--initial-cluster", strings.Join(ic, ","), "--initial-cluster-client-urls", strings.Join(cc, ",")}
	return append(a, c.extra...)
}

// Start starts member i.
func (c *procCluster) Start(i int) error {
	cmd := exec.Command(c.exe, c.args(i)...)
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		prefix := c.names[i] + " | "
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(c.log, prefix+sc.Text())
		}
		_ = cmd.Wait()
		close(done)
	}()
	c.mu.Lock()
	c.procs[i], c.exited[i], c.stopped[i] = cmd, done, false
	c.mu.Unlock()
	return nil
}

// Signal sends sig to member i (if running).
func (c *procCluster) Signal(i int, sig syscall.Signal) {
	c.mu.Lock()
	cmd := c.procs[i]
	if sig == syscall.SIGSTOP {
		c.stopped[i] = true
	} else if sig == syscall.SIGCONT {
		c.stopped[i] = false
	}
	c.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// Kill SIGKILLs member i and waits until it is gone.
func (c *procCluster) Kill(i int) {
	c.Signal(i, syscall.SIGKILL)
	c.wait(i, 10*time.Second)
}

// Exited reports whether member i's process has ended.
func (c *procCluster) Exited(i int) bool {
	c.mu.Lock()
	done := c.exited[i]
	c.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (c *procCluster) wait(i int, d time.Duration) bool {
	c.mu.Lock()
	done := c.exited[i]
	c.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// StopAll resumes paused members, SIGTERMs every member and waits (then
// SIGKILLs what is left).
func (c *procCluster) StopAll() {
	for i := range c.procs {
		c.Signal(i, syscall.SIGCONT)
		c.Signal(i, syscall.SIGTERM)
	}
	for i := range c.procs {
		if !c.wait(i, 10*time.Second) {
			c.Kill(i)
		}
	}
}

// WaitReady waits until every member answers Status and one reports a
// leader.
func (c *procCluster) WaitReady(ctx context.Context) error {
	for {
		ok := true
		leader := false
		for _, a := range c.client {
			st, err := memberStatus(ctx, a)
			if err != nil {
				ok = false
				break
			}
			leader = leader || st.Leader != 0
		}
		if ok && leader {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func memberStatus(ctx context.Context, addr string) (*pb.StatusResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return pb.NewMaintenanceClient(conn).Status(cctx, &pb.StatusRequest{})
}
