package faults

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// DiskCorruptTailEcho is the name of the disk-corrupt-tail-echo fault.
const DiskCorruptTailEcho = "disk-corrupt-tail-echo"

// ReplicaLogs is implemented by a Protocol that reads the replicas' raft
// state, for faults aimed at a follower's log as its leader sees it.
type ReplicaLogs interface {
	// Ack reads an append acknowledgement (not a rejection) from its
	// payload: the term it was sent in and the last index it vouches
	// for; ok is false for any other payload.
	Ack(payload []byte) (term, index uint64, ok bool)
	// LogState is running replica id's raft state now; ok is false if
	// it is not running.
	LogState(id host.NodeID) (st LogState, ok bool)
}

// LogState is a replica's raft state as ReplicaLogs reads it.
type LogState struct {
	// Term is its current term; Last its last log index (unstable
	// entries included); Commit its commit index.
	Term, Last, Commit uint64
	// Leader: it leads Term.
	Leader bool
	// Recovering: it is still recovering from damaged storage (it
	// restarted on an empty log and has not caught up with a leader).
	Recovering bool
	// CaughtUp: it follows a leader, and its commit index is applied and
	// an entry of its term. Raft ends a recovery once that commit index
	// reaches the highest one the leader reported (and the leader echoed
	// the replica's epoch, raft.Config.Epoch); the replica records
	// the end durably only with its next Ready, so Recovering may still
	// say true for a while.
	CaughtUp bool
}

var (
	probeEchoCrashed = probe.New("faults/ack-held-follower-rotted", "faults: a follower crashed with its last acknowledgement held back and the tail of its log rotted")
	probeEchoed      = probe.New("faults/lost-ack-echoed", "faults: a recovered follower's acknowledgement of entries it lost reached its leader late, while the follower was behind it")
)

func init() { MustRegister(corruptTailEchoFault{}) }

// corruptTailEchoFault (in the model) makes a follower lose entries its
// leader still counts it for, while that leader goes on leading. A
// follower that lost acknowledged entries (corruption, within the model
// for a minority) recovers on an empty log from its leader; but a copy of
// one of its old acknowledgements, delayed in the network, can still
// reach the leader after that, and the leader then believes the follower
// holds what it lost: it sends only what comes after, and takes the
// follower's rejections for stale ones. Only the follower can say its log
// ends below (a heartbeat answer that names its last index once the
// leader's commit index passes it). Random faults reach that when the
// leader's commit waits on the follower and a duplicate arrives after the
// recovery, at once (seed 193 of the default swarm did once).
//
// An episode aims at it. As the leader sends an append to a voter, it cuts
// the leader off from a minority of the other voters, both ways (the
// follower is then needed for every commit; the cut voters cannot elect
// anyone, since the others still hear the leader). For acks_ms the
// network loses the follower's acknowledgements (its heartbeat answers go
// through): the leader appends what it cannot commit. Then the follower
// crashes, the tail of its log rotted (tainted, within both budgets like
// disk-corrupt), keeping the newest acknowledgement it sent, and restarts
// after down_ms on an empty log, recovering from the leader. Once its log
// reaches the leader's commit index below the held entries, the append
// stream to it is held back until it has caught up with that commit index
// (raft ends its recovery there); the held acknowledgement is then
// delivered to the leader, and the appends in flight to the follower are
// lost for a little longer. An episode goes on past its hold until it is
// done (at most echoDeadline after it began), since a drawn hold is often
// shorter than a recovery; its cuts are then undone. It needs a Protocol
// that is a TailRotter and ReplicaLogs.
type corruptTailEchoFault struct{}

func (corruptTailEchoFault) Name() string { return DiskCorruptTailEcho }
func (corruptTailEchoFault) Class() Class { return InModel }
func (corruptTailEchoFault) Params() []Param {
	return []Param{
		{Name: "acks_ms", Min: 1, Max: 1000, Default: 100, DrawMin: 20, DrawMax: 250, Integer: true,
			Doc: "milliseconds the follower's acknowledgements are held back before it crashes (the entries its leader cannot commit without it)"},
		{Name: "down_ms", Min: 1, Max: 1000, Default: 50, DrawMin: 5, DrawMax: 150, Integer: true,
			Doc: "milliseconds the follower stays crashed (below an election timeout, so that its leader keeps leading)"},
	}
}

// The phases of an echo episode.
const (
	echoArmed     = iota // waiting for an append to a voter
	echoAcks             // the follower's acknowledgements are held back
	echoDown             // the follower is crashed
	echoRecovery         // it restarted: waiting for it to recover below the held entries
	echoHolding          // appends to it are held back until it ends recovery
	echoDelivered        // the held acknowledgement is on its way
	echoAfter            // it arrived; appends to the follower are still lost
	echoDone
)

// echoHoldMax bounds how long the append stream to the follower is held
// back while it has not finished recovering (it may need an entry of the
// leader's term committed first); then it flows again for a while.
const echoHoldMax = 100 * time.Millisecond

