package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"hash/crc32"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/wal"
)

// reqKey names a client request: clients number their own requests.
type reqKey struct {
	client host.NodeID
	id     api.RequestID
}

// proposal is a write this node proposed and must answer once applied.
type proposal struct {
	op    api.Op
	since time.Time
}

// bufferedProp is a write accepted but not yet handed to raft: proposals
// are batched into one MsgProp while a Ready is being persisted.
type bufferedProp struct {
	key  reqKey
	data []byte
}

// Node is one replica. Its methods other than Receive are for the harness
// and tests; they only read.
type Node struct {
	h      host.Host
	cfg    Config
	id     host.NodeID
	probes *probe.Set // coverage probes (nil: none)

	stopped    bool
	stopReason string
	ents       []raft.Entry // array for the next received message's entries (reuseEntries)
	booting    bool         // waiting for the bootstrap state to be durable

	rn    *raft.RawNode
	ms    *raft.MemoryStorage
	wal   *wal.WAL
	snaps *snapFiles
	// walEnts is walEntries's buffer, reused for every Ready (WAL.Save
	// encodes the entries into its records and keeps none).
	walEnts []wal.Entry
	// txnCompares and txnOps are mvccTxn's buffers, reused for every
	// transaction applied.
	txnCompares []mvcc.Compare
	txnOps      []mvcc.Op
	txnResps    []mvcc.OpResponse // mvcc's answers, until converted
	// enc encodes the node's answers and watch events.
	enc api.Chunks
	// evs, apiEvs and wev are drain's buffers for a batch of watch events,
	// reused for every batch (encoded before the next is drained).
	evs    []mvcc.Event
	apiEvs []api.Event
	wev    api.WatchEvents
	// statusBuf is Status's scratch raft status.
	statusBuf raft.Status
	// chunk is sendBuf's current chunk: its length is what batches of
	// messages reserved, the rest is free.
	chunk []byte
	sm    *stateMachine

	applied   uint64
	confState raft.ConfState
	snapIndex uint64        // latest durable snapshot
	snapIn    *snapAssembly // the snapshot stream being received
	// snapOut numbers, per follower, the snapshot stream sent to it
	// last and not yet timed out (see awaitSnapshot); snapSeq counts
	// the streams sent.
	snapOut      map[uint64]uint64
	snapSeq      uint64
	snapshotting bool
	readyBusy    bool
	// inflight is the Ready being handled, then persisted: handleReady
	// and what it calls take a pointer to it (a Ready is some 30 words,
	// and was copied at every call); it stays put while readyBusy.
	// persistWait is how many durability callbacks it still waits for,
	// persistDone the callback (made once: no closure per Ready).
	inflight    raft.Ready
	persistWait int
	persistDone func()
	walSynced   func(error) // onWALSynced, made once

	lead uint64
	role raft.Role
	term uint64

	pending map[reqKey]*proposal
	// pendingFloor is at or below the time of every pending proposal
	// (addPending lowers it, expirePending raises it to the oldest left):
	// while it is recent, no proposal has expired and the map is not
	// walked at every tick.
	pendingFloor time.Time
	propEnts     []raft.Entry // flushProposals' array
	props        []bufferedProp

	reads reads

	watches   []*stream // in creation order (deterministic iteration)
	watchByID map[watchKey]*stream

	// beforeCompact: see SetBeforeCompact (nil in simulation).
	beforeCompact func(rev int64)

	revoking map[int64]time.Time // lease -> when its expiry was proposed
	// promotedAt is when this replica last became leader and renewed
	// every lease (Unix ns by its clock; see keepPromotion).
	promotedAt int64
	repaired   *wal.RepairReport // the torn WAL tail cut at boot, if any

	hs           *hsCopy     // second copy of term and vote (recovery.go)
	commit       uint64      // raft's commit index, from the hard state
	recovering   bool        // recovering from corrupt storage
	voteFloor    uint64      // T_old: never vote at or below it (recovery.go)
	floorKnown   bool        // voteFloor is set
	epoch        uint64      // incarnation: recoveries started (raft.Config.Epoch; recovery.go)
	ending       bool        // recovery's end being recorded
	recoverCause string      // why the replica is recovering
	recovered    int         // recoveries completed by this incarnation
	moving       *moveLeader // a MoveLeader in progress (moveleader.go)
	initialStore *mvcc.Store // Config.InitialStore decoded, until boot
	alarm        bool
	tick         host.Timer
	onTickFn     func()       // n.onTick, bound once: a method value allocates
	notLeader    api.Response // replyNotLeader's, reused
	obsTerm      uint64       // term and vote last reported to the Observer
	obsVote      uint64
}

