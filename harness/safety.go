package harness

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// safetyChecker holds the cluster to Raft's safety properties while the
// run goes, from the events the replicas report (node.Observer):
//
//   - Election safety: at most one leader per term, over the whole run
//     (every leadership is reported as it begins, before the leader acts).
//   - State-machine safety, at apply time: every replica applies the same
//     entry (term and bytes) at a given index; a snapshot installed at an
//     index carries the term applied there.
//   - Durability: a replica that restarts recovers at least what it had
//     synced: a term (and vote) at least as recent, and every entry it had
//     applied (an applied entry is committed and durable on the replica),
//     in its log or under its snapshot. Only a replica that found its
//     storage damaged may come back with less, and it says so.
//
// A violation fails the run at once, naming the replicas, the index or
// term and the virtual time; the first one wins. It is deterministic: the
// replicas call it on the world's one goroutine, in event order.
type safetyChecker struct {
	now  func() time.Duration
	fail func(format string, args ...any)
	note func(format string, args ...any) // the run's account (may be nil)

	leaders map[uint64]host.NodeID // term -> the replica that led it
	// voterChanges are the membership operator's promotions and removals
	// (checkReadQuorum skips reads that overlap one).
	voterChanges []voterChange
	// wireOff: the system's messages are not seedkv's raft messages, so
	// the term, vote and quorum checks, which read the wire, are off.
	wireOff bool
	// newestTerm is the highest term a leader was elected in so far.
	newestTerm uint64
	// applied holds, by log index from appliedBase, the entry first
	// applied there, its bytes as a digest; the indices below appliedBase
	// were dropped (see prune): no replica can apply them again.
	applied     []appliedEntry
	appliedBase uint64
	sincePrune  int
	durable     map[host.NodeID]*durableState
	durableByID idTable[*durableState] // durable's entries, read by ID (replica)
	// retired, if set, says which replicas left the cluster for good
	// (they never apply again, so they do not hold back prune).
	retired func(host.NodeID) bool

	leaderships, applies, snapshots, boots, damaged int
	// ackLeader is scratch for checkAckMatches (the recipient's status).
	ackLeader raft.Status

	// The wire and live-commit checks (safety_promise.go); world is nil
	// until watchNet.
	world    *sim.World
	running  func(host.NodeID) bool // whether a replica's process runs
	pending  []promise              // acks sent before the checker saw them durable
	lostAcks []promise              // such acks whose replica crashed in that instant
	dirty    []host.NodeID          // leaders an ack reached, to check when it is stepped
	views    idTable[*leaderView]
	status   raft.Status      // checkCommit's, reused (raft.RawNode.StatusInto)
	progress []memberProgress // checkCommit's, reused
	// peers remembers what the wire checks read of each peer payload, so
	// that a message is read once, not at each hook (the run shares it
	// with the nemesis).
	peers *peerMemo

	terms  termState   // safety_term.go
	quorum quorumWatch // safety_quorum.go
	shadow shadowState // shadowboot.go
	// tainted reports whether a fault damaged a replica's disk (shadow
	// boots skip it); nil: none did.
	tainted func(host.NodeID) bool

	// heartbeats each replica stepped and has not answered yet, and
	// scratch for reading its status (check_hbcommit.go); hbView, if
	// set, stands in for the replicas there (unit tests).
	heartbeats map[host.NodeID][]heartbeatSeen
	hbStatus   raft.Status
	readStatus raft.Status // the ReadIndex checks', reused (statusOf)
	hbView     func(host.NodeID) (last uint64, inc any, ok bool)

	promises, commitChecks, completeness, reads int
	elections                                   []election // see safety_read.go
	// skipVotes and skipCompleteness turn the durable-vote and leader
	// completeness checks off (tests whose replicas forge grants, to
	// exercise the other checks).
	skipVotes, skipCompleteness bool
	// viewOf, if set, stands in for the replicas' nodes in the leader
	// completeness check (unit tests).
	viewOf func(host.NodeID) leaderLog
	// onLeader, if set, hears of every new leader (the membership
	// operator aims changes at them).
	onLeader func(id host.NodeID)
}

