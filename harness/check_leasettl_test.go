package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
)

// TestKeepAliveTTL: a keep-alive's answer carries the lease and its
// granted TTL; another TTL, another lease or no body is named.
func TestKeepAliveTTL(t *testing.T) {
	ans := func(body api.ResponseBody) *api.Response {
		return &api.Response{Header: api.Header{Member: 2}, Body: body}
	}
	require.Empty(t, keepAliveTTLError(7, 3, ans(&api.LeaseKeepAliveResponse{ID: 7, TTL: 3})))
	require.Contains(t, keepAliveTTLError(7, 3, ans(&api.LeaseKeepAliveResponse{ID: 7, TTL: 4})),
		"keep-alive of lease 7 (granted TTL 3s) answered by replica 2 for lease 7 with TTL 4s")
	require.Contains(t, keepAliveTTLError(7, 3, ans(&api.LeaseKeepAliveResponse{ID: 8, TTL: 3})), "for lease 8")
	require.Contains(t, keepAliveTTLError(7, 3, ans(nil)), "answered OK with <nil>")

	r := &seedRun{}
	r.checkKeepAliveTTL(&lease{id: 7, ttl: 3}, ans(&api.LeaseKeepAliveResponse{ID: 7, TTL: 2}))
	require.Contains(t, r.failure, "with TTL 2s")
}