// echoDeadline bounds an episode from its trigger: whatever it has not
// reached by then, it gives up (its cuts are undone).
const echoDeadline = 3 * time.Second

// echoAfterHold is how long appends to the follower are still lost after
// the held acknowledgement reached the leader.
const echoAfterHold = 150 * time.Millisecond

// echo is one disk-corrupt-tail-echo episode.
type echo struct {
	n        *Nemesis
	e        *Episode
	logs     ReplicaLogs
	rot      TailRotter
	phase    int
	leader   host.NodeID
	follower host.NodeID
	term     uint64 // the leader's
	held     []byte // the follower's acknowledgement, held back
	index    uint64 // what it acknowledged
	cut      [][2]host.NodeID
	holdCut  bool // the leader -> follower link is cut by the hold
	holdAt   time.Duration
	acksCut  bool // the follower -> leader link is cut for an instant
	healed   bool // its hold is over: it ends once done
	finished bool
	flowAt   time.Duration // a hold ended without recovery: flow until then
	// sawRecovery: the restarted follower was seen recovering (it found
	// the damage as it booted).
	sawRecovery bool
}

func (corruptTailEchoFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	rot, ok1 := n.proto.(TailRotter)
	logs, ok2 := n.proto.(ReplicaLogs)
	if !ok1 || !ok2 {
		return "", nil, false
	}
	for _, a := range n.armed {
		if a.e == e {
			return "", nil, false // the last episode is still under way
		}
	}
	c := &echo{n: n, e: e, logs: logs, rot: rot}
	n.Arm(e, c.observe)
	return "armed", c.heal, true
}

// voters lists the replicas that vote, sorted.
func (n *Nemesis) voters() []host.NodeID {
	return n.filter(func(id host.NodeID) bool { return !n.learners[id] })
}

// observe is the episode's trigger: it never fires (the episode drives
// itself until healed).
func (c *echo) observe(o Observed) bool {
	n := c.n
	switch c.phase {
	case echoArmed:
		if o.Delivered || !o.Moment.IsAppend() || n.learners[o.To] || !n.crashableNow(o.To) ||
			!n.taintable(o.To) || n.proto.Leader() != o.From {
			return false
		}
		st, ok := c.logs.LogState(o.From)
		if !ok || !st.Leader {
			return false
		}
		c.leader, c.follower, c.term = o.From, o.To, st.Term
		c.cutMinority()
		c.phase = echoAcks
		n.w.After(echoDeadline, c.finish)
		n.w.After(c.span("acks_ms"), c.crash)
	case echoAcks:
		if o.Delivered || o.From != c.follower || o.To != c.leader || o.Moment != MomentAppendResponse {
			return false
		}
		term, index, ok := c.logs.Ack(o.Payload)
		if !ok || term != c.term {
			return false
		}
		// Held back: cut before the network decides its delivery, and
		// only for this instant (heartbeat answers go through).
		if !c.acksCut && n.w.Net().Reachable(c.follower, c.leader) {
			n.w.Net().Cut(c.follower, c.leader)
			c.acksCut = true
			n.w.Schedule(0, func() {
				if c.acksCut {
					n.w.Net().Connect(c.follower, c.leader)
					c.acksCut = false
				}
			})
		}
		if index > c.index {
			c.held, c.index = slices.Clone(o.Payload), index
		}
	case echoRecovery, echoHolding:
		c.watchRecovery()
	case echoDelivered:
		if o.Delivered && o.From == c.follower && o.To == c.leader && bytes.Equal(o.Payload, c.held) {
			c.phase = echoAfter
			// The appends the leader sent before it stepped the echo
			// are still in flight (a tail latency, a duplicate): lost
			// too, as the hold goes on a little (below an election
			// timeout, since the follower hears nothing meanwhile).
			n.w.After(echoAfterHold, func() {
				c.releaseHold()
				c.done()
			})
		}
	}
	return false
}

// cutMinority cuts the leader off from a minority of the other voters
// (not the follower), both ways: with them, a quorum needs the follower.
func (c *echo) cutMinority() {
	n := c.n
	var others []host.NodeID
	for _, id := range n.voters() {
		if id != c.leader && id != c.follower {
			others = append(others, id)
		}
	}
	k := min(len(others), (len(n.voters())-1)/2)
	for _, id := range Pick(c.e.R, others, k) {
		c.cutLink(c.leader, id)
		c.cutLink(id, c.leader)
	}
}

func (c *echo) cutLink(from, to host.NodeID) {
	if c.n.run && c.n.w.Net().Reachable(from, to) { // never after HealAll
		c.n.w.Net().Cut(from, to)
		c.cut = append(c.cut, [2]host.NodeID{from, to})
	}
}

// span is the duration parameter name (milliseconds).
func (c *echo) span(name string) time.Duration {
	return time.Duration(c.e.Spec.Param(name)) * time.Millisecond
}

