package wal

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the log (see package probe), hit into the set of the
// file system the WAL lives on (probe.Of).
var (
	probeTornTail     = probe.New("wal/torn-tail-repaired", "wal: Open cut a torn tail off the last segment")
	probeSegmentRoll  = probe.New("wal/segment-rolled", "wal: a new segment was cut")
	probeReleased     = probe.New("wal/segments-released", "wal: segments covered by a snapshot were removed")
	probeNoSpace      = probe.New("wal/write-no-space", "wal: a write was refused by a full disk")
	probeSyncFailed   = probe.New("wal/sync-failed", "wal: an fsync failed")
	probeGroupCommit  = probe.New("wal/group-commit", "wal: one fsync answered several Syncs that waited")
	probeSyncDirCover = probe.New("wal/dir-synced-with-flush", "wal: a flush synced the directory of a new segment")
)
