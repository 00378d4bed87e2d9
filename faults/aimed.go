package faults

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Aimed faults: within the model, timed at protocol moments that random
// timing rarely hits. Each needs the nemesis's Protocol (SetProtocol);
// without one they never inject.

// Names of the aimed faults.
const (
	CrashAck        = "crash-ack"
	CrashSnapshot   = "crash-snapshot"
	IsolateLeader   = "isolate-leader"
	CrashSlowLeader = "crash-slow-leader"
)

// restartHeal returns the heal of an aimed crash: disarm, then restart
// whatever the trigger crashed.
func restartHeal(e *Episode, hit *[]host.NodeID) func() {
	return func() {
		e.N.Disarm(e)
		for _, id := range *hit {
			e.N.RestartNode(id)
		}
	}
}

// crashAckFault crashes a replica right after it sent a vote or an append
// acknowledgement while it has a sync in flight: if the replica answered
// before the data it vouches for was durable, the crash loses it. Half the
// episodes tear the write in flight (see tearOnCrash).
type crashAckFault struct{}

func (crashAckFault) Name() string    { return CrashAck }
func (crashAckFault) Class() Class    { return InModel }
func (crashAckFault) Params() []Param { return nil }

func (crashAckFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	var hit []host.NodeID
	fired := false
	// Half the episodes tear the write in flight (torn writes are in the
	// model): the restarted replica must cut a torn record off and append
	// after the last whole one.
	tear := e.R.IntN(2) == 0
	n.ArmOn(e, false, func(o Observed) bool {
		if fired || o.Delivered || (o.Moment != MomentVoteResponse && o.Moment != MomentAppendResponse) ||
			n.w.Disk(o.From).SyncsInFlight() == 0 || !n.crashableNow(o.From) {
			return false
		}
		fired = true
		what := map[Moment]string{MomentVoteResponse: "vote", MomentAppendResponse: "ack"}[o.Moment]
		restore := n.tearOnCrash(o.From, tear)
		n.CrashSoon(e, o.From, CrashAck, func(ok bool) {
			restore()
			if ok {
				hit = append(hit, o.From)
				n.w.Probes().Hit(probeCrashAck)
				e.detail = fmt.Sprintf("%d after %s to %d", o.From, what, o.To)
				if tear {
					e.detail += ", torn"
				}
			}
		})
		return true
	})
	return "armed", restartHeal(e, &hit), true
}

// tearOnCrash turns torn writes on for id's disk until the returned
// restore runs (after the crash), if tear: the crash then keeps a
// sector-granular prefix of the replica's last unsynced write, as the
// disk-torn fault does for every crash while it holds.
func (n *Nemesis) tearOnCrash(id host.NodeID, tear bool) (restore func()) {
	d := n.w.Disk(id)
	if !tear || d == nil {
		return func() {}
	}
	prev := d.TornWrites()
	d.SetTornWrites(true)
	return func() { d.SetTornWrites(prev) }
}

// crashSnapshotFault crashes the sender of a snapshot right after it sent
// it, or its receiver while it installs it (shortly after delivery, within
// a few sync latencies).
type crashSnapshotFault struct{}

func (crashSnapshotFault) Name() string    { return CrashSnapshot }
func (crashSnapshotFault) Class() Class    { return InModel }
func (crashSnapshotFault) Params() []Param { return nil }

func (crashSnapshotFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	var hit []host.NodeID
	receiver := e.R.IntN(2) == 0
	n.ArmOn(e, receiver, func(o Observed) bool {
		if o.Moment != MomentSnapshot || o.Delivered != receiver {
			return false
		}
		victim, role := o.From, "sender"
		if receiver {
			victim, role = o.To, "receiver"
		}
		if !n.crashableNow(victim) {
			return false
		}
		crash := func() {
			n.CrashSoon(e, victim, CrashSnapshot, func(ok bool) {
				if ok {
					hit = append(hit, victim)
					n.w.Probes().If(receiver, probeCrashSnapReceiver)
					n.w.Probes().If(!receiver, probeCrashSnapSender)
					e.detail = fmt.Sprintf("snapshot %s %d", role, victim)
				}
			})
		}
		if receiver {
			// Mid-install: the receiver writes and syncs the snapshot
			// after delivery; land somewhere in that.
			n.w.Schedule(time.Duration(e.R.Int64N(int64(5*time.Millisecond))), crash)
		} else {
			crash()
		}
		return true
	})
	return "armed", restartHeal(e, &hit), true
}

