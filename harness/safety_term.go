package harness

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/internal/varint"
	"github.com/seedkv/seedkv/raft"
)

// Checks of Raft's term and vote rules, from the messages on the wire and
// the replicas' live raft status (see safetyChecker). Each names the rule
// the first time a replica breaks it, whether or not the break ever costs
// a committed entry:
//
//   - One vote per term: a replica never makes durable a vote in a term
//     for another candidate than the one it had made durable there.
//   - Terms move only for a reason (§5.1): a replica sends a message of
//     term T only if it campaigned in T (it is a candidate or leader of T
//     as it sends, it made a vote for itself in T durable, or it was
//     granted pre-votes for T), led T, restarted in T (or, recovering
//     from lost storage, raised its term to its vote floor), or received any
//     other message of term T but a pre-vote request (which carries the
//     pre-candidate's future term). A pre-vote that raised the receiver's
//     term, or a term made up, shows here.
//   - A leader steps down on a higher term (§5.1): right after a leader
//     of term t stepped a message of term T > t that is not a (pre-)vote
//     request (a leader in its CheckQuorum lease may ignore those), it no
//     longer leads term t.
//   - The election restriction (§5.4.1) on every grant: a replica grants
//     a vote or a pre-vote only to a candidate whose log (last index and
//     term, in the request) is at least as up to date as the entry at the
//     replica's own last entry when the request arrives (raft's log,
//     unstable entries included; raft.Status LastIndex, LastTerm). A
//     grant behind the commit entry is named so: that entry never leaves
//     the log, so such a grant breaks the rule whatever else happens. A
//     grant to a longer log of an older last term (a length-only
//     comparison) shows at the first such request, without waiting for
//     the new leader to overwrite a committed entry.

// bootTerm is the term a bootstrapped cluster starts in.
var bootTerm = raft.BootstrapSnapshot(nil, nil).Meta.Term

// termState is what the term checks track per replica.
type termState struct {
	// ceil is the highest term the replica may have reached (see
	// noteTermSource); sent is the highest term it sent a message in.
	ceil, sent idTable[uint64]
	// behind are vote requests delivered to a replica whose commit entry
	// is more up to date than the candidate's log.
	behind []staleRequest
	// grantable are the vote requests that reached a voter when it could
	// grant them: a grant may answer such a request even after an
	// identical copy arrived behind the voter's grown log.
	grantable map[requestCopy]bool
	// hbResp is when each voter last sent a heartbeat answer to each
	// leader (keyed leader, voter).
	hbResp pairTable[time.Duration]
	// grants are the voters that sent a granted vote to a candidate in a
	// term; acks the highest index each replica acknowledged to each
	// leader in each term.
	grants map[voteKey][]host.NodeID
	acks   ackTable
	checks int
}

// voteKey names one candidacy.
type voteKey struct {
	cand host.NodeID
	term uint64
}

// ackKey names the acknowledgements of one follower to one leader in one
// term.
type ackKey struct {
	from, to host.NodeID
	term     uint64
}

// ackTable is the highest index each replica acknowledged to each leader
// in each term: a map by ackKey in effect (0 when none), kept as a
// pair-indexed table of short per-term lists for the replica IDs below
// ackDense, searched from the newest term (acknowledgements come in the
// current one), instead of hashing a three-word key for every
// acknowledgement sent and every member at every commit check. Larger
// IDs go to a map.
type ackTable struct {
	n     int         // the table covers IDs below n
	pairs [][]termMax // by from*n + to
	big   map[ackKey]uint64
}

// termMax is the highest index acknowledged in one term.
type termMax struct{ term, index uint64 }

// ackDense bounds the IDs ackTable keeps in its table.
const ackDense = denseIDs

// list is the per-term list of (from, to), growing the table to cover
// them; nil if either ID is too large for it.
func (t *ackTable) list(from, to host.NodeID, grow bool) *[]termMax {
	if from >= ackDense || to >= ackDense {
		return nil
	}
	if int(max(from, to)) >= t.n {
		if !grow {
			return nil
		}
		n := max(8, t.n)
		for int(max(from, to)) >= n {
			n *= 2
		}
		pairs := make([][]termMax, n*n)
		for f := range t.n {
			copy(pairs[f*n:f*n+t.n], t.pairs[f*t.n:(f+1)*t.n])
		}
		t.n, t.pairs = n, pairs
	}
	return &t.pairs[int(from)*t.n+int(to)]
}

