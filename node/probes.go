package node

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the replica (see package probe). A replica hits them
// into its host's set (probe.Of), the simulated world's when there is one.
var (
	probeLateDuplicate      = probe.New("node/late-duplicate-applied", "node: a duplicate write reached apply and was skipped")
	probeDupInFlight        = probe.New("node/duplicate-in-flight", "node: a duplicate of a write still pending reached the leader")
	probeNotLeader          = probe.New("node/not-leader", "node: a write reached a replica that is not the leader")
	probeLeaseSaved         = probe.New("node/lease-expiry-overruled", "node: a lease expiry reached apply after a keep-alive extended the lease")
	probeLeaseExpired       = probe.New("node/lease-expired", "node: a lease expired by the leader's decision")
	probeLeaseExpireProp    = probe.New("node/lease-expiry-proposed", "node: a leader proposed lease expiries")
	probeSnapInstalled      = probe.New("node/snapshot-installed", "node: a replica installed a snapshot from the leader")
	probeSnapTaken          = probe.New("node/snapshot-taken", "node: a replica took and saved its own snapshot")
	probeSnapSuperseded     = probe.New("node/snapshot-superseded", "node: a replica's own snapshot was superseded by the leader's")
	probeRecoveryStarted    = probe.New("node/recovery-started", "node: a replica started recovering from untrusted storage")
	probeRecoveryDone       = probe.New("node/recovery-finished", "node: a recovering replica caught up and finished recovery")
	probeStopped            = probe.New("node/stopped", "node: a replica stopped for good")
	probeHalted             = probe.New("node/halted-on-io-error", "node: a replica halted (restartable) after an I/O error of its disk")
	probeDiskFullRetry      = probe.New("node/disk-full-retry", "node: a write hit a full disk and is retried")
	probeReadTimeout        = probe.New("node/read-index-timeout", "node: a batch of linearizable reads timed out waiting for its ReadIndex")
	probeConfApplied        = probe.New("node/conf-change-applied", "node: a membership change was applied")
	probeTornTail           = probe.New("node/wal-torn-tail", "node: a replica restarted on a WAL whose torn tail was cut")
	probeAckAfterHSCopy     = probe.New("node/term-vote-copy-synced", "node: a Ready waited for the hard state copy and the WAL sync")
	probeLeasePromotionKept = probe.New("node/lease-promotion-kept", "node: a new leader applied an older grant or keep-alive and kept the lease's renewal from its promotion")
	probeReplacedSuffix     = probe.New("node/replaced-suffix-dropped", "node: a restart dropped WAL entries after a snapshot marker that the snapshot had replaced")
	probeSnapStreamed       = probe.New("node/snapshot-streamed", "node: a leader sent a snapshot as a stream of chunks")
	probePendingForgotten   = probe.New("node/pending-forgotten", "node: a proposal pending too long was forgotten")
)
