package raft

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// testNode is one in-memory replica: a RawNode, its "durable" storage and
// a trivial state machine (the list of applied normal entries).
type testNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	cfg     Config
	applied []Entry // applied normal entries with data, in order
	lastApp uint64
	reads   []ReadState
	cs      ConfState
}

// cluster wires testNodes together through a message queue the test
// controls.
type cluster struct {
	t       testing.TB
	nodes   map[uint64]*testNode
	ids     []uint64
	queue   []Message
	cut     map[uint64]bool      // isolated nodes
	drop    func(m Message) bool // extra drop filter
	rewrite func(m *Message)     // in-flight tampering (tests of specific schedules)
	onSend  func(m Message)      // observer
	snaps   map[uint64]int       // MsgSnap count per receiver
	mutate  func(cfg *Config)    // config tweaks
	seed    uint64
}

func newCluster(t testing.TB, n int, mutate func(cfg *Config)) *cluster {
	c := &cluster{t: t, nodes: map[uint64]*testNode{}, cut: map[uint64]bool{},
		snaps: map[uint64]int{}, mutate: mutate}
	var voters []uint64
	for i := 1; i <= n; i++ {
		voters = append(voters, uint64(i))
	}
	for _, id := range voters {
		s := NewMemoryStorage()
		require.NoError(t, s.ApplySnapshot(BootstrapSnapshot(voters, nil)))
		c.addNode(id, s)
	}
	return c
}

func (c *cluster) config(id uint64, s *MemoryStorage) Config {
	cfg := Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
		MaxInflightMsgs: 256, Rand: rand.New(rand.NewPCG(c.seed, id))}
	if c.mutate != nil {
		c.mutate(&cfg)
	}
	return cfg
}

// addNode starts (or restarts) node id from storage s.
func (c *cluster) addNode(id uint64, s *MemoryStorage) *testNode {
	cfg := c.config(id, s)
	snap, _ := s.Snapshot()
	cfg.Applied = snap.Meta.Index
	rn, err := NewRawNode(cfg)
	require.NoError(c.t, err)
	n := &testNode{id: id, rn: rn, storage: s, cfg: cfg, lastApp: snap.Meta.Index,
		applied: decodeSM(snap.Data), cs: snap.Meta.ConfState}
	c.nodes[id] = n
	if !slices.Contains(c.ids, id) {
		c.ids = append(c.ids, id)
		slices.Sort(c.ids)
	}
	return n
}

// snapshot data of the test state machine: the applied entries, encoded.
func encodeSM(ents []Entry) []byte {
	var b []byte
	for i := range ents {
		b = ents[i].MarshalAppend(b)
		b = append(b, 0xff) // separator keeps decoding trivial below
	}
	return b
}

func decodeSM(b []byte) []Entry {
	var out []Entry
	for len(b) > 0 {
		var e Entry
		d := decoder{b: b}
		d.format("sm")
		e.decodeFields(&d)
		if d.err != nil {
			panic(d.err)
		}
		e.Data = cloneBytes(e.Data)
		out = append(out, e)
		b = b[d.off+1:]
	}
	return out
}

// handle processes every Ready of node id until it has none.
func (c *cluster) handle(id uint64) {
	n := c.nodes[id]
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		c.queue = append(c.queue, rd.Messages...)
		c.persist(n, rd)
		c.queue = append(c.queue, rd.MessagesAfterPersist...)
		c.apply(n, rd)
		n.rn.Advance()
	}
}

func (c *cluster) persist(n *testNode, rd Ready) { n.persist(c.t, rd) }

func (c *cluster) apply(n *testNode, rd Ready) {
	n.applyEntries(c.t, rd.CommittedEntries)
	n.reads = append(n.reads, rd.ReadStates...)
}

// persist makes rd's snapshot (restoring the state machine from it),
// entries and hard state durable in n's storage.
func (n *testNode) persist(t testing.TB, rd Ready) {
	if !rd.Snapshot.IsEmpty() {
		require.NoError(t, n.storage.ApplySnapshot(rd.Snapshot))
		n.applied = decodeSM(rd.Snapshot.Data)
		n.lastApp = rd.Snapshot.Meta.Index
		n.cs = rd.Snapshot.Meta.ConfState
	}
	require.NoError(t, n.storage.Append(rd.Entries))
	if !rd.HardState.IsEmpty() {
		require.NoError(t, n.storage.SetHardState(rd.HardState))
	}
}

