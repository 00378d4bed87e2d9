package raft

import (
	"fmt"
	"slices"
)

// ProgressState is how a leader is currently replicating to a follower.
type ProgressState uint8

const (
	// StateProbe: the leader does not know where the follower's log
	// matches; it sends one MsgApp at a time (per heartbeat) to find out.
	StateProbe ProgressState = iota
	// StateReplicate: the follower's log matches; the leader streams
	// MsgApps optimistically, bounded by the inflight window.
	StateReplicate
	// StateSnapshot: the follower needs a snapshot; the leader sends no
	// MsgApp until the snapshot is acknowledged or reported failed.
	StateSnapshot
)

// String names the state.
func (s ProgressState) String() string {
	switch s {
	case StateProbe:
		return "Probe"
	case StateReplicate:
		return "Replicate"
	case StateSnapshot:
		return "Snapshot"
	}
	return fmt.Sprintf("ProgressState(%d)", uint8(s))
}

// inflights is a ring buffer of the last indexes of the MsgApps sent to a
// follower and not yet acknowledged.
type inflights struct {
	start, count, size int
	buffer             []uint64
}

func (in *inflights) full() bool { return in.count == in.size }

func (in *inflights) add(last uint64) {
	if in.full() {
		panic("raft: add to a full inflights window")
	}
	if in.buffer == nil {
		in.buffer = make([]uint64, in.size)
	}
	next := in.start + in.count
	if next >= in.size {
		next -= in.size
	}
	in.buffer[next] = last
	in.count++
}

// freeLE frees the inflight messages whose last index is <= to.
func (in *inflights) freeLE(to uint64) {
	for in.count > 0 && in.buffer[in.start] <= to {
		in.start++
		if in.start == in.size {
			in.start = 0
		}
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

// freeFirstOne frees the oldest inflight message.
func (in *inflights) freeFirstOne() {
	if in.count > 0 {
		in.freeLE(in.buffer[in.start])
	}
}

func (in *inflights) reset() { in.start, in.count = 0, 0 }

// progress is a leader's view of one member.
type progress struct {
	Match, Next uint64
	State       ProgressState
	// PendingSnapshot is the index of the snapshot being sent (StateSnapshot).
	PendingSnapshot uint64
	// RecentActive: heard from within the current election timeout
	// (CheckQuorum).
	RecentActive bool
	// probeSent: in StateProbe, a MsgApp is out; wait for its answer or
	// the next heartbeat response before sending another.
	probeSent bool
	IsLearner bool
	inflights inflights
}

func (pr *progress) resetState(s ProgressState) {
	pr.probeSent = false
	pr.PendingSnapshot = 0
	pr.State = s
	pr.inflights.reset()
}

func (pr *progress) becomeProbe() {
	if pr.State == StateSnapshot {
		// Resume after the snapshot (or after what we know matches).
		snap := pr.PendingSnapshot
		pr.resetState(StateProbe)
		pr.Next = max(pr.Match+1, snap+1)
		return
	}
	pr.resetState(StateProbe)
	pr.Next = pr.Match + 1
}

func (pr *progress) becomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

func (pr *progress) becomeSnapshot(snapIndex uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = snapIndex
}

// maybeUpdate records an acknowledgement up to n; false if stale.
func (pr *progress) maybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.probeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp whose previous index was
// rejected; matchHint is the last index that may match. False if stale.
func (pr *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		if rejected <= pr.Match {
			return false // stale: we already know it matches there
		}
		pr.Next = pr.Match + 1
		return true
	}
	if pr.Next-1 != rejected {
		return false // not the probe we are waiting for
	}
	next := max(min(rejected, matchHint+1), pr.Match+1)
	if next == pr.Next {
		// The follower rejects the entry at Match, which it once
		// acknowledged: it lost it (recovering from damaged storage, or
		// beyond the fault model), or the answer is stale. Probing the
		// same index again at once would be a message storm; the next
		// heartbeat response probes again.
		return false
	}
	pr.Next = next
	pr.probeSent = false
	return true
}

// sentEntries updates the progress after a MsgApp carrying entries up to
// last (n entries) was sent.
func (pr *progress) sentEntries(n int, last uint64) {
	switch pr.State {
	case StateReplicate:
		if n > 0 {
			pr.Next = last + 1
			pr.inflights.add(last)
		}
	case StateProbe:
		pr.probeSent = true
	}
}

// isPaused reports whether no MsgApp should be sent now.
func (pr *progress) isPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.probeSent
	case StateReplicate:
		return pr.inflights.full()
	default:
		return true
	}
}

// tracker holds the configuration and, on a leader, every member's
// progress. ids, voters and learners are sorted so that iteration order is
// deterministic.
type tracker struct {
	voters, learners, ids []uint64
	progress              map[uint64]*progress
	// dense is progress indexed by ID, for the IDs below denseIDs
	// (rebuilt with the lists): get reads it instead of the map on
	// every message a leader steps and every entry it commits.
	dense       []*progress
	votes       map[uint64]bool
	maxInflight int
	matchBuf    []uint64
}