// Start builds a replica on host h and returns it as the process the world
// drives. It recovers everything from h's disk: the latest snapshot and the
// WAL. If the disk holds state it cannot trust, the replica stays down (see
// Stopped) and ignores all traffic.
func Start(h host.Host, cfg Config) host.Process {
	n := &Node{
		h:         h,
		cfg:       cfg.withDefaults(),
		id:        h.ID(),
		snaps:     &snapFiles{fs: h.FS()},
		pending:   make(map[reqKey]*proposal),
		watchByID: make(map[watchKey]*stream),
		revoking:  make(map[int64]time.Time),
		probes:    probe.Of(h),
	}
	n.reads.init()
	if reason, ok := n.readStopFile(); ok {
		n.stopped, n.stopReason = true, "stopped in an earlier run: "+reason
		return n
	}
	if len(cfg.InitialStore) > 0 {
		st, err := mvcc.Restore(cfg.InitialStore, mvcc.Config{QuotaBytes: cfg.QuotaBytes})
		if err != nil { // a configuration error, not damaged storage
			n.stopped, n.stopReason = true, "config: initial store: "+err.Error()
			return n
		}
		n.initialStore = st
	}
	n.scheduleTick()
	if mark, present, ok := readRecovering(h.FS()); present {
		if !ok {
			n.startRecovery(errors.New("recovery marker damaged"))
			return n
		}
		n.voteFloor, n.floorKnown, n.epoch = mark.tOld, true, mark.epoch
		if !mark.done {
			n.recovering = true
			n.recoverCause = "recovery in progress at restart"
		}
	}
	defer func() { n.initialStore = nil }() // used by a bootstrap only
	if err := n.boot(); err != nil {
		// Storage that cannot be trusted: recover from the peers (or stop
		// for good if that cannot be done safely).
		n.startRecovery(err)
	}
	return n
}

// stop makes the replica inert for good: it answers nothing, votes for
// nobody and sets no timers. Equivalent to a crashed node.
func (n *Node) stop(reason string) {
	if n.stopped {
		return
	}
	n.probes.Hit(probeStopped)
	if n.cfg.Observer != nil {
		n.cfg.Observer.Stopped(n.id, reason)
	}
	n.writeStopFile(reason)
	n.inert(reason)
}

// halt makes the replica inert after its disk failed an operation with
// host.ErrIO (a failed fsync), as etcd panics: this process must not go on,
// since what the failed sync covered may never become durable whatever it
// does next (fsyncgate), yet nothing it covered was acknowledged. Unlike
// stop it leaves no StopFile: the durable state is a state a crash could
// have left, so a restart recovers from it as after a crash. Stopped
// reports the halt until the process is restarted.
func (n *Node) halt(reason string) {
	if n.stopped {
		return
	}
	n.probes.Hit(probeHalted)
	n.inert(HaltPrefix + reason)
}

// HaltPrefix starts the Stopped reason of a replica halted by an I/O
// error (see Node.halt): it is down until restarted, not for good.
const HaltPrefix = "halted on an I/O error (restart to recover): "

// fail stops the replica after err: it halts (restartable) on an I/O
// error of its disk and stops for good on anything else.
func (n *Node) fail(what string, err error) {
	if errors.Is(err, host.ErrIO) {
		n.halt(what + ": " + err.Error())
		return
	}
	n.stop(what + ": " + err.Error())
}

// inert makes the replica answer nothing, vote for nobody and set no
// timers from now on.
func (n *Node) inert(reason string) {
	n.stopped = true
	n.stopReason = reason
	if n.tick != nil {
		n.tick.Stop()
	}
	if n.wal != nil {
		_ = n.wal.Close()
	}
}

// Stopped reports whether the replica has stopped, and why: for good, or
// (a reason starting with HaltPrefix) until its process is restarted.
func (n *Node) Stopped() (bool, string) { return n.stopped, n.stopReason }

