package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Snapshot file format (what Maintenance.Snapshot streams and etcdctl
// snapshot save writes):
//
//	magic "SEEDKVSNAP1\n" | uint64 little-endian n | n bytes of mvcc
//	snapshot (mvcc.Store.Snapshot) | zero padding to a multiple of 512 |
//	SHA-256 of everything before it
//
// The padding and the trailing SHA-256 are etcd's convention: etcdctl
// refuses a snapshot whose size is not a multiple of 512 plus 32.
const (
	snapFileMagic = "SEEDKVSNAP1\n"
	snapFileAlign = 512
)

// ErrBadSnapshotFile: bytes that are not a seedkv snapshot file, or one
// whose checksum does not match.
var ErrBadSnapshotFile = errors.New("not a seedkv snapshot file")

// EncodeSnapshotFile wraps an mvcc snapshot into a snapshot file.
func EncodeSnapshotFile(store []byte) []byte {
	n := len(snapFileMagic) + 8 + len(store)
	padded := (n + snapFileAlign - 1) / snapFileAlign * snapFileAlign
	b := make([]byte, 0, padded+sha256.Size)
	b = append(b, snapFileMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(store)))
	b = append(b, store...)
	b = append(b, make([]byte, padded-n)...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// DecodeSnapshotFile checks a snapshot file and returns the mvcc snapshot
// inside (mvcc.Restore checks that in turn).
func DecodeSnapshotFile(b []byte) ([]byte, error) {
	if len(b)%snapFileAlign != sha256.Size || len(b) < snapFileAlign+sha256.Size {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d plus %d", ErrBadSnapshotFile, len(b), snapFileAlign, sha256.Size)
	}
	body := b[:len(b)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return nil, fmt.Errorf("%w: SHA-256 mismatch", ErrBadSnapshotFile)
	}
	if !bytes.HasPrefix(body, []byte(snapFileMagic)) {
		return nil, fmt.Errorf("%w: no %q header (an etcd bbolt snapshot?)", ErrBadSnapshotFile, snapFileMagic[:len(snapFileMagic)-1])
	}
	off := len(snapFileMagic)
	n := binary.LittleEndian.Uint64(body[off:])
	off += 8
	if n > uint64(len(body)-off) {
		return nil, fmt.Errorf("%w: length %d past the end", ErrBadSnapshotFile, n)
	}
	for _, c := range body[off+int(n):] {
		if c != 0 {
			return nil, fmt.Errorf("%w: padding not zero", ErrBadSnapshotFile)
		}
	}
	return body[off : off+int(n)], nil
}
