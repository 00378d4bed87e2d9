package harness

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/node"
)

// StorageParams are the replicas' storage settings: how the WAL is cut into
// segments and how large the store may grow. Small values reach code that
// default sizes never do in a 10-second run: segments that roll and are
// released behind a snapshot, and writes refused by the quota.
type StorageParams struct {
	// SegmentBytes is the WAL segment size, [512, 64 MiB]; draw: node's
	// default (4 MiB, never rolls in a short run) in half the seeds, else
	// log-uniform 2 KiB..64 KiB (segments roll and get released).
	SegmentBytes int64 `json:"segment_bytes"`
	// QuotaBytes is the mvcc quota in mvcc.Store.Size units, 0 (mvcc's
	// default, 2 GiB) or [4 KiB, 2 GiB]; draw: 0, or in a quarter of the
	// seeds that compact every 2s or more often, 16..40 KiB (past it
	// writes fail with no-space until a compaction frees room).
	QuotaBytes int64 `json:"quota_bytes"`
	// UncommittedBytes bounds the entry bytes a leader holds uncommitted
	// before raft drops new proposals (clients are told to retry), 0
	// (raft's default, 64 MiB) or [256 B, 1 GiB]; draw: 0, or in an
	// eighth of the seeds 512 B..2 KiB, which a leader cut off from its
	// quorum reaches.
	UncommittedBytes uint64 `json:"uncommitted_bytes"`
	// SnapChunkBytes is the chunk size of a snapshot sent to a follower
	// as a stream, 0 (node's default, 1 MiB: a run's snapshots are far
	// smaller, so they go whole) or [256 B, 16 MiB]; draw: 0, or in half
	// the seeds 512 B..4 KiB, so snapshots stream in many chunks that the
	// network can lose, duplicate and reorder.
	SnapChunkBytes int `json:"snap_chunk_bytes,omitempty"`
	// ApplyBytes bounds the committed entry bytes a replica applies per
	// raft Ready, 0 (raft's default, 16 MiB: a run never reaches it, so
	// everything committed is applied at once) or [64 B, 16 MiB]; draw:
	// 0, or in a quarter of the seeds 64 B..1 KiB, so the applied index
	// lags the commit index across Readies as it does in etcd, whose
	// apply is asynchronous (what reads, snapshots and restarts taken in
	// between must cope with).
	ApplyBytes uint64 `json:"apply_bytes,omitempty"`
}

// storageStream seeds the draw of StorageParams: its own stream, so adding
// these draws shifted none of the scenario's other fields.
const storageStream = 0x5107a6e5_5107a6e5

// Bounds of StorageParams.
const (
	MinSegmentBytes = 512
	MaxSegmentBytes = 64 << 20
	MinQuotaBytes   = 4 << 10
	MaxQuotaBytes   = 2 << 30
)

// drawStorage draws the storage settings of seed; compactEvery is the
// scenario's compaction cadence (a small quota needs compactions to free
// room again, or every write after it fails) and quotaOK whether its
// faults leave the harness's compactions running (see quotaFaultsOK).
func drawStorage(seed uint64, compactEvery time.Duration, quotaOK bool) StorageParams {
	r := rand.New(rand.NewPCG(seed, storageStream))
	p := StorageParams{SegmentBytes: node.DefaultSegmentSize}
	if r.IntN(2) == 0 {
		p.SegmentBytes = logUniformBytes(r, 2<<10, 64<<10)
	}
	if q := r.IntN(4); q == 0 && quotaOK && compactEvery > 0 && compactEvery <= 2*time.Second {
		// Not below 16 KiB: the live keys, leases and their history
		// between compactions alone can fill that (seed 1267 at 8 KiB).
		p.QuotaBytes = (16 + r.Int64N(25)) << 10
	}
	if r.IntN(8) == 0 {
		p.UncommittedBytes = uint64(512 + r.IntN(1537))
	}
	if r.IntN(2) == 0 {
		p.SnapChunkBytes = 512 + r.IntN(3585)
	}
	if r.IntN(4) == 0 {
		p.ApplyBytes = uint64(logUniformBytes(r, 64, 1<<10))
	}
	return p
}

// quotaFaultsOK reports whether a small quota suits a scenario with these
// faults. The harness compacts only up to what its own watch of the write
// log holds; disk-full and membership changes can stall that watch for the
// rest of a run (seeds 460 and 694), and a store that filled its quota
// then refuses every write, the liveness probe's too, for good.
func quotaFaultsOK(specs []faults.Spec) bool {
	for _, f := range specs {
		if f.Name == faults.DiskFull || f.Name == faults.Membership {
			return false
		}
	}
	return true
}

// defaultStorage is the node's defaults.
func defaultStorage() StorageParams {
	return StorageParams{SegmentBytes: node.DefaultSegmentSize}
}

func (p StorageParams) validate(v *validator) {
	v.int("storage.segment_bytes", int(min(p.SegmentBytes, 1<<40)), MinSegmentBytes, MaxSegmentBytes)
	if p.QuotaBytes != 0 {
		v.int("storage.quota_bytes", int(min(p.QuotaBytes, 1<<40)), MinQuotaBytes, MaxQuotaBytes)
	}
	if p.SnapChunkBytes != 0 {
		v.int("storage.snap_chunk_bytes", p.SnapChunkBytes, 256, 16<<20)
	}
	if p.UncommittedBytes != 0 {
		v.int("storage.uncommitted_bytes", int(min(p.UncommittedBytes, 1<<40)), 256, 1<<30)
	}
	if p.ApplyBytes != 0 {
		v.int("storage.apply_bytes", int(min(p.ApplyBytes, 1<<40)), 64, 16<<20)
	}
}

// apply sets the node configuration's storage fields.
func (p StorageParams) apply(c *node.Config) {
	c.SegmentSize, c.QuotaBytes, c.MaxUncommittedBytes = p.SegmentBytes, p.QuotaBytes, p.UncommittedBytes
	c.SnapshotChunkBytes, c.MaxApplyBytes = p.SnapChunkBytes, p.ApplyBytes
}

// logUniformBytes draws log-uniformly in [lo, hi].
func logUniformBytes(r *rand.Rand, lo, hi int64) int64 {
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	return min(max(int64(v), lo), hi)
}

// compactAfterHeal frees a small quota once the faults are healed: the
// workload's compactions stop with the workload, so a store that filled
// its quota after the last one would refuse the liveness probe's write
// for good (as etcd's would until an operator compacts). With a drawn
// quota it compacts at the log watcher's head every half second until a
// compaction is acknowledged or the liveness probe succeeded, within the
// heal timeout.
func (r *seedRun) compactAfterHeal() {
	lw := r.logWatch
	if r.sc.Storage.QuotaBytes == 0 || lw == nil {
		return
	}
	deadline := r.w.Elapsed() + r.cfg.HealTimeout
	var try func()
	try = func() {
		for _, c := range lw.comp {
			if c.acked && c.call >= int64(r.healedAt) {
				return
			}
		}
		// Not once the final write log is being read: it starts above
		// the highest compaction asked for when it begins.
		if r.w.Elapsed() >= deadline || r.watchesFrozen || r.probe.done() {
			return
		}
		lw.compactNow()
		r.w.Schedule(500*time.Millisecond, try)
	}
	r.w.Schedule(0, try)
}
