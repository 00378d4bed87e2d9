package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"
)

// TestInteraction runs the scenario scripts in testdata/*.txt against a
// small interaction environment (in the manner of etcd-io/raft's
// rafttest): each command drives RawNodes by hand (tick, campaign,
// propose, hand a Ready over, deliver some messages, crash and restart)
// and prints what raft did, so a script pins one behaviour step by step.
// After every command the environment checks election safety (one leader
// per term), state machine safety (applied logs are prefixes of one
// another) and that commit indexes never go back.
//
// Rewrite the expected output with
//
//	go test ./raft -run TestInteraction -rewrite
//
// and read the diff: a script that records a bug is worse than none.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := newInteractionEnv(t)
		datadriven.RunTest(t, path, env.handle)
	})
}

// interactionEnv holds the nodes and the messages in flight, per
// recipient, in the order they were sent.
type interactionEnv struct {
	t       testing.TB
	nodes   []*testNode // index id-1; rn is nil while crashed
	inbox   map[uint64][]Message
	group   map[uint64]int    // partition group per node (0 = default)
	leaders map[uint64]uint64 // term -> the node that led it
	commits map[uint64]uint64 // id -> highest commit index seen
}

func newInteractionEnv(t testing.TB) *interactionEnv {
	return &interactionEnv{t: t, inbox: map[uint64][]Message{}, group: map[uint64]int{},
		leaders: map[uint64]uint64{}, commits: map[uint64]uint64{}}
}

