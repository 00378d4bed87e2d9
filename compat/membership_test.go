package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The etcd way of growing a cluster, on a cluster of its own: etcdctl
// member add --learner prints the new member's ETCD_* settings; a seedkv
// process started with them (--initial-cluster-state existing) joins,
// catches up and serves; member promote makes it a voter once it has
// caught up; member list -w json shows it; member remove takes it out.
func TestEtcdctlMemberAddPromoteRemove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stop, eps, err := startCluster(seedkvBin, filepath.Join(t.TempDir(), "data"))
	require.NoError(t, err)
	defer func() { require.NoError(t, stop()) }()
	ctl := func(args ...string) (string, error) {
		return runCmd(ctx, etcdctlBin, append([]string{"--endpoints=" + strings.Join(eps, ",")}, args...)...)
	}
	_, err = ctl("put", "/members/before", "v")
	require.NoError(t, err)

	ports := freeTCPPorts(t, 2)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	out, err := ctl("member", "add", "s4", "--peer-urls="+peerURL, "--learner")
	require.NoError(t, err)
	require.Contains(t, out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"")
	env := etcdEnv(out)
	require.Equal(t, "s4", env["ETCD_NAME"])
	require.Contains(t, env["ETCD_INITIAL_CLUSTER"], "s4="+peerURL)
	f := strings.Fields(out) // "Member <hex> added to cluster <hex>"
	require.GreaterOrEqual(t, len(f), 2)
	id := f[1]

	_, err = ctl("member", "promote", id)
	require.ErrorContains(t, err, "in sync with leader", "not started: cannot be promoted yet")

	proc := exec.Command(seedkvBin, "--data-dir", filepath.Join(t.TempDir(), "s4"),
		"--listen-peer-urls", peerURL, "--listen-client-urls", clientURL, "--heartbeat-interval", "50", "--election-timeout", "500")
	proc.Env = os.Environ()
	for k, v := range env {
		proc.Env = append(proc.Env, k+"="+v)
	}
	if os.Getenv("COMPAT_VERBOSE") != "" {
		proc.Stderr = os.Stderr
	}
	require.NoError(t, proc.Start())
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	defer func() {
		_ = proc.Process.Signal(syscall.SIGTERM)
		<-exited
		exited <- nil
	}()

	require.Eventually(t, func() bool {
		out, err := runCmd(ctx, etcdctlBin, "--endpoints="+clientURL, "get", "/members/before", "--consistency=s")
		return err == nil && strings.Contains(out, "/members/before")
	}, 30*time.Second, 200*time.Millisecond, "the learner catches up and serves reads")
	require.Eventually(t, func() bool {
		out, err := ctl("member", "promote", id)
		return err == nil && strings.Contains(out, "promoted")
	}, 30*time.Second, 200*time.Millisecond)

	type member struct {
		ID         uint64
		Name       string
		PeerURLs   []string
		ClientURLs []string
		IsLearner  bool
	}
	var list struct{ Members []member }
	require.Eventually(t, func() bool {
		out, err := ctl("member", "list", "-w", "json")
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Members) != 4 {
			return false
		}
		for _, m := range list.Members {
			if m.IsLearner || m.Name == "" || len(m.PeerURLs) == 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 200*time.Millisecond, "four named voters")
	var found bool
	for _, m := range list.Members {
		if strconv.FormatUint(m.ID, 16) == id {
			found = true
			require.Equal(t, "s4", m.Name)
			require.Equal(t, []string{peerURL}, m.PeerURLs)
			require.Equal(t, []string{clientURL}, m.ClientURLs)
		}
	}
	require.True(t, found, "%s not in %+v", id, list)

	// The new voter takes writes.
	_, err = runCmd(ctx, etcdctlBin, "--endpoints="+clientURL, "put", "/members/after", "v")
	require.NoError(t, err)
	out, err = ctl("member", "update", id, "--peer-urls="+peerURL)
	require.NoError(t, err)
	require.Contains(t, out, "updated")
	_, err = ctl("member", "remove", "abcdef")
	require.ErrorContains(t, err, "member not found")
	out, err = ctl("member", "remove", id)
	require.NoError(t, err)
	require.Contains(t, out, "removed from cluster")
	select {
	case err := <-exited:
		require.NoError(t, err, "the removed member exits cleanly, as etcd's")
		exited <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("the removed member kept running")
	}
	out, err = ctl("member", "list")
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(strings.TrimSpace(out), "\n")+1, out)
	_, err = ctl("put", "/members/removed", "v")
	require.NoError(t, err)

	// A voter added directly (no learner step) joins and serves
	// linearizable reads once started.
	ports = freeTCPPorts(t, 2)
	peer5 := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	client5 := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	out, err = ctl("member", "add", "s5", "--peer-urls="+peer5)
	require.NoError(t, err)
	id5 := strings.Fields(out)[1]
	p5 := exec.Command(seedkvBin, "--data-dir", filepath.Join(t.TempDir(), "s5"),
		"--listen-peer-urls", peer5, "--listen-client-urls", client5)
	p5.Env = os.Environ()
	for k, v := range etcdEnv(out) {
		p5.Env = append(p5.Env, k+"="+v)
	}
	require.NoError(t, p5.Start())
	defer func() { _ = p5.Process.Signal(syscall.SIGTERM); _ = p5.Wait() }()
	require.Eventually(t, func() bool {
		out, err := runCmd(ctx, etcdctlBin, "--endpoints="+client5, "get", "/members/removed")
		return err == nil && strings.Contains(out, "/members/removed")
	}, 30*time.Second, 200*time.Millisecond, "the new voter serves linearizable reads")
	require.Eventually(t, func() bool {
		out, err := ctl("member", "list")
		return err == nil && strings.Contains(out, id5+", started, s5, "+peer5+", "+client5+", false")
	}, 10*time.Second, 200*time.Millisecond)
	_, err = ctl("member", "remove", id5)
	require.NoError(t, err)
}

// etcdEnv picks the NAME="value" lines etcdctl member add prints.
func etcdEnv(out string) map[string]string {
	env := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok && strings.HasPrefix(k, "ETCD_") {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			env[k] = v
		}
	}
	return env
}

// freeTCPPorts returns n loopback ports that were free a moment ago.
func freeTCPPorts(t *testing.T, n int) []int {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
