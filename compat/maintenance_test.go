package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// etcdctl endpoint status / hashkv -w json: every member reports the same
// leader and, once writes settle, the same hash at the same revision.
func TestEtcdctlStatusAndHashKV(t *testing.T) {
	ctx := testCtx(t)
	_, err := etcdctl(ctx, "put", "/maint/a", "1")
	require.NoError(t, err)
	out, err := etcdctl(ctx, "endpoint", "status", "-w", "json")
	require.NoError(t, err)
	var sts []struct {
		Endpoint string
		Status   struct {
			Header           struct{ Revision int64 }
			Leader           uint64
			DbSize           int64 `json:"dbSize"`
			RaftIndex        uint64
			RaftTerm         uint64
			RaftAppliedIndex uint64
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sts), out)
	require.Len(t, sts, 3)
	for _, s := range sts {
		require.NotZero(t, s.Status.Leader, out)
		require.Equal(t, sts[0].Status.Leader, s.Status.Leader, out)
		require.NotZero(t, s.Status.RaftIndex, out)
		require.NotZero(t, s.Status.RaftAppliedIndex, out)
		require.Positive(t, s.Status.DbSize, out)
	}

	type hashOut struct {
		Endpoint string
		HashKV   struct {
			Header       struct{ Revision int64 }
			Hash         uint32
			HashRevision int64 `json:"hash_revision"`
		}
	}
	require.Eventually(t, func() bool {
		out, err := etcdctl(ctx, "endpoint", "hashkv", "-w", "json")
		if err != nil {
			return false
		}
		var hs []hashOut
		if json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 3 {
			return false
		}
		for _, h := range hs {
			if h.HashKV.HashRevision != hs[0].HashKV.HashRevision || h.HashKV.Hash != hs[0].HashKV.Hash {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond)
	// --cluster reaches every member through the client URLs MemberList
	// gives (each member publishes its own).
	require.Eventually(t, func() bool {
		out, err := etcdctlOne(ctx, "endpoint", "hashkv", "--cluster", "-w", "json")
		var hs []hashOut
		return err == nil && json.Unmarshal([]byte(out), &hs) == nil && len(hs) == 3
	}, 10*time.Second, 100*time.Millisecond)
	out, err = etcdctlOne(ctx, "endpoint", "health", "--cluster")
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(out, "is healthy"), out)
	out, err = etcdctl(ctx, "endpoint", "hashkv")
	require.NoError(t, err)
	before := strings.Fields(strings.Split(out, "\n")[0])
	_, err = etcdctl(ctx, "put", "/maint/a", "2")
	require.NoError(t, err)
	out, err = etcdctl(ctx, "endpoint", "hashkv")
	require.NoError(t, err)
	require.NotEqual(t, before, strings.Fields(strings.Split(out, "\n")[0]), "a write changes the hash")
}

// etcdctl move-leader to a follower: the follower leads afterwards.
func TestEtcdctlMoveLeader(t *testing.T) {
	ctx := testCtx(t)
	out, err := etcdctl(ctx, "endpoint", "status", "-w", "json")
	require.NoError(t, err)
	var sts []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			}
			Leader uint64
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sts), out)
	var target uint64
	for _, s := range sts {
		if s.Status.Header.MemberID != s.Status.Leader {
			target = s.Status.Header.MemberID
		}
	}
	require.NotZero(t, target, out)
	out, err = etcdctl(ctx, "move-leader", fmt.Sprintf("%x", target))
	require.NoError(t, err)
	require.Contains(t, out, "Leadership transferred")
	out, err = etcdctl(ctx, "endpoint", "status", "-w", "json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &sts), out)
	require.Equal(t, target, sts[0].Status.Leader, out)
}

// etcdctl snapshot save writes a file seedkv reads back (seedkv snapshot
// status); defrag, alarm list/disarm and auth status answer; auth enable
// and user add fail with a one-line reason.
func TestEtcdctlSnapshotDefragAlarmAuth(t *testing.T) {
	ctx := testCtx(t)
	_, err := etcdctl(ctx, "put", "/snap/k", "v")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "snap.db")
	out, err := etcdctlOne(ctx, "snapshot", "save", file)
	require.NoError(t, err)
	require.Contains(t, out, "Snapshot saved at "+file)
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, int64(32), st.Size()%512)
	sout, err := runCmd(ctx, seedkvBin, "snapshot", "status", file)
	require.NoError(t, err, sout)
	require.Contains(t, sout, "keys=")

	// A new one-member cluster started from the file serves the key.
	ports := freeTCPPorts(t, 2)
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	restored := exec.Command(seedkvBin, "--name", "r1", "--data-dir", filepath.Join(t.TempDir(), "r1"),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "--listen-client-urls", clientURL,
		"--initial-snapshot", file)
	require.NoError(t, restored.Start())
	defer func() { _ = restored.Process.Kill(); _ = restored.Wait() }()
	require.Eventually(t, func() bool {
		out, err := runCmd(ctx, etcdctlBin, "--endpoints="+clientURL, "get", "/snap/k", "--print-value-only")
		return err == nil && out == "v\n"
	}, 20*time.Second, 100*time.Millisecond, "the restored member serves the key")

	out, err = etcdctl(ctx, "defrag")
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(out, "Finished defragmenting"), out)
	out, err = etcdctl(ctx, "alarm", "list")
	require.NoError(t, err)
	require.Empty(t, out)
	_, err = etcdctl(ctx, "alarm", "disarm")
	require.NoError(t, err)

	out, err = etcdctl(ctx, "auth", "status")
	require.NoError(t, err)
	require.Contains(t, out, "Authentication Status: false")
	_, err = etcdctl(ctx, "auth", "enable")
	require.ErrorContains(t, err, "seedkv does not implement authentication")
	_, err = etcdctl(ctx, "user", "add", "root:pw")
	require.ErrorContains(t, err, "seedkv does not implement authentication")
}

// etcdctlOne runs etcdctl against the first endpoint only (snapshot save
// wants exactly one).
func etcdctlOne(ctx context.Context, args ...string) (string, error) {
	return runCmd(ctx, etcdctlBin, append([]string{"--endpoints=" + endpoints[0]}, args...)...)
}

// runCmd runs a command and returns its stdout and stderr together.
func runCmd(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w: %s", filepath.Base(bin), args, err, out)
	}
	return string(out), nil
}
