package compat

// etcdctl's output against etcd and against seedkv, after the same
// commands: the JSON of `get -w json`, `endpoint status`, `endpoint
// hashkv` and `lease list` must have the same shape (the same fields,
// recursively) and the same values where the two must agree; `watch`
// prints the same lines.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// etcdctlAt runs etcdctl against one endpoint and returns its stdout.
func etcdctlAt(t *testing.T, ep string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin, append([]string{"--endpoints=" + ep}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "etcdctl %v: %s", args, stderr.String())
	return string(out)
}

// shape renders the structure of a JSON value: object keys (sorted) with
// the shapes of their values, list lengths, value kinds.
func shape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + shape(x[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, len(x))
		for i := range x {
			parts[i] = shape(x[i])
		}
		return "[" + strings.Join(parts, ",") + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// clear drops the named fields anywhere in a JSON value.
func clear(v any, fields ...string) any {
	switch x := v.(type) {
	case map[string]any:
		for _, f := range fields {
			delete(x, f)
		}
		for k := range x {
			x[k] = clear(x[k], fields...)
		}
	case []any:
		for i := range x {
			x[i] = clear(x[i], fields...)
		}
	}
	return v
}

func parseJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v), "%s", s)
	return v
}

// TestGRPCDiffEtcdctl compares etcdctl's output against etcd and a
// one-member seedkv.
func TestGRPCDiffEtcdctl(t *testing.T) {
	eEP, sEPs := startEmbedEtcd(t), startSeedkv(t, 1)
	sEP := sEPs[0]
	both := func(args ...string) (string, string) {
		return etcdctlAt(t, eEP, args...), etcdctlAt(t, sEP, args...)
	}
	// The same writes: keys, a lease with a chosen ID holding one.
	for _, args := range [][]string{
		{"put", "/ctl/a", "1"}, {"put", "/ctl/b", "2"}, {"put", "/ctl/a", "3"},
		{"lease", "grant", "600"}, // auto-assigned IDs: listed, not compared
		{"del", "/ctl/b"}, {"put", "/ctl/c", "4"},
	} {
		e, s := both(args...)
		if args[0] == "lease" {
			continue
		}
		require.Equal(t, e, s, "etcdctl %v", args)
	}

	// get -w json: the whole answer but cluster and member IDs and terms.
	e, s := both("get", "/ctl/", "--prefix", "-w", "json")
	ids := []string{"cluster_id", "member_id", "raft_term"}
	require.Equal(t, clear(parseJSON(t, e), ids...), clear(parseJSON(t, s), ids...), "get -w json")
	e, s = both("get", "/ctl/", "--prefix", "--rev=2", "-w", "fields")
	require.Equal(t, strings.Count(e, "\n"), strings.Count(s, "\n"), "get -w fields: %s\n%s", e, s)

	// endpoint status: the same fields; the same revision, versions,
	// leadership and errors.
	e, s = both("endpoint", "status", "-w", "json")
	ej, sj := parseJSON(t, e), parseJSON(t, s)
	require.Equal(t, shape(ej), shape(sj), "endpoint status -w json")
	pick := func(v any) map[string]any {
		st := v.([]any)[0].(map[string]any)["Status"].(map[string]any)
		h := st["header"].(map[string]any)
		return map[string]any{"revision": h["revision"], "version": st["version"],
			"storageVersion": st["storageVersion"], "leads": st["leader"] == h["member_id"],
			"errors": st["errors"], "dbSizeQuota": st["dbSizeQuota"]}
	}
	require.Equal(t, pick(ej), pick(sj), "endpoint status values")

	// endpoint hashkv: the same hash, revisions; after a compaction too.
	for _, args := range [][]string{{"endpoint", "hashkv", "-w", "json"}, {"compact", "4"},
		{"endpoint", "hashkv", "-w", "json"}, {"endpoint", "hashkv", "--rev=4", "-w", "json"}} {
		e, s = both(args...)
		if args[0] == "compact" {
			require.Equal(t, e, s, "compact")
			continue
		}
		ej, sj := parseJSON(t, e), parseJSON(t, s)
		require.Equal(t, shape(ej), shape(sj), "%v", args)
		hk := func(v any) any { return clear(v.([]any)[0].(map[string]any)["HashKV"], ids...) }
		require.Equal(t, hk(ej), hk(sj), "%v", args)
	}

	// lease list: the same shape (IDs are assigned differently).
	e, s = both("lease", "list", "-w", "json")
	require.Equal(t, shape(clear(parseJSON(t, e), ids...)), shape(clear(parseJSON(t, s), ids...)), "lease list -w json")
	e, s = both("lease", "list")
	require.Equal(t, strings.Count(e, "\n"), strings.Count(s, "\n"), "lease list: %s\n%s", e, s)

	// watch: the same lines for the same events (from a past revision).
	watch := func(ep string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, etcdctlBin, "--endpoints="+ep, "watch", "/ctl/", "--prefix", "--rev=4", "--prev-kv")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		var lines []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) == 8 { // 3 events: put, delete (with prev), put
				break
			}
		}
		return lines
	}
	require.Equal(t, watch(eEP), watch(sEP), "watch --rev=4 --prev-kv")
}
