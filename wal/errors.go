package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors of the package.
var (
	// ErrCorrupt is matched by every *CorruptionError.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrRecordTooLarge: an appended record's payload exceeds
	// MaxRecordSize. Nothing of that call was saved.
	ErrRecordTooLarge = errors.New("wal: record too large")
	// ErrBadEntry: appended entries would leave a gap in the log, are not
	// consecutive, or rewrite entries covered by the snapshot.
	ErrBadEntry = errors.New("wal: bad entry")
	// ErrNoWAL: there is no initialised WAL in the file system.
	ErrNoWAL = errors.New("wal: no wal")
	// ErrExist: Create found an initialised WAL.
	ErrExist = errors.New("wal: wal already exists")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("wal: closed")
)

// CorruptionError reports damaged data that cannot be a torn write: a bad
// record followed by valid ones, damage in a sealed segment, a missing
// segment, or records that contradict each other.
type CorruptionError struct {
	// File is the segment's name.
	File string
	// Offset is the byte offset of the bad record in File.
	Offset int64
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// RepairReport describes a torn tail cut away by Open.
type RepairReport struct {
	// File is the segment that was cut (always the last one).
	File string
	// Offset is where it was cut: the end of its last valid record.
	Offset int64
	// Dropped is how many bytes were removed.
	Dropped int64
	// Reason says why the tail did not decode.
	Reason string
	// RemovedFile is set when the cut left the last segment without a
	// single record and it was removed.
	RemovedFile bool
}