// Receive handles one payload from the network: a raft message from a
// peer or a client request.
func (n *Node) Receive(from host.NodeID, payload []byte) {
	if n.stopped || n.booting {
		return
	}
	env, body, err := api.SplitEnvelope(payload)
	if err != nil {
		return
	}
	switch env {
	case api.EnvelopePeer:
		var m raft.Message
		if m.UnmarshalSharedInto(body, n.ents) != nil || m.From != uint64(from) {
			return // garbage, or a sender lying about who it is
		}
		_ = n.rn.StepOwned(&m)
		n.reuseEntries(&m)
	case api.EnvelopeClient:
		n.onClient(from, body)
	case api.EnvelopeControl:
		n.onControl(from, body)
	}
	n.process()
}

// reuseEntries keeps the array of m's entries, just stepped, for the
// next message's if raft kept none of them: it copies an append's entries
// into its log, but may keep other messages that carry entries (a
// forwarded proposal, say), so their array is never reused. A fresh
// array per append was the node's most frequent allocation on receipt.
func (n *Node) reuseEntries(m *raft.Message) {
	switch {
	case m.Type == raft.MsgApp:
		if cap(m.Entries) > 0 {
			n.ents = m.Entries[:0]
		}
	case len(m.Entries) > 0:
		n.ents = nil
	}
}

func (n *Node) scheduleTick() {
	if n.onTickFn == nil {
		n.onTickFn = n.onTick
	}
	n.tick = n.h.After(n.cfg.TickInterval, n.onTickFn)
}

func (n *Node) onTick() {
	if n.stopped {
		return
	}
	n.scheduleTick()
	if n.booting {
		return
	}
	n.rn.Tick() // a recovering replica's raft never campaigns
	now := n.h.Now()
	n.expireLeases(now)
	n.expireMove(now)
	n.reads.expire(n, now)
	n.expirePending(now)
	n.watchProgress(now)
	n.process()
}

// process hands buffered proposals and reads to raft and runs Readys until
// one is in flight or there is nothing to do.
func (n *Node) process() {
	for !n.stopped && !n.readyBusy {
		n.flushProposals()
		n.reads.issue(n)
		if !n.rn.HasReady() {
			return
		}
		n.rn.ReadyInto(&n.inflight)
		n.handleReady(&n.inflight)
	}
}

// flushProposals proposes every buffered write in one MsgProp, so that a
// burst of client writes becomes one append for raft, the WAL and the
// followers.
func (n *Node) flushProposals() {
	if len(n.props) == 0 {
		return
	}
	props := n.props
	n.props = nil
	// raft keeps none of a proposal's entries (it copies them into its
	// log, or a follower into the message it forwards, as for
	// RawNode.Propose): one array serves every flush. It is taken out of
	// the node while in use.
	ents := n.propEnts
	n.propEnts = nil
	if cap(ents) < len(props) {
		ents = make([]raft.Entry, len(props))
	}
	ents = ents[:len(props)]
	for i := range props {
		ents[i] = raft.Entry{Type: raft.EntryNormal, Data: props[i].data}
	}
	err := n.rn.Step(raft.Message{Type: raft.MsgProp, From: uint64(n.id), To: uint64(n.id), Entries: ents})
	clear(ents)
	n.propEnts = ents[:0]
	defer n.reuseProps(props)
	if err == nil {
		return
	}
	// Dropped: nothing was appended, so the clients may safely retry. A
	// dropped expiry is proposed again at the next tick (not after
	// PendingTimeout: a leader that drops proposals for a while, its
	// uncommitted log full behind a full disk, would keep dead leases for
	// seconds more).
	for _, p := range props {
		n.retryExpire(p.data)
		if pr := n.pending[p.key]; pr != nil {
			delete(n.pending, p.key)
			n.replyErr(p.key, pr.op, api.CodeNotLeader, "proposal dropped: "+err.Error())
		}
	}
}

// reuseProps makes the buffer props, flushed, n.props again, unless
// writes were buffered since: a leader flushes after every burst of
// client writes, and a fresh buffer each time was one allocation per
// burst.
func (n *Node) reuseProps(props []bufferedProp) {
	if n.props == nil {
		clear(props) // raft holds the data; drop the buffer's references
		n.props = props[:0]
	}
}

