package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/seedkv/seedkv/host"
)

// OSDir returns a host.FS over the real directory path, creating it if
// needed. Files are real files, File.Sync is a real fsync and calls done
// before it returns. Create, Remove and Rename fsync the directory, so they
// are durable when they return, as host.FS promises.
//
// Names must be plain file names (no path separators); subdirectories are
// not listed.
func OSDir(path string) (host.FS, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	return &osFS{dir: path}, nil
}

type osFS struct{ dir string }

type osFile struct {
	name string
	f    *os.File
}

func (o *osFS) path(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, os.PathSeparator) {
		return "", fmt.Errorf("bad file name %q: %w", name, host.ErrNotExist)
	}
	return filepath.Join(o.dir, name), nil
}

// mapErr converts OS errors to host's typed errors, keeping the detail.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", host.ErrNotExist, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %v", host.ErrExist, err)
	case errors.Is(err, fs.ErrClosed):
		return fmt.Errorf("%w: %v", host.ErrClosed, err)
	case isNoSpace(err):
		return fmt.Errorf("%w: %v", host.ErrNoSpace, err)
	}
	return err
}

// syncDir makes the directory's entries durable.
func (o *osFS) syncDir() error {
	d, err := os.Open(o.dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *osFS) Create(name string) (host.File, error) {
	p, err := o.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, mapErr(err)
	}
	if err := o.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{name: name, f: f}, nil
}

func (o *osFS) Open(name string) (host.File, error) {
	p, err := o.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, mapErr(err)
	}
	return &osFile{name: name, f: f}, nil
}

func (o *osFS) Remove(name string) error {
	p, err := o.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return mapErr(err)
	}
	return o.syncDir()
}

func (o *osFS) Rename(oldName, newName string) error {
	po, err := o.path(oldName)
	if err != nil {
		return err
	}
	pn, err := o.path(newName)
	if err != nil {
		return err
	}
	if err := os.Rename(po, pn); err != nil {
		return mapErr(err)
	}
	return o.syncDir()
}

// SyncDir fsyncs the directory. Every metadata operation of osFS syncs it
// already, so this is for callers that follow the host.FS contract.
func (o *osFS) SyncDir(done func(error)) { done(o.syncDir()) }

func (o *osFS) List() ([]string, error) {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, mapErr(err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func (f *osFile) Name() string { return f.name }

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, host.ErrBadOffset
	}
	n, err := f.f.WriteAt(p, off)
	return n, mapErr(err)
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, host.ErrBadOffset
	}
	n, err := f.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = mapErr(err)
	}
	return n, err
}

func (f *osFile) Truncate(size int64) error {
	if size < 0 {
		return host.ErrBadOffset
	}
	return mapErr(f.f.Truncate(size))
}

// Size returns the file's size, or -1 if it cannot be determined.
func (f *osFile) Size() int64 {
	st, err := f.f.Stat()
	if err != nil {
		return -1
	}
	return st.Size()
}

// Sync is fdatasync on Linux (fsync elsewhere); done runs before Sync
// returns. A failed fsync is host.ErrIO (see syncErr).
func (f *osFile) Sync(done func(error)) { done(syncErr(datasync(f.f))) }

// syncErr maps the error of an fsync: host.ErrIO whatever the errno (EIO,
// and also ENOSPC or EDQUOT from a delayed allocation), since the kernel
// may have dropped the pages whose writeback failed and a retried fsync
// would succeed without them (fsyncgate): the caller must treat it as
// fatal, never as a full disk to wait out. Only a closed handle keeps its
// own error.
func syncErr(err error) error {
	if err == nil || errors.Is(err, fs.ErrClosed) {
		return mapErr(err)
	}
	return fmt.Errorf("%w: %v", host.ErrIO, err)
}

func (f *osFile) Close() error { return mapErr(f.f.Close()) }
