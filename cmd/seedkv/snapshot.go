package main

import (
	"fmt"
	"io"
	"os"

	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/server"
)

// runSnapshot runs `seedkv snapshot status FILE`: it checks a snapshot
// file written by `etcdctl snapshot save` against a seedkv member (its
// SHA-256, then the store inside) and prints one line about it.
func runSnapshot(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "status" {
		return usageErr("snapshot: usage: seedkv snapshot status FILE")
	}
	st, err := loadSnapshot(args[1])
	if err != nil {
		return err
	}
	res, err := st.Range([]byte{0}, []byte{0}, mvcc.RangeOptions{CountOnly: true})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", args[1], err)
	}
	fmt.Fprintf(stdout, "revision=%d compact_revision=%d keys=%d leases=%d size=%d\n",
		st.CurrentRevision(), st.CompactRevision(), res.Count, len(st.Leases()), st.Size())
	return nil
}

// loadSnapshot reads and restores a snapshot file.
func loadSnapshot(path string) (*mvcc.Store, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data, err := server.DecodeSnapshotFile(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	st, err := mvcc.Restore(data, mvcc.Config{})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return st, nil
}