// retryExpire forgets that the leases of a dropped expire command were
// proposed, so that expireLeases proposes them again.
func (n *Node) retryExpire(data []byte) {
	if !IsExpireCommand(data) {
		return
	}
	if c, err := decodeCommand(data); err == nil {
		for _, id := range c.leases {
			delete(n.revoking, id)
		}
	}
}

// handleReady starts handling one Ready: messages out, then persistence;
// the rest happens once it is durable (persisted).
func (n *Node) handleReady(rd *raft.Ready) {
	n.readyBusy = true
	if rd.SoftState != nil {
		n.onSoftState(*rd.SoftState)
	}
	n.term = max(n.term, rd.HardState.Term)
	n.commit = max(n.commit, rd.HardState.Commit)
	n.sendAll(rd.Messages)
	for _, rs := range rd.ReadStates {
		n.reads.onReadState(rs)
	}
	n.observeOverwrite(rd)
	if !rd.Snapshot.IsEmpty() {
		n.persistSnapshotFile(rd)
		return
	}
	n.persistWAL(rd)
}

// persistSnapshotFile makes a received snapshot durable before the WAL
// records it (a WAL marker must never name a snapshot that is not on disk).
func (n *Node) persistSnapshotFile(rd *raft.Ready) {
	n.snaps.save(rd.Snapshot, func(err error) {
		if n.stopped {
			return
		}
		if err != nil {
			n.diskError("save snapshot", err, func() { n.persistSnapshotFile(rd) })
			return
		}
		n.persistWAL(rd)
	})
}

// persistWAL saves the Ready's snapshot marker, entries and hard state and
// syncs them if raft says so.
func (n *Node) persistWAL(rd *raft.Ready) {
	if !rd.Snapshot.IsEmpty() {
		if err := n.wal.SaveSnapshot(walMarker(rd.Snapshot.Meta)); err != nil {
			n.fail("wal: save snapshot marker", err)
			return
		}
	}
	ents := n.walEntries(rd.Entries)
	err := n.wal.Save(walHardState(rd.HardState), ents)
	clear(ents) // no entry data kept alive by the buffer
	if err != nil {
		n.fail("wal: save", err)
		return
	}
	hs := rd.HardState
	copyHS := !hs.IsEmpty() && n.hs.needs(hs.Term, hs.Vote)
	if !rd.MustSync && !copyHS {
		n.persisted(rd)
		return
	}
	// The WAL and, on a term or vote change, the second copy of the hard
	// state must both be durable before the Ready's votes go out.
	n.persistWait = 1 // rd is n.inflight
	if n.persistDone == nil {
		n.persistDone = n.onPersisted
	}
	if copyHS {
		n.probes.Hit(probeAckAfterHSCopy)
		n.persistWait++
		n.writeHSCopy(hs.Term, hs.Vote, n.persistDone)
	}
	if n.walSynced == nil {
		n.walSynced = n.onWALSynced
	}
	n.wal.Sync(n.walSynced)
}

// onWALSynced is syncWAL(n.persistDone) without a closure per Ready.
func (n *Node) onWALSynced(err error) {
	if n.stopped {
		return
	}
	if err != nil {
		n.diskError("wal sync", err, func() { n.syncWAL(n.persistDone) })
		return
	}
	n.persistDone()
}

// onPersisted counts one durability callback of the in-flight Ready.
func (n *Node) onPersisted() {
	if n.persistWait--; n.persistWait == 0 {
		rd := n.inflight
		n.inflight = raft.Ready{}
		n.observeSynced(rd.HardState)
		n.persisted(&rd)
		n.observeDurableLog(&rd)
		n.process()
	}
}

// writeHSCopy writes the second copy of term and vote, retrying on a full
// disk.
func (n *Node) writeHSCopy(term, vote uint64, then func()) {
	n.hs.write(term, vote, func(err error) {
		if n.stopped {
			return
		}
		if err != nil {
			n.diskError("hard state copy", err, func() { n.writeHSCopy(term, vote, then) })
			return
		}
		then()
	})
}

// syncWAL syncs the WAL, retrying while the disk is full.
func (n *Node) syncWAL(then func()) {
	n.wal.Sync(func(err error) {
		if n.stopped {
			return
		}
		if err != nil {
			n.diskError("wal sync", err, func() { n.syncWAL(then) })
			return
		}
		then()
	})
}