// isolateLeaderFault cuts a leader off from the other replicas right
// after an append with entries, before they can commit; clients still
// reach it, so it goes on appending entries it can never commit. A new
// leader on the other side overwrites them; when healed, the old leader
// learns its suffix conflicts (and, with small snapshot intervals, gets a
// snapshot over it). Each episode aims at one of three moments:
//
//   - send: as the append leaves the leader (it is lost in flight: the
//     uncommitted suffix stays on the leader alone);
//   - delivered: as the append reaches the first follower (that follower
//     alone holds the suffix: a divergent follower, which a later leader
//     must truncate);
//   - conf: as an append carrying a membership change reaches the first
//     follower (the change stays pending across the election; a new leader
//     must not propose another before its own term's first entry commits);
//   - with followers: as the append leaves, together with a few followers
//     (a minority, or half of an even count): the old leader can still
//     confirm reads with them while the other side elects a new leader.
//
// With chain > 1 (delivered and conf only) the episode goes on: each new
// leader is cut off in turn right after its first append reaches a
// follower, and the one cut before it is reconnected, so that several
// leaders with divergent suffixes follow each other within a second (Raft
// Figure 8).
type isolateLeaderFault struct{}

func (isolateLeaderFault) Name() string { return IsolateLeader }
func (isolateLeaderFault) Class() Class { return InModel }
func (isolateLeaderFault) Params() []Param {
	return []Param{{Name: "chain", Min: 1, Max: 5, Default: 1, DrawMin: 1, DrawMax: 3, Integer: true,
		Doc: "leaders cut off in turn in one episode (delivered and conf moments)"}}
}

// The moments an isolate-leader episode aims at.
const (
	isolateOnSend = iota
	isolateDelivered
	isolateConf
	// isolateWithFollowers cuts the leader off together with a few
	// followers (a minority, or half of an even count) as an append
	// leaves: the old leader keeps a follower to confirm its reads with
	// while the other side elects a new leader.
	isolateWithFollowers
)

func (isolateLeaderFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	c := &isolation{n: n, mode: e.R.IntN(4), left: int(e.Spec.Param("chain"))}
	if c.mode == isolateOnSend || c.mode == isolateWithFollowers {
		c.left = 1
	}
	if c.mode == isolateWithFollowers {
		// A minority with the leader in it (half with an even count).
		c.keep = max(0, (len(n.ids)-1)/2-1)
		if len(n.ids)%2 == 0 {
			c.keep = len(n.ids)/2 - 1
		}
		c.keep = e.R.IntN(c.keep + 1)
	}
	n.Arm(e, func(o Observed) bool {
		if !c.aimed(o) {
			return false
		}
		c.left--
		leader := o.From
		n.w.Schedule(0, func() { c.cutOff(e, leader) })
		return c.left == 0
	})
	return "armed", func() {
		n.Disarm(e)
		c.reconnect()
	}, true
}

// isolation is one isolate-leader episode: the links it cut and the
// leader it cut off last.
type isolation struct {
	n    *Nemesis
	mode int
	left int // leaders still to cut off
	cut  [][2]host.NodeID
	last host.NodeID
	cuts int // leaders cut off so far
	keep int // followers cut off with the leader (isolateWithFollowers)
}

