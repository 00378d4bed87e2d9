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
	"regexp"
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
	etcdctlMore(t, eEP, sEP)
}

// etcdctlRun runs etcdctl against one endpoint with stdin and returns
// what it printed (stdout, then stderr) and its exit status, with the
// endpoint and timings replaced by placeholders.
func etcdctlRun(t *testing.T, ep, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin, append([]string{"--endpoints=" + ep}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "etcdctl %v", args)
	}
	// clientv3's log lines: what was retried, and the error, are kept.
	errLines := strings.SplitAfter(stderr.String(), "\n")
	for i, l := range errLines {
		var m map[string]any
		if strings.HasPrefix(l, `{"level":`) && json.Unmarshal([]byte(l), &m) == nil {
			errLines[i] = fmt.Sprintf("log %v %v %v attempt=%v error=%v\n", m["level"], m["msg"], m["method"], m["attempt"], m["error"])
		}
	}
	out := fmt.Sprintf("stdout:\n%sstderr:\n%sexit %d", stdout.String(), strings.Join(errLines, ""), code)
	out = strings.ReplaceAll(out, strings.TrimPrefix(ep, "http://"), "<ep>")
	out = idsRE.ReplaceAllString(out, `"$1" : <id>`)
	return tookRE.ReplaceAllString(out, "took <time>")
}

var (
	tookRE = regexp.MustCompile(`took (:? )?[0-9.]+[µnm]?s`)
	idsRE  = regexp.MustCompile(`"(ClusterID|MemberID|RaftTerm)" : [0-9]+`)
)

// etcdctlMore compares etcdctl's printed output, errors and exit status
// for more of its commands: put and get with their options, txn from
// stdin, errors clientv3 maps from gRPC (compacted and future revisions,
// unknown leases, empty keys), compaction, alarm list, defrag, auth status
// and, by shape, member list and endpoint health.
func etcdctlMore(t *testing.T, eEP, sEP string) {
	ids := []string{"cluster_id", "member_id", "raft_term"}
	type cmd struct {
		stdin string
		args  []string
		json  bool // compare the JSON with IDs and terms cleared
	}
	for _, c := range []cmd{
		{args: []string{"put", "/ctl/d", "5", "--prev-kv"}},
		{args: []string{"put", "/ctl/a", "9", "--prev-kv"}},
		{args: []string{"get", "/ctl/", "--prefix", "--keys-only"}},
		{args: []string{"get", "/ctl/", "--prefix", "--print-value-only"}},
		{args: []string{"get", "/ctl/", "--prefix", "--count-only", "-w", "fields"}},
		{args: []string{"get", "/ctl/", "--prefix", "--limit=1", "-w", "json"}, json: true},
		{args: []string{"get", "/ctl/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND"}},
		{args: []string{"get", "/ctl/", "--prefix", "--sort-by=VALUE", "--order=ASCEND", "--keys-only"}},
		{args: []string{"get", "/ctl/b", "--from-key", "-w", "fields"}},
		{args: []string{"get", "", "--from-key", "--keys-only"}},
		{args: []string{"get", "/ctl/a", "--rev=2"}},
		{args: []string{"get", "/ctl/a", "--rev=100"}},
		{args: []string{"get", "/ctl/", "--prefix", "--consistency=s", "--rev=5"}},
		{args: []string{"put", "", "v"}},
		{stdin: "mod(\"/ctl/a\") > \"0\"\n\nput /ctl/t yes\nget /ctl/a\n\nput /ctl/t no\n\n", args: []string{"txn"}},
		{stdin: "value(\"/ctl/t\") = \"no\"\n\nput /ctl/t yes\n\ndel /ctl/t\n\n", args: []string{"txn", "-w", "json"}, json: true},
		{stdin: "\nput /ctl/u 1\nput /ctl/u 2\n\n\n", args: []string{"txn"}},
		{args: []string{"lease", "revoke", "1234"}},
		{args: []string{"lease", "timetolive", "1234"}},
		{args: []string{"lease", "keep-alive", "--once", "1234"}},
		{args: []string{"put", "/ctl/l", "v", "--lease=1234"}},
		{args: []string{"compaction", "7", "--physical"}},
		{args: []string{"compaction", "3"}},
		{args: []string{"compaction", "1000"}},
		{args: []string{"alarm", "list"}},
		{args: []string{"alarm", "disarm"}},
		{args: []string{"defrag"}},
		{args: []string{"auth", "status"}},
		{args: []string{"auth", "status", "-w", "json"}, json: true},
		{args: []string{"del", "/ctl/", "--prefix", "--prev-kv"}},
		{args: []string{"del", "/ctl/none"}},
		{args: []string{"endpoint", "hashkv", "--rev=3"}},
	} {
		e, s := etcdctlRun(t, eEP, c.stdin, c.args...), etcdctlRun(t, sEP, c.stdin, c.args...)
		if c.json {
			e, s = jsonCleared(t, e, ids), jsonCleared(t, s, ids)
		}
		require.Equal(t, e, s, "etcdctl %q (stdin %q)", c.args, c.stdin)
	}
	// Shapes only: IDs, names, URLs and timings differ.
	for _, args := range [][]string{{"member", "list", "-w", "json"}, {"endpoint", "health", "-w", "json"}} {
		e, s := etcdctlAt(t, eEP, args...), etcdctlAt(t, sEP, args...)
		require.Equal(t, shape(clear(parseJSON(t, e), ids...)), shape(clear(parseJSON(t, s), ids...)), "etcdctl %v:\n%s\n%s", args, e, s)
	}
	e, s := etcdctlAt(t, eEP, "member", "list"), etcdctlAt(t, sEP, "member", "list")
	require.Equal(t, strings.Count(e, ","), strings.Count(s, ","), "member list:\n%s\n%s", e, s)
}

// jsonCleared parses the stdout of an etcdctlRun answer as JSON and
// renders it again with the fields named cleared.
func jsonCleared(t *testing.T, out string, fields []string) string {
	i, j := strings.Index(out, "stdout:\n"), strings.Index(out, "stderr:\n")
	body := strings.TrimSpace(out[i+len("stdout:\n") : j])
	if body == "" {
		return out
	}
	b, err := json.Marshal(clear(parseJSON(t, body), fields...))
	require.NoError(t, err)
	return string(b) + "\n" + out[j:]
}