// crash crashes the follower once its acknowledgements were held back
// for acks_ms, with the newest of them kept.
func (c *echo) crash() {
	n := c.n
	if c.phase != echoAcks {
		return // healed
	}
	if c.held == nil || !n.crashableNow(c.follower) || !n.taintable(c.follower) {
		c.done() // nothing held, or the budget went elsewhere
		return
	}
	c.phase = echoDown
	c.cutLink(c.follower, c.leader) // until it restarts
	n.CrashSoon(c.e, c.follower, DiskCorruptTailEcho, c.crashed)
}

// crashed rots the crashed follower's log tail and schedules its restart.
func (c *echo) crashed(ok bool) {
	n := c.n
	if !ok {
		c.done()
		return
	}
	id := c.follower
	n.Taint(id)
	where, rotted := c.rot.RotTail(n.w.Disk(id), c.e.R)
	if !rotted {
		where = "nothing"
	}
	n.w.Probes().Hit(probeEchoCrashed)
	n.w.Probes().If(rotted, probeTailRotted)
	c.e.detail = fmt.Sprintf("leader %d, follower %d acked %d: %s", c.leader, id, c.index, where)
	n.w.Record("fault/corrupt-tail-echo", id, []byte(c.e.detail))
	n.w.After(c.span("down_ms"), func() {
		if c.phase != echoDown {
			return // healed
		}
		c.restart()
		c.phase = echoRecovery
	})
}

// restart restarts the follower and lets its messages reach the leader.
func (c *echo) restart() {
	n := c.n
	n.RestartNode(c.follower)
	if n.run {
		n.Recovering(c.follower)
	}
	c.connect(c.follower, c.leader)
}

func (c *echo) connect(from, to host.NodeID) {
	for i, l := range c.cut {
		if l == [2]host.NodeID{from, to} {
			c.n.w.Net().Connect(from, to)
			c.cut = append(c.cut[:i], c.cut[i+1:]...)
			return
		}
	}
}

// watchRecovery holds the append stream to the recovering follower once
// its log reaches the leader's commit index below the held entries, and
// delivers the held acknowledgement once it has finished recovering.
func (c *echo) watchRecovery() {
	n := c.n
	now := n.w.Elapsed()
	l, lok := c.logs.LogState(c.leader)
	f, fok := c.logs.LogState(c.follower)
	if !lok || !fok || !l.Leader || l.Term != c.term || f.Last >= c.index {
		// The leader lost its term, or the follower got past the held
		// entries: nothing to aim at any more.
		c.releaseHold()
		c.done()
		return
	}
	if !f.Recovering && !c.sawRecovery {
		return // not booted yet: it has not found the damage
	}
	c.sawRecovery = true
	// Ended (or about to end) its recovery: its commit index reached the
	// leader's, below the held entries.
	if !f.Recovering || (f.CaughtUp && f.Commit >= l.Commit) {
		c.phase = echoDelivered
		if !c.holdCut {
			c.cutLink(c.leader, c.follower) // appends in flight are lost
			c.holdCut = true
		}
		n.w.Net().Duplicate(c.follower, c.leader, c.held, 0)
		n.w.Probes().Hit(probeEchoed)
		c.e.detail += fmt.Sprintf(", echoed at %d", f.Last)
		return
	}
	switch {
	case c.phase == echoRecovery && f.Last >= l.Commit && now >= c.flowAt:
		c.cutLink(c.leader, c.follower)
		c.holdCut, c.holdAt, c.phase = true, now, echoHolding
	case c.phase == echoHolding && now-c.holdAt >= echoHoldMax:
		c.releaseHold()
		c.flowAt, c.phase = now+echoHoldMax, echoRecovery
	}
}

// releaseHold lets appends reach the follower again.
func (c *echo) releaseHold() {
	if c.holdCut {
		c.connect(c.leader, c.follower)
		c.holdCut = false
	}
}

// heal ends the episode, unless it is under way: then it ends once it is
// done, or at its deadline (the follower must recover and the held
// acknowledgement reach the leader, which often takes longer than a
// drawn hold).
func (c *echo) heal() {
	c.healed = true
	if c.phase == echoArmed || c.phase == echoDone {
		c.finish()
	}
}

// done marks the episode done; if it was healed meanwhile, it ends.
func (c *echo) done() {
	c.phase = echoDone
	if c.healed {
		c.finish()
	}
}

// finish disarms the episode, undoes its cuts and restarts the follower
// if it is still down. Only the first call acts.
func (c *echo) finish() {
	if c.finished {
		return
	}
	c.finished = true
	n := c.n
	n.Disarm(c.e)
	if c.phase == echoDown {
		c.restart()
	}
	c.phase = echoDone
	for _, l := range c.cut {
		n.w.Net().Connect(l[0], l[1])
	}
	c.cut, c.holdCut = nil, false
	if c.acksCut {
		n.w.Net().Connect(c.follower, c.leader)
		c.acksCut = false
	}
}