// denseIDs bounds the IDs tracker.dense holds; larger ones are only in
// the map.
const denseIDs = 1 << 10

// get is id's progress, nil if id is not a member.
func (t *tracker) get(id uint64) *progress {
	if id < uint64(len(t.dense)) {
		return t.dense[id]
	}
	return t.progress[id]
}

func newTracker(maxInflight int) tracker {
	return tracker{progress: map[uint64]*progress{}, votes: map[uint64]bool{}, maxInflight: maxInflight}
}

func (t *tracker) isMember(id uint64) bool { return t.get(id) != nil }

func (t *tracker) isVoter(id uint64) bool {
	pr := t.get(id)
	return pr != nil && !pr.IsLearner
}

func (t *tracker) confState() ConfState {
	return ConfState{Voters: slices.Clone(t.voters), Learners: slices.Clone(t.learners)}
}

// status is a leader's view of the member, as Status reports it.
func (pr *progress) status() ProgressStatus {
	return ProgressStatus{Match: pr.Match, Next: pr.Next, State: pr.State,
		IsLearner: pr.IsLearner, RecentActive: pr.RecentActive}
}

func (t *tracker) rebuildLists() {
	t.voters, t.learners, t.ids = t.voters[:0], t.learners[:0], t.ids[:0]
	for id, pr := range t.progress {
		t.ids = append(t.ids, id)
		if pr.IsLearner {
			t.learners = append(t.learners, id)
		} else {
			t.voters = append(t.voters, id)
		}
	}
	slices.Sort(t.ids)
	slices.Sort(t.voters)
	slices.Sort(t.learners)
	clear(t.dense)
	t.dense = t.dense[:0]
	for _, id := range t.ids {
		if id < denseIDs {
			if int(id) >= len(t.dense) {
				t.dense = append(t.dense, make([]*progress, int(id)+1-len(t.dense))...)
			}
			t.dense[id] = t.progress[id]
		}
	}
}

// set creates or updates id's progress as a voter or learner.
func (t *tracker) set(id uint64, learner bool, next uint64) {
	if pr := t.progress[id]; pr != nil {
		pr.IsLearner = learner
	} else {
		t.progress[id] = &progress{Next: next, IsLearner: learner,
			RecentActive: true, inflights: inflights{size: t.maxInflight}}
	}
	t.rebuildLists()
}

func (t *tracker) remove(id uint64) {
	delete(t.progress, id)
	t.rebuildLists()
}

// reset installs configuration cs with fresh progress.
func (t *tracker) reset(cs ConfState, next uint64) {
	clear(t.progress)
	for _, id := range cs.Voters {
		t.progress[id] = &progress{Next: next, inflights: inflights{size: t.maxInflight}}
	}
	for _, id := range cs.Learners {
		t.progress[id] = &progress{Next: next, IsLearner: true, inflights: inflights{size: t.maxInflight}}
	}
	t.rebuildLists()
}

// committed returns the largest index held by a majority of voters.
func (t *tracker) committed() uint64 {
	n := len(t.voters)
	if n == 0 {
		return 0
	}
	buf := t.matchBuf[:0]
	for _, id := range t.voters {
		buf = append(buf, t.get(id).Match)
	}
	// Insertion sort, descending: n is small and this allocates nothing.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && buf[j] > buf[j-1]; j-- {
			buf[j], buf[j-1] = buf[j-1], buf[j]
		}
	}
	t.matchBuf = buf
	return buf[n/2]
}

type voteResult uint8

const (
	votePending voteResult = iota
	voteWon
	voteLost
)

// recordVote records id's vote (the first one counts) and tallies.
func (t *tracker) recordVote(id uint64, granted bool) voteResult {
	if _, ok := t.votes[id]; !ok {
		t.votes[id] = granted
	}
	yes, no := 0, 0
	for _, v := range t.voters {
		if g, ok := t.votes[v]; ok {
			if g {
				yes++
			} else {
				no++
			}
		}
	}
	q := len(t.voters)/2 + 1
	switch {
	case yes >= q:
		return voteWon
	case no > len(t.voters)-q:
		return voteLost
	}
	return votePending
}

func (t *tracker) resetVotes() { clear(t.votes) }

// quorumActive reports whether a quorum of voters was recently active
// (self is always active), then clears the flags for the next period.
func (t *tracker) quorumActive(self uint64) bool {
	active := 0
	for _, id := range t.voters {
		if id == self || t.get(id).RecentActive {
			active++
		}
	}
	for _, id := range t.ids {
		t.get(id).RecentActive = id == self
	}
	return active >= len(t.voters)/2+1
}

// hasQuorum reports whether the voters in acks (IDs, each once) form a
// majority.
func (t *tracker) hasQuorum(acks []uint64) bool {
	n := 0
	for _, id := range acks {
		if slices.Contains(t.voters, id) {
			n++
		}
	}
	return n >= len(t.voters)/2+1
}

func sortedIDs(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func containsID(ids []uint64, id uint64) bool {
	_, ok := slices.BinarySearch(ids, id)
	return ok
}
