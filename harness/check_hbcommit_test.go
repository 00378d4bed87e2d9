package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// A follower answers a heartbeat whose commit index is past its last
// index with a rejection naming its last index; an answer without one
// leaves its leader counting on entries it lost
// (raft-lost-entries-not-reprobed: only a recovering follower said so).
func TestHeartbeatPastTheLogCheck(t *testing.T) {
	type step struct {
		deliver bool   // a heartbeat from 1 reaches 2; else 2 answers
		commit  uint64 // the heartbeat's
		reject  bool   // the answer's
		restart bool   // 2 restarts first
	}
	hb := func(commit uint64) step { return step{deliver: true, commit: commit} }
	answer := func(reject bool) step { return step{reject: reject} }
	for _, tc := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"within its log", []step{hb(7), answer(false)}, ""},
		{"an answer to no heartbeat seen", []step{answer(false)}, ""},
		{"past its log, rejected", []step{hb(10), answer(true)}, ""},
		{"past its log, accepted", []step{hb(10), answer(false)},
			"lost entries: replica 2 answered leader 1's heartbeat of term 3 at 1s, whose commit index 10 is past its last index 7, without a rejection naming its last index"},
		{"answered in order", []step{hb(5), hb(10), answer(false), answer(false)}, "commit index 10 is past its last index 7"},
		{"in order, the first past", []step{hb(10), hb(5), answer(true), answer(false)}, ""},
		{"stepped before a restart", []step{hb(10), {restart: true}, hb(7), answer(false)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			inc := 1
			s.hbView = func(host.NodeID) (uint64, any, bool) { return 7, inc, true }
			s.noteTermSource(2, 3) // 2 heard of term 3
			for _, st := range tc.steps {
				switch {
				case st.restart:
					inc++
				case st.deliver:
					m := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: st.commit}
					s.onDeliverTerm(1, 2, peerMsg(m))
				default:
					m := raft.Message{Type: raft.MsgHeartbeatResp, From: 2, To: 1, Term: 3, Reject: st.reject, Index: 7}
					s.onSendTerm(2, 1, peerMsg(m))
				}
			}
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}