// handle runs one datadriven command and returns its output.
func (env *interactionEnv) handle(t *testing.T, d *datadriven.TestData) string {
	env.t = t
	var b strings.Builder
	switch d.Cmd {
	case "add-nodes":
		env.addNodes(t, d, &b)
	case "campaign":
		for _, id := range env.ids(t, d) {
			env.reportErr(&b, env.node(t, id).rn.Campaign())
		}
	case "tick":
		n := 1
		d.MaybeScanArgs(t, "n", &n)
		for _, id := range env.ids(t, d) {
			for range n {
				env.node(t, id).rn.Tick()
			}
		}
	case "tick-heartbeat":
		for _, id := range env.ids(t, d) {
			rn := env.node(t, id).rn
			for range rn.r.heartbeatTimeout {
				rn.Tick()
			}
		}
	case "tick-election":
		// Exactly as many ticks as this node's randomized timeout needs.
		for _, id := range env.ids(t, d) {
			rn := env.node(t, id).rn
			for range rn.r.randomizedElectionTimeout - rn.r.electionElapsed {
				rn.Tick()
			}
		}
	case "propose":
		id := env.firstID(t, d)
		env.reportErr(&b, env.node(t, id).rn.Propose([]byte(d.CmdArgs[1].Key)))
	case "propose-conf-change":
		env.proposeConfChange(t, d, &b)
	case "read-index":
		id := env.firstID(t, d)
		env.reportErr(&b, env.node(t, id).rn.ReadIndex([]byte(d.CmdArgs[1].Key)))
	case "transfer-leadership":
		var from, to uint64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		env.node(t, from).rn.TransferLeadership(to)
	case "report-unreachable":
		var from, to uint64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		env.node(t, from).rn.ReportUnreachable(to)
	case "process-ready":
		for _, id := range env.ids(t, d) {
			env.processReady(id, &b)
		}
	case "deliver-msgs":
		env.deliverMsgs(t, d, &b)
	case "stabilize":
		env.stabilize(t, d, &b)
	case "partition":
		env.partition(t, d)
	case "heal":
		clear(env.group)
	case "compact":
		env.compact(t, d, &b)
	case "crash":
		for _, id := range env.ids(t, d) {
			n := env.node(t, id)
			n.rn = nil
			delete(env.inbox, id)
		}
	case "restart":
		for _, id := range env.ids(t, d) {
			delete(env.inbox, id) // sent while it was down: lost
			env.restart(t, id)
		}
	case "status":
		for _, id := range env.ids(t, d) {
			env.writeStatus(&b, id)
		}
	case "raft-state":
		env.writeRaftState(&b)
	case "raft-log":
		for _, id := range env.ids(t, d) {
			env.writeLog(&b, id)
		}
	case "applied":
		for _, id := range env.ids(t, d) {
			n := env.nodes[id-1]
			fmt.Fprintf(&b, "%d: applied %d:", id, n.lastApp)
			for _, e := range n.applied {
				fmt.Fprintf(&b, " %q", e.Data)
			}
			b.WriteString("\n")
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	env.checkInvariants(t, d)
	if b.Len() == 0 {
		return "ok"
	}
	return b.String()
}

// --- command implementations ---

func (env *interactionEnv) addNodes(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	var count int
	d.ScanArgs(t, "count", &count)
	var voters, learners []uint64
	d.MaybeScanArgs(t, "voters", &voters)
	d.MaybeScanArgs(t, "learners", &learners)
	var prevote, checkquorum bool
	d.MaybeScanArgs(t, "prevote", &prevote)
	d.MaybeScanArgs(t, "checkquorum", &checkquorum)
	inflight, sizePerMsg := 0, uint64(0)
	d.MaybeScanArgs(t, "max-inflight", &inflight)
	d.MaybeScanArgs(t, "max-size-per-msg", &sizePerMsg)
	for range count {
		id := uint64(len(env.nodes) + 1)
		s := NewMemoryStorage()
		if len(voters) > 0 {
			// A founding member; without voters the node joins later and
			// learns the configuration from the leader's snapshot.
			require.NoError(t, s.ApplySnapshot(BootstrapSnapshot(voters, learners)))
		}
		cfg := Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
			PreVote: prevote, CheckQuorum: checkquorum, MaxInflightMsgs: inflight,
			MaxSizePerMsg: sizePerMsg, Rand: rand.New(rand.NewPCG(7, id))}
		n := &testNode{id: id, cfg: cfg, storage: s}
		env.nodes = append(env.nodes, n)
		env.restart(t, id)
		fmt.Fprintf(b, "%d: voters=%v learners=%v first=%d last=%d\n", id,
			n.cs.Voters, n.cs.Learners, must1(s.FirstIndex()), must1(s.LastIndex()))
	}
}

// restart (re)creates node id's RawNode from its storage: the state
// machine is rebuilt from the snapshot and the committed entries are
// applied again, as a restarted process does.
func (env *interactionEnv) restart(t *testing.T, id uint64) {
	n := env.nodes[id-1]
	snap, err := n.storage.Snapshot()
	require.NoError(t, err)
	n.cfg.Applied = snap.Meta.Index
	n.applied, n.lastApp, n.cs = decodeSM(snap.Data), snap.Meta.Index, snap.Meta.ConfState
	rn, err := NewRawNode(n.cfg)
	require.NoError(t, err)
	n.rn = rn
}

func (env *interactionEnv) proposeConfChange(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	id := env.firstID(t, d)
	var cc ConfChange
	for _, arg := range d.CmdArgs[1:] {
		switch arg.Key {
		case "add-voter":
			cc.Type = ConfChangeAddVoter
		case "add-learner":
			cc.Type = ConfChangeAddLearner
		case "remove":
			cc.Type = ConfChangeRemoveNode
		default:
			t.Fatalf("%s: unknown conf change %q", d.Pos, arg.Key)
		}
		arg.Scan(t, 0, &cc.NodeID)
	}
	env.reportErr(b, env.node(t, id).rn.ProposeConfChange(cc))
}

// processReady hands one Ready of node id over, as the node does but
// synchronously: persist, queue both message lists, apply, Advance.
func (env *interactionEnv) processReady(id uint64, b *strings.Builder) bool {
	n := env.nodes[id-1]
	if n.rn == nil || !n.rn.HasReady() {
		return false
	}
	rd := n.rn.Ready()
	if b != nil {
		fmt.Fprintf(b, "> %d handling Ready\n", id)
		writeReady(b, rd)
	}
	n.persist(env.t, rd)
	for _, m := range slices.Concat(rd.Messages, rd.MessagesAfterPersist) {
		env.inbox[m.To] = append(env.inbox[m.To], cloneMessage(m))
	}
	n.applyEntries(env.t, rd.CommittedEntries)
	n.rn.Advance()
	return true
}

// cloneMessage copies m's entries out of raft's buffers (they are reused
// after Advance).
func cloneMessage(m Message) Message {
	m.Entries = slices.Clone(m.Entries)
	if m.Snapshot != nil {
		s := *m.Snapshot
		m.Snapshot = &s
	}
	return m
}

// deliverMsgs steps the queued messages addressed to the given nodes
// (all if none given), or drops them with drop=true. type= and from=
// select only some; the rest stay queued in order.
func (env *interactionEnv) deliverMsgs(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	var typ string
	var from uint64
	drop := false
	d.MaybeScanArgs(t, "type", &typ)
	d.MaybeScanArgs(t, "from", &from)
	d.MaybeScanArgs(t, "drop", &drop)
	ids := env.ids(t, d)
	if len(ids) == 0 {
		ids = env.allIDs()
	}
	for _, id := range ids {
		var keep []Message
		for _, m := range env.inbox[id] {
			if (typ != "" && m.Type.String() != typ) || (from != 0 && m.From != from) {
				keep = append(keep, m)
				continue
			}
			if drop {
				fmt.Fprintf(b, "dropped: %s\n", describeMessage(m))
				continue
			}
			env.step(m, b)
		}
		env.inbox[id] = keep
	}
}

// step delivers m unless a partition or a crash is in the way.
func (env *interactionEnv) step(m Message, b *strings.Builder) {
	n := env.nodes[m.To-1]
	if env.group[m.From] != env.group[m.To] || n.rn == nil {
		if b != nil {
			fmt.Fprintf(b, "dropped: %s\n", describeMessage(m))
		}
		return
	}
	if b != nil {
		fmt.Fprintln(b, describeMessage(m))
	}
	if err := n.rn.Step(m); err != nil && b != nil {
		fmt.Fprintf(b, "  error: %v\n", err)
	}
}

// stabilize processes Readies and delivers messages among the given nodes
// (all if none given) until nothing moves; quiet=true prints nothing.
func (env *interactionEnv) stabilize(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	quiet := false
	d.MaybeScanArgs(t, "quiet", &quiet)
	out := b
	if quiet {
		out = nil
	}
	ids := env.ids(t, d)
	if len(ids) == 0 {
		ids = env.allIDs()
	}
	for round := 0; ; round++ {
		require.Less(t, round, 1000, "no quiescence")
		moved := false
		for _, id := range ids {
			for env.processReady(id, out) {
				moved = true
			}
		}
		for _, id := range ids {
			msgs := env.inbox[id]
			env.inbox[id] = nil
			for _, m := range msgs {
				moved = true
				env.step(m, out)
			}
		}
		if !moved {
			return
		}
	}
}

// partition splits the nodes into groups given as lists (1 2 / 3): a
// message crosses no group boundary. Nodes not named stay in group 0
// with the first list.
func (env *interactionEnv) partition(t *testing.T, d *datadriven.TestData) {
	clear(env.group)
	g := 0
	for _, arg := range d.CmdArgs {
		if arg.Key == "/" {
			g++
			continue
		}
		id, err := strconv.ParseUint(arg.Key, 10, 64)
		require.NoError(t, err)
		env.group[id] = g
	}
}

// compact snapshots node id's state machine at index (applied) and
// discards the log before it.
func (env *interactionEnv) compact(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	id := env.firstID(t, d)
	var index uint64
	d.ScanArgs(t, "index", &index)
	n := env.nodes[id-1]
	require.LessOrEqual(t, index, n.lastApp, "compact past applied")
	var upto []Entry
	for _, e := range n.applied {
		if e.Index <= index {
			upto = append(upto, e)
		}
	}
	_, err := n.storage.CreateSnapshot(index, n.cs, encodeSM(upto))
	require.NoError(t, err)
	require.NoError(t, n.storage.Compact(index))
	env.writeLog(b, id)
}

// --- invariants checked after every command ---

func (env *interactionEnv) checkInvariants(t *testing.T, d *datadriven.TestData) {
	for _, n := range env.nodes {
		if n.rn == nil {
			continue
		}
		st := n.rn.Status()
		if st.Role == RoleLeader {
			if other, ok := env.leaders[st.Term]; ok && other != n.id {
				t.Fatalf("%s: two leaders in term %d: %d and %d", d.Pos, st.Term, other, n.id)
			}
			env.leaders[st.Term] = n.id
		}
		if st.Commit < env.commits[n.id] {
			t.Fatalf("%s: node %d commit went back from %d to %d", d.Pos, n.id, env.commits[n.id], st.Commit)
		}
		env.commits[n.id] = st.Commit
	}
	for _, a := range env.nodes {
		for _, c := range env.nodes {
			for i := 0; i < len(a.applied) && i < len(c.applied); i++ {
				ea, ec := a.applied[i], c.applied[i]
				if ea.Index != ec.Index || ea.Term != ec.Term || string(ea.Data) != string(ec.Data) {
					t.Fatalf("%s: nodes %d and %d applied different entries at %d", d.Pos, a.id, c.id, i)
				}
			}
		}
	}
}

// --- output ---

func writeReady(b *strings.Builder, rd Ready) {
	if rd.SoftState != nil {
		fmt.Fprintf(b, "  Lead:%d Role:%s\n", rd.SoftState.Lead, rd.SoftState.Role)
	}
	if !rd.HardState.IsEmpty() {
		hs := rd.HardState
		fmt.Fprintf(b, "  HardState Term:%d Vote:%d Commit:%d\n", hs.Term, hs.Vote, hs.Commit)
	}
	if !rd.Snapshot.IsEmpty() {
		fmt.Fprintf(b, "  Snapshot %s\n", describeSnapshot(rd.Snapshot))
	}
	writeEntries(b, "Entries", rd.Entries)
	writeEntries(b, "CommittedEntries", rd.CommittedEntries)
	writeMessages(b, "Messages", rd.Messages)
	writeMessages(b, "MessagesAfterPersist", rd.MessagesAfterPersist)
	for _, rs := range rd.ReadStates {
		fmt.Fprintf(b, "  ReadState Index:%d Ctx:%q\n", rs.Index, rs.RequestCtx)
	}
}

func writeEntries(b *strings.Builder, what string, ents []Entry) {
	if len(ents) == 0 {
		return
	}
	fmt.Fprintf(b, "  %s:", what)
	for _, e := range ents {
		fmt.Fprintf(b, " %s", describeEntry(e))
	}
	b.WriteString("\n")
}

func writeMessages(b *strings.Builder, what string, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	fmt.Fprintf(b, "  %s:\n", what)
	for _, m := range msgs {
		fmt.Fprintf(b, "    %s\n", describeMessage(m))
	}
}

// describeEntry prints term/index, and the data or the conf change.
func describeEntry(e Entry) string {
	if e.Type == EntryConfChange {
		var cc ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Sprintf("%d/%d ConfChange(%v)", e.Term, e.Index, err)
		}
		return fmt.Sprintf("%d/%d %s(%d)", e.Term, e.Index, cc.Type, cc.NodeID)
	}
	return fmt.Sprintf("%d/%d %q", e.Term, e.Index, e.Data)
}

