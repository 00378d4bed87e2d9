package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// simNode is a replica in the randomized safety test. A Ready goes through
// two separate steps (take: send Messages; persist: write, send
// MessagesAfterPersist, apply, Advance) so that a crash can fall between
// them and lose whatever was not persisted.
type simNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage // the durable state: survives crashes
	pending *Ready
	lastApp uint64
	cs      ConfState
	applied []Entry
	seq     uint64 // restarts, for fresh randomness
	// Amnesia (lost durable state, as after corrupt storage): the node
	// restarts on an empty log in recovery, never voting at or below
	// floor, a bound on every term it voted in (node keeps it in a
	// second copy of the hard state). recovering is the durable mark:
	// it ends some time after raft ends the recovery.
	recovering bool
	floor      uint64
	wipes      int
}

type entryKey struct{ index, term uint64 }

// safetyWorld drives simNodes through a network of encoded messages and
// checks Raft's safety properties after every step.
type safetyWorld struct {
	t        *rapid.T
	nodes    []*simNode
	net      [][]byte // in flight, encoded
	preVote  bool
	checkQ   bool
	nextData int
	// rng draws the schedule: rapid's integer draws lean heavily toward
	// small values, which would starve most actions. The seed itself is
	// drawn by rapid, so failures still replay.
	rng *rand.Rand

	leaderOfTerm map[uint64]uint64   // at most one leader per term
	leaderLog    map[uint64][]uint64 // node -> terms of its log as last seen while leader (1-based: [i] is index i)
	leaderTerm   map[uint64]uint64   // node -> term in which leaderLog was recorded
	committed    map[entryKey]uint64 // committed entry -> lowest observer term when seen committed
	appliedAt    map[uint64]Entry    // index -> the entry applied there (by anyone)
	entryData    map[entryKey]string // (index, term) -> data: one entry per index and term
	maxCommit    uint64              // highest commit index any node ever had
	readReq      map[string]uint64   // read ctx -> maxCommit when requested
	reads        int
	isolated     map[uint64]bool // partitioned away: its messages are lost
	// leaderCommit: a leader's commit index when first seen leading a term.
	leaderCommit map[[2]uint64]uint64
}

func (w *safetyWorld) config(n *simNode) Config {
	return Config{ID: n.id, ElectionTick: 4, HeartbeatTick: 1, Storage: n.storage,
		MaxSizePerMsg: 256, MaxInflightMsgs: 4, PreVote: w.preVote, CheckQuorum: w.checkQ,
		Applied: n.lastApp, Rand: rand.New(rand.NewPCG(n.id, n.seq)),
		VoteFloor: n.floor, Recovering: n.recovering, Epoch: uint64(n.wipes)}
}

func (w *safetyWorld) start(n *simNode) {
	snap, err := n.storage.Snapshot()
	require.NoError(w.t, err)
	n.lastApp = snap.Meta.Index
	n.cs = snap.Meta.ConfState
	n.applied = decodeSM(snap.Data)
	n.pending = nil
	n.seq++
	rn, err := NewRawNode(w.config(n))
	require.NoError(w.t, err)
	n.rn = rn
}

func (w *safetyWorld) node() *simNode { return w.nodes[w.rng.IntN(len(w.nodes))] }

func (w *safetyWorld) take(n *simNode) {
	if n.pending != nil || !n.rn.HasReady() {
		return
	}
	rd := n.rn.Ready()
	n.pending = &rd
	w.sendAll(n, rd.Messages)
}

func (w *safetyWorld) sendAll(n *simNode, msgs []Message) {
	for i := range msgs {
		m := &msgs[i]
		w.net = append(w.net, m.Marshal())
		if m.Type == MsgSnap {
			// The transport accepted it; whether it arrives is up to the
			// network. Raft probes again after that.
			n.rn.ReportSnapshot(m.To, true)
		}
	}
}

