package harness

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// A replica makes durable at most one vote per term.
func TestDoubleVoteCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		syncs [][2]uint64 // term, vote
		want  string
	}{
		{"one vote", [][2]uint64{{3, 1}, {3, 1}}, ""},
		{"vote after none", [][2]uint64{{3, 0}, {3, 4}}, ""},
		{"new term, new vote", [][2]uint64{{3, 1}, {4, 2}}, ""},
		{"vote cleared, then another", [][2]uint64{{3, 1}, {3, 0}, {3, 4}},
			"election safety: replica 2 made durable a vote for 4 in term 3 at 1s, but it had made durable a vote for 1 in that term"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			for _, sy := range tc.syncs {
				s.Synced(2, sy[0], sy[1])
			}
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Equal(t, []string{tc.want}, rec.fails)
		})
	}
}

// A replica sends a message of a term only after it had a reason to reach
// that term; a pre-vote request is none.
func TestTermSourceCheck(t *testing.T) {
	hb := func(from, to, term uint64) raft.Message {
		return raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: term}
	}
	resp := raft.Message{Type: raft.MsgHeartbeatResp, From: 2, To: 1, Term: 3}
	for _, tc := range []struct {
		name      string
		delivered []raft.Message // to replica 2 before it answers
		booted    uint64         // a restart in this term first, if > 0
		want      string
	}{
		{"heard the term", []raft.Message{hb(1, 2, 3)}, 0, ""},
		{"restarted in it", nil, 3, ""},
		{"never heard of it", []raft.Message{hb(1, 2, 2)}, 0,
			"term rule: replica 2 sent MsgHeartbeatResp in term 3 to 1 at 1s, but it never campaigned in, led or heard of a term above 2"},
		{"only from a pre-vote", []raft.Message{{Type: raft.MsgPreVote, From: 3, To: 2, Term: 3}}, 0, "term rule: replica 2"},
		{"a vote request may raise it", []raft.Message{{Type: raft.MsgVote, From: 3, To: 2, Term: 3}}, 0, ""},
		{"a granted pre-vote: it campaigns in that term", []raft.Message{{Type: raft.MsgPreVoteResp, From: 3, To: 2, Term: 3}}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			if tc.booted > 0 {
				s.Booted(2, recovered(tc.booted, 0, 0, 1))
			}
			for _, m := range tc.delivered {
				s.onDeliverTerm(host.NodeID(m.From), host.NodeID(m.To), peerMsg(m))
			}
			s.onSendTerm(2, 1, peerMsg(resp))
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

// voters3 is a leader's view with voters 1..3 and the given progress.
type voters3 map[uint64]raft.ProgressStatus

func (v voters3) RaftStatus() raft.Status {
	return raft.Status{HardState: raft.HardState{Term: 3}, SoftState: raft.SoftState{Role: raft.RoleLeader},
		ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}, Progress: v}
}

func (voters3) LogTerm(uint64) (uint64, bool, bool) { return 0, false, false }

// progressList is st.Progress in ID order, as checkCommit hands it to
// checkMatch.
func progressList(st raft.Status) []memberProgress {
	var out []memberProgress
	for _, id := range slices.Sorted(maps.Keys(st.Progress)) {
		out = append(out, memberProgress{id, st.Progress[id]})
	}
	return out
}

// A new leader holds granted votes of its own term from a quorum.
func TestVoteCountCheck(t *testing.T) {
	grant := func(from, term uint64) raft.Message {
		return raft.Message{Type: raft.MsgVoteResp, From: from, To: 1, Term: term}
	}
	for _, tc := range []struct {
		name   string
		grants []raft.Message
		want   string
	}{
		{"a quorum in its term", []raft.Message{grant(2, 3)}, ""},
		{"a grant of the term before", []raft.Message{grant(2, 2)},
			"vote count: replica 1 became leader of term 3 at 1s with granted votes in that term from only [] of its voters [1 2 3] (itself included: 1 of 3)"},
		{"a pre-vote", []raft.Message{{Type: raft.MsgPreVoteResp, From: 2, To: 1, Term: 3}}, "vote count: replica 1"},
		{"a rejection", []raft.Message{{Type: raft.MsgVoteResp, From: 2, To: 1, Term: 3, Reject: true}}, "vote count: replica 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			s.viewOf = func(host.NodeID) leaderLog { return voters3{} }
			s.skipCompleteness = true
			s.noteTermSource(2, 3) // it heard of term 3 (a vote request)
			for _, m := range tc.grants {
				s.onSendTerm(host.NodeID(m.From), host.NodeID(m.To), peerMsg(m))
			}
			s.BecameLeader(1, 3)
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

// A leader's match for a follower never exceeds what the follower
// acknowledged to it in the leader's term.
func TestMatchCheck(t *testing.T) {
	ack := func(term, index uint64) raft.Message {
		return raft.Message{Type: raft.MsgAppResp, From: 2, To: 1, Term: term, Index: index}
	}
	for _, tc := range []struct {
		name  string
		acks  []raft.Message
		match uint64
		want  string
	}{
		{"acknowledged", []raft.Message{ack(3, 5), ack(3, 7)}, 7, ""},
		{"beyond the acks", []raft.Message{ack(3, 5)}, 7,
			"match: leader 1 of term 3 holds match 7 for voter 2 at 1s, but 2 acknowledged at most index 5 to it in that term"},
		{"an ack of the term before", []raft.Message{ack(2, 9), ack(3, 5)}, 7, "holds match 7 for voter 2"},
		{"a rejection is no ack", []raft.Message{{Type: raft.MsgAppResp, From: 2, To: 1, Term: 3, Index: 9, Reject: true}}, 9, "holds match 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			s.noteTermSource(2, 3) // it heard of term 3 (the leader's appends)
			for _, m := range tc.acks {
				s.onSendTerm(host.NodeID(m.From), host.NodeID(m.To), peerMsg(m))
			}
			st := voters3{2: {Match: tc.match}}.RaftStatus()
			s.checkMatch(1, st.Term, progressList(st))
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

// TestAckTableAsMap checks ackTable against the map it stands for, with
// IDs on both sides of its table bound and terms in any order.
func TestAckTableAsMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tab ackTable
		model := map[ackKey]uint64{}
		id := rapid.SampledFrom([]host.NodeID{0, 1, 2, 3, 7, 8, 9, 17, 255, 256, 1001})
		for range rapid.IntRange(1, 300).Draw(t, "n") {
			k := ackKey{id.Draw(t, "from"), id.Draw(t, "to"), rapid.Uint64Range(0, 6).Draw(t, "term")}
			if rapid.Bool().Draw(t, "note") {
				idx := rapid.Uint64Range(0, 50).Draw(t, "index")
				tab.note(k, idx)
				model[k] = max(model[k], idx)
			}
			require.Equal(t, model[k], tab.get(k), "%+v", k)
		}
		for k, v := range model {
			require.Equal(t, v, tab.get(k), "%+v", k)
		}
	})
}

// TestDenseTablesAsMaps checks idTable and pairTable against the maps
// they stand for, with IDs on both sides of the dense bound.
func TestDenseTablesAsMaps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ids idTable[int]
		var pairs pairTable[int]
		idModel := map[host.NodeID]int{}
		pairModel := map[[2]host.NodeID]int{}
		id := rapid.SampledFrom([]host.NodeID{0, 1, 2, 5, 8, 9, 40, 255, 256, 1001})
		for range rapid.IntRange(1, 200).Draw(t, "n") {
			a, b := id.Draw(t, "a"), id.Draw(t, "b")
			if rapid.Bool().Draw(t, "set") {
				v := rapid.IntRange(-5, 5).Draw(t, "v")
				ids.set(a, v)
				idModel[a] = v
				pairs.set([2]host.NodeID{a, b}, v)
				pairModel[[2]host.NodeID{a, b}] = v
			}
			require.Equal(t, idModel[a], ids.get(a))
			want, wok := pairModel[[2]host.NodeID{a, b}]
			got, ok := pairs.get([2]host.NodeID{a, b})
			require.Equal(t, wok, ok)
			require.Equal(t, want, got)
		}
	})
}
