// Package node is one seedkv replica: raft (consensus), wal and snapshot
// files (durability) and mvcc (the etcd data model) behind the host seam,
// serving the api client protocol. Start builds it from a host.Host; it is
// used directly as the start function of a simulated node, and is rebuilt
// from disk on every restart.
//
// # Event loop
//
// The replica reacts to three things: a delivered message (a raft message
// from a peer or a client request, told apart by the api envelope byte), a
// timer (the raft tick) and an I/O completion (a WAL or snapshot sync).
// After each it runs the Ready loop, with one raft Ready in flight at a
// time:
//
//  1. Messages are sent at once (a leader's appends go out in parallel
//     with its own fsync).
//  2. The Ready is persisted: a received snapshot's file first (written,
//     synced, renamed into place), then the WAL's snapshot marker, entries
//     and hard state, then one WAL Sync (group commit: proposals that
//     arrive meanwhile are buffered and handed to raft as one batch).
//  3. In the sync callback, and only then, MessagesAfterPersist go out
//     (votes and append acknowledgements promise durability), committed
//     entries are applied to mvcc in order, pending client requests and
//     reads are answered, watchers drained, and raft is Advanced.
//
// # Writes
//
// Put, DeleteRange, Txn, Compact and the lease operations are proposed as
// commands: the client's encoded request prefixed with the proposer's ID,
// the client's ID and the proposer's clock (see command.go). Only the
// leader proposes; a follower answers CodeNotLeader with its leader hint
// (no forwarding: a NotLeader answer then always means "no effect", which
// is what lets the client retry safely). The proposer answers when it
// applies the entry. A proposal lost in a leader change is never answered:
// the client times out and the outcome is unknown to it.
//
// Applying is deduplicated per client (sessions in state.go): each command
// carries the client's request ID and FinishedBelow watermark, and a
// request ID applied before, or below the watermark, is skipped on every
// replica alike. The network may duplicate a write; it takes effect once.
//
// # Reads
//
// Linearizable reads (the default) use raft's ReadIndex, batched: reads
// that arrive while a round is in flight share the next one, and are served
// once the replica has applied up to the confirmed index. Followers serve
// them too (raft forwards the round to the leader). Serializable reads are
// served from the local state: possibly stale, but never older on one
// member than what it served before — after a restart they wait for one
// completed ReadIndex round, since the rebuilt state may briefly lag what
// was applied before the crash.
//
// # Leases
//
// Expiry is decided by the leader alone: on each tick it asks mvcc for the
// leases expired by its clock and proposes an expire command stamped with
// that clock. Grants and keep-alives are log entries stamped with the
// proposer's clock, so every replica computes the same deadline; the
// expire command only revokes a lease still past that replicated deadline
// at its stamp (a keep-alive committed in between saves it on every
// replica alike). A new leader extends every lease by its TTL from its own
// now (mvcc.LeasePromote, as etcd does), so a leader change never expires
// leases early.
//
// # Snapshots and restart
//
// Once Config.SnapshotEntries entries were applied since the last
// snapshot, the state machine (mvcc snapshot + client sessions + lease
// deadlines) is encoded at the applied index, written as a checksummed
// snapshot file and synced; then the WAL records a snapshot marker; only
// after that marker is durable are raft's in-memory log compacted (keeping
// Config.CatchUpEntries behind for slow followers), old WAL segments and
// older snapshot files released. A follower too far behind gets the
// leader's latest snapshot through raft (MsgSnap).
//
// On restart the WAL's latest marker names the snapshot file to load; mvcc
// is restored from it, raft's MemoryStorage gets the snapshot, hard state
// and the WAL's entries after it, and raft is started with Applied = the
// snapshot index, so exactly the committed entries after it are applied
// again: mvcc lives in memory and is rebuilt, never applied twice, never
// skipped.
//
// # Storage faults
//
// If the WAL is corrupt (wal.CorruptionError), the snapshot file the WAL
// names is missing or fails its checksum, or the WAL's repair report shows
// a damaged final record that a crash cannot explain, the replica cannot
// trust its state: it may have lost a vote it cast or entries it
// acknowledged. It then recovers from its peers (recovery.go): a second,
// independently checksummed copy of raft's term and vote (HardStateFile,
// its record held in several slots, seeded before raft starts and synced
// with every term or vote change before the votes go out; an empty one
// proves nothing was promised) gives a bound T_old on every term it may
// have voted in; it drops its damaged
// WAL and snapshots, records T_old (RecoveringFile) and rejoins on an
// empty log, granting no vote, never campaigning and refusing clients,
// while its truthful append acknowledgements keep helping commits. It
// votes again only once it has caught up with a leader of a term at or
// above T_old, and never at or below T_old. These rules live in raft
// (raft.Config.Recovering and VoteFloor): a recovering follower's raft
// tells a leader that counts on entries it lost where its log ends, and
// the leader sends them again; and each recovery raises the replica's
// epoch (raft.Config.Epoch), which its acknowledgements carry, so that a
// leader drops a late copy of one it sent before the damage.
//
// If the second copy is damaged too, the replica stops for good: an inert
// process that ignores all traffic, sets no timer, never votes and never
// acknowledges; Stopped says why, and a StopFile on its disk keeps it so
// across restarts (wal.Open cuts a damaged tail before the replica can
// judge it, so a later restart would otherwise find a clean-looking WAL).
// That is safe because an inert replica is, to the others, a crashed one,
// which raft tolerates for any minority.
//
// Telling a torn write from corruption: the WAL cuts a record that does
// not decode at the very end of its last segment and reports it. A crash
// only tears the last unsynced write, at a sector boundary, so a torn tail
// is a record cut short with the file ending on a sector boundary; nothing
// in it was acknowledged and it is dropped. A complete final record with a
// bad checksum, or a short one ending off a sector boundary, is bit rot in
// synced data that may have been acknowledged, and stops the replica.
//
// A full disk fails writes cleanly: the Ready stays in flight and the sync
// is retried after Config.DiskRetry, nothing is acknowledged meanwhile.
// Any other sync failure stops the replica (after a failed fsync the state
// on disk is unknown).
//
// # Quota
//
// mvcc refuses writes past Config.QuotaBytes with ErrNoSpace when they are
// applied (deterministically, on every replica): the client gets
// CodeNoSpace and the replica raises an alarm (Alarm), cleared once
// deletes or compaction bring the store under its quota. Reads, deletes
// and compaction keep working.
package node