func (w *safetyWorld) persist(n *simNode) {
	rd := n.pending
	if rd == nil {
		return
	}
	n.pending = nil
	if !rd.Snapshot.IsEmpty() {
		require.NoError(w.t, n.storage.ApplySnapshot(rd.Snapshot))
		n.lastApp = rd.Snapshot.Meta.Index
		n.cs = rd.Snapshot.Meta.ConfState
		n.applied = decodeSM(rd.Snapshot.Data)
	}
	require.NoError(w.t, n.storage.Append(rd.Entries))
	if !rd.HardState.IsEmpty() {
		require.NoError(w.t, n.storage.SetHardState(rd.HardState))
	}
	w.sendAll(n, rd.MessagesAfterPersist)
	rapidStats.served += len(rd.ReadStates)
	for _, rs := range rd.ReadStates {
		// Linearizable reads: the read index covers everything committed
		// anywhere before the request was made.
		require.GreaterOrEqual(w.t, rs.Index, w.readReq[string(rs.RequestCtx)],
			"node %d served read %q at index %d, below the commit index at request time", n.id, rs.RequestCtx, rs.Index)
	}
	for _, e := range rd.CommittedEntries {
		require.Equal(w.t, n.lastApp+1, e.Index, "node %d applies out of order", n.id)
		n.lastApp = e.Index
		if prev, ok := w.appliedAt[e.Index]; ok {
			require.True(w.t, prev.Term == e.Term && string(prev.Data) == string(e.Data),
				"state machine safety: node %d applies %+v at index %d, another applied %+v",
				n.id, e, e.Index, prev)
		} else {
			w.appliedAt[e.Index] = Entry{Index: e.Index, Term: e.Term, Data: cloneBytes(e.Data)}
		}
		if e.Type == EntryConfChange {
			var cc ConfChange
			require.NoError(w.t, cc.Unmarshal(e.Data))
			n.cs = n.rn.ApplyConfChange(cc)
		}
		if e.Type == EntryNormal && len(e.Data) > 0 {
			n.applied = append(n.applied, e)
		}
	}
	n.rn.Advance()
	if n.recovering && !n.rn.Recovering() && w.rng.IntN(2) == 0 {
		n.recovering = false // the end of recovery is durable
	}
}

// wipe makes node n lose its durable state, as a replica does that finds
// its storage corrupt: it restarts on an empty log, in recovery, with a
// vote floor at its last durable term. At most one node is recovering at
// a time (a minority: the fault model), so that the cluster can still
// elect a leader for it to catch up from.
func (w *safetyWorld) wipe(n *simNode) {
	for _, o := range w.nodes {
		if o.recovering {
			return
		}
	}
	hs, _, err := n.storage.InitialState()
	require.NoError(w.t, err)
	n.floor = max(n.floor, hs.Term)
	n.recovering = true
	n.wipes++
	n.storage = NewMemoryStorage()
	w.start(n)
}

func (w *safetyWorld) deliver(dup bool) {
	if len(w.net) == 0 {
		return
	}
	i := w.rng.IntN(len(w.net))
	b := w.net[i]
	if !dup {
		w.net = slices.Delete(w.net, i, i+1)
	}
	w.deliverBytes(b)
}

func (w *safetyWorld) deliverBytes(b []byte) {
	var m Message
	require.NoError(w.t, m.Unmarshal(b))
	if w.isolated[m.From] || w.isolated[m.To] {
		return
	}
	for _, n := range w.nodes {
		if n.id == m.To {
			err := n.rn.Step(m)
			if err != nil && !errors.Is(err, ErrProposalDropped) && !errors.Is(err, ErrStepPeerNotFound) && !errors.Is(err, ErrInvalidConfChange) {
				w.t.Fatalf("step %v: %v", m.Type, err)
			}
		}
	}
}

// logTerms returns the terms of node n's log, indexed by log index (0 where
// compacted or absent).
func logTerms(n *simNode) []uint64 {
	l := n.rn.r.log
	last := l.lastIndex()
	terms := make([]uint64, last+1)
	for i := l.firstIndex() - 1; i <= last; i++ {
		if t, err := l.term(i); err == nil {
			terms[i] = t
		}
	}
	return terms
}

