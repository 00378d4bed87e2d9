package limits_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/limits"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/oshost"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/snap"
	"github.com/seedkv/seedkv/wal"
)

// Each package's own constant is the one here.
func TestPackagesUseTheLimits(t *testing.T) {
	require.EqualValues(t, limits.QuotaBytes, mvcc.DefaultQuotaBytes, "mvcc's default quota")
	require.EqualValues(t, limits.MaxSnapshotBytes, snap.MaxDataSize, "snapshot file payload")
	require.EqualValues(t, limits.MaxMessageBytes, raft.MaxMessageSize, "raft message")
	require.EqualValues(t, limits.MaxMessageBytes, oshost.MaxFrameSize, "OS transport frame")
}

// How the limits relate, along the path of a byte of user data.
func TestLimitsRelate(t *testing.T) {
	// A client request fits one raft entry and one WAL record, with room
	// for the node's command header.
	const commandHeader = 1 << 10
	require.LessOrEqual(t, api.MaxMessageSize+commandHeader, raft.MaxEntryDataSize)
	require.LessOrEqual(t, api.MaxMessageSize+commandHeader, wal.MaxRecordSize)
	// What the API accepts, mvcc stores.
	require.LessOrEqual(t, api.MaxKeySize, mvcc.MaxKeyBytes)
	require.LessOrEqual(t, api.MaxValueSize, mvcc.MaxValueBytes)
	// A store at its quota fits one snapshot file ...
	require.GreaterOrEqual(t, int64(limits.MaxSnapshotBytes),
		int64(limits.QuotaBytes)*(100+limits.SnapshotOverheadPercent)/100+limits.MaxSessionBytes)
	// ... which is far larger than a message: it must travel in chunks,
	// and a chunk with its header fits one message.
	require.Greater(t, int64(limits.MaxSnapshotBytes), int64(limits.MaxMessageBytes))
	require.LessOrEqual(t, limits.SnapshotChunkBytes+limits.ChunkOverheadBytes+raft.MaxContextSize, limits.MaxMessageBytes)
	// Raft's appends leave room in a message for their framing.
	require.LessOrEqual(t, raft.DefaultMaxSizePerMsg, limits.MaxMessageBytes/2)
}

// A snapshot of a store filled to its quota is at most
// SnapshotOverheadPercent larger than the quota, for stores of small and
// large values, and of many revisions of few keys (scaled down: the
// encoding's overhead is per key and per revision, not per byte).
func TestSnapshotOverheadAtQuota(t *testing.T) {
	const quota = 4 << 20
	for _, tc := range []struct {
		name  string
		keys  int
		value int
	}{
		{"small values, many keys", 1 << 30, 16},
		{"etcd-like objects", 1 << 30, 1024},
		{"large values", 1 << 30, 256 << 10},
		{"few keys, many revisions", 8, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mvcc.New(mvcc.Config{QuotaBytes: quota})
			val := make([]byte, tc.value)
			for i := 0; ; i++ {
				key := fmt.Appendf(nil, "/registry/pods/default/pod-%d", i%tc.keys)
				if _, _, err := s.Put(key, val, 0, false); err != nil {
					require.True(t, errors.Is(err, mvcc.ErrNoSpace), "%v", err)
					break
				}
			}
			got := len(s.Snapshot())
			t.Logf("size %d, snapshot %d (%.1f%%)", s.Size(), got, 100*float64(got)/float64(quota))
			require.LessOrEqual(t, int64(got), int64(quota)*(100+limits.SnapshotOverheadPercent)/100)
		})
	}
}