func describeSnapshot(s Snapshot) string {
	return fmt.Sprintf("Index:%d Term:%d Voters:%v Learners:%v", s.Meta.Index, s.Meta.Term,
		s.Meta.ConfState.Voters, s.Meta.ConfState.Learners)
}

// describeMessage prints the fields that matter for m's type.
func describeMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s Term:%d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case MsgApp, MsgVote, MsgPreVote:
		fmt.Fprintf(&b, " Log:%d/%d", m.LogTerm, m.Index)
	case MsgAppResp, MsgReadIndexResp:
		fmt.Fprintf(&b, " Index:%d", m.Index)
	}
	if m.Type == MsgApp || m.Type == MsgHeartbeat {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	switch {
	case m.Reject && m.Type == MsgAppResp:
		fmt.Fprintf(&b, " Rejected (Hint: %d, LogTerm: %d)", m.RejectHint, m.LogTerm)
	case m.Reject:
		b.WriteString(" Rejected")
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Ctx:%q", m.Context)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(describeEntry(e))
		}
		b.WriteString("]")
	}
	if m.Snapshot != nil {
		fmt.Fprintf(&b, " Snapshot:{%s}", describeSnapshot(*m.Snapshot))
	}
	return b.String()
}

func (env *interactionEnv) writeStatus(b *strings.Builder, id uint64) {
	n := env.nodes[id-1]
	if n.rn == nil {
		fmt.Fprintf(b, "%d: crashed\n", id)
		return
	}
	st := n.rn.Status()
	fmt.Fprintf(b, "%d: %s Term:%d Vote:%d Lead:%d Commit:%d Applied:%d Voters:%v Learners:%v",
		id, st.Role, st.Term, st.Vote, st.Lead, st.Commit, st.Applied, st.ConfState.Voters, st.ConfState.Learners)
	if st.LeadTransferee != None {
		fmt.Fprintf(b, " Transferee:%d", st.LeadTransferee)
	}
	b.WriteString("\n")
	for _, pid := range n.rn.r.trk.ids {
		if st.Role != RoleLeader {
			break
		}
		pr := n.rn.r.trk.progress[pid]
		fmt.Fprintf(b, "  %d: %s match=%d next=%d", pid, pr.State, pr.Match, pr.Next)
		if pr.IsLearner {
			b.WriteString(" learner")
		}
		if pr.inflights.count > 0 {
			fmt.Fprintf(b, " inflight=%d", pr.inflights.count)
		}
		if pr.isPaused() {
			b.WriteString(" paused")
		}
		if pr.PendingSnapshot != 0 {
			fmt.Fprintf(b, " pendingSnap=%d", pr.PendingSnapshot)
		}
		b.WriteString("\n")
	}
}