// diskError retries after a full disk (nothing changed, nothing was
// acknowledged), halts the node on an I/O error (after a failed fsync
// nothing this process does can make the lost writes durable: a restart
// must reload what is) and stops it for good on anything else.
func (n *Node) diskError(what string, err error, retry func()) {
	if errors.Is(err, host.ErrNoSpace) {
		n.probes.Hit(probeDiskFullRetry)
		n.h.After(n.cfg.DiskRetry, func() {
			if !n.stopped {
				retry()
			}
		})
		return
	}
	n.fail(what, err)
}

// persisted finishes a Ready whose state is durable: acknowledgements and
// votes go out, committed entries are applied, reads answered, Advance.
func (n *Node) persisted(rd *raft.Ready) {
	if !rd.Snapshot.IsEmpty() {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			n.stop("install snapshot: " + err.Error())
			return
		}
	}
	if !rd.HardState.IsEmpty() {
		_ = n.ms.SetHardState(rd.HardState)
	}
	if err := n.ms.Append(rd.Entries); err != nil {
		n.stop("memory storage append: " + err.Error())
		return
	}
	n.sendAll(rd.MessagesAfterPersist)
	if !n.apply(rd.CommittedEntries) {
		return
	}
	n.checkRecovered()
	n.rn.Advance()
	n.readyBusy = false
	n.reads.serve(n)
	n.drainWatches()
	n.maybeSnapshot()
}

// onSoftState tracks leadership. A new leader extends every lease by its
// TTL from now (etcd's lessor Promote): leases must not expire merely
// because there was no leader to take their keep-alives.
func (n *Node) onSoftState(ss raft.SoftState) {
	wasLeader := n.role == raft.RoleLeader
	n.lead, n.role = ss.Lead, ss.Role
	defer n.moveProgress()
	if n.role == raft.RoleLeader && !wasLeader {
		n.promotedAt = n.h.Now().UnixNano()
		n.sm.store.LeasePromote(n.h.Now())
		clear(n.revoking)
	}
	if wasLeader && n.role != raft.RoleLeader {
		// Buffered writes were never handed to raft: they had no effect.
		for _, p := range n.props {
			if pr := n.pending[p.key]; pr != nil {
				delete(n.pending, p.key)
				n.replyErr(p.key, pr.op, api.CodeNotLeader, "leadership lost")
			}
		}
		n.props = nil
	}
}

// sendAll sends raft messages to peers.
func (n *Node) sendAll(msgs []raft.Message) {
	if len(msgs) == 0 {
		return // most Readys have no messages after persistence, or before
	}
	// One buffer for the whole batch: each message is a capped slice of
	// it, never written again once sent (the host owns it).
	size := 0
	for i := range msgs {
		size += msgSize(&msgs[i])
	}
	buf := n.sendBuf(size)
	for i := range msgs {
		m := &msgs[i]
		if m.Type == raft.MsgSnap && n.sendSnapshotStream(m) {
			n.awaitSnapshot(m.To)
			continue
		}
		start := len(buf)
		buf = append(buf, byte(api.EnvelopePeer))
		buf = m.MarshalAppend(buf)
		n.h.Send(host.NodeID(m.To), buf[start:len(buf):len(buf)])
		if m.Type == raft.MsgSnap {
			// The network gives no delivery report; say it went out, and
			// let the follower's answer (or silence) drive raft.
			n.rn.ReportSnapshot(m.To, true)
		}
	}
	n.unreserve(buf, size)
}

// sendChunk is the size of the chunks that sendBuf carves batches from.
const sendChunk = 16 << 10

// sendBuf returns an empty buffer of capacity size for a batch of
// messages, reserved in n's current chunk (a new one if its free tail is
// too short), or a buffer of its own for a large batch. Most batches are
// a heartbeat or an append of a few hundred bytes, and a make per batch
// was the node's most frequent allocation. Chunk bytes are handed out
// once and never written again after the batch, so a message stays what
// it was when sent, as with a buffer per batch; a chunk lives as long as
// any message in it. The region is reserved before anything is sent, so
// a batch sent from within a Send (a hook) gets a region of its own.
func (n *Node) sendBuf(size int) []byte {
	if size > sendChunk/4 {
		return make([]byte, 0, size)
	}
	if cap(n.chunk)-len(n.chunk) < size {
		n.chunk = make([]byte, 0, sendChunk)
	}
	used := len(n.chunk)
	n.chunk = n.chunk[:used+size]
	return n.chunk[used : used : used+size]
}

