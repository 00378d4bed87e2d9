package harness

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
)

// recorder collects the failures a safetyChecker reports.
type recorder struct{ fails []string }

func (r *recorder) fail(format string, args ...any) {
	r.fails = append(r.fails, fmt.Sprintf(format, args...))
}

func newTestChecker() (*safetyChecker, *recorder) {
	rec := &recorder{}
	return newSafetyChecker(func() time.Duration { return time.Second }, rec.fail), rec
}

// recovered is a node.Recovered over a log of terms from first (index)
// on.
func recovered(term, vote, snapIndex uint64, first uint64, terms ...uint64) node.Recovered {
	last := snapIndex
	if len(terms) > 0 {
		last = first + uint64(len(terms)) - 1
	}
	return node.Recovered{Term: term, Vote: vote, SnapIndex: snapIndex, LastIndex: last,
		TermAt: func(i uint64) (uint64, bool) {
			if i < first || i > last || len(terms) == 0 {
				return 0, false
			}
			return terms[i-first], true
		}}
}

func TestElectionSafetyCheck(t *testing.T) {
	s, rec := newTestChecker()
	s.BecameLeader(1, 2)
	s.BecameLeader(1, 2) // the same replica again: one leader
	s.BecameLeader(2, 3)
	require.Empty(t, rec.fails)
	s.BecameLeader(3, 2)
	require.Len(t, rec.fails, 1)
	require.Contains(t, rec.fails[0], "election safety: replica 3 became leader of term 2")
	require.Contains(t, rec.fails[0], "which replica 1 led already")
}

func TestApplyTimeStateMachineSafetyCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events func(s *safetyChecker)
		want   string // "" if no failure
	}{
		{"same entry everywhere", func(s *safetyChecker) {
			s.Applied(1, 5, 2, []byte("a"))
			s.Applied(2, 5, 2, []byte("a"))
			s.AppliedSnapshot(3, 5, 2)
		}, ""},
		{"other term", func(s *safetyChecker) {
			s.Applied(1, 5, 2, []byte("a"))
			s.Applied(2, 5, 3, []byte("a"))
		}, "state-machine safety: replica 2 applied index 5 of term 3 at 1s, replica 1 applied it with term 2"},
		{"other bytes", func(s *safetyChecker) {
			s.Applied(1, 5, 2, []byte("a"))
			s.Applied(2, 5, 2, []byte("b"))
		}, "state-machine safety: replica 2 applied index 5 (term 2) at 1s with other bytes"},
		{"snapshot of another term", func(s *safetyChecker) {
			s.Applied(1, 5, 2, []byte("a"))
			s.AppliedSnapshot(2, 5, 4)
		}, "state-machine safety: replica 2 installed a snapshot at index 5 of term 4"},
		{"bytes first seen after a snapshot", func(s *safetyChecker) {
			s.AppliedSnapshot(2, 5, 2)
			s.Applied(1, 5, 2, []byte("a"))
			s.Applied(3, 5, 2, []byte("b"))
		}, "other bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			tc.events(s)
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

func TestLostSyncedDataCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events func(s *safetyChecker)
		want   string
	}{
		{"all there", func(s *safetyChecker) {
			s.Synced(1, 3, 2)
			s.Applied(1, 7, 3, nil)
			s.DurableLog(1, 9, 3)
			s.Booted(1, recovered(3, 2, 0, 2, 1, 1, 2, 2, 2, 3, 3, 3))
		}, ""},
		{"a torn write kept part of an unsynced one", func(s *safetyChecker) {
			s.Synced(1, 3, 2)
			s.Booted(1, recovered(4, 0, 0, 2, 1))
		}, ""},
		{"older term", func(s *safetyChecker) {
			s.Synced(1, 3, 2)
			s.Booted(1, recovered(2, 1, 0, 2, 1))
		}, "lost synced data: replica 1 restarted at 1s with term 2, but it had synced term 3"},
		{"other vote", func(s *safetyChecker) {
			s.Synced(1, 3, 0)
			s.Synced(1, 3, 2)
			s.Booted(1, recovered(3, 0, 0, 2, 1))
		}, "with its vote in term 3 for 0, but it had synced a vote for 2"},
		{"applied entry gone", func(s *safetyChecker) {
			s.Applied(1, 7, 3, nil)
			s.Booted(1, recovered(3, 0, 0, 2, 1, 1, 2))
		}, "with its log ending at index 4 (snapshot at 0), but it had applied (so synced) entry 7 of term 3"},
		{"applied entry of another term", func(s *safetyChecker) {
			s.Applied(1, 3, 3, nil)
			s.Booted(1, recovered(3, 0, 0, 2, 1, 2))
		}, "holding entry 3 of term 2, but it had applied (so synced) that entry with term 3"},
		{"acknowledged entry gone", func(s *safetyChecker) {
			s.DurableLog(1, 5, 3)
			s.Booted(1, recovered(3, 0, 0, 2, 1, 1))
		}, "but it had synced entry 5 of term 3"},
		{"under a snapshot", func(s *safetyChecker) {
			s.Applied(1, 7, 3, nil)
			s.DurableLog(1, 9, 3)
			s.Booted(1, recovered(3, 0, 9, 10))
		}, ""},
		{"an overwrite in flight lowered the floor", func(s *safetyChecker) {
			s.DurableLog(1, 9, 3)
			s.DurableLog(1, 4, 2)
			s.Booted(1, recovered(4, 0, 0, 2, 1, 2, 2, 4))
		}, ""},
		{"damage found: knowingly less", func(s *safetyChecker) {
			s.Synced(1, 3, 2)
			s.Applied(1, 7, 3, nil)
			s.Damaged(1, "wal: corrupt")
			s.Booted(1, recovered(0, 0, 0, 1))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTestChecker()
			tc.events(s)
			if tc.want == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.Len(t, rec.fails, 1)
			require.Contains(t, rec.fails[0], tc.want)
		})
	}
}