// note raises k's index to at least index.
func (t *ackTable) note(k ackKey, index uint64) {
	l := t.list(k.from, k.to, true)
	if l == nil {
		if t.big == nil {
			t.big = map[ackKey]uint64{}
		}
		t.big[k] = max(t.big[k], index)
		return
	}
	for i := len(*l) - 1; i >= 0; i-- {
		if e := &(*l)[i]; e.term == k.term {
			e.index = max(e.index, index)
			return
		}
	}
	*l = append(*l, termMax{k.term, index})
}

// get is k's index, 0 if none was noted.
func (t *ackTable) get(k ackKey) uint64 {
	if k.from >= ackDense || k.to >= ackDense {
		return t.big[k]
	}
	l := t.list(k.from, k.to, false)
	if l == nil {
		return 0
	}
	for i := len(*l) - 1; i >= 0; i-- {
		if e := (*l)[i]; e.term == k.term {
			return e.index
		}
	}
	return 0
}

// requestCopy names a vote or pre-vote request by everything it carries:
// copies of one request (a duplicate, a replay) are equal.
type requestCopy struct {
	voter, cand    host.NodeID
	term           uint64
	pre            bool
	index, logTerm uint64 // the candidate's log, from the request
}

// staleRequest is a vote or pre-vote request that must not be granted.
type staleRequest struct {
	requestCopy
	commit, commitAt uint64 // the voter's commit (or last) index and its term
	last             bool   // commit, commitAt are the voter's last entry
}

// peerHeader is the start of a raft message on the wire.
type peerHeader struct {
	typ                  raft.MessageType
	reject               bool
	to, from             uint64
	term, logTerm, index uint64
}

// readPeerHeader decodes a peer payload's message header (type, flags,
// to, from, term, log term, index) without decoding the rest; ok is false
// for anything else.
func readPeerHeader(p []byte) (h peerHeader, ok bool) {
	if len(p) < 4 || api.Envelope(p[0]) != api.EnvelopePeer {
		return h, false
	}
	h.typ, h.reject = raft.MessageType(p[2]), p[3]&1 != 0
	b := p[4:]
	var vals [5]uint64
	for i := range vals {
		if v, n := varint.Short(b); n > 0 { // most are: inlined
			vals[i], b = v, b[n:]
			continue
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return h, false
		}
		vals[i], b = v, b[n:]
	}
	h.to, h.from, h.term, h.logTerm, h.index = vals[0], vals[1], vals[2], vals[3], vals[4]
	return h, true
}

// raisesTerm reports whether a replica that steps a message of type t
// with a higher term must adopt that term (before anything else).
func raisesTerm(t raft.MessageType) bool {
	return t != raft.MsgVote && t != raft.MsgPreVote && t != raft.MsgPreVoteResp
}

// mayRaiseTerm reports whether a message may raise its receiver's term to
// the message's: every type but a pre-vote request. (A granted pre-vote
// answer carries the term its pre-candidate campaigns in once it won.)
func mayRaiseTerm(h peerHeader) bool { return h.typ != raft.MsgPreVote }

func (t *termState) init() {
	if t.grants == nil {
		t.grants = map[voteKey][]host.NodeID{}
	}
}

// noteTermSource raises the term id may have reached.
func (s *safetyChecker) noteTermSource(id host.NodeID, term uint64) {
	s.terms.init()
	if term > s.terms.ceil.get(id) {
		s.terms.ceil.set(id, term)
	}
}

// checkDoubleVote holds a synced vote to the one vote per term rule; it
// runs before Synced records it.
func (s *safetyChecker) checkDoubleVote(id host.NodeID, term, vote uint64) {
	d := s.replica(id)
	if term == d.term && d.vote != 0 && vote != 0 && vote != d.vote {
		s.fail("election safety: replica %d made durable a vote for %d in term %d at %v, but it had made durable a vote for %d in that term",
			id, vote, term, s.now(), d.vote)
	}
}

