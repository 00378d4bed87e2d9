package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// readLeader is a replica's raft as the read-index check sees it: its role
// and term, and the terms of its log by index (0 unused).
type readLeader struct {
	role raft.Role
	term uint64
	log  []uint64
}

func (l readLeader) RaftStatus() raft.Status {
	return raft.Status{HardState: raft.HardState{Term: l.term}, SoftState: raft.SoftState{Role: l.role}}
}

func (l readLeader) LogTerm(i uint64) (uint64, bool, bool) {
	if i == 0 {
		return 0, false, true
	}
	if i >= uint64(len(l.log)) {
		return 0, false, false
	}
	return l.log[i], true, false
}

// A leader answers a ReadIndex request of term T with an index of an entry
// of term T; an index of an earlier term is a request kept across a change
// of term (raft-readonly-survives-term-change: its old commit index,
// confirmed by the new term's heartbeats).
func TestReadIndexTermCheck(t *testing.T) {
	// Entries 1-3 of term 2, 4-5 of term 4 (index 4: the leader's empty
	// entry of its term).
	log := []uint64{0, 2, 2, 2, 4, 4}
	for _, tc := range []struct {
		name   string
		leader readLeader
		index  uint64
		want   string
	}{
		{"an entry of its term", readLeader{raft.RoleLeader, 4, log}, 5, ""},
		{"its term's first entry", readLeader{raft.RoleLeader, 4, log}, 4, ""},
		{"an entry of an earlier term", readLeader{raft.RoleLeader, 4, log}, 3,
			"read index: leader 1 of term 4 answered a ReadIndex request of replica 2 at 1s with index 3, an entry of term 2"},
		{"no longer leads", readLeader{raft.RoleFollower, 4, log}, 3, ""},
		{"leads a later term", readLeader{raft.RoleLeader, 5, log}, 3, ""},
		{"beyond its stable log", readLeader{raft.RoleLeader, 4, log}, 6, ""},
		{"no index", readLeader{raft.RoleLeader, 4, log}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			s.viewOf = func(host.NodeID) leaderLog { return tc.leader }
			s.noteTermSource(1, 4) // it led term 4
			// On the wire, as the leader sends it.
			m := raft.Message{Type: raft.MsgReadIndexResp, From: 1, To: 2, Term: 4, Index: tc.index}
			s.onSendTerm(1, 2, peerMsg(m))
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}
