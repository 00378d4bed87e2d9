package server

import (
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/snap"
	"github.com/seedkv/seedkv/wal"
)

// errReadOnly is what the read-only view refuses writes with.
var errReadOnly = errors.New("read-only check")

// CheckDataDir reads the WAL and the snapshot it names without changing
// anything and reports damage that a crash cannot explain (a bad record
// before valid ones, a missing segment, a damaged snapshot), naming the
// file. A torn final record is not reported: the replica repairs it at
// start, as it does after any crash.
func CheckDataDir(fs host.FS) error {
	ro := readOnlyFS{fs}
	_, rep, err := wal.Open(ro, wal.Options{})
	switch {
	case errors.Is(err, wal.ErrNoWAL), errors.Is(err, errReadOnly):
		return nil // empty, or a torn tail to repair
	case err != nil:
		return err
	}
	if m := rep.Snapshot; m != nil {
		if _, err := snap.Load(ro, m.Index, m.Term); err != nil {
			return fmt.Errorf("snapshot %s named by the WAL: %w", snap.Name(m.Index, m.Term), err)
		}
	}
	return nil
}

// readOnlyFS is a view of an FS that refuses every change.
type readOnlyFS struct{ fs host.FS }

func (r readOnlyFS) Create(string) (host.File, error) { return nil, errReadOnly }
func (r readOnlyFS) Remove(string) error              { return errReadOnly }
func (r readOnlyFS) Rename(string, string) error      { return errReadOnly }
func (r readOnlyFS) List() ([]string, error)          { return r.fs.List() }
func (r readOnlyFS) SyncDir(done func(error))         { done(nil) } // nothing to make durable
func (r readOnlyFS) Open(name string) (host.File, error) {
	f, err := r.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

type readOnlyFile struct{ host.File }

func (readOnlyFile) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }
func (readOnlyFile) Truncate(int64) error               { return errReadOnly }
func (readOnlyFile) Sync(done func(error))              { done(nil) }
