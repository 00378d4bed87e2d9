package faults

import (
	"github.com/seedkv/seedkv/host"
)

// Moment is the protocol moment a message marks, as far as aimed faults
// care: a vote or acknowledgement just sent, entries just appended, a
// snapshot on its way.
type Moment uint8

// The moments.
const (
	// MomentOther is any message aimed faults do not care about (client
	// traffic, heartbeats, pre-vote requests).
	MomentOther Moment = iota
	// MomentVoteResponse: a vote (or pre-vote) granted or refused.
	MomentVoteResponse
	// MomentAppendResponse: an acknowledgement (or rejection) of appended
	// entries or of a snapshot.
	MomentAppendResponse
	// MomentAppend: a leader's append carrying entries.
	MomentAppend
	// MomentSnapshot: a snapshot sent to a follower.
	MomentSnapshot
	// MomentConfAppend: a leader's append carrying a membership change
	// (among other entries, perhaps).
	MomentConfAppend
	// MomentHeartbeatResponse: a follower's answer to a heartbeat (it
	// confirms a leadership for ReadIndex).
	MomentHeartbeatResponse
	// MomentTimeoutNow: a leader hands leadership to a follower.
	MomentTimeoutNow
	// MomentVoteRequest: a candidate asks for a vote (not a pre-vote): it
	// starts a new term's election.
	MomentVoteRequest
)

// IsAppend reports whether m is a leader's append with entries (a
// membership change among them or not).
func (m Moment) IsAppend() bool { return m == MomentAppend || m == MomentConfAppend }

// Protocol is what the nemesis may know of the system under test without
// importing it. The package direction (harness -> faults -> sim) forbids
// faults to import raft or node, so the harness, which knows both, hands
// the nemesis a Protocol (SetProtocol): Classify reads a payload's moment
// and Leader names the replica that leads now. Aimed faults (crash-ack,
// crash-snapshot, isolate-leader, crash-slow-leader) need one; without it
// they never inject.
type Protocol interface {
	// Classify says what moment a message payload marks. It must not
	// keep or change the payload.
	Classify(payload []byte) Moment
	// Leader is the replica that leads in the highest term now, or 0.
	Leader() host.NodeID
}

// Observed is a message an armed trigger sees: sent (Delivered false,
// inside the sender's Send) or about to be received (Delivered true).
type Observed struct {
	From, To  host.NodeID
	Moment    Moment
	Delivered bool
	// Payload is the message, valid only during the trigger's call: a
	// trigger that keeps it must copy it.
	Payload []byte
}

// Trigger is armed by an aimed fault's Inject: it sees every classified
// message while armed and reports whether it fired (then it is disarmed).
// It must not run the world; to act at once, schedule a zero-delay timer.
type Trigger func(Observed) bool

// SetProtocol hands the nemesis the system's protocol view, for aimed
// faults; call it before Start.
func (n *Nemesis) SetProtocol(p Protocol) {
	n.proto = p
	if n.hooked {
		return
	}
	n.hooked = true
	net := n.w.Net()
	net.OnSend(func(from, to host.NodeID, p []byte) { n.observe(from, to, p, false) })
	net.OnDeliver(func(from, to host.NodeID, p []byte) { n.observe(from, to, p, true) })
}

// Protocol is the protocol view set by SetProtocol, or nil.
func (n *Nemesis) Protocol() Protocol { return n.proto }

// Arm arms a trigger for e's fault until Disarm (or until it fires).
// Messages are classified only while some trigger is armed, so a run
// without aimed faults pays nothing for them.
func (n *Nemesis) Arm(e *Episode, t Trigger) {
	n.armed = append(n.armed, armed{e: e, t: t, sent: true, delivered: true})
	n.rewatch()
}

// ArmOn is Arm for a trigger that watches only the messages delivered
// (delivered true) or only those sent: one that answers false to the
// others at once, doing nothing. A message that no armed trigger
// watches is not classified. Storage moments (ObserveStorage) reach
// every armed trigger alike.
func (n *Nemesis) ArmOn(e *Episode, delivered bool, t Trigger) {
	n.armed = append(n.armed, armed{e: e, t: t, sent: !delivered, delivered: delivered})
	n.rewatch()
}

// Armed reports whether any trigger is armed (watchers may skip the
// work of reporting a moment when none is).
func (n *Nemesis) Armed() bool { return len(n.armed) > 0 }