// appliedEntry is the entry first applied at an index.
type appliedEntry struct {
	term uint64
	// within bounds the term the entry was committed in: the newest
	// leader term seen when it was first applied (a commit needs a leader
	// of the commit term, elected before it).
	within   uint64
	sum      uint64      // its bytes' digest (digestEntry)
	n        int         // and their length
	by       host.NodeID // the first replica to apply it
	at       time.Duration
	set      bool
	haveData bool // false if only a snapshot covered the index so far
}

// durableState is what one replica has made durable, as far as its events
// show: the newest term (and vote) it synced, the log entry a restart must
// find (node.Observer.DurableLog) and the highest entry it applied.
type durableState struct {
	term, vote           uint64
	logIndex, logTerm    uint64
	applied, appliedTerm uint64
	// hold is logIndex for the commit check, except that it is not
	// lowered while a received snapshot replaces the log (the replica
	// held its entries until the snapshot supersedes them).
	hold       uint64
	wasDamaged bool // found its storage damaged once: the commit check trusts it
}

var _ node.Observer = (*safetyChecker)(nil)

func newSafetyChecker(now func() time.Duration, fail func(format string, args ...any)) *safetyChecker {
	return &safetyChecker{now: now, fail: fail, leaders: map[uint64]host.NodeID{},
		durable: map[host.NodeID]*durableState{}, peers: &peerMemo{}}
}

func (s *safetyChecker) replica(id host.NodeID) *durableState {
	if d := s.durableByID.get(id); d != nil {
		return d
	}
	d := s.durable[id]
	if d == nil {
		d = &durableState{}
		s.durable[id] = d
	}
	s.durableByID.set(id, d)
	return d
}

// BecameLeader checks election safety.
func (s *safetyChecker) BecameLeader(id host.NodeID, term uint64) {
	s.leaderships++
	if prev, ok := s.leaders[term]; ok && prev != id {
		s.fail("election safety: replica %d became leader of term %d at %v, which replica %d led already",
			id, term, s.now(), prev)
		return
	}
	s.leaders[term] = id
	s.noteTermSource(id, term)
	s.quorumLeader(id, term)
	s.checkVotes(id, term)
	s.noteElection(id, term)
	s.checkCompleteness(id, term)
	s.newestTerm = max(s.newestTerm, term)
	if s.onLeader != nil {
		s.onLeader(id)
	}
}

// Applied checks state-machine safety for one applied entry.
func (s *safetyChecker) Applied(id host.NodeID, index, term uint64, data []byte) {
	s.applies++
	s.noteApplied(id, index, term)
	e := s.entry(index)
	switch {
	case e == nil:
		// Below every replica's snapshot when it was dropped: only a
		// replica whose storage went back past its own snapshot could
		// apply it again (the durability check at its boot fails then).
	case !e.set:
		*e = appliedEntry{term: term, within: s.newestTerm, by: id, at: s.now(), set: true}
		s.keep(e, data)
	case e.term != term:
		s.fail("state-machine safety: replica %d applied index %d of term %d at %v, replica %d applied it with term %d at %v",
			id, index, term, s.now(), e.by, e.term, e.at)
	case !e.haveData:
		s.keep(e, data)
	case e.n != len(data) || e.sum != digestEntry(data):
		s.fail("state-machine safety: replica %d applied index %d (term %d) at %v with other bytes (%d) than replica %d (%d) at %v",
			id, index, term, s.now(), len(data), e.by, e.n, e.at)
	}
}

// AppliedSnapshot checks that a snapshot agrees with what was applied at
// its index.
func (s *safetyChecker) AppliedSnapshot(id host.NodeID, index, term uint64) {
	s.snapshots++
	s.noteApplied(id, index, term)
	e := s.entry(index)
	switch {
	case e == nil: // dropped, see Applied
	case !e.set:
		*e = appliedEntry{term: term, within: s.newestTerm, by: id, at: s.now(), set: true}
	case e.term != term:
		s.fail("state-machine safety: replica %d installed a snapshot at index %d of term %d at %v, replica %d applied index %d with term %d at %v",
			id, index, term, s.now(), e.by, index, e.term, e.at)
	}
}

// Synced notes the newest durable term and vote of a replica.
func (s *safetyChecker) Synced(id host.NodeID, term, vote uint64) {
	s.checkDoubleVote(id, term, vote)
	if vote == uint64(id) {
		// A durable vote for itself: it campaigned in term, even if its
		// vote requests never went out (it crashed first).
		s.noteTermSource(id, term)
	}
	d := s.replica(id)
	if term > d.term || (term == d.term && vote != 0) {
		d.term, d.vote = term, vote
	}
}

