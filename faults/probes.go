package faults

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the nemesis (see package probe), hit into the
// world's set.
var (
	probeCrashSyncInFlight  = probe.New("faults/crash-with-sync-in-flight", "faults: a replica crashed with an fsync in flight")
	probeSyncBeforeCrash    = probe.New("faults/sync-completed-after-crash-scheduled", "faults: a sync completed between scheduling a crash and the crash")
	probeCrashRefused       = probe.New("faults/aimed-crash-over-budget", "faults: an aimed crash was dropped because the budget was spent")
	probeCrashAck           = probe.New("faults/crash-after-ack", "faults: a replica crashed right after sending a vote or an ack with a sync in flight")
	probeCrashSnapSender    = probe.New("faults/crash-snapshot-sender", "faults: a snapshot sender crashed right after sending it")
	probeCrashSnapReceiver  = probe.New("faults/crash-snapshot-receiver", "faults: a snapshot receiver crashed while installing it")
	probeIsolatedLeader     = probe.New("faults/leader-isolated-after-append", "faults: a leader was cut off right after sending an append")
	probeIsolatedDelivered  = probe.New("faults/leader-isolated-after-delivery", "faults: a leader was cut off as its append reached one follower")
	probeIsolatedConf       = probe.New("faults/leader-isolated-after-conf-change", "faults: a leader was cut off as its append of a membership change reached one follower")
	probeIsolatedChain      = probe.New("faults/leaders-isolated-in-turn", "faults: a second new leader was cut off within one isolate-leader episode")
	probeSlowLeaderCrash    = probe.New("faults/slow-leader-crashed", "faults: a leader crashed while its disk was slow")
	probeReplayed           = probe.New("faults/replayed-late", "faults: votes, acks, heartbeat answers or hand-offs were delivered again at the end of a replay episode")
	probeReplayedAtCampaign = probe.New("faults/replayed-at-campaign", "faults: votes and acks a node was sent were delivered again as it started a new election")
	probeInjectSkipped      = probe.New("faults/inject-skipped", "faults: an episode could not inject (nothing to aim at, or no budget)")
)