// aimed reports whether o is the moment this episode waits for.
func (c *isolation) aimed(o Observed) bool {
	if o.From == c.last {
		return false
	}
	switch c.mode {
	case isolateOnSend, isolateWithFollowers:
		return o.Moment.IsAppend() && !o.Delivered
	case isolateDelivered:
		return o.Moment.IsAppend() && o.Delivered
	default:
		return o.Moment == MomentConfAppend && o.Delivered
	}
}

// cutOff reconnects the leader cut off before, then cuts leader off from
// every other replica.
func (c *isolation) cutOff(e *Episode, leader host.NodeID) {
	n := c.n
	if !n.run {
		return
	}
	c.reconnect()
	c.last = leader
	others := slices.DeleteFunc(slices.Clone(n.ids), func(id host.NodeID) bool { return id == leader })
	side := append([]host.NodeID{leader}, Pick(e.R, others, c.keep)...)
	for _, a := range side {
		for _, id := range n.ids {
			if !slices.Contains(side, id) {
				for _, l := range [][2]host.NodeID{{a, id}, {id, a}} {
					if n.w.Net().Reachable(l[0], l[1]) {
						n.w.Net().Cut(l[0], l[1])
						c.cut = append(c.cut, l)
					}
				}
			}
		}
	}
	what := [...]string{"append", "append delivered", "membership change delivered", "append, with followers " + IDList(side[1:])}[c.mode]
	if c.cuts == 0 {
		e.detail = fmt.Sprintf("leader %d after %s", leader, what)
	} else {
		e.detail += fmt.Sprintf(", then leader %d", leader)
	}
	c.cuts++
	n.w.Probes().Hit(probeIsolatedLeader)
	n.w.Probes().If(c.mode == isolateDelivered, probeIsolatedDelivered)
	n.w.Probes().If(c.mode == isolateConf, probeIsolatedConf)
	n.w.Probes().If(c.cuts > 1, probeIsolatedChain)
	n.w.Record("fault/isolate-leader", leader, nil)
}

// reconnect restores the links this episode cut.
func (c *isolation) reconnect() {
	for _, l := range c.cut {
		c.n.w.Net().Connect(l[0], l[1])
	}
	c.cut = nil
}

// crashSlowLeaderFault slows the leader's disk, then crashes it while its
// syncs crawl (some entries sent to followers, not yet durable at home).
type crashSlowLeaderFault struct{}

func (crashSlowLeaderFault) Name() string { return CrashSlowLeader }
func (crashSlowLeaderFault) Class() Class { return InModel }
func (crashSlowLeaderFault) Params() []Param {
	return []Param{{Name: "slow", Min: 1, Max: 1000, Default: 50, DrawMin: 10, DrawMax: 200, Doc: "the leader's sync latency multiplier before the crash"}}
}

func (crashSlowLeaderFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	leader := n.proto.Leader()
	if leader == 0 || !n.crashableNow(leader) {
		return "", nil, false
	}
	d := n.w.Disk(leader)
	prev := d.Slow()
	m := math.Pow(e.Spec.Param("slow"), 0.5+0.5*e.R.Float64())
	_ = d.SetSlow(m)
	var hit []host.NodeID
	// Crash once a few slowed syncs are under way; half the episodes
	// tear the write in flight (see tearOnCrash).
	wait := time.Duration(e.R.Int64N(int64(200 * time.Millisecond)))
	tear := e.R.IntN(2) == 0
	timer := n.w.After(wait, func() {
		restore := n.tearOnCrash(leader, tear)
		n.CrashSoon(e, leader, CrashSlowLeader, func(ok bool) {
			restore()
			if ok {
				n.w.Probes().Hit(probeSlowLeaderCrash)
				hit = append(hit, leader)
			}
		})
	})
	n.w.Record("fault/crash-slow-leader", leader, nil)
	return fmt.Sprintf("leader %d x%.0f, crash after %v", leader, m, wait.Round(time.Millisecond)), func() {
		timer.Stop()
		_ = d.SetSlow(prev)
		for _, id := range hit {
			n.RestartNode(id)
		}
	}, true
}
