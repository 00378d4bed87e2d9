package node

import (
	"time"

	"github.com/seedkv/seedkv/host"
)

// Defaults for zero Config fields.
const (
	DefaultTickInterval     = 100 * time.Millisecond
	DefaultElectionTicks    = 10
	DefaultHeartbeatTicks   = 1
	DefaultSnapshotEntries  = 100000
	DefaultCatchUpEntries   = 5000
	DefaultSegmentSize      = 4 << 20
	DefaultSectorSize       = 512
	DefaultProgressInterval = 500 * time.Millisecond
	DefaultReadTimeout      = time.Second
	DefaultPendingTimeout   = 10 * time.Second
	DefaultDiskRetry        = 50 * time.Millisecond
)

// Named limits.
const (
	// MaxWatchStreams bounds the watch streams one replica serves.
	MaxWatchStreams = 1 << 14
	// MaxWatchBatch is the number of events pulled per watch message
	// (a message is extended past it so one revision is never split).
	MaxWatchBatch = 256
	// MaxPendingProposals bounds the writes awaiting their apply on the
	// leader; past it new writes get CodeTooManyRequests.
	MaxPendingProposals = 1 << 17
	// MaxPendingReads bounds the linearizable reads queued for a ReadIndex.
	MaxPendingReads = 1 << 17
)

// Config configures a replica. Zero fields take the defaults.
type Config struct {
	// Members are the voters of the initial cluster (every member of a
	// new cluster must be given the same list). Ignored on restart: the
	// membership then comes from disk.
	Members []host.NodeID
	// Join starts a new member of an existing cluster: it does not
	// bootstrap, and waits for the leader to send it a snapshot after a
	// MemberAdd.
	Join bool
	// InitialStore, an mvcc snapshot (mvcc.Store.Snapshot), is the state
	// a new cluster starts from (a restore from a backup; every founding
	// member must be given the same). Ignored on restart and when joining.
	InitialStore []byte
	// PromoteCatchUp refuses to promote a learner whose log is behind 90%
	// of the leader's (etcd's rule, CodeInvalid with ErrLearnerNotReady's
	// text); off, a learner is promoted whatever its progress.
	PromoteCatchUp bool
	// ClusterID is written into the WAL metadata.
	ClusterID uint64
	// TickInterval is the raft tick.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are raft's timeouts in ticks.
	ElectionTicks, HeartbeatTicks int
	// SnapshotEntries: a snapshot is taken once this many entries were
	// applied since the last one.
	SnapshotEntries uint64
	// CatchUpEntries are kept in the in-memory log behind a snapshot so
	// a slightly lagging follower needs no snapshot.
	CatchUpEntries uint64
	// QuotaBytes is the mvcc quota (0: mvcc's default, 2 GiB).
	QuotaBytes int64
	// SegmentSize is the WAL segment size.
	SegmentSize int64
	// SectorSize is the disk's write granularity: a torn write ends on a
	// sector boundary, which tells a torn WAL tail from bit rot.
	SectorSize int64
	// ProgressInterval: a watch stream that sent nothing for this long
	// gets a progress notification.
	ProgressInterval time.Duration
	// ReadTimeout bounds how long a batch of linearizable reads waits for
	// its ReadIndex; then its reads get CodeUnavailable.
	ReadTimeout time.Duration
	// PendingTimeout: a proposal not applied after this long is
	// forgotten (its client has long timed out).
	PendingTimeout time.Duration
	// DiskRetry is the pause before retrying a write refused because
	// the disk is full.
	DiskRetry time.Duration
	// MaxSizePerMsg bounds the entry bytes of one append message and
	// MaxInflightMsgs the appends in flight to one follower (raft's flow
	// control); 0 takes raft's defaults.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// MaxUncommittedBytes bounds the entry bytes a leader holds
	// uncommitted before raft drops new proposals (their clients are told
	// to retry); 0 takes raft's default.
	MaxUncommittedBytes uint64
	// MaxApplyBytes bounds the committed entry bytes applied per raft
	// Ready (at least one entry); the rest follow in later Readies, so the
	// applied index may lag the commit index. 0 takes raft's default.
	MaxApplyBytes uint64
	// SnapshotChunkBytes: a snapshot whose data is larger is sent to a
	// follower as a stream of chunks of this size (0: the default,
	// limits.SnapshotChunkBytes).
	SnapshotChunkBytes int
	// SnapshotTimeout: a snapshot stream not acknowledged by its follower
	// within this time is reported to raft as failed (0: two election
	// timeouts).
	SnapshotTimeout time.Duration
	// DisablePreVote and DisableCheckQuorum turn off raft's PreVote and
	// CheckQuorum (both on by default).
	DisablePreVote, DisableCheckQuorum bool
	// Observer, if not nil, receives the replica's safety-relevant
	// events as they happen (leadership, applied entries, durable term
	// and vote, what a restart recovered): see Observer.
	Observer Observer
	// Commands, if not nil, is a memo of decoded log commands shared by
	// the replicas of one single-threaded world (a simulation): each
	// committed entry's request is decoded once, not once per replica.
	// Nil (one replica per process) decodes each entry it applies.
	Commands *CommandMemo
}

func (c Config) withDefaults() Config {
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = DefaultCatchUpEntries
	}
	if c.SegmentSize <= 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.SectorSize <= 0 {
		c.SectorSize = DefaultSectorSize
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.PendingTimeout <= 0 {
		c.PendingTimeout = DefaultPendingTimeout
	}
	if c.DiskRetry <= 0 {
		c.DiskRetry = DefaultDiskRetry
	}
	return c
}
