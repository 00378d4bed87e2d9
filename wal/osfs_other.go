//go:build !linux

package wal

import (
	"errors"
	"os"
	"syscall"
)

// datasync is a full fsync where fdatasync is not available.
func datasync(f *os.File) error { return f.Sync() }

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
