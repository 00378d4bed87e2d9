package wal

import (
	"errors"
	"os"
	"syscall"
)

// datasync flushes the file's data and the metadata needed to read it
// back (its size), like etcd's fileutil.Fdatasync.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