// testLog is a replica's log for the log checks: entries from first on,
// terms given, the data "t<term>i<index>" unless overridden.
func testLog(id host.NodeID, commit, first uint64, terms ...uint64) heldLog {
	l := heldLog{id: id, commit: commit}
	for k, t := range terms {
		i := first + uint64(k)
		l.ents = append(l.ents, LogEntry{Index: i, Term: t, Data: fmt.Appendf(nil, "t%di%d", t, i)})
	}
	return l
}

func TestLogMatchingCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y heldLog
		edit func(x, y *heldLog)
		want string
	}{
		{"equal", testLog(1, 5, 2, 1, 2, 2, 3), testLog(2, 5, 2, 1, 2, 2, 3), nil, ""},
		{"uncommitted suffixes of other terms", testLog(1, 3, 2, 1, 2, 2, 3), testLog(2, 3, 2, 1, 2, 4), nil, ""},
		{"compacted prefix", testLog(1, 5, 4, 2, 3), testLog(2, 5, 2, 1, 2, 2, 3), nil, ""},
		{"no overlap", testLog(1, 3, 2, 1, 2), testLog(2, 9, 8, 3, 3), nil, ""},
		{"same index and term, other bytes", testLog(1, 0, 2, 1, 2, 2), testLog(2, 0, 2, 1, 2, 2),
			func(x, y *heldLog) { y.ents[2].Data = []byte("other") },
			"log matching: replicas 1 and 2 hold different entries at index 4 of term 2"},
		{"same entry, other prefix", testLog(1, 0, 2, 1, 2, 2, 3), testLog(2, 0, 2, 1, 3, 3, 3),
			nil, "log matching: replicas 1 and 2 both hold index 5 of term 3, but differ at index 4 (1 has term 2"},
		{"same entry, other bytes before it", testLog(1, 0, 2, 1, 2, 2), testLog(2, 0, 2, 1, 2, 2),
			func(x, y *heldLog) { y.ents[1].Data = []byte("other") },
			"both hold index 4 of term 2, but differ at index 3"},
		{"committed disagreement", testLog(1, 3, 2, 1, 2), testLog(2, 3, 2, 1, 3), nil,
			"log agreement: index 3 is committed on replicas 1 and 2, with term 2 on 1 and term 3 on 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, y := tc.x, tc.y
			if tc.edit != nil {
				tc.edit(&x, &y)
			}
			_, err := matchLogs(&x, &y)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// logReplica is an Inspector with a raft log, for checkLogs.
type logReplica struct{ l heldLog }

func (r logReplica) AppliedIndex() uint64                 { return 0 }
func (r logReplica) KVHash() (int64, uint64, error)       { return 0, 0, nil }
func (r logReplica) RaftLog() (ents []LogEntry, c uint64) { return r.l.ents, r.l.commit }

// checkLogs compares every pair, not only the first replica with the
// others: 1 and 2 share nothing with the compacted 3 but 2 and 3 differ.
func TestCheckLogsComparesEveryPair(t *testing.T) {
	a, b, c := testLog(1, 3, 2, 1, 2), testLog(2, 3, 2, 1, 2, 2, 3), testLog(3, 0, 4, 2, 4)
	c.ents[0].Data = []byte("other")
	n, err := checkLogs([]host.NodeID{1, 2, 3}, []Inspector{logReplica{a}, logReplica{b}, logReplica{c}})
	require.ErrorContains(t, err, "replicas 2 and 3 hold different entries at index 4 of term 2")
	require.Positive(t, n)
	gap := testLog(4, 0, 2, 1, 1, 1)
	gap.ents[2].Index = 9
	_, err = checkLogs([]host.NodeID{4}, []Inspector{logReplica{gap}})
	require.ErrorContains(t, err, "replica 4 reports a log with a gap: index 9 after 3")
}

// liar is a real replica that also grants, at once, every vote and
// pre-vote it is asked for, whatever its log and whoever it voted for: a
// replica that votes twice in a term. A provoking liar also tells every
// follower but itself, now and then, to campaign at once (a forged
// leadership handover), so that several candidates run in one term.
type liar struct {
	n       *node.Node
	h       host.Host
	peers   []host.NodeID
	provoke bool
}

func (l *liar) Receive(from host.NodeID, p []byte) {
	if env, body, err := api.SplitEnvelope(p); err == nil && env == api.EnvelopePeer {
		var m raft.Message
		if m.Unmarshal(body) == nil && (m.Type == raft.MsgVote || m.Type == raft.MsgPreVote) {
			typ := raft.MsgVoteResp
			if m.Type == raft.MsgPreVote {
				typ = raft.MsgPreVoteResp
			}
			grant := raft.Message{Type: typ, From: m.To, To: m.From, Term: m.Term}
			l.h.Send(from, api.WrapPeer(grant.Marshal()))
		}
	}
	l.n.Receive(from, p)
}

// provokeElections sends a forged handover to every follower.
func (l *liar) provokeElections() {
	st := l.n.Status()
	if st.Leader != 0 && st.Role == raft.RoleFollower {
		for _, p := range l.peers {
			if p != l.h.ID() && p != st.Leader {
				m := raft.Message{Type: raft.MsgTimeoutNow, From: uint64(l.h.ID()), To: uint64(p), Term: st.Term}
				l.h.Send(p, api.WrapPeer(m.Marshal()))
			}
		}
	}
	l.h.After(1500*time.Millisecond, l.provokeElections)
}

func (l *liar) AppliedIndex() uint64           { return l.n.AppliedIndex() }
func (l *liar) KVHash() (int64, uint64, error) { return nodeInspector{l.n}.KVHash() }
func (l *liar) RaftLog() ([]LogEntry, uint64)  { return nodeInspector{l.n}.RaftLog() }
func (l *liar) Stopped() (bool, string)        { return l.n.Stopped() }
func (l *liar) Recovering() (bool, string)     { return l.n.Recovering() }

// liarCluster runs real replicas reporting their safety events; the
// replicas in liars lie, and the first of them provokes elections.
func liarCluster(liars ...host.NodeID) func(obs node.Observer) ReplicaFunc {
	return func(obs node.Observer) ReplicaFunc {
		// The liars' grants are never durable, which the wire check
		// would name first; these tests show that the election and
		// state-machine checks catch double voters on their own.
		safetyOf(obs).skipVotes = true
		honest := nodeReplica(DefaultScenario().Raft, obs)
		return func(h host.Host, peers []host.NodeID) host.Process {
			n := honest(h, peers).(*node.Node)
			if i := slices.Index(liars, h.ID()); i >= 0 {
				l := &liar{n: n, h: h, peers: peers, provoke: i == 0}
				if l.provoke {
					h.After(time.Second, l.provokeElections)
				}
				return l
			}
			return n
		}
	}
}

// firstFailure runs seeds 1..n with cfg until one fails with a reason
// starting with prefix.
func firstFailure(t *testing.T, cfg Config, n int, prefix string) *Result {
	var found *Result
	RunMany(cfg, seedRange(1, n), runtime.GOMAXPROCS(0), func(r Result) bool {
		if r.Verdict == Fail && strings.HasPrefix(r.Reason, prefix) {
			found = &r
			return false
		}
		return true
	})
	require.NotNil(t, found, "no seed of %d failed with %q: the check is blind", n, prefix)
	t.Logf("seed %d: %s", found.Seed, found.Reason)
	return found
}

// Two replicas of five vote twice in a term, and one of them makes two
// followers campaign at once: both win, with their own vote and the two
// liars'. The election safety check names the term and both leaders, as
// it happens.
func TestElectionSafetyCatchesDoubleVoters(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "none"
	cfg.ObservedCluster = liarCluster(4, 5)
	r := firstFailure(t, cfg, 20, "election safety:")
	require.Regexp(t, `^election safety: replica \d became leader of term \d+ at .*, which replica \d led already$`, r.Reason)
}

// A replica of three that grants every vote gets candidates lacking
// committed entries elected, which overwrite committed entries: the
// leader completeness check names the new leader and the entry it lacks
// as it is elected; with that check off, the apply-time check names the
// index, both terms and both replicas.
func TestStateMachineSafetyCatchesALiar(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Nodes, cfg.Faults = 3, "partition,crash"
	cfg.ObservedCluster = liarCluster(3)
	r := firstFailure(t, cfg, 100, "leader completeness:")
	require.Regexp(t, `^leader completeness: replica \d became leader of term \d+ at .* (without|holding) index \d+ .*which replica \d applied`, r.Reason)
	liars := cfg.ObservedCluster
	cfg.ObservedCluster = func(obs node.Observer) ReplicaFunc {
		safetyOf(obs).skipCompleteness = true
		return liars(obs)
	}
	r = firstFailure(t, cfg, 100, "state-machine safety:")
	require.Regexp(t, `^state-machine safety: replica \d applied index \d+ .*, replica \d applied it with term \d+ at `, r.Reason)
}

// Losing synced data (beyond the fault model) is named as such, with the
// replica and what it lost, not only as a stuck or diverging cluster.
func TestLostSyncedDataIsNamed(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "lose-synced"
	r := firstFailure(t, cfg, 100, "lost synced data:")
	require.Regexp(t, `^lost synced data: replica \d restarted at .* (with|holding) `, r.Reason)
}

// digestEntry tells apart any two entries of one length that differ in
// one byte (every step is one-to-one), whatever the byte and where it is,
// in the words and in the tail.
func TestDigestEntryTellsOneByteApart(t *testing.T) {
	for n := 1; n <= 40; n++ {
		base := make([]byte, n)
		for i := range base {
			base[i] = byte(7*i + n)
		}
		want := digestEntry(base)
		for i := range n {
			for _, x := range []byte{1, 0x80, 0xff} {
				b := slices.Clone(base)
				b[i] ^= x
				require.NotEqual(t, want, digestEntry(b), "length %d, byte %d ^ %#x", n, i, x)
			}
		}
	}
}