// DurableLog notes the entry a restart of the replica must find.
func (s *safetyChecker) DurableLog(id host.NodeID, index, term uint64) {
	d := s.replica(id)
	d.logIndex, d.logTerm = index, term
	if index > 0 || term > 0 {
		d.hold = index
	}
	s.ackDurable(id, index)
}

// Booted checks that a restart recovered what the replica had synced.
func (s *safetyChecker) Booted(id host.NodeID, r node.Recovered) {
	s.boots++
	s.noteTermSource(id, r.Term)
	d := s.replica(id)
	lost := "lost synced data: replica %d restarted at %v "
	switch {
	case r.Term < d.term:
		s.fail(lost+"with term %d, but it had synced term %d", id, s.now(), r.Term, d.term)
		return
	case r.Term == d.term && d.vote != 0 && r.Vote != d.vote:
		s.fail(lost+"with its vote in term %d for %d, but it had synced a vote for %d", id, s.now(), r.Term, r.Vote, d.vote)
		return
	}
	s.checkHolds(id, r, d.applied, d.appliedTerm, "applied (so synced)")
	s.checkHolds(id, r, d.logIndex, d.logTerm, "synced")
	s.bootedAcks(id, r)
	// What the disk kept through the crash is durable now (a torn write
	// may have kept more than the last sync).
	if t, ok := r.TermAt(r.LastIndex); ok || r.LastIndex == r.SnapIndex {
		if !ok {
			t = r.SnapTerm
		}
		d.logIndex, d.logTerm, d.hold = r.LastIndex, t, r.LastIndex
	}
}

// checkHolds requires the recovered log of replica id to hold the entry
// (index, term), or a snapshot past it.
func (s *safetyChecker) checkHolds(id host.NodeID, r node.Recovered, index, term uint64, what string) {
	if index == 0 || index <= r.SnapIndex {
		return
	}
	lost := "lost synced data: replica %d restarted at %v "
	t, ok := r.TermAt(index)
	switch {
	case !ok:
		s.fail(lost+"with its log ending at index %d (snapshot at %d), but it had %s entry %d of term %d",
			id, s.now(), r.LastIndex, r.SnapIndex, what, index, term)
	case t != term:
		s.fail(lost+"holding entry %d of term %d, but it had %s that entry with term %d",
			id, s.now(), index, t, what, term)
	}
}

// Stopped: a replica that stops for good is, to the others, a crash.
func (s *safetyChecker) Stopped(id host.NodeID, reason string) {}

// Damaged forgets what the replica held: it found its storage damaged and
// recovers from its peers (or stops), knowingly with less.
func (s *safetyChecker) Damaged(id host.NodeID, cause string) {
	s.damaged++
	if s.note != nil {
		s.note("replica %d found its storage damaged: %s", id, cause)
	}
	*s.replica(id) = durableState{wasDamaged: true}
	s.ackDurable(id, 1<<63)
	for i := 0; i < len(s.lostAcks); i++ {
		if s.lostAcks[i].from == id {
			s.lostAcks = append(s.lostAcks[:i], s.lostAcks[i+1:]...)
			i--
		}
	}
}

// noteApplied raises the replica's highest applied entry.
func (s *safetyChecker) noteApplied(id host.NodeID, index, term uint64) {
	d := s.replica(id)
	if index > d.applied {
		d.applied, d.appliedTerm = index, term
	}
}

// entry returns the record of index, growing the table as needed; nil
// if index was dropped (below appliedBase).
func (s *safetyChecker) entry(index uint64) *appliedEntry {
	if index < s.appliedBase {
		return nil
	}
	for s.appliedBase+uint64(len(s.applied)) <= index {
		s.applied = append(s.applied, appliedEntry{})
	}
	return &s.applied[index-s.appliedBase]
}

// lastApplied is the highest index on record (0: none).
func (s *safetyChecker) lastApplied() uint64 {
	if len(s.applied) == 0 {
		return 0
	}
	return s.appliedBase + uint64(len(s.applied)) - 1
}

// keep records data as the bytes of e, by digest and length.
func (s *safetyChecker) keep(e *appliedEntry, data []byte) {
	e.sum, e.n, e.haveData = digestEntry(data), len(data), true
	s.sincePrune++
	if s.sincePrune >= pruneEvery {
		s.sincePrune = 0
		s.prune()
	}
}

