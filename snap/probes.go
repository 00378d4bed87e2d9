package snap

import "github.com/seedkv/seedkv/probe"

// Coverage probes of snapshot files (see package probe), hit into the set
// of the file system (probe.Of).
var (
	probeSaved     = probe.New("snap/saved", "snap: a snapshot file was written, synced and renamed into place")
	probeLeftover  = probe.New("snap/leftover-temp-cleared", "snap: a temp file of a crashed Save was cleared")
	probeCorrupt   = probe.New("snap/load-corrupt", "snap: a snapshot file failed its checks on load")
	probeReleased  = probe.New("snap/released", "snap: old snapshot files were removed")
	probeSaveError = probe.New("snap/save-failed", "snap: a Save failed (full disk or sync error)")
)