// writeRaftState prints one line per node: role, term and leader.
func (env *interactionEnv) writeRaftState(b *strings.Builder) {
	for _, n := range env.nodes {
		if n.rn == nil {
			fmt.Fprintf(b, "%d: crashed\n", n.id)
			continue
		}
		st := n.rn.Status()
		kind := "Voter"
		if slices.Contains(st.ConfState.Learners, n.id) {
			kind = "Learner"
		} else if !slices.Contains(st.ConfState.Voters, n.id) {
			kind = "NonMember"
		}
		fmt.Fprintf(b, "%d: %s (%s) Term:%d Lead:%d\n", n.id, st.Role, kind, st.Term, st.Lead)
	}
}

// writeLog prints node id's durable log: snapshot, entries, hard state.
func (env *interactionEnv) writeLog(b *strings.Builder, id uint64) {
	s := env.nodes[id-1].storage
	snap := must1(s.Snapshot())
	first, last := must1(s.FirstIndex()), must1(s.LastIndex())
	hs := s.HardState()
	fmt.Fprintf(b, "%d: snapshot %d/%d, hard state Term:%d Vote:%d Commit:%d, log", id,
		snap.Meta.Term, snap.Meta.Index, hs.Term, hs.Vote, hs.Commit)
	if first > last {
		b.WriteString(" empty\n")
		return
	}
	for _, e := range must1(s.Entries(first, last+1, 1<<30)) {
		fmt.Fprintf(b, " %s", describeEntry(e))
	}
	b.WriteString("\n")
}