// onSendTerm checks a message as it leaves: its term must have a source,
// and a granted vote must not go to a candidate behind the voter.
func (s *safetyChecker) onSendTerm(from, to host.NodeID, p []byte) {
	in := s.peers.read(p)
	h, ok := in.hdr, in.hdrOK
	if !ok || h.term == 0 {
		return
	}
	s.terms.init()
	term := h.term
	switch h.typ {
	case raft.MsgHeartbeat:
		s.quorumHeartbeat(from, term)
	case raft.MsgHeartbeatResp:
		s.terms.hbResp.set([2]host.NodeID{to, from}, s.now())
		s.checkHeartbeatAnswer(from, to, term, h.reject)
	case raft.MsgReadIndexResp:
		s.checkReadIndexTerm(from, to, term, h.index)
	case raft.MsgVote:
		s.noteTermSource(from, term) // its own campaign
	case raft.MsgPreVote:
		term-- // a pre-vote asks for the next term
	case raft.MsgAppResp:
		if !h.reject {
			s.noteAck(from, to, h)
			s.shadowOnSend(from, to, h)
		}
	case raft.MsgPreVoteResp, raft.MsgVoteResp:
		if !h.reject {
			s.checkGrant(from, to, h)
			s.shadowOnSend(from, to, h)
			if h.typ == raft.MsgVoteResp {
				k := voteKey{to, h.term}
				s.terms.grants[k] = append(s.terms.grants[k], from)
			}
			if h.typ == raft.MsgPreVoteResp {
				return // carries the pre-candidate's future term
			}
		}
	}
	s.terms.checks++
	if c := max(s.terms.ceil.get(from), bootTerm); term > c && !s.campaigning(from, term) {
		s.fail("term rule: replica %d sent %s in term %d to %d at %v, but it never campaigned in, led or heard of a term above %d (only a message that may raise a term can: not a pre-vote)",
			from, h.typ, term, to, s.now(), c)
		return
	}
	if term > s.terms.sent.get(from) {
		s.terms.sent.set(from, term)
	}
}

// campaigning reports whether replica id leads or campaigns in term now:
// its own election raised its term (and a candidate may answer a pre-vote
// in its new term before its vote requests, which wait for its sync, go
// out). A replica that voted for itself in term campaigned there, even if
// it is a pre-candidate for the next term by now: a paused replica whose
// timers all fire at once on resume campaigns twice before its first
// campaign's vote is durable, and its pre-vote for term+1 leaves at once
// (seed 846 of -faults all -nodes 3).
func (s *safetyChecker) campaigning(id host.NodeID, term uint64) bool {
	n := s.nodeOf(id)
	if n == nil {
		return false
	}
	st := n.RaftStatus()
	rec, _ := n.Recovering()
	self := st.Vote == uint64(id)
	if st.Term == term && (st.Role == raft.RoleCandidate || st.Role == raft.RoleLeader || self || rec) {
		// A recovering replica raises its term to its vote floor, the
		// highest term it may have reached before its storage was lost.
		s.noteTermSource(id, term)
		return true
	}
	return false
}

// onDeliverTerm notes the term a delivered message may raise its receiver
// to, and checks a vote request against the receiver's commit index
// before the receiver steps it.
func (s *safetyChecker) onDeliverTerm(from, to host.NodeID, p []byte) {
	in := s.peers.read(p)
	h, ok := in.hdr, in.hdrOK
	if !ok || h.term == 0 {
		return
	}
	if mayRaiseTerm(h) {
		s.noteTermSource(to, h.term)
	}
	s.quorumDelivered(from, to, h)
	if h.typ == raft.MsgVote || h.typ == raft.MsgPreVote {
		s.noteVoteRequest(from, to, h)
	}
	if h.typ == raft.MsgHeartbeat {
		s.noteHeartbeat(from, to, h.term, p)
	}
}

// noteVoteRequest records a vote request whose candidate is behind the
// entry at the voter's commit index: granting it breaks §5.4.1.
func (s *safetyChecker) noteVoteRequest(cand, voter host.NodeID, h peerHeader) {
	n := s.nodeOf(voter)
	if n == nil {
		return
	}
	st := n.RaftStatus()
	if h.term < st.Term {
		// Raft ignores (or refuses) a request of a term below its own: a
		// late copy, granted by nothing. A grant that follows answers an
		// earlier copy, which keeps its record (seed 2 of a 1 h run: a
		// paused voter granted a vote, then stepped a newer term, then a
		// duplicate of the request; its log had grown meanwhile).
		return
	}
	// Keep only the newest request of each candidate to each voter.
	for i := 0; i < len(s.terms.behind); i++ {
		if r := s.terms.behind[i]; r.voter == voter && r.cand == cand {
			s.terms.behind = slices.Delete(s.terms.behind, i, i+1)
			i--
		}
	}
	key := requestCopy{voter: voter, cand: cand, term: h.term, pre: h.typ == raft.MsgPreVote, index: h.index, logTerm: h.logTerm}
	r := staleRequest{requestCopy: key}
	if s.terms.grantable[key] {
		// An earlier copy reached the voter when it could grant it; a
		// voter busy with a slow sync sends that grant only later, after
		// this copy (seed 9030 of -faults all -nodes 7), and the grant may
		// answer either.
		return
	}
	if c := st.Commit; c != 0 {
		if ct, ok, _ := n.LogTerm(c); ok && !atLeastAsUpToDate(h.logTerm, h.index, ct, c) {
			r.commit, r.commitAt = c, ct
			s.terms.behind = append(s.terms.behind, r)
			return
		}
	}
	// Behind the voter's last entry (unstable ones included: raft
	// compares with those too). A voter that already voted for this
	// candidate in this term may still owe the grant of an earlier copy
	// of the request, made while its log was shorter: skip it.
	if st.LastIndex == 0 || (!r.pre && st.Term == h.term && st.Vote == uint64(cand)) ||
		atLeastAsUpToDate(h.logTerm, h.index, st.LastTerm, st.LastIndex) {
		if s.terms.grantable == nil {
			s.terms.grantable = map[requestCopy]bool{}
		}
		s.terms.grantable[key] = true
		return
	}
	r.commit, r.commitAt, r.last = st.LastIndex, st.LastTerm, true
	s.terms.behind = append(s.terms.behind, r)
}

