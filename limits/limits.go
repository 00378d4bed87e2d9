// Package limits holds seedkv's size limits that must agree across
// packages, in one place, with the relations between them. The packages
// that enforce a limit refer to it here (or, where a package keeps its
// own constant, limits_test.go asserts the two are equal), and
// limits_test.go asserts every relation below, so changing one limit
// without the others fails a test.
//
// The chain a byte of user data goes through:
//
//	client request (api.MaxMessageSize) -> raft entry (raft.MaxEntryDataSize)
//	-> WAL record (wal.MaxRecordSize) -> mvcc store (QuotaBytes)
//	-> snapshot (MaxSnapshotBytes, one snap file)
//	-> chunks of SnapshotChunkBytes, each one peer message (MaxMessageBytes)
//
// A store can grow to its quota; its snapshot must then fit a snapshot file,
// and a lagging follower must still be able to receive it: a snapshot is
// never sent as one message, but as a stream of chunks (node's snapshot
// stream), so no message grows with the store.
//
// This package imports nothing: every package may import it.
package limits

const (
	// QuotaBytes is the default size limit of a store (etcd's default,
	// 2 GiB), in mvcc's Store.Size units (keys, values and per-revision
	// bookkeeping).
	QuotaBytes = 2 << 30
	// SnapshotOverheadPercent bounds how much larger a replica's snapshot
	// (mvcc's snapshot plus the node's sessions and leases) is than the
	// store's Size, in percent; measured in limits_test.go.
	SnapshotOverheadPercent = 25
	// MaxSessionBytes bounds the node's client session table in a snapshot.
	MaxSessionBytes = 64 << 20
	// MaxSnapshotBytes bounds a snapshot's data: a store at its quota,
	// with overhead and sessions, must fit (snap.MaxDataSize).
	MaxSnapshotBytes = QuotaBytes + QuotaBytes*SnapshotOverheadPercent/100 + MaxSessionBytes
	// MaxMessageBytes bounds one encoded raft message (raft.MaxMessageSize)
	// and one frame of the OS transport (oshost.MaxFrameSize).
	MaxMessageBytes = 256 << 20
	// SnapshotChunkBytes is the default chunk of a snapshot stream: a
	// snapshot larger than this is sent as chunks of this size.
	SnapshotChunkBytes = 1 << 20
	// ChunkOverheadBytes bounds a chunk message's bytes beyond its data
	// and the raft header it carries (envelope, kind, stream name, offset).
	ChunkOverheadBytes = 2 + 6*10 + 4
)