func (w *safetyWorld) check() {
	logs := make([][]uint64, len(w.nodes))
	for k, n := range w.nodes {
		logs[k] = logTerms(n)
		r := n.rn.r
		// Entries are unique per (index, term).
		for i, term := range logs[k] {
			if term == 0 {
				continue
			}
			ents, err := r.log.slice(uint64(i), uint64(i)+1, 1<<30)
			if err != nil {
				continue
			}
			key := entryKey{uint64(i), term}
			if d, ok := w.entryData[key]; ok {
				require.Equal(w.t, d, string(ents[0].Data), "two different entries at index %d term %d", i, term)
			} else {
				w.entryData[key] = string(ents[0].Data)
			}
		}
		w.maxCommit = max(w.maxCommit, r.log.committed)
		// Committed entries, as claimed by this node.
		for i := r.log.firstIndex(); i <= r.log.committed; i++ {
			key := entryKey{i, logs[k][i]}
			if ot, ok := w.committed[key]; !ok || r.term < ot {
				w.committed[key] = r.term
			}
		}
	}
	for k, n := range w.nodes {
		r := n.rn.r
		if r.state != RoleLeader {
			continue
		}
		// Election safety: at most one leader per term.
		if l, ok := w.leaderOfTerm[r.term]; ok {
			require.Equal(w.t, l, n.id, "two leaders in term %d", r.term)
		}
		w.leaderOfTerm[r.term] = n.id
		// Leader append-only: what it held as leader of this term, it
		// still holds.
		if w.leaderTerm[n.id] == r.term {
			for i, term := range w.leaderLog[n.id] {
				if term != 0 && i < len(logs[k]) && logs[k][i] != 0 {
					require.Equal(w.t, term, logs[k][i], "leader %d rewrote index %d", n.id, i)
				}
				require.GreaterOrEqual(w.t, len(logs[k]), len(w.leaderLog[n.id]), "leader %d truncated its log", n.id)
			}
		}
		w.leaderTerm[n.id] = r.term
		w.leaderLog[n.id] = logs[k]
		// The commit rule (Figure 8): a leader moves its commit index only
		// onto an entry of its own term.
		lt := [2]uint64{n.id, r.term}
		if c0, ok := w.leaderCommit[lt]; !ok {
			w.leaderCommit[lt] = r.log.committed
		} else if r.log.committed > c0 {
			require.Equal(w.t, r.term, logs[k][r.log.committed],
				"leader %d of term %d committed index %d of an older term by counting", n.id, r.term, r.log.committed)
		}
		// Leader completeness: every entry committed in an earlier term
		// is in the leader's log.
		for key, ct := range w.committed {
			if ct < r.term && key.index < uint64(len(logs[k])) && logs[k][key.index] != 0 {
				require.Equal(w.t, key.term, logs[k][key.index],
					"leader %d of term %d lacks committed entry %+v", n.id, r.term, key)
			}
			if ct < r.term {
				require.Less(w.t, key.index, uint64(len(logs[k]))+0, "leader %d of term %d lacks committed index %d", n.id, r.term, key.index)
			}
		}
	}
	// Log matching: if two logs hold the same (index, term), they agree
	// on every earlier index both still hold.
	for a := range logs {
		for b := a + 1; b < len(logs); b++ {
			la, lb := logs[a], logs[b]
			n := min(len(la), len(lb))
			matched := false
			for i := n - 1; i >= 1; i-- {
				if la[i] == 0 || lb[i] == 0 {
					if matched {
						break // compacted below here
					}
					continue
				}
				if la[i] == lb[i] {
					matched = true
				} else {
					require.False(w.t, matched, "log matching: nodes %d and %d agree at a later index but differ at %d",
						w.nodes[a].id, w.nodes[b].id, i)
				}
			}
		}
	}
}

var rapidStats struct{ runs, applied, terms, served, wipes, recovered int }

