// Package raft is seedkv's consensus core: a hand-written Raft in the
// mould of etcd-io/raft's RawNode. It is a pure state machine: it does no
// I/O, reads no clock, starts no goroutine and draws randomness only from
// the *rand.Rand it is given, so the same inputs always give the same
// outputs (the simulator depends on this).
//
// # Driving a RawNode
//
// The node above raft feeds it ticks (Tick), messages from peers (Step),
// proposals (Propose, ProposeConfChange), read requests (ReadIndex) and
// leadership transfers (TransferLeadership), and drains its output with
// Ready / Advance:
//
//	for rn.HasReady() {
//		rd := rn.Ready()
//		send(rd.Messages)                  // may go at once
//		persist(rd.Snapshot, rd.Entries, rd.HardState) // fsync if rd.MustSync
//		send(rd.MessagesAfterPersist)      // only once durable
//		apply(rd.CommittedEntries)         // ApplyConfChange for conf changes
//		serve(rd.ReadStates)               // once applied up to their Index
//		rn.Advance()
//	}
//
// Inputs may keep arriving between Ready and Advance (while an fsync is in
// flight); only one Ready is outstanding at a time.
//
// # Persistence and the leader's own vote in commitment
//
// Messages that promise durability are held back in
// Ready.MessagesAfterPersist: append acknowledgements (MsgAppResp), vote
// grants (MsgVoteResp), a candidate's own vote requests (MsgVote, which
// imply its persisted self-vote) and pre-vote answers (MsgPreVoteResp: a
// rejection carries the sender's term, perhaps one it has just campaigned
// in and not yet persisted). Everything else may be sent before the
// Ready is persisted; in particular a leader streams new entries to
// followers while writing them itself (Raft thesis §10.2.1).
//
// A leader therefore must not count its own copy of an entry before it is
// durable. Advance is the acknowledgement: when it is called, the entries
// of that Ready are durable, and only then does the leader's own Match
// advance (to the last durable index that is still in its log). An entry
// commits once a quorum holds it on disk; the leader's own unsynced copy
// never counts.
//
// # Elections
//
// Randomized timeouts in [ElectionTick, 2*ElectionTick); votes only for a
// log at least as up to date as the voter's (§5.4.1). With PreVote a node
// first asks, without bumping its term, whether it could win, so a node
// that was partitioned away cannot disrupt a working leader when it
// returns. With CheckQuorum a leader that has not heard from a quorum in
// an election timeout steps down, and a follower that heard from a leader
// within an election timeout ignores vote requests (the leader lease;
// leadership transfers bypass it). A new leader appends an empty entry of
// its term, which is what lets it commit older entries and answer reads.
//
// # Replication and commitment
//
// MsgApp carries the index and term preceding its entries (consistency
// check); a follower that rejects returns a hint (the last index at or
// below the probe with a term not above the probe's term), letting the
// leader skip a whole conflicting term per round trip. Each follower's
// progress is in one of three states: probe (one MsgApp per heartbeat
// until a match is found), replicate (streaming, bounded by
// MaxInflightMsgs messages of at most MaxSizePerMsg bytes) and snapshot.
// The commit index only advances by counting replicas of an entry of the
// leader's current term (Figure 8 of the Raft paper); older entries commit
// with it.
//
// # Linearizable reads
//
// ReadIndex records the leader's commit index, confirms leadership with a
// heartbeat round acknowledged by a quorum, and then answers with that
// index in Ready.ReadStates (or to the follower that asked). A leader that
// has not yet committed an entry of its term defers reads until it has. A
// deposed leader never answers: its heartbeats no longer gather a quorum,
// and requests pending when a node loses leadership are dropped, so the
// caller must time out and retry.
//
// # Snapshots
//
// The application snapshots its state at an applied index and compacts
// the log (MemoryStorage.CreateSnapshot and Compact). When a follower
// needs entries that are gone, the leader sends the storage's snapshot
// (MsgSnap); the follower returns it in Ready.Snapshot to persist and
// restore. The node should call ReportSnapshot once it has handed a
// MsgSnap to the transport (or failed to): the leader then resumes
// probing, and re-sends a snapshot if the follower still lags.
//
// # Membership changes: single-server, applied on commit
//
// seedkv uses single-server changes (add a voter, add a learner, promote
// a learner with AddVoter, remove a member), not joint consensus:
//
//   - Any two majorities of configurations differing by one server
//     intersect, which is all the safety argument needs; etcd's clusters
//     are grown and shrunk one member at a time anyway, and joint
//     consensus buys only atomic multi-member replacement at the cost of a
//     second configuration in every quorum computation and in ConfState.
//   - Only one change may be pending: a new one is refused until the
//     previous one is applied.
//   - A leader accepts no change until it has applied an entry of its own
//     term (its election's empty entry): the fix for the single-server bug
//     Ongaro described in 2015, where changes proposed by successive
//     leaders of different terms could produce disjoint majorities.
//   - Like etcd, a configuration takes effect when the application applies
//     the committed entry (ApplyConfChange). A node with committed but
//     unapplied conf changes does not campaign, as its view of the voters
//     may be stale. A removed leader steps down.
//
// Learners receive the log but never vote, campaign, count toward a
// quorum or become transfer targets.
//
// # Restart
//
// On restart the node rebuilds its Storage (e.g. a MemoryStorage fed from
// its WAL: ApplySnapshot, Append, SetHardState) and passes Config.Applied;
// Storage.InitialState's ConfState must be the configuration as of
// Applied (the snapshot's, when the state machine is rebuilt from it). A
// brand-new cluster starts every member from BootstrapSnapshot.
//
// # Wire format
//
// Message, Entry, HardState, ConfState, ConfChange and Snapshot have a
// compact, canonical binary encoding (MarshalAppend / Unmarshal). Decoding
// checks every length against explicit limits (MaxMessageSize, ...) and
// reports bad input as a *DecodeError wrapping ErrTruncated, ErrMalformed
// or ErrTooLarge.
package raft