// digestEntry is a 64-bit digest of an entry's bytes, eight at a time
// (the last few as FNV-1a does). Each step is one-to-one in h (xor with
// the word, times an odd number, then h ^= h>>29; FNV-1a's per byte), so
// two entries of one length (the check compares lengths too) that differ
// in one word differ in their digests always, and in more words but for
// a chance of about 2^-64 (the bytes are the workload's, not an
// adversary's), as with the byte-wise FNV-1a it replaces at an eighth of
// the steps.
func digestEntry(data []byte) uint64 {
	h := uint64(14695981039346656037)
	for len(data) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(data)) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		data = data[8:]
	}
	for _, b := range data {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}

// pruneEvery is how many applied entries the checker records between two
// attempts to drop old ones.
const pruneEvery = 1024

// prune drops the records of the indices no replica can apply again, so
// that the table is the size of the replicas' logs, not of the run: an
// index below every (non-retired) replica's compacted log. A replica
// applies an index again only after a restart, from its log above its
// snapshot (which covers what it compacted), and a snapshot it installs
// is at or above its sender's compaction point; so a record below all of
// them is never compared again. The completeness check reads the highest
// record committed before a new leader's term: below every replica's
// compaction point it would find the index compacted on the leader and
// check nothing. A replica that does not run now (or not a seedkv node)
// holds pruning back: its disk may hold less than its memory did.
func (s *safetyChecker) prune() {
	floor := s.lastApplied()
	if floor <= s.appliedBase || len(s.durable) == 0 {
		return
	}
	for id := range s.durable { // a minimum: the order of the visit does not matter
		if s.retired != nil && s.retired(id) {
			continue
		}
		n := s.nodeOf(id)
		if n == nil || s.running == nil || !s.running(id) {
			return
		}
		if stopped, _ := n.Stopped(); stopped {
			// Stopped for good (its disk was damaged): it applies nothing
			// again; rebuilt, it starts from a snapshot at or above its
			// sender's compaction point, like any replica.
			continue
		}
		floor = min(floor, compactedBelow(n, s.appliedBase, floor))
	}
	// Drop the indices below floor-1 (the snapshot at floor-1 may still
	// be installed), when that halves the table at least. A replica that
	// holds its log from index 0 (compactedBelow's lo, when nothing was
	// dropped yet) leaves floor at 0: nothing to drop (default seed 5807
	// on main f539fc1's draws panicked on floor-1).
	if floor <= s.appliedBase+1 {
		return
	}
	if drop := floor - 1 - s.appliedBase; drop > uint64(len(s.applied))/2 {
		s.applied = append([]appliedEntry(nil), s.applied[drop:]...)
		s.appliedBase += drop
	}
}