// atLeastAsUpToDate reports whether a log ending at (index, term) is at
// least as up to date as one ending at (refIndex, refTerm) (§5.4.1).
func atLeastAsUpToDate(term, index, refTerm, refIndex uint64) bool {
	return term > refTerm || (term == refTerm && index >= refIndex)
}

// checkGrant fails if voter grants the request it was asked that the
// election restriction forbids.
func (s *safetyChecker) checkGrant(voter, cand host.NodeID, h peerHeader) {
	pre := h.typ == raft.MsgPreVoteResp
	for i, r := range s.terms.behind {
		if r.voter != voter || r.cand != cand || r.term != h.term || r.pre != pre {
			continue
		}
		s.terms.behind = slices.Delete(s.terms.behind, i, i+1)
		what := "vote"
		if pre {
			what = "pre-vote"
		}
		which := "commit"
		if r.last {
			which = "last"
		}
		s.fail("election restriction: replica %d granted its %s in term %d to %d at %v, whose log ends at index %d of term %d, behind the entry at its own %s index %d (term %d) (Raft §5.4.1)",
			voter, what, h.term, cand, s.now(), r.index, r.logTerm, which, r.commit, r.commitAt)
		return
	}
}

// afterReceive runs right after replica id stepped a payload from the
// network: a leader that stepped a message of a higher term (one that
// must raise its term) no longer leads its old term.
func (s *safetyChecker) afterReceive(id host.NodeID, p []byte) {
	if s.wireOff {
		return // what it compares with is read on the wire
	}
	in := s.peers.read(p)
	h, ok := in.hdr, in.hdrOK
	if !ok || h.term == 0 || !raisesTerm(h.typ) || h.term <= s.terms.sent.get(id) {
		return // not a higher term than the replica already sent in
	}
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	if stopped, _ := n.Stopped(); stopped {
		return // it stepped nothing: a stopped or halted replica is inert
	}
	st := n.RaftStatus()
	if st.Role == raft.RoleLeader && st.Term < h.term &&
		(slices.Contains(st.ConfState.Voters, h.from) || slices.Contains(st.ConfState.Learners, h.from)) {
		s.fail("term rule: leader %d of term %d stepped %s of term %d from %d at %v and still leads (a higher term must depose it, Raft §5.1)",
			id, st.Term, h.typ, h.term, h.from, s.now())
	}
}

// checkReadQuorum holds a linearizable read that a leader answered itself
// to ReadIndex: the leader confirmed it still led after the read arrived,
// with heartbeat answers from a quorum of its voters (itself included),
// and every one of those was sent after the read was called. A leader
// that counts an answer of an earlier round, one follower's answer alone
// or none at all shows here, even when no newer leader was elected yet.
//
// The check runs when the client gets the answer and reads the leader's
// voters then, so it is skipped for a read that overlaps a change of the
// voters (a promotion or a removal between its sending and its answer,
// plus a second for the other replicas to apply it; seeds 1507 and 1309
// of -faults all on fb3c43d: a learner promoted, a voter removed right
// after the leader answered).
func (s *safetyChecker) checkReadQuorum(client int, call time.Duration, hdr api.Header) {
	if s.wireOff {
		return // what it compares with is read on the wire
	}
	lead, ok := s.leaders[hdr.RaftTerm]
	if !ok || lead != hdr.Member || s.votersChanging(call) {
		return // a follower answered: its term may be newer than the round's
	}
	n := s.nodeOf(lead)
	if n == nil {
		return
	}
	voters := s.statusOf(n).ConfState.Voters
	if len(voters) <= 1 {
		return
	}
	s.terms.init()
	if acked := s.readAcks(lead, voters, call); 2*acked <= len(voters) {
		s.fail("read quorum: client %d's linearizable read called at %v was answered by leader %d in term %d, but only %d of its %d voters %v (itself included) sent it a heartbeat answer after the call: ReadIndex must confirm the leadership with a quorum after the read arrives",
			client, call, lead, hdr.RaftTerm, acked, len(voters), voters)
	}
}