// --- argument helpers ---

// ids returns the node IDs given as bare numeric arguments.
func (env *interactionEnv) ids(t *testing.T, d *datadriven.TestData) []uint64 {
	var out []uint64
	for _, arg := range d.CmdArgs {
		if len(arg.Vals) > 0 {
			continue
		}
		id, err := strconv.ParseUint(arg.Key, 10, 64)
		if err != nil {
			if d.Cmd == "propose" || d.Cmd == "read-index" {
				continue
			}
			t.Fatalf("%s: %q is not a node ID", d.Pos, arg.Key)
		}
		out = append(out, id)
	}
	return out
}

func (env *interactionEnv) firstID(t *testing.T, d *datadriven.TestData) uint64 {
	require.NotEmpty(t, d.CmdArgs, "%s: node ID missing", d.Pos)
	id, err := strconv.ParseUint(d.CmdArgs[0].Key, 10, 64)
	require.NoError(t, err, "%s", d.Pos)
	return id
}

func (env *interactionEnv) allIDs() []uint64 {
	out := make([]uint64, len(env.nodes))
	for i := range env.nodes {
		out[i] = uint64(i + 1)
	}
	return out
}

// node returns the running node id (the test fails if it is crashed).
func (env *interactionEnv) node(t *testing.T, id uint64) *testNode {
	require.True(t, id >= 1 && int(id) <= len(env.nodes), "no node %d", id)
	n := env.nodes[id-1]
	require.NotNil(t, n.rn, "node %d is crashed", id)
	return n
}

func (env *interactionEnv) reportErr(b *strings.Builder, err error) {
	if err != nil {
		fmt.Fprintf(b, "error: %v\n", err)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
