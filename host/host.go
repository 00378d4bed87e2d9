// Package host is the seam between a seedkv process and the machine it runs
// on: clock and timers, network, disk and randomness. It holds interfaces and
// typed errors only. The simulator (package sim) implements them for every
// simulated node; an OS implementation can implement them for a real
// deployment without touching the store.
//
// Every callback a Host runs (a timer, a sync completion, a delivered
// message) runs on the process's single event loop, never concurrently with
// another callback of the same process. A process therefore needs no locks.
package host

import (
	"errors"
	"math/rand/v2"
	"time"
)

// NodeID names a process in a world: a replica or a client. Zero is never a
// valid ID.
type NodeID uint64

// Host is what a process may ask of its machine.
type Host interface {
	// ID is this process's own identity.
	ID() NodeID
	// Now is the current time: virtual in the simulator.
	Now() time.Time
	// After runs f on the process's event loop once d has passed. A crash
	// of the process cancels every timer it set.
	After(d time.Duration, f func()) Timer
	// Send hands payload to the network for delivery to the process to.
	// Delivery is not guaranteed: the message may be lost, delayed,
	// reordered or duplicated. The caller must not modify payload after
	// the call.
	Send(to NodeID, payload []byte)
	// FS is this process's disk. It survives a crash, minus what the
	// crash semantics of the disk take away.
	FS() FS
	// Rand is this process's own seeded randomness.
	Rand() *rand.Rand
}

// Timer is a pending call set by Host.After.
type Timer interface {
	// Stop cancels the timer. It reports whether the call was still
	// pending (false if it already ran or was stopped).
	Stop() bool
}

// Process is what the world drives: it receives the messages sent to it.
// Timers and I/O completions reach it through the callbacks it registered.
type Process interface {
	Receive(from NodeID, payload []byte)
}

// FS is a flat directory of files on one disk.
//
// Metadata operations (Create, Remove, Rename) are atomic. As on POSIX,
// they are durable once a SyncDir issued after them has completed (the
// directory's fsync); an implementation may make them durable sooner, and
// the OS implementation and, by default, the simulator do so at once. The
// simulator's beyond-model fault lose-dirent drops every entry change not
// covered by a completed SyncDir when it crashes a node, so code that must
// find a file after a crash calls SyncDir after creating or renaming it,
// as etcd does after cutting a WAL segment. File contents are durable only
// after a Sync of the file has completed.
type FS interface {
	// Create makes a new empty file. It fails with ErrExist if the name
	// is taken.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing. It fails with
	// ErrNotExist if there is no such file.
	Open(name string) (File, error)
	// Remove deletes a file. It fails with ErrNotExist if there is none.
	Remove(name string) error
	// Rename atomically renames a file, replacing any file named newName.
	Rename(oldName, newName string) error
	// List returns the names of all files, sorted.
	List() ([]string, error)
	// SyncDir makes every Create, Remove and Rename so far durable and
	// then calls done on the process's event loop, with nil or the error
	// that prevented it (an implementation may call done before SyncDir
	// returns).
	SyncDir(done func(error))
}

// File is an open file. Writes are volatile until a Sync completes.
type File interface {
	// Name is the file's name in its FS.
	Name() string
	// WriteAt writes p at off, extending the file if needed. It fails
	// with ErrNoSpace when the disk is full; a failed write changes
	// nothing.
	WriteAt(p []byte, off int64) (int, error)
	// ReadAt reads len(p) bytes at off. Reading past the end returns the
	// bytes there are and io.EOF.
	ReadAt(p []byte, off int64) (int, error)
	// Truncate sets the file's size.
	Truncate(size int64) error
	// Size is the current size, volatile bytes included.
	Size() int64
	// Sync makes every write so far durable and then calls done on the
	// process's event loop, with nil or the error that prevented it. A
	// Sync that fails with ErrIO leaves the writes it covered lost for
	// good: a later successful Sync does not make them durable.
	// Completion is asynchronous in the simulator; an implementation may
	// call done before Sync returns.
	Sync(done func(error))
	// Close releases the handle. Unsynced writes stay volatile.
	Close() error
}

// Typed errors every FS implementation returns (wrapped with detail).
var (
	// ErrNotExist: no file of that name.
	ErrNotExist = errors.New("file does not exist")
	// ErrExist: a file of that name already exists.
	ErrExist = errors.New("file already exists")
	// ErrNoSpace: the disk is full; the write did not happen.
	ErrNoSpace = errors.New("no space left on device")
	// ErrClosed: the file handle was closed, or its process crashed.
	ErrClosed = errors.New("file closed")
	// ErrBadOffset: a negative offset or size.
	ErrBadOffset = errors.New("bad offset")
	// ErrIO: the device failed an operation (EIO), for example an fsync
	// whose writeback failed. After a failed Sync the writes it covered
	// may never become durable, even if a later Sync of the file
	// succeeds (Linux drops the dirty pages: PostgreSQL's "fsyncgate"),
	// so a caller must treat it as fatal, as etcd does.
	ErrIO = errors.New("input/output error")
)
