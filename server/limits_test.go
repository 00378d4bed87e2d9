package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/oshost"
)

// The largest answer a member sends fits one frame of the OS transport,
// and the largest key etcd's gRPC server receives is one seedkv takes.
func TestResponseAndKeyLimits(t *testing.T) {
	require.LessOrEqual(t, api.MaxResponseSize+1<<10, oshost.MaxFrameSize)
	require.GreaterOrEqual(t, api.MaxKeySize, MaxRecvBytes)
}