// Disarm removes e's trigger, if it is still armed.
func (n *Nemesis) Disarm(e *Episode) {
	for i, a := range n.armed {
		if a.e == e {
			n.armed = append(n.armed[:i], n.armed[i+1:]...)
			n.rewatch()
			return
		}
	}
}

type armed struct {
	e *Episode
	t Trigger
	// sent, delivered: the messages t watches (ArmOn).
	sent, delivered bool
}

// watches reports whether a watches the messages sent (delivered false)
// or delivered.
func (a *armed) watches(delivered bool) bool {
	if delivered {
		return a.delivered
	}
	return a.sent
}

// watched reports whether some armed trigger watches the messages sent
// (delivered false) or delivered: every message sent and delivered asks.
func (n *Nemesis) watched(delivered bool) bool {
	if delivered {
		return n.watchDelivered
	}
	return n.watchSent
}

// rewatch sets watchSent and watchDelivered from the armed triggers; it
// runs whenever n.armed changes.
func (n *Nemesis) rewatch() {
	n.watchSent, n.watchDelivered = false, false
	for i := range n.armed {
		n.watchSent = n.watchSent || n.armed[i].sent
		n.watchDelivered = n.watchDelivered || n.armed[i].delivered
	}
}

// observe classifies one message for the armed triggers. Only messages
// to replicas matter: between replicas, and client writes
// (MomentClientWrite) from any other process.
func (n *Nemesis) observe(from, to host.NodeID, p []byte, delivered bool) {
	if !n.watched(delivered) || n.proto == nil || !n.isReplica(to) {
		return
	}
	m := n.proto.Classify(p)
	if m == MomentOther || (m == MomentClientWrite) == n.isReplica(from) {
		return
	}
	ob := Observed{From: from, To: to, Moment: m, Delivered: delivered, Payload: p}
	for i := 0; i < len(n.armed); i++ {
		a := &n.armed[i]
		if a.watches(delivered) && a.t(ob) {
			n.armed = append(n.armed[:i], n.armed[i+1:]...)
			n.rewatch()
			i--
		}
	}
}

func (n *Nemesis) isReplica(id host.NodeID) bool {
	// Every message sent and delivered asks: the replicas are indexed by
	// ID unless an ID is too large (indexIDs).
	if n.replica != nil {
		return uint64(id) < uint64(len(n.replica)) && n.replica[id]
	}
	// n.ids is sorted: an ID past the last (a client: clients are
	// numbered above the replicas) is out at once, and the scan stops at
	// the first ID not below id.
	if len(n.ids) == 0 || id > n.ids[len(n.ids)-1] {
		return false
	}
	for _, r := range n.ids {
		if r >= id {
			return r == id
		}
	}
	return false
}

// CrashSoon crashes id at the next instant of virtual time (a zero-delay
// timer: after the event now running, before any later one), if it is
// still running and the crash budget allows, books it as down, asserts the
// budget and calls done(true); done(false) if it did not crash it.
func (n *Nemesis) CrashSoon(e *Episode, id host.NodeID, why string, done func(bool)) {
	d := n.w.Disk(id)
	syncing := d != nil && d.SyncsInFlight() > 0
	n.w.Schedule(0, func() {
		n.w.Probes().If(syncing && d.SyncsInFlight() == 0, probeSyncBeforeCrash)
		if !n.run || !n.crashableNow(id) {
			n.w.Probes().If(n.run, probeCrashRefused)
			done(false)
			return
		}
		u0, t0 := n.counts()
		ok := n.CrashNode(id, why)
		if ok {
			n.assertBudget(e, u0, t0)
		}
		done(ok)
	})
}

// crashableNow reports whether id may be crashed now within the budget:
// whether it is among Crashable's candidates and the budget is positive.
// It counts as Crashable does without building the list: the aimed
// faults' triggers ask on many of the messages they watch.
func (n *Nemesis) crashableNow(id host.NodeID) bool {
	now := n.w.Elapsed()
	unavail, alive, isCand := 0, 0, false
	for _, r := range n.ids {
		switch {
		case n.unavailable(r, now):
			unavail++
		case n.w.Alive(r):
			alive++
			isCand = isCand || r == id
		}
	}
	return isCand && min(n.minority()-unavail, alive) > 0
}