// applyEntries applies committed entries to n's state machine, in order:
// conf changes to raft, normal entries with data to the applied list.
func (n *testNode) applyEntries(t testing.TB, ents []Entry) {
	for _, e := range ents {
		require.Equal(t, n.lastApp+1, e.Index, "node %d applies out of order", n.id)
		n.lastApp = e.Index
		switch e.Type {
		case EntryConfChange:
			var cc ConfChange
			require.NoError(t, cc.Unmarshal(e.Data))
			n.cs = n.rn.ApplyConfChange(cc)
		case EntryNormal:
			if len(e.Data) > 0 {
				n.applied = append(n.applied, e)
			}
		}
	}
}

// deliver delivers one queued message (FIFO), respecting cuts and drops.
func (c *cluster) deliverOne() bool {
	if len(c.queue) == 0 {
		return false
	}
	m := c.queue[0]
	c.queue = c.queue[1:]
	if c.onSend != nil {
		c.onSend(m)
	}
	if c.rewrite != nil {
		c.rewrite(&m)
	}
	if c.cut[m.From] || c.cut[m.To] || (c.drop != nil && c.drop(m)) {
		return true
	}
	n := c.nodes[m.To]
	if n == nil {
		return true
	}
	if m.Type == MsgSnap {
		c.snaps[m.To]++
	}
	_ = n.rn.Step(m)
	c.handle(m.To)
	return true
}

// stabilize handles all Readies and delivers all messages until quiet.
func (c *cluster) stabilize() {
	for _, id := range c.ids {
		c.handle(id)
	}
	for i := 0; c.deliverOne(); i++ {
		require.Less(c.t, i, 100000, "no quiescence")
	}
}

func (c *cluster) tick(id uint64, n int) {
	for range n {
		c.nodes[id].rn.Tick()
		c.handle(id)
	}
}

// tickAll ticks every node n times, stabilizing in between.
func (c *cluster) tickAll(n int) { c.tickOnly(n, c.ids...) }

// tickOnly ticks the nodes ids n times, stabilizing in between (the
// others' clocks stand still, as if they were down).
func (c *cluster) tickOnly(n int, ids ...uint64) {
	for range n {
		for _, id := range ids {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
	}
}

func (c *cluster) campaign(id uint64) {
	require.NoError(c.t, c.nodes[id].rn.Campaign())
	c.stabilize()
}

func (c *cluster) propose(id uint64, data string) error {
	err := c.nodes[id].rn.Propose([]byte(data))
	c.stabilize()
	return err
}

func (c *cluster) isolate(id uint64) { c.cut[id] = true }
func (c *cluster) heal()             { clear(c.cut); c.drop = nil; c.rewrite = nil }

func (c *cluster) status(id uint64) Status { return c.nodes[id].rn.Status() }

func (c *cluster) leader() uint64 {
	var lead uint64
	for _, id := range c.ids {
		if c.status(id).Role == RoleLeader && !c.cut[id] {
			lead = id
		}
	}
	return lead
}

// appliedData returns the data of the normal entries node id applied.
func (c *cluster) appliedData(id uint64) []string {
	var out []string
	for _, e := range c.nodes[id].applied {
		out = append(out, string(e.Data))
	}
	return out
}

// checkApplied asserts state machine safety: applied sequences are
// prefixes of one another.
func (c *cluster) checkApplied() {
	for _, a := range c.ids {
		for _, b := range c.ids {
			ea, eb := c.nodes[a].applied, c.nodes[b].applied
			for i := 0; i < len(ea) && i < len(eb); i++ {
				require.True(c.t, ea[i].Index == eb[i].Index && ea[i].Term == eb[i].Term &&
					bytes.Equal(ea[i].Data, eb[i].Data),
					"nodes %d and %d applied different entries at position %d: %+v vs %+v", a, b, i, ea[i], eb[i])
			}
		}
	}
}

// restart crashes node id and restarts it from its storage: only what
// was persisted survives.
func (c *cluster) restart(id uint64) { c.addNode(id, c.nodes[id].storage) }

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