// voterChange is a change of the voters the membership operator asked
// for: from its sending to its answer (open: unanswered, or timed out so
// it may still apply).
type voterChange struct{ from, to time.Duration }

// voterChangeApply is how long after its answer a change of the voters
// may still be applied by some replica.
const voterChangeApply = time.Second

// voterChangeSent notes a promotion or removal sent now; it returns its
// index for voterChangeAnswered.
func (s *safetyChecker) voterChangeSent() int {
	s.voterChanges = append(s.voterChanges, voterChange{from: s.now(), to: time.Duration(math.MaxInt64)})
	return len(s.voterChanges) - 1
}

// voterChangeAnswered closes change i, unless its outcome is unknown.
func (s *safetyChecker) voterChangeAnswered(i int, err error) {
	if !errors.Is(err, client.ErrTimeout) {
		s.voterChanges[i].to = s.now() + voterChangeApply
	}
}

// votersChanging reports whether a change of the voters overlaps the
// span from call to now.
func (s *safetyChecker) votersChanging(call time.Duration) bool {
	now := s.now()
	for _, c := range s.voterChanges {
		if c.from <= now && c.to >= call {
			return true
		}
	}
	return false
}

// readAcks counts the voters (the leader included) that answered a
// heartbeat of the leader after call; a voter that never answered it
// joined since and counts.
func (s *safetyChecker) readAcks(lead host.NodeID, voters []uint64, call time.Duration) int {
	acked := 0
	for _, v := range voters {
		at, ever := s.terms.hbResp.get([2]host.NodeID{lead, host.NodeID(v)})
		if host.NodeID(v) == lead || !ever || at >= call {
			acked++
		}
	}
	return acked
}

// noteAck records an append acknowledgement on its way to a leader.
func (s *safetyChecker) noteAck(from, to host.NodeID, h peerHeader) {
	s.terms.acks.note(ackKey{from, to, h.term}, h.index)
}

// checkVotes holds a new leader of term to its election: a quorum of the
// voters of its configuration (itself included) sent it a granted vote in
// that term. Counting a vote of another term, a pre-vote or a learner's
// answer shows here. It runs as the leadership begins.
func (s *safetyChecker) checkVotes(id host.NodeID, term uint64) {
	if s.wireOff {
		return // what it compares with is read on the wire
	}
	n := s.leaderView(id)
	if n == nil || s.skipVotes {
		return
	}
	s.terms.init()
	voters := n.RaftStatus().ConfState.Voters
	got := s.terms.grants[voteKey{id, term}]
	granted := 0
	for _, v := range voters {
		if host.NodeID(v) == id || slices.Contains(got, host.NodeID(v)) {
			granted++
		}
	}
	if 2*granted <= len(voters) {
		s.fail("vote count: replica %d became leader of term %d at %v with granted votes in that term from only %v of its voters %v (itself included: %d of %d)",
			id, term, s.now(), got, voters, granted, len(voters))
	}
	// The candidacies of older terms are kept: a candidate of a stale
	// term may still win after a newer term elected its leader (its
	// grants were sent before).
}

// checkMatch holds a leader's progress to what its followers told it: the
// index a leader of term believes a follower holds is never above the
// highest index that follower acknowledged to it in that term. A leader
// that counts an acknowledgement of an earlier term, or moves a match on
// anything but an acknowledgement, shows here.
// progress is the leader's view of its members in ID order
// (node.RaftProgress), voters and learners.
func (s *safetyChecker) checkMatch(id host.NodeID, term uint64, progress []memberProgress) {
	if s.wireOff {
		return // what it compares with is read on the wire
	}
	for _, pr := range progress {
		v := pr.id
		if pr.IsLearner || host.NodeID(v) == id || pr.Match == 0 {
			continue
		}
		if a := s.terms.acks.get(ackKey{host.NodeID(v), id, term}); pr.Match > a {
			s.fail("match: leader %d of term %d holds match %d for voter %d at %v, but %d acknowledged at most index %d to it in that term",
				id, term, pr.Match, v, s.now(), v, a)
			return
		}
	}
}

// memberProgress is a leader's view of one member (raft.Status.Progress
// as a list).
type memberProgress struct {
	id uint64
	raft.ProgressStatus
}