func TestRapidSafety(t *testing.T) {
	defer func() {
		t.Logf("runs %d, applied entries %d, leader terms %d, reads served %d, storage wipes %d (replicas recovered at the end %d)",
			rapidStats.runs, rapidStats.applied, rapidStats.terms, rapidStats.served, rapidStats.wipes, rapidStats.recovered)
	}()
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(3, 5).Draw(t, "nodes")
		w := &safetyWorld{t: t,
			preVote:      rapid.Bool().Draw(t, "preVote"),
			checkQ:       rapid.Bool().Draw(t, "checkQuorum"),
			rng:          rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1)),
			leaderOfTerm: map[uint64]uint64{}, leaderLog: map[uint64][]uint64{},
			leaderTerm: map[uint64]uint64{}, committed: map[entryKey]uint64{},
			appliedAt: map[uint64]Entry{}, entryData: map[entryKey]string{},
			readReq: map[string]uint64{}, isolated: map[uint64]bool{}, leaderCommit: map[[2]uint64]uint64{}}
		// With membership changes, two more nodes start outside the
		// cluster (empty storage) and may be added.
		membership := rapid.Bool().Draw(t, "membership")
		// With amnesia, nodes lose their durable state now and then and
		// recover from the others (Config.Recovering, VoteFloor).
		amnesia := rapid.Bool().Draw(t, "amnesia")
		var voters []uint64
		for i := 1; i <= size; i++ {
			voters = append(voters, uint64(i))
		}
		for _, id := range voters {
			n := &simNode{id: id, storage: NewMemoryStorage()}
			require.NoError(t, n.storage.ApplySnapshot(BootstrapSnapshot(voters, nil)))
			w.start(n)
			w.nodes = append(w.nodes, n)
		}
		if membership {
			for id := uint64(size + 1); id <= uint64(size+2); id++ {
				n := &simNode{id: id, storage: NewMemoryStorage()}
				w.start(n)
				w.nodes = append(w.nodes, n)
			}
		}
		defer func() {
			for _, n := range w.nodes {
				rapidStats.wipes += n.wipes
				if n.wipes > 0 && !n.recovering {
					rapidStats.recovered++
				}
			}
			rapidStats.applied += len(w.appliedAt)
			rapidStats.runs++
			rapidStats.terms += len(w.leaderOfTerm)
		}()
		steps := 200 + w.rng.IntN(1500)
		for range steps {
			switch w.rng.IntN(14) {
			case 0:
				w.node().rn.Tick()
			case 1:
				for _, n := range w.nodes {
					n.rn.Tick()
				}
			case 13:
				w.start(w.node()) // crash and restart from storage
			case 12:
				w.reads++
				ctx := fmt.Sprintf("r%d", w.reads)
				w.readReq[ctx] = w.maxCommit
				w.node().rn.ReadIndex([]byte(ctx))
			case 2, 3, 4, 10, 11:
				for range 1 + w.rng.IntN(4) {
					w.deliver(false)
				}
			case 5:
				w.deliver(w.rng.IntN(2) == 0) // maybe duplicate
				for len(w.net) > 0 && w.rng.IntN(3) != 0 {
					i := w.rng.IntN(len(w.net))
					w.net = slices.Delete(w.net, i, i+1) // drop
				}
			case 6:
				w.take(w.node())
			case 7:
				w.persist(w.node())
			case 8:
				n := w.node()
				w.nextData++
				_ = n.rn.Propose(fmt.Appendf(nil, "v%d", w.nextData))
			case 9:
				switch w.rng.IntN(10) {
				case 0, 1:
					w.start(w.node()) // crash and restart from storage
				case 2:
					w.compact(w.node())
				case 3:
					if w.rng.IntN(2) == 0 {
						clear(w.isolated)
					} else {
						w.isolated[w.node().id] = true
					}
				case 5:
					if membership {
						cc := ConfChange{Type: ConfChangeType(w.rng.IntN(3)), NodeID: uint64(1 + w.rng.IntN(len(w.nodes)))}
						_ = w.node().rn.ProposeConfChange(cc)
					}
				case 4:
					n := w.node()
					n.rn.TransferLeadership(uint64(1 + w.rng.IntN(size)))
				case 6:
					if amnesia {
						w.wipe(w.node())
					}
				default:
					for _, n := range w.nodes {
						n.rn.Tick()
						w.take(n)
						w.persist(n)
					}
				}
			}
			// Nodes work through their Readies at their own pace.
			for _, n := range w.nodes {
				if w.rng.IntN(3) != 0 {
					w.persist(n)
					w.take(n)
				}
			}
			w.check()
		}
		w.converge()
	})
}

// converge heals the network and checks liveness: within a bounded
// number of rounds of reliable delivery a leader emerges, and an entry
// it proposes is applied by every member of its configuration.
func (w *safetyWorld) converge() {
	clear(w.isolated)
	w.net = nil // whatever was in flight is lost: recovery must not rely on it
	attempt := 0
	for round := range 400 {
		for _, n := range w.nodes {
			n.rn.Tick()
		}
		for range 100 {
			for _, n := range w.nodes {
				w.persist(n)
				w.take(n)
				w.persist(n)
			}
			if len(w.net) == 0 {
				break
			}
			net := w.net
			w.net = nil
			for _, b := range net {
				w.deliverBytes(b)
			}
		}
		w.check()
		var lead *simNode
		for _, n := range w.nodes {
			if n.rn.r.state == RoleLeader && (lead == nil || n.rn.r.term > lead.rn.r.term) {
				lead = n
			}
		}
		if lead == nil {
			continue
		}
		if round%50 == 0 || attempt == 0 {
			attempt++
			_ = lead.rn.Propose(fmt.Appendf(nil, "final%d", attempt))
		}
		cs := lead.rn.Status().ConfState
		done := true
		for _, n := range w.nodes {
			if !containsID(cs.Voters, n.id) && !containsID(cs.Learners, n.id) {
				continue
			}
			done = done && slices.ContainsFunc(n.applied, func(e Entry) bool {
				return len(e.Data) > 5 && string(e.Data[:5]) == "final"
			})
		}
		if done {
			return
		}
	}
	if !w.intactQuorum() {
		return // beyond the fault model: no leader can be elected safely
	}
	w.t.Fatalf("no convergence after healing")
}

