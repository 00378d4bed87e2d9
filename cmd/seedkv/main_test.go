package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/server"
)

// Bad flags exit 2 with one line naming the problem.
func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"stray"},
		{"--listen-client-urls", "127.0.0.1:2379"},
		{"--listen-client-urls", "https://127.0.0.1:2379"},
		{"--listen-client-urls", "http://a:1,http://b:2"},
		{"--listen-peer-urls", "http://127.0.0.1"},
		{"--initial-cluster", "a=http://127.0.0.1:1", "--name", "b"},
		{"--initial-cluster", "a=http://127.0.0.1:1,a=http://127.0.0.1:2", "--name", "a"},
		{"--initial-cluster", "a", "--name", "a"},
		{"--initial-cluster-state", "bogus"},
		{"--initial-snapshot", "/no/such/file"},
		{"snapshot", "status"},
		{"snapshot", "restore", "x"},
		{"--initial-cluster-client-urls", "nonsense"},
		{"--heartbeat-interval", "100", "--election-timeout", "200"},
		{"cluster", "-members", "0"},
		{"cluster", "extra"},
		{"check", "-duration", "-1s"},
		{"check", "-bogus"},
	} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		require.Equal(t, 2, code, "args %q: %s", args, errb.String())
		require.True(t, strings.HasPrefix(lastLine(errb.String()), "seedkv: usage: "), "args %q: %q", args, errb.String())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Member IDs are derived from the peer URLs; the cluster ID depends on
// the token only (a member joining later computes the same).
func TestParseMember(t *testing.T) {
	var errb bytes.Buffer
	ic := "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002,c=http://127.0.0.1:7003"
	cfg, err := parseMember([]string{"--name", "b", "--initial-cluster", ic,
		"--listen-client-urls", "http://127.0.0.1:7102", "--listen-peer-urls", "http://127.0.0.1:7002"}, &errb)
	require.NoError(t, err)
	require.Equal(t, server.MemberIDFor("http://127.0.0.1:7002"), cfg.ID)
	require.Equal(t, "127.0.0.1:7003", cfg.Peers[server.MemberIDFor("http://127.0.0.1:7003")])
	require.Len(t, cfg.Peers, 3)
	require.False(t, cfg.Join)
	require.Equal(t, "b.seedkv", cfg.DataDir)
	require.Equal(t, "127.0.0.1:7102", cfg.ListenClient)
	require.Equal(t, []string{"http://127.0.0.1:7102"}, cfg.Members[1].ClientURLs)
	require.Empty(t, cfg.Members[0].ClientURLs)
	withURLs, err := parseMember([]string{"--name", "b", "--initial-cluster", ic,
		"--initial-cluster-client-urls", "a=http://127.0.0.1:7101"}, &errb)
	require.NoError(t, err)
	require.Equal(t, []string{"http://127.0.0.1:7101"}, withURLs.Members[0].ClientURLs)
	other, err := parseMember([]string{"--name", "b", "--initial-cluster", ic, "--initial-cluster-token", "x"}, &errb)
	require.NoError(t, err)
	require.NotEqual(t, cfg.ClusterID, other.ClusterID)
	joiner, err := parseMember([]string{"--name", "d", "--initial-cluster", ic + ",d=http://127.0.0.1:7004",
		"--initial-cluster-state", "existing"}, &errb)
	require.NoError(t, err)
	require.True(t, joiner.Join)
	require.Equal(t, cfg.ClusterID, joiner.ClusterID)
	require.Equal(t, server.MemberIDFor("http://127.0.0.1:7004"), joiner.ID)
}

// etcd's environment variables (what etcdctl member add prints) stand in
// for flags not given; a flag given wins.
func TestParseMemberEnv(t *testing.T) {
	t.Setenv("ETCD_NAME", "d")
	t.Setenv("ETCD_INITIAL_CLUSTER", "a=http://127.0.0.1:7001,d=http://127.0.0.1:7004")
	t.Setenv("ETCD_INITIAL_CLUSTER_STATE", "existing")
	var errb bytes.Buffer
	cfg, err := parseMember([]string{"--data-dir", "x"}, &errb)
	require.NoError(t, err)
	require.True(t, cfg.Join)
	require.Equal(t, server.MemberIDFor("http://127.0.0.1:7004"), cfg.ID)
	require.Equal(t, "x", cfg.DataDir)
	cfg, err = parseMember([]string{"--name", "a"}, &errb)
	require.NoError(t, err)
	require.Equal(t, server.MemberIDFor("http://127.0.0.1:7001"), cfg.ID)
	t.Setenv("ETCD_HEARTBEAT_INTERVAL", "soon")
	_, err = parseMember(nil, &errb)
	require.ErrorIs(t, err, errUsage)
}

// FuzzParseArgs: any arguments give a config or a usage error, never a
// panic.
func FuzzParseArgs(f *testing.F) {
	f.Add("--name a --initial-cluster a=http://127.0.0.1:1")
	f.Add("--listen-client-urls http://[::1]:2379")
	f.Fuzz(func(t *testing.T, s string) {
		var errb bytes.Buffer
		_, _ = parseMember(strings.Fields(s), &errb)
	})
}
