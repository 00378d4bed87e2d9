package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// TestQuorumHeardIgnoresOlderTerms: the CheckQuorum check counts a voter
// as heard only by answers of the leader's term, and a late answer of an
// older term (a delayed duplicate or a replay, which the leader ignores)
// does not erase the newer one. Default seed 3037 failed on that: a
// term-10 duplicate from a voter replaced its term-12 answer, and a leader
// that had heard from a quorum was reported as cut off.
func TestQuorumHeardIgnoresOlderTerms(t *testing.T) {
	now := time.Duration(0)
	s := newSafetyChecker(func() time.Duration { return now }, func(string, ...any) { t.Fatal("no failure expected") })
	s.setQuorumWindow(RaftParams{Tick: Duration(50 * time.Millisecond), ElectionTicks: 6, HeartbeatTicks: 1}, nil)
	l := &leadership{term: 12, voters: []uint64{1, 2, 3}}
	answer := func(from host.NodeID, typ raft.MessageType, term uint64) {
		s.quorumDelivered(from, 1, peerHeader{typ: typ, term: term})
	}
	heard := func() int { return s.heardVoters(1, l, l.voters, s.quorum.window) }

	require.Equal(t, 1, heard(), "only the leader itself")
	now = 100 * time.Millisecond
	answer(2, raft.MsgHeartbeatResp, 12)
	require.Equal(t, 2, heard())
	answer(3, raft.MsgAppResp, 11) // an older term's answer does not count
	require.Equal(t, 2, heard())

	now = 200 * time.Millisecond
	answer(2, raft.MsgAppResp, 10) // a late duplicate of an older term
	require.Equal(t, 2, heard(), "the older answer erased the newer one")
	answer(3, raft.MsgHeartbeatResp, 12)
	require.Equal(t, 3, heard())

	now += s.quorum.window + time.Millisecond // both answers age out
	require.Equal(t, 1, heard())
}