// intactQuorum reports whether the configuration of the most advanced
// node still has a quorum of voters that are not recovering from a wipe.
// Wipes hit one node at a time, but membership changes can shrink the
// configuration around a recovering node afterwards (rapid seed
// 2431517854510899946: voters {1, 2} with 1 wiped, 2 a candidate forever
// since a recovering node does not vote): liveness is promised only while
// a quorum kept its storage.
func (w *safetyWorld) intactQuorum() bool {
	var best *simNode
	for _, n := range w.nodes {
		if best == nil || n.rn.r.log.lastIndex() > best.rn.r.log.lastIndex() {
			best = n
		}
	}
	voters := best.rn.Status().ConfState.Voters
	intact := 0
	for _, n := range w.nodes {
		if containsID(voters, n.id) && !n.recovering {
			intact++
		}
	}
	return 2*intact > len(voters)
}

// compact snapshots node n's state machine and compacts its storage.
func (w *safetyWorld) compact(n *simNode) {
	snap, _ := n.storage.Snapshot()
	if n.lastApp <= snap.Meta.Index {
		return
	}
	last, _ := n.storage.LastIndex()
	if n.lastApp > last {
		return
	}
	_, err := n.storage.CreateSnapshot(n.lastApp, n.cs, encodeSM(n.applied))
	require.NoError(w.t, err)
	require.NoError(w.t, n.storage.Compact(n.lastApp))
}

// TestNoAckForReplacedEntries: a follower steps an append of the leader of
// term 2 and then, before the Ready, one of the leader of term 3 that
// replaces the entry the first added. The Ready must not carry an
// acknowledgement to the deposed leader of the entry it no longer holds
// (simrun seed 730: sent after the sync, it vouched for entries that were
// never durable on the follower).
func TestNoAckForReplacedEntries(t *testing.T) {
	s := NewMemoryStorage()
	require.NoError(t, s.ApplySnapshot(BootstrapSnapshot([]uint64{1, 2, 3}, nil)))
	rn, err := NewRawNode(Config{ID: 3, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Rand: newTestRand()})
	require.NoError(t, err)
	require.NoError(t, rn.Step(Message{Type: MsgApp, From: 1, To: 3, Term: 2, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}}}))
	require.NoError(t, rn.Step(Message{Type: MsgApp, From: 2, To: 3, Term: 3, Index: 2, LogTerm: 2,
		Entries: []Entry{{Index: 3, Term: 3}}}))
	rd := rn.Ready()
	require.Equal(t, []Entry{{Index: 2, Term: 2}, {Index: 3, Term: 3}}, rd.Entries)
	var acks []Message
	for _, m := range rd.MessagesAfterPersist {
		if m.Type == MsgAppResp && !m.Reject {
			acks = append(acks, m)
		}
	}
	require.Len(t, acks, 1, "only the newer leader's ack: %+v", acks)
	require.Equal(t, uint64(2), acks[0].To)
	require.Equal(t, uint64(3), acks[0].Index)
	require.Equal(t, uint64(3), acks[0].Term)
}

// TestReadIndexKeysAreLeaders: contexts are chosen by the requesters, so a
// follower's forwarded read may carry the same context as an earlier read
// of the leader's own. A late (duplicated) heartbeat answer to the earlier
// read must not confirm the later one: the leader keys its rounds itself
// (simrun seed 127 of TestSeeds: follower 2's round 12 was released by
// late duplicates of answers to the leader's own round 12, with no fresh
// quorum).
func TestReadIndexKeysAreLeaders(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.campaign(1)
	require.NoError(t, c.propose(1, "x"))
	// The leader's own read, context "ctx": keep node 2's heartbeat answer.
	var old []Message
	c.onSend = func(m Message) {
		if m.Type == MsgHeartbeatResp && m.From == 2 && len(m.Context) > 0 {
			old = append(old, m)
		}
	}
	require.NoError(t, c.nodes[1].rn.ReadIndex([]byte("ctx")))
	c.stabilize()
	require.Len(t, c.nodes[1].reads, 1)
	require.NotEmpty(t, old)
	c.onSend = nil
	// Follower 3 forwards a read with the same context; the leader's
	// heartbeats for it are lost, so no quorum confirms it.
	c.drop = func(m Message) bool { return m.Type == MsgHeartbeat }
	require.NoError(t, c.nodes[3].rn.ReadIndex([]byte("ctx")))
	c.stabilize()
	c.drop = nil
	// The old answer arrives again, late.
	late := old[0]
	require.NoError(t, c.nodes[1].rn.Step(late))
	c.handle(1)
	c.stabilize()
	require.Empty(t, c.nodes[3].reads, "a late answer to an earlier round confirmed the follower's read")
}