// unreserve gives back the tail of sendBuf's region for buf (size bytes)
// that the batch did not use (size is an upper bound of the encoding),
// if the region is still the last one reserved in the current chunk.
// A batch longer than size moved to an array of its own: nothing to
// give back.
func (n *Node) unreserve(buf []byte, size int) {
	if size > sendChunk/4 || len(buf) >= size || len(n.chunk) == 0 {
		return
	}
	end := len(n.chunk)
	if &n.chunk[end-1] == &buf[:size][size-1] {
		n.chunk = n.chunk[:end-(size-len(buf))]
	}
}

// expirePending forgets proposals so old their clients gave up long ago
// (their entries were lost in a leader change).
func (n *Node) expirePending(now time.Time) {
	if len(n.pending) == 0 || now.Sub(n.pendingFloor) <= n.cfg.PendingTimeout {
		return // none is older than the floor: none has expired
	}
	floor := now
	for k, p := range n.pending {
		if now.Sub(p.since) > n.cfg.PendingTimeout {
			n.probes.Hit(probePendingForgotten)
			delete(n.pending, k)
		} else if p.since.Before(floor) {
			floor = p.since
		}
	}
	n.pendingFloor = floor
}

// addPending records a proposal the node must answer once applied,
// keeping pendingFloor at or below the time of every pending proposal.
func (n *Node) addPending(key reqKey, p *proposal) {
	if len(n.pending) == 0 || p.since.Before(n.pendingFloor) {
		n.pendingFloor = p.since
	}
	n.pending[key] = p
}

// ---- conversions to the WAL's types ----

func walHardState(hs raft.HardState) wal.HardState {
	return wal.HardState{Term: hs.Term, Vote: hs.Vote, Commit: hs.Commit}
}

// walEntries converts ents to the WAL's type in n's reused buffer; the
// result is valid until the next call.
func (n *Node) walEntries(ents []raft.Entry) []wal.Entry {
	if len(ents) == 0 {
		return nil
	}
	out := n.walEnts[:0]
	for _, e := range ents {
		out = append(out, wal.Entry{Index: e.Index, Term: e.Term, Type: uint8(e.Type), Data: e.Data})
	}
	n.walEnts = out
	return out
}

func walMarker(m raft.SnapshotMeta) wal.SnapshotMarker {
	return wal.SnapshotMarker{Index: m.Index, Term: m.Term, ConfState: m.ConfState.Marshal()}
}

// ---- inspection for the harness and tests ----

// Status is a replica's raft view.
type Status struct {
	ID      host.NodeID
	Role    raft.Role
	Term    uint64
	Leader  host.NodeID
	Commit  uint64
	Applied uint64
	// Revision is the mvcc revision applied.
	Revision int64
	Alarm    bool
	Stopped  bool
	Reason   string
	// Recovering: rebuilding from the peers after corrupt storage.
	Recovering bool
}

// Status returns the replica's current status.
func (n *Node) Status() Status {
	st := Status{ID: n.id, Stopped: n.stopped, Reason: n.stopReason, Applied: n.applied, Alarm: n.alarm,
		Recovering: n.recovering}
	if n.rn != nil {
		// Into n's scratch status: raft's Status would copy the
		// configuration and build a leader's progress map, none of which
		// this reports (the harness asks on every lease check).
		rs := &n.statusBuf
		n.rn.StatusInto(rs)
		st.Role, st.Term, st.Leader, st.Commit = rs.Role, rs.Term, host.NodeID(rs.Lead), rs.Commit
	}
	if n.sm != nil {
		st.Revision = n.sm.store.CurrentRevision()
	}
	return st
}

// Hash returns the mvcc revision applied and the hash of the key space at
// it. Replicas at the same revision must have the same hash.
func (n *Node) Hash() (rev int64, hash uint64) {
	if n.sm == nil {
		return 0, 0
	}
	rev = n.sm.store.CurrentRevision()
	h, err := n.sm.store.Hash(rev)
	if err != nil {
		return rev, 0
	}
	return rev, h
}

