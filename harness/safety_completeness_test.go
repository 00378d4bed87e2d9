package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/stretchr/testify/require"
)

// fakeLog is a replica's log for the leader completeness check: terms by
// index (0 unused), all voters of {1..5}.
type fakeLog []uint64

func (l fakeLog) RaftStatus() raft.Status {
	return raft.Status{ConfState: raft.ConfState{Voters: []uint64{1, 2, 3, 4, 5}}}
}

func (l fakeLog) LogTerm(i uint64) (uint64, bool, bool) {
	if i == 0 || i >= uint64(len(l)) {
		return 0, false, false
	}
	return l[i], true, false
}

func completenessChecker(logs map[host.NodeID]fakeLog) (*safetyChecker, *[]string) {
	var fails []string
	s := newSafetyChecker(func() time.Duration { return 0 }, func(f string, a ...any) {
		fails = append(fails, fmt.Sprintf(f, a...))
	})
	s.viewOf = func(id host.NodeID) leaderLog { return logs[id] }
	s.skipVotes = true // no votes on a wire here (TestVoteCountCheck has them)
	return s, &fails
}

// Raft promises a leader of term T the entries committed in terms below
// T. An entry of term 4 that the leader of term 6 committed binds the
// leaders of terms 7 and up, not a leader of term 5 elected afterwards
// from votes granted before (a paused candidate: seed 4813 on 54198bb).
func TestLeaderCompletenessBindsLaterTermsOnly(t *testing.T) {
	logs := map[host.NodeID]fakeLog{
		1: {0, 4, 4},    // the stale candidate: lacks index 3
		2: {0, 4, 4, 4}, // the leader of term 6
	}
	s, fails := completenessChecker(logs)
	s.BecameLeader(2, 4)
	s.Applied(2, 1, 4, []byte("a"))
	s.Applied(2, 2, 4, []byte("b"))
	s.BecameLeader(2, 6)
	s.Applied(2, 3, 4, []byte("c")) // committed in term 6
	s.BecameLeader(1, 5)
	require.Empty(t, *fails, "a leader of term 5 owes nothing to an entry committed in term 6")

	s.BecameLeader(1, 7)
	require.Len(t, *fails, 1)
	require.Regexp(t, `^leader completeness: replica 1 became leader of term 7 .* without index 3 \(term 4\)`, (*fails)[0])
}

// An entry committed in its own leader's term binds the very next term.
func TestLeaderCompletenessCatchesAMissingEntry(t *testing.T) {
	logs := map[host.NodeID]fakeLog{
		1: {0, 4},
		2: {0, 4, 4},
	}
	s, fails := completenessChecker(logs)
	s.BecameLeader(2, 4)
	s.Applied(2, 1, 4, []byte("a"))
	s.Applied(2, 2, 4, []byte("b"))
	s.BecameLeader(1, 5)
	require.Len(t, *fails, 1)
	require.Contains(t, (*fails)[0], "without index 2 (term 4)")
}