// TestAppendsStartAtTheFirstConflict is why bugbench's
// raft-commit-past-last-new (a follower commits min(leaderCommit,
// lastIndex) instead of min(leaderCommit, last new entry)) cannot show in
// this raft: an append a follower accepts either truncates the follower's
// divergent suffix (its first entry that differs is the first conflict) or
// leaves a log beyond its last entry that is a prefix of the leader's. So
// committing past the append's last entry never commits an entry the
// leader does not hold. Here a follower holds a divergent suffix of five
// entries from a deposed leader, the new leader sends one entry per append
// (the smallest message size), and every append the follower accepts is
// checked against that. Probing lands exactly on the first conflict (the
// follower's hint is the last index of a term at or below the probe's, and
// the leader steps back to its last entry of a term at or below that), and
// while probing the leader's match is 0, so no append starts lower.
func TestAppendsStartAtTheFirstConflict(t *testing.T) {
	c := newCluster(t, 5, func(cfg *Config) { cfg.MaxSizePerMsg = 1; cfg.PreVote = true; cfg.CheckQuorum = true })
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	// Leader 1 appends b and c, which reach 2 and 3, and then s1..s5,
	// which reach only 2, all before any answer: 2's commit index stays
	// at a, below the entries it shares with the next leader.
	for _, d := range []string{"b", "c", "s1", "s2", "s3", "s4", "s5"} {
		require.NoError(t, c.nodes[1].rn.Propose([]byte(d)))
		c.handle(1)
	}
	var out []Message
	for _, m := range c.queue {
		if m.Type == MsgApp && (m.To == 2 || (m.To == 3 && m.Entries[0].Index <= 5)) {
			out = append(out, m)
		}
	}
	c.queue = nil
	for _, m := range out {
		_ = c.nodes[m.To].rn.Step(m)
	}
	c.handle(2)
	c.handle(3)
	c.queue = nil // their answers are lost; 1 is cut off from now on
	require.Equal(t, uint64(3), c.nodes[2].rn.r.log.committed)
	// 3, 4 and 5 elect 3, which holds b and c and commits entries of its own.
	c.isolate(1)
	c.isolate(2)
	c.tickAll(30)
	require.Equal(t, uint64(3), c.leader())
	for _, d := range []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"} {
		require.NoError(t, c.propose(3, d))
	}
	// Leadership moves to 4, which then probes 2 from its last index: 2
	// rejects, and the hints must bring 4 down to the first conflict.
	c.nodes[3].rn.TransferLeadership(4)
	c.stabilize()
	require.Equal(t, uint64(4), c.leader())
	f, l := c.nodes[2].rn.r, c.nodes[4].rn.r
	require.Equal(t, uint64(10), f.log.lastIndex(), "follower 2 holds a, b, c and the divergent s1..s5")
	accepted := 0
	c.rewrite = func(m *Message) {
		if m.Type != MsgApp || m.To != 2 || m.From != 4 || len(m.Entries) == 0 || !f.log.matchTerm(m.Index, m.LogTerm) ||
			m.Index < f.log.committed {
			return
		}
		accepted++
		if f.log.findConflict(m.Entries) != 0 {
			return // it truncates the divergent suffix
		}
		lastNew := m.Entries[len(m.Entries)-1].Index
		for i := lastNew + 1; i <= f.log.lastIndex(); i++ {
			ft, _ := f.log.term(i)
			require.True(t, l.log.matchTerm(i, ft),
				"follower 2 accepts an append ending at %d that leaves its divergent entry %d (term %d) behind, with leader commit %d",
				lastNew, i, ft, m.Commit)
		}
	}
	delete(c.cut, 2)
	c.tickAll(20)
	require.Positive(t, accepted)
	c.rewrite = nil
	c.checkApplied()
}
