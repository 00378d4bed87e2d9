package compat

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The binaries under test, built once by TestMain: seedkv from the parent
// module and etcdctl v3.7.3 from this module's requirements.
var (
	seedkvBin  string
	etcdctlBin string
	endpoints  []string
	binDir     string // where the binaries are built
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "seedkv-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	seedkvBin = filepath.Join(dir, "seedkv")
	etcdctlBin = filepath.Join(dir, "etcdctl")
	if err := build(dir, seedkvBin, "..", "./cmd/seedkv"); err != nil {
		fmt.Fprintln(os.Stderr, "build seedkv:", err)
		return 1
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "^$" {
		return m.Run() // benchmarks only: they start their own clusters
	}
	if err := build(dir, etcdctlBin, ".", "go.etcd.io/etcd/etcdctl/v3"); err != nil {
		fmt.Fprintln(os.Stderr, "build etcdctl:", err)
		return 1
	}
	stop, eps, err := startCluster(seedkvBin, filepath.Join(dir, "data"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	endpoints = eps
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop cluster:", err)
		code = 1
	}
	return code
}

func build(dir, out, in, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = in
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// startCluster runs `seedkv cluster` (with args, such as "-members", "1")
// and returns its endpoints and a stop function that SIGTERMs it and
// requires a clean exit.
func startCluster(bin, dir string, args ...string) (func() error, []string, error) {
	cmd := exec.Command(bin, append([]string{"cluster", "-dir", dir}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = io.Discard
	if os.Getenv("COMPAT_VERBOSE") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("seedkv cluster did not stop on SIGTERM")
		}
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "endpoints="); ok {
				line <- s
			}
		}
	}()
	select {
	case s := <-line:
		return stop, strings.Split(s, ","), nil
	case <-time.After(60 * time.Second):
		_ = stop()
		return nil, nil, fmt.Errorf("no endpoints line")
	}
}

// etcdctl runs etcdctl against the cluster and returns its stdout.
func etcdctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, etcdctlBin, append([]string{"--endpoints=" + strings.Join(endpoints, ",")}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("etcdctl %v: %w: %s", args, err, stderr.String())
	}
	return string(out), nil
}
