// Package wal is seedkv's write-ahead log: where a replica's Raft state
// (metadata, hard state, log entries, snapshot markers) survives crashes.
//
// # Layout
//
// A WAL is a sequence of segment files in a flat host.FS, named
// "%016x-%016x.wal" after their sequence number and the index of the first
// entry they were started for. Files with other names (snapshots, for
// instance) are ignored. Every segment begins with a Metadata record and,
// once they exist, copies of the hard state and the latest snapshot marker,
// so segments wholly covered by a snapshot can be removed (ReleaseTo)
// without losing state. A new segment is started when the current one
// reaches Options.SegmentSize.
//
// With Options.Preallocate the active segment is zero-filled ahead of the
// writes, so most fdatasyncs need not change the file's size.
//
// Each record is framed as crc(4) | length(4) | type(1) | payload, where crc
// is the CRC-32C (Castagnoli) of length, type and payload; see record.go.
// Type zero is invalid, so zero-filled bytes never decode as a record.
//
// # Writing and syncing
//
// Save and SaveSnapshot only encode into memory. Sync writes everything
// saved so far with one write and asks the disk to make it durable; its
// callback runs when that is done, so a completed Sync covers every record
// saved before it. Saves may continue while a sync is in flight (group
// commit); a Sync requested meanwhile waits for the one in flight and all
// such waiting Syncs share the next write and fsync. Keeping at most one
// unsynced write outstanding is deliberate: after a crash the only bytes
// that can be damaged are those of that one write at the very end of the
// last segment, which is what lets recovery tell a torn tail from
// corruption. A segment is only sealed (a new one started) once everything
// in it is durable.
//
// # Recovery
//
// Open reads every segment. Zero bytes after the last record of a segment
// are its end (preallocated space, or a write whose data never reached the
// disk); nothing is reported. A record that does not decode (short, bad
// checksum, impossible length) at the very end of the last segment, with no
// valid record anywhere after it, is treated as a torn write: the tail is
// cut away (File.Truncate) and reported in Replay.Repaired. The same damage
// followed by a valid record, or anywhere in a sealed segment, cannot be a
// torn write and fails Open with a *CorruptionError naming the file and
// offset (errors.Is(err, ErrCorrupt)). So do a missing segment, a segment
// that does not start where the log before it ended, entries with a gap,
// disagreeing metadata, a damaged first record of the only segment, and
// released segments whose covering snapshot marker did not survive.
//
// Scanning for a valid record after damage costs up to a CRC per byte of
// the tail; it only runs when a tail is damaged.
//
// What a damaged last record means. The simulated disk (and this package's
// own discipline above) only ever tears the last unsynced write, so a bad
// tail is normally an append whose sync never completed: nothing was
// acknowledged on it and dropping it is safe. But bit rot in the last record
// of a write that was synced, and acknowledged, looks exactly the same
// locally: the WAL cannot tell the two apart. Replay.Repaired therefore
// means "this replica may have lost acknowledged state" (a vote, an
// appended entry it reported as durable). A caller that cannot rule that
// out must not vote or acknowledge on the replayed state until it has
// caught up from its peers; the simplest safe policy is to treat a repaired
// replica like a new, empty learner of the log it reports.
//
// # Errors
//
// Bad input always gets a typed error: *CorruptionError (ErrCorrupt) for
// damaged data, ErrRecordTooLarge for an oversized append (nothing is
// written), ErrBadEntry for an append that breaks the log's shape,
// ErrNoWAL when there is nothing to open. A failed sync makes the WAL
// unusable (every later call returns that error): after a failed fsync the
// state of the file is unknown. A write refused with host.ErrNoSpace is the
// exception: it changed nothing, the records stay buffered and the next Sync
// tries again.
//
// The package is deterministic: no goroutines, no clocks, no randomness;
// callbacks run on the caller's event loop.
package wal
