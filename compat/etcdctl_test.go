package compat

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEtcdctlKV(t *testing.T) {
	ctx := testCtx(t)
	out, err := etcdctl(ctx, "put", "/ctl/a", "hello")
	require.NoError(t, err)
	require.Equal(t, "OK\n", out)
	_, err = etcdctl(ctx, "put", "/ctl/b", "world")
	require.NoError(t, err)
	out, err = etcdctl(ctx, "get", "/ctl/", "--prefix")
	require.NoError(t, err)
	require.Equal(t, "/ctl/a\nhello\n/ctl/b\nworld\n", out)
	out, err = etcdctl(ctx, "get", "/ctl/", "--prefix", "--keys-only", "--sort-by=MODIFY", "--order=DESCEND")
	require.NoError(t, err)
	require.Equal(t, "/ctl/b\n\n/ctl/a\n\n", out)
	out, err = etcdctl(ctx, "del", "/ctl/a")
	require.NoError(t, err)
	require.Equal(t, "1\n", out)
	out, err = etcdctl(ctx, "endpoint", "health")
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(out, "is healthy"), out)
}

func TestEtcdctlTxnLeaseCompact(t *testing.T) {
	ctx := testCtx(t)
	_, err := etcdctl(ctx, "put", "/ctl/t", "v1")
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, etcdctlBin, "--endpoints="+strings.Join(endpoints, ","), "txn")
	cmd.Stdin = strings.NewReader("value(\"/ctl/t\") = \"v1\"\n\nput /ctl/t v2\n\nput /ctl/t nope\n\n")
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "SUCCESS\n\nOK\n", string(out))

	out2, err := etcdctl(ctx, "lease", "grant", "30")
	require.NoError(t, err)
	f := strings.Fields(out2) // "lease <id> granted with TTL(30s)"
	require.GreaterOrEqual(t, len(f), 2, out2)
	id := f[1]
	_, err = etcdctl(ctx, "put", "--lease="+id, "/ctl/leased", "x")
	require.NoError(t, err)
	out2, err = etcdctl(ctx, "lease", "keep-alive", "--once", id)
	require.NoError(t, err)
	require.Contains(t, out2, "keepalived with TTL(30)")
	out2, err = etcdctl(ctx, "lease", "timetolive", "--keys", id)
	require.NoError(t, err)
	require.Contains(t, out2, "/ctl/leased")
	_, err = etcdctl(ctx, "lease", "revoke", id)
	require.NoError(t, err)
	out2, err = etcdctl(ctx, "get", "/ctl/leased")
	require.NoError(t, err)
	require.Empty(t, out2)

	out2, err = etcdctl(ctx, "get", "/ctl/t", "-w", "fields")
	require.NoError(t, err)
	var rev string
	for _, l := range strings.Split(out2, "\n") {
		if v, ok := strings.CutPrefix(l, "\"Revision\" : "); ok {
			rev = v
		}
	}
	require.NotEmpty(t, rev, out2)
	out2, err = etcdctl(ctx, "compact", rev)
	require.NoError(t, err)
	require.Equal(t, "compacted revision "+rev+"\n", out2)
}

// etcdctl lock: a second locker waits until the first one's command ends.
func TestEtcdctlLock(t *testing.T) {
	ctx := testCtx(t)
	base := []string{"--endpoints=" + strings.Join(endpoints, ",")}
	holder := exec.CommandContext(ctx, etcdctlBin, append(base, "lock", "/ctl/lock", "sleep", "2")...)
	require.NoError(t, holder.Start())
	time.Sleep(700 * time.Millisecond) // the holder has the lock by now
	start := time.Now()
	out, err := etcdctl(ctx, "lock", "/ctl/lock", "echo", "second")
	require.NoError(t, err)
	require.Equal(t, "second\n", out)
	require.NoError(t, holder.Wait())
	require.Greater(t, time.Since(start), 700*time.Millisecond, "the second locker waited for the first")
}

// etcdctl elect: a campaigner leads; `elect -l` observes its proposal.
func TestEtcdctlElect(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	base := []string{"--endpoints=" + strings.Join(endpoints, ",")}
	leader := exec.CommandContext(ctx, etcdctlBin, append(base, "elect", "/ctl/elect", "alice")...)
	require.NoError(t, leader.Start())
	defer func() { _ = leader.Process.Kill(); _ = leader.Wait() }()
	require.Eventually(t, func() bool {
		lctx, lcancel := context.WithTimeout(ctx, time.Second)
		defer lcancel()
		out, _ := etcdctl(lctx, "elect", "-l", "/ctl/elect")
		return strings.Contains(out, "alice")
	}, 10*time.Second, 200*time.Millisecond)
}
