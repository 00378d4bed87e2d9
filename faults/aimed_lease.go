package faults

import (
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// IsolateExpirer is the name of the isolate-expirer fault.
const IsolateExpirer = "isolate-expirer"

// ExpiryReader is implemented by a Protocol that can tell a leader's
// append carrying a lease expiry entry from other appends, and read a
// replica's last log term: the isolate-expirer fault needs one, and never
// injects without it.
type ExpiryReader interface {
	// CarriesExpiry reports whether a peer payload is an append with a
	// lease expiry entry among its entries. It must not keep or change
	// the payload.
	CarriesExpiry(payload []byte) bool
	// LastTerm is the term of the last entry of replica id's log (0 if
	// it does not run).
	LastTerm(id host.NodeID) uint64
}

// Coverage probes of the isolate-expirer fault.
var (
	probeExpirerIsolated = probe.New("faults/expirer-isolated", "faults: a leader was cut off right after it proposed a lease expiry")
	probeExpirerDeposed  = probe.New("faults/expirer-deposed", "faults: a new leader was elected while the leader that proposed a lease expiry was cut off")
	probeExpirerRelead   = probe.New("faults/expirer-leads-again", "faults: the leader that proposed a lost lease expiry led again within the episode")
)

// isolateExpirerFault aims at lease expiry across leadership changes. It
// waits for an append of the leader of the highest term that carries a
// lease expiry entry (the leader's lessor found a lease past its TTL) and
// cuts that leader off from every other replica, as the append leaves it
// (the expiry is lost with the term) or, in a third of the episodes, as
// it reaches the first follower (that follower alone holds the expiry
// entry: a later leader may commit an old term's expiry). Clients still
// reach the old leader.
//
// Once the other side has elected a new leader (which renews every lease
// by its TTL), the old leader is let back in. In a quarter of the episodes
// that is all. In the others, once the old leader has taken the new
// leader's entries (its own expiry entry is gone from its log), the new
// leader is cut off in its turn, so that the cluster elects again, and
// each leader elected after it that is not the old one is cut off as it
// starts to lead (letting the one before back in), up to chain times, so
// that the old leader often leads again, the lease still live (every new
// leader renewed it): a replica that leads again must take the expiries it
// proposed in its earlier term as lost, or the lease outlives its TTL.
//
// An episode stays armed until an expiry comes (or the run ends), not for
// its drawn hold: expiries are few. It lets a drawn share (pass) of the
// expiry appends go by first, so that not every run loses its first
// expiry, and the episodes spread over the run. Once it has fired, each stage has span
// to happen (an election may take two election timeouts and more) before
// the episode heals, and it ends as soon as its last stage is done.
type isolateExpirerFault struct{}

func init() { MustRegister(isolateExpirerFault{}) }

func (isolateExpirerFault) Name() string { return IsolateExpirer }
func (isolateExpirerFault) Class() Class { return InModel }
func (isolateExpirerFault) Params() []Param {
	return []Param{
		{Name: "span_s", Min: 0.5, Max: 10, Default: 4, DrawMin: 2, DrawMax: 6,
			Doc: "seconds an episode lasts at least once it has cut off a leader, for the elections that follow"},
		{Name: "chain", Min: 0, Max: 8, Default: 3, DrawMin: 1, DrawMax: 4, Integer: true,
			Doc: "leaders other than the old one cut off in turn as they start to lead, after the first new leader"},
		{Name: "pass", Min: 0, Max: 0.99, Default: 0.5, DrawMin: 0, DrawMax: 0.9,
			Doc: "the share of expiry appends let pass before the one the episode aims at"},
	}
}

// The stages of an isolate-expirer episode.
const (
	expirerArmed = iota // waiting for an append with an expiry
	expirerCut          // the old leader is cut off; waiting for a new leader
	expirerAdopt        // the old leader is back; waiting for it to take the new leader's entries
	expirerElect        // the last leader is cut off; waiting for the next
	expirerDone         // every link restored
)

// expirerRun is one isolate-expirer episode.
type expirerRun struct {
	n        *Nemesis
	e        *Episode
	rd       ExpiryReader
	k        int // e.begun when injected: which episode of e this is
	stage    int
	old, cur host.NodeID // the leader that proposed the expiry; the one cut off last
	term     uint64      // the first new leader's term
	onArrive bool        // cut the old leader as its append reaches a follower
	flap     bool        // cut new leaders off in turn
	left     int         // leaders still to cut off in the elect stage
	span     time.Duration
	cut      [][2]host.NodeID
}

func (isolateExpirerFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	rd, ok := n.proto.(ExpiryReader)
	if n.proto == nil || !ok {
		return "", nil, false
	}
	x := &expirerRun{n: n, e: e, rd: rd, k: e.begun, onArrive: e.R.IntN(3) == 0, flap: e.R.IntN(4) != 0,
		left: int(e.Spec.Param("chain")), span: time.Duration(e.Spec.Param("span_s") * float64(time.Second))}
	pass := e.Spec.Param("pass")
	n.ArmOn(e, x.onArrive, func(o Observed) bool {
		if !o.Moment.IsAppend() || o.Delivered != x.onArrive || !rd.CarriesExpiry(o.Payload) || n.proto.Leader() != o.From ||
			e.R.Float64() < pass {
			return false
		}
		leader := o.From
		n.w.Schedule(0, func() { x.isolate(leader) })
		return true
	})
	// Armed until an expiry comes (they are few), not for the drawn hold.
	n.w.Schedule(0, func() {
		if x.current() && x.stage == expirerArmed {
			x.stretch(n.end)
		}
	})
	return "armed", func() {
		n.Disarm(e)
		x.reconnect()
		x.stage = expirerDone
	}, true
}

// current reports whether x's episode is still the one running (a timer
// of a finished episode must not touch the next).
func (x *expirerRun) current() bool {
	return x.n.run && x.e.active && x.e.begun == x.k && x.stage != expirerDone
}

// stretch makes the episode end d from now (within the nemesis's end).
func (x *expirerRun) stretch(d time.Duration) {
	n, e := x.n, x.e
	if left := n.end - n.w.Elapsed(); e.timer != nil && left > 0 {
		e.timer.Stop()
		e.timer = n.w.After(min(d, left), func() { n.finish(e) })
	}
}

// isolate cuts the old leader off, stretches the episode to span from
// now, and waits for the next leader.
func (x *expirerRun) isolate(leader host.NodeID) {
	n, e := x.n, x.e
	if !x.current() {
		return
	}
	x.old, x.cur, x.stage = leader, leader, expirerCut
	x.cutOff(leader)
	x.stretch(x.span)
	how := "append"
	if x.onArrive {
		how = "append delivered"
	}
	e.detail = fmt.Sprintf("leader %d after expiry %s", leader, how)
	n.w.Probes().Hit(probeExpirerIsolated)
	n.w.Record("fault/isolate-expirer", leader, nil)
	n.Arm(e, x.observe)
}

// observe is the trigger of the later stages: a leader's append (sent by
// the replica that leads in the highest term, not the one cut off last),
// or, in the adopt stage, the old leader's answer to an append once its
// log ends in the new leader's term.
func (x *expirerRun) observe(o Observed) bool {
	if o.Delivered || x.stage == expirerDone {
		return x.stage == expirerDone
	}
	if x.stage == expirerAdopt {
		if o.Moment != MomentAppendResponse || o.From != x.old || x.rd.LastTerm(x.old) < x.term {
			return false
		}
	} else if !o.Moment.IsAppend() || o.From == x.cur || x.n.proto.Leader() != o.From {
		return false
	}
	from := o.From
	x.n.w.Schedule(0, func() { x.next(from) })
	return true
}

// next moves the episode on (from is the replica the trigger saw).
func (x *expirerRun) next(from host.NodeID) {
	n, e := x.n, x.e
	if !x.current() {
		return
	}
	switch x.stage {
	case expirerCut: // from leads: let the old leader back in
		n.w.Probes().Hit(probeExpirerDeposed)
		x.reconnect()
		x.cur, x.term = from, x.rd.LastTerm(from)
		if !x.flap {
			e.detail += fmt.Sprintf(", back in under leader %d", from)
			x.end()
			return
		}
		e.detail += fmt.Sprintf(", back in under leader %d", from)
		x.stretch(x.span)
		x.stage = expirerAdopt
	case expirerAdopt: // the old leader took the new entries: cut the new leader off
		x.cutOff(x.cur)
		x.stretch(x.span)
		e.detail += fmt.Sprintf(", then %d cut off", x.cur)
		n.w.Record("fault/isolate-expirer", x.cur, nil)
		x.stage = expirerElect
	case expirerElect: // from leads
		if from == x.old || x.left <= 0 {
			n.w.Probes().If(from == x.old, probeExpirerRelead)
			e.detail += fmt.Sprintf(", then leader %d", from)
			x.end()
			return
		}
		x.left--
		x.stretch(x.span)
		x.reconnect()
		x.cutOff(from)
		x.cur = from
		e.detail += fmt.Sprintf(", then %d cut off", from)
		n.w.Record("fault/isolate-expirer", from, nil)
	}
	n.Arm(e, x.observe)
}

// end ends the episode now, its last stage done.
func (x *expirerRun) end() {
	if x.e.timer != nil {
		x.e.timer.Stop()
		x.n.finish(x.e)
	}
}

// cutOff cuts id off from every other replica (both directions).
func (x *expirerRun) cutOff(id host.NodeID) {
	net := x.n.w.Net()
	for _, p := range x.n.ids {
		if p == id {
			continue
		}
		for _, l := range [][2]host.NodeID{{id, p}, {p, id}} {
			if net.Reachable(l[0], l[1]) && !slices.Contains(x.cut, l) {
				net.Cut(l[0], l[1])
				x.cut = append(x.cut, l)
			}
		}
	}
}

// reconnect restores the links this episode cut.
func (x *expirerRun) reconnect() {
	for _, l := range x.cut {
		x.n.w.Net().Connect(l[0], l[1])
	}
	x.cut = nil
}

// AtBaseline reports whether every replica's disk (capacity, speed) and
// clock rate, and the network's latency, loss and duplication, are as
// they were before any fault. Once every episode has healed they usually
// are, but not always until HealAll: overlapping episodes of two faults
// that change the same setting (disk-slow and crash-slow-leader both slow
// a disk) each restore the value they found, so the one that heals last
// can leave the other's behind.
func (n *Nemesis) AtBaseline() bool {
	for _, id := range n.ids {
		b, ok := n.base[id]
		d := n.w.Disk(id)
		if !ok || d == nil {
			continue
		}
		if d.Capacity() != b.capacity || d.Slow() != b.slow || n.w.ClockRate(id) != b.clock {
			return false
		}
	}
	c, b := n.w.Net().Config(), n.baseNet
	return c.Base == b.Base && c.Jitter == b.Jitter && c.TailProb == b.TailProb && c.Tail == b.Tail &&
		c.Loss == b.Loss && c.Duplicate == b.Duplicate && c.DupDelay == b.DupDelay
}
