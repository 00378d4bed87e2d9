package mvcc

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the key space (see package probe), hit into the set
// given to SetProbes.
var (
	probeReadCompacted  = probe.New("mvcc/read-compacted", "mvcc: a read asked for a compacted revision")
	probeReadFuture     = probe.New("mvcc/read-future", "mvcc: a read asked for a future revision")
	probeReadPast       = probe.New("mvcc/read-past", "mvcc: a read at an old, still kept revision")
	probeWatchCompacted = probe.New("mvcc/watch-compacted", "mvcc: a watch started at a compacted revision")
	probeCompacted      = probe.New("mvcc/compacted", "mvcc: the history was compacted")
	probeCompactStale   = probe.New("mvcc/compact-refused", "mvcc: a compaction at or below the compacted revision was refused")
	probeNoSpace        = probe.New("mvcc/no-space", "mvcc: a write was refused by the quota")
	probeLeaseRevokeKey = probe.New("mvcc/lease-revoked-with-keys", "mvcc: a lease was revoked and deleted attached keys")
	probeLeaseMissing   = probe.New("mvcc/lease-not-found", "mvcc: a lease operation named a lease that is gone")
	probeTxnElse        = probe.New("mvcc/txn-else", "mvcc: a transaction's compare failed and its else branch ran")
)

// SetProbes makes the store hit its coverage probes into p (nil: none).
func (s *Store) SetProbes(p *probe.Set) { s.probes = p }
