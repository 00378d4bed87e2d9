package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
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
		{"--initial-cluster-state", "existing"},
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

// Member IDs follow the order of --initial-cluster; the cluster ID depends
// on the token and the cluster.
func TestParseMember(t *testing.T) {
	var errb bytes.Buffer
	ic := "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002,c=http://127.0.0.1:7003"
	cfg, err := parseMember([]string{"--name", "b", "--initial-cluster", ic,
		"--listen-client-urls", "http://127.0.0.1:7102", "--listen-peer-urls", "http://127.0.0.1:7002"}, &errb)
	require.NoError(t, err)
	require.Equal(t, host.NodeID(2), cfg.ID)
	require.Equal(t, "127.0.0.1:7003", cfg.Peers[3])
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