// compactedBelow is the replica's first log index (what it has not
// compacted), searched in [lo, hi]: hi if it holds everything from lo.
func compactedBelow(n *node.Node, lo, hi uint64) uint64 {
	for lo < hi {
		mid := lo + (hi-lo)/2
		if _, _, compacted := n.LogTerm(mid); compacted {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// summary describes what was checked, for the run's account.
func (s *safetyChecker) summary() string {
	if s.leaderships == 0 && s.applies == 0 && s.boots == 0 {
		return "safety: skipped (the replicas report no leadership, apply or restart events)"
	}
	return fmt.Sprintf("safety: %d leaderships in %d terms, one leader each, %d holding the last applied entry; %d entries applied and %d snapshots installed, the same at each index; %d restarts recovered what was synced (%d damaged storage found); %d votes and acks sent durable; %d leader commits held by a durable quorum; %d linearizable reads answered in the newest term elected before their call",
		s.leaderships, len(s.leaders), s.completeness, s.applies, s.snapshots, s.boots, s.damaged, s.promises, s.commitChecks, s.reads)
}

// LogEntry is one raft log entry, as the log checks see it.
type LogEntry struct {
	Index, Term uint64
	Data        []byte
}

// LogInspector is implemented by replicas whose raft log can be read after
// a run: every entry they hold, committed or not, in index order without
// gaps, and their commit index. Replicas that do not implement it are left
// out of the log checks (and the account says so).
type LogInspector interface {
	RaftLog() (ents []LogEntry, commit uint64)
}

// heldLog is one replica's log, for the log checks.
type heldLog struct {
	id     host.NodeID
	ents   []LogEntry
	commit uint64
}

func (l *heldLog) first() uint64 { return l.ents[0].Index }
func (l *heldLog) last() uint64  { return l.ents[len(l.ents)-1].Index }
func (l *heldLog) at(i uint64) *LogEntry {
	return &l.ents[i-l.first()]
}

// heldLogs reads the log of every inspectable replica; it reports an error
// if one is not contiguous.
func heldLogs(ids []host.NodeID, ins []Inspector) ([]heldLog, error) {
	var logs []heldLog
	for k, in := range ins {
		li, ok := in.(LogInspector)
		if !ok {
			continue
		}
		ents, commit := li.RaftLog()
		for j := 1; j < len(ents); j++ {
			if ents[j].Index != ents[j-1].Index+1 {
				return nil, fmt.Errorf("log matching: replica %d reports a log with a gap: index %d after %d",
					ids[k], ents[j].Index, ents[j-1].Index)
			}
		}
		if len(ents) > 0 {
			logs = append(logs, heldLog{ids[k], ents, commit})
		}
	}
	return logs, nil
}

// checkLogs runs the log checks over every pair of replicas: Log Matching
// on every entry both hold, and agreement on every index both committed.
// It returns how many entry pairs were compared.
func checkLogs(ids []host.NodeID, ins []Inspector) (int, error) {
	logs, err := heldLogs(ids, ins)
	if err != nil {
		return 0, err
	}
	compared := 0
	for a := range logs {
		for b := a + 1; b < len(logs); b++ {
			n, err := matchLogs(&logs[a], &logs[b])
			compared += n
			if err != nil {
				return compared, err
			}
		}
	}
	return compared, nil
}

// matchLogs checks two logs over the indexes both hold. Log Matching: if
// they hold an entry of the same index and term, they hold the same entry
// there and the same entries at every index before it. Committed
// agreement: at an index both committed, the same entry.
func matchLogs(x, y *heldLog) (int, error) {
	lo, hi := max(x.first(), y.first()), min(x.last(), y.last())
	if lo > hi {
		return 0, nil
	}
	committed := min(x.commit, y.commit)
	matched := uint64(0) // the highest index with the same term in both
	compared := 0
	for i := hi; i >= lo; i-- {
		ex, ey := x.at(i), y.at(i)
		compared++
		same := ex.Term == ey.Term && bytes.Equal(ex.Data, ey.Data)
		switch {
		case same && matched == 0:
			matched = i
		case !same && matched != 0:
			return compared, fmt.Errorf("log matching: replicas %d and %d both hold index %d of term %d, but differ at index %d (%d has term %d, %d bytes; %d has term %d, %d bytes)",
				x.id, y.id, matched, x.at(matched).Term, i, x.id, ex.Term, len(ex.Data), y.id, ey.Term, len(ey.Data))
		case !same && ex.Term == ey.Term:
			return compared, fmt.Errorf("log matching: replicas %d and %d hold different entries at index %d of term %d (%d and %d bytes)",
				x.id, y.id, i, ex.Term, len(ex.Data), len(ey.Data))
		case !same && i <= committed:
			return compared, fmt.Errorf("log agreement: index %d is committed on replicas %d and %d, with term %d on %d and term %d on %d",
				i, x.id, y.id, ex.Term, x.id, ey.Term, y.id)
		}
		if i == lo {
			break
		}
	}
	return compared, nil
}

// damagedNote explains a cluster that cannot make progress because too
// many replicas found their storage damaged (lost synced data or
// corruption, found at restart): they are recovering, and a recovering
// replica grants no vote. Empty if no replica is recovering.
func (r *seedRun) damagedNote() string {
	var ids []host.NodeID
	for _, id := range r.replicas {
		if rc, ok := r.inspectorOf(r.w.Process(id)).(Recoverer); ok {
			if on, _ := rc.Recovering(); on {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return ""
	}
	s := fmt.Sprintf("; %d of %d replicas %v are recovering from damaged storage (lost synced data or corruption found at restart)",
		len(ids), len(r.replicas), ids)
	if 2*len(ids) >= len(r.replicas) {
		s += ": no quorum can form without them, beyond the fault model"
	}
	return s
}
