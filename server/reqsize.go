package server

import (
	"encoding/binary"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// Request size limits, etcd's defaults: a write whose raft entry would
// exceed MaxRequestBytes is refused with ErrRequestTooLarge, and the gRPC
// server refuses to receive a message above MaxRecvBytes (etcd's
// MaxRequestBytes plus 512 KiB of gRPC overhead) with ResourceExhausted.
const (
	MaxRequestBytes = 3 << 19
	MaxRecvBytes    = MaxRequestBytes + 512<<10
)

// raftEntryOverhead approximates what etcd's InternalRaftRequest adds
// around a write request: the request header with its 64-bit ID (12
// bytes) and the request's own field tag and length.
func raftEntryOverhead(size int) int {
	return 12 + 2 + len(binary.AppendUvarint(nil, uint64(size)))
}

// checkRequestSize refuses a write etcd would find too large for its log.
func checkRequestSize(m proto.Message) error {
	n := proto.Size(m)
	if n+raftEntryOverhead(n) > MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}