// HashAt returns the hash of the key space at rev, if still in history.
func (n *Node) HashAt(rev int64) (uint64, error) {
	if n.sm == nil {
		return 0, fmt.Errorf("node %d: no state", n.id)
	}
	return n.sm.store.Hash(rev)
}

// AppliedIndex is the index of the last log entry applied.
func (n *Node) AppliedIndex() uint64 { return n.applied }

// Alarm reports whether the store hit its quota (writes refused).
func (n *Node) Alarm() bool { return n.alarm }

// CommittedLog returns the committed entries still held in the in-memory
// log (older ones are covered by a snapshot): first is the index of
// ents[0]. Replicas must agree on every index they both hold.
func (n *Node) CommittedLog() (first uint64, ents []raft.Entry) {
	if n.rn == nil {
		return 0, nil
	}
	commit := n.rn.Status().Commit
	first, _ = n.ms.FirstIndex()
	last, _ := n.ms.LastIndex()
	hi := min(commit, last)
	if hi < first {
		return first, nil
	}
	ents, err := n.ms.Entries(first, hi+1, 1<<62)
	if err != nil {
		return first, nil
	}
	return first, ents
}

// ctxBytes encodes a read batch number as a ReadIndex context.
func ctxBytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// msgSize estimates a raft message's encoded size, so that marshaling
// allocates once.
func msgSize(m *raft.Message) int {
	size := 80 + len(m.Context)
	for i := range m.Entries {
		size += len(m.Entries[i].Data) + 32
	}
	if m.Snapshot != nil {
		size += len(m.Snapshot.Data) + 64 + 10*(len(m.Snapshot.Meta.ConfState.Voters)+len(m.Snapshot.Meta.ConfState.Learners))
	}
	return size
}

// DebugString describes internal state for debugging.
func (n *Node) DebugString() string {
	s := fmt.Sprintf("readyBusy=%v snapshotting=%v snapIndex=%d pending=%d props=%d booting=%v",
		n.readyBusy, n.snapshotting, n.snapIndex, len(n.pending), len(n.props), n.booting)
	if n.rn != nil {
		st := n.rn.Status()
		s += fmt.Sprintf(" conf=%v", st.ConfState)
		for id, p := range st.Progress {
			s += fmt.Sprintf(" [%d match=%d next=%d state=%v active=%v]", id, p.Match, p.Next, p.State, p.RecentActive)
		}
	}
	if n.ms != nil {
		fi, _ := n.ms.FirstIndex()
		li, _ := n.ms.LastIndex()
		s += fmt.Sprintf(" ms=[%d,%d]", fi, li)
	}
	return s
}

// StopFile is the file a replica leaves on its disk when it stops for
// good. Its presence keeps the replica stopped on every later restart:
// wal.Open cuts a damaged WAL tail (durably) before the replica can judge
// it, so without this mark a second restart would find a clean, shorter
// WAL and silently forget the acknowledged state the damage took away.
const StopFile = "node.stopped"

// writeStopFile records the stop durably (the file and its directory
// entry are synced). Best effort: if it fails the disk is failing too.
func (n *Node) writeStopFile(reason string) {
	fs := n.h.FS()
	f, err := fs.Create(StopFile)
	if err != nil {
		return
	}
	b := []byte(truncate(reason, maxStopReason))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	_, _ = f.WriteAt(b, 0)
	f.Sync(func(error) {})
	fs.SyncDir(func(error) {}) // the entry too: a lost mark un-stops the replica
	_ = f.Close()
}

// maxStopReason bounds the reason kept in StopFile.
const maxStopReason = 4096

// readStopFile reports whether an earlier incarnation stopped for good,
// and why. The file's presence decides; its reason is checksummed, so
// that a later bit flip in it is reported instead of shown garbled.
func (n *Node) readStopFile() (string, bool) {
	f, err := n.h.FS().Open(StopFile)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b := make([]byte, min(f.Size(), maxStopReason+4))
	k, _ := f.ReadAt(b, 0)
	b = b[:k]
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return "(reason damaged on disk)", true
	}
	return string(b[:len(b)-4]), true
}
