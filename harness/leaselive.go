package harness

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Lease liveness: a lease nobody renews must end, and its keys with it.
// The expiry check (lease.go) holds leases to their lower bound only; a
// lessor that loses revocations, or never expires leases after a leader
// change, would pass it. So after heal the run goes on until every lease
// still held has passed the time by which it must have ended (or the
// wait's cap), and the check then requires every such lease gone from the
// write log's live keys and from every replica's store.
//
// The bound follows the node's lessor (and etcd's): a leader expires a
// lease once its TTL has run since the lease's last renewal or since the
// leader's own election (Promote renews every lease by its TTL), whichever
// is later. So, with S the start of the leadership the cluster ends with
// (the leader of the newest term, still leading at the end), a lease must
// be gone by
//
//	max(last renewal could take effect, S) + TTL + clock-skew slack,
//	then no earlier than heal and the end of the last leadership
//	transfer, plus latency
//
// where a renewal called at t can take effect until t + the request
// timeout (the client's resends) + the longest network delay + the longest
// duplicate delay, or later if the leader it reached was paused; latency
// covers proposing, committing and applying the expiry (ticks, round trips,
// disk syncs, a paused leader). Before heal a fault may hold an expiry up
// for as long as it lasts (a leader whose uncommitted log is full behind a
// full disk drops proposals), and a leader drops proposals while it hands
// leadership over; the node proposes a dropped expiry again at its next
// tick, so after both the expiry follows within the latency.

// errLeaseNeverExpired is wrapped by every lease-liveness failure.
var errLeaseNeverExpired = errors.New("lease never expired")

// LeaseLister is implemented by an Inspector of a replica that can list
// the leases its store holds.
type LeaseLister interface {
	Leases() []int64
}

// Leadership is implemented by an Inspector of a raft replica.
type Leadership interface {
	// Leadership is the replica's term and whether it leads in it.
	Leadership() (term uint64, leader bool)
}

// leaseWaitReserve is the time convergence gets after the wait for
// lease ends, and leaseWaitMax bounds that wait after heal: long enough
// to see an expiry retried only after the node's PendingTimeout (10 s), as
// before the node retried dropped expiries at once. In a correct run the
// wait ends when the last lease held ends, so the long waits are rare.
const (
	leaseWaitReserve = 3 * time.Second
	leaseWaitMax     = 20 * time.Second
)

// leaseLiveness is what the bound of every lease depends on.
type leaseLiveness struct {
	start          leaderStart   // the leadership the cluster ends with
	renewDelay     time.Duration // a renewal called at t takes effect by t + this
	netMax         time.Duration
	latency        time.Duration
	slack          time.Duration
	pauses         []lin.Fault // process pauses: a paused leader acts late
	healedAt       int64       // faults may hold an expiry up until then
	transfersUntil int64       // the last leadership transfer may drop proposals until then
}

// endBy is the virtual time (ns) by which lease l must have ended.
func (lv *leaseLiveness) endBy(l *leaseRecord) int64 {
	renew := lv.afterPauses(l.lastCall + int64(lv.renewDelay))
	e := max(renew, lv.start.at) + int64(l.ttl) + int64(lv.slack)
	e = max(e, lv.healedAt, lv.transfersUntil)
	return lv.afterPauses(e) + int64(lv.latency)
}

// afterPauses moves t past every pause episode that began by t: a paused
// process acts on what reached it only when it resumes.
func (lv *leaseLiveness) afterPauses(t int64) int64 {
	for _, p := range lv.pauses {
		if p.Start <= t && p.End+int64(lv.netMax) > t {
			t = p.End + int64(lv.netMax)
		}
	}
	return t
}

// leaseLiveness derives the bound's parameters from the scenario and the
// run so far; ok is false if no replica leads in the newest term recorded
// (then no bound holds).
func (r *seedRun) leaseLiveness(ins []Inspector, slack time.Duration) (lv leaseLiveness, ok bool) {
	lv, ok = r.leaseLivenessBase(ins, slack)
	if ok {
		lv.addPauses(r)
	}
	return lv, ok
}

// addPauses notes the process pauses among the run's fault episodes.
func (lv *leaseLiveness) addPauses(r *seedRun) {
	lv.pauses = r.pauseEpisodes(lv.pauses)
}

// leaseLivenessBase is leaseLiveness without the pauses: its bounds are
// no later than leaseLiveness's (afterPauses only moves times later).
func (r *seedRun) leaseLivenessBase(ins []Inspector, slack time.Duration) (lv leaseLiveness, ok bool) {
	starts := r.leases.leaderStarts
	if len(starts) == 0 {
		return lv, false
	}
	lv.start = starts[len(starts)-1]
	leads := false
	for _, in := range ins {
		if ld, isRaft := in.(Leadership); isRaft {
			if term, leader := ld.Leadership(); leader && term == lv.start.term {
				leads = true
			}
		}
	}
	if !leads {
		return lv, false
	}
	net, raft := r.sc.Net, r.sc.Raft
	// A packet fault multiplies base latency by up to 5 and jitter by 10.
	lv.netMax = 5*net.Base.D() + 10*net.Jitter.D() + net.Tail.D()
	dup := net.DupDelay.D()
	for _, f := range r.sc.Faults {
		if f.Name == faults.Packet {
			dup = max(dup, time.Duration(f.Param("max_dup_delay_s")*float64(time.Second)))
		}
	}
	lv.renewDelay = r.cfg.RequestTimeout + lv.netMax + dup
	lv.latency = 4*lv.netMax + 4*raft.Tick.D() + 500*time.Millisecond
	lv.slack = slack
	lv.healedAt = int64(r.healedAt)
	// Transfers: the transfer operator's and the membership operator's
	// hand-offs (membership_aim.go).
	last := r.handOffCall
	if t := r.transfers; t != nil {
		last = max(last, t.lastCall)
	}
	if last > 0 {
		et := time.Duration(2*raft.ElectionTicks) * raft.Tick.D()
		lv.transfersUntil = last + int64(4*r.cfg.RequestTimeout+lv.netMax+et)
	}
	return lv, true
}

// heldLeases is, per lease ID, the first replica (in ins order) whose
// store still holds it.
func heldLeases(ids []host.NodeID, ins []Inspector) map[int64]host.NodeID {
	held := map[int64]host.NodeID{}
	for i, in := range ins {
		ll, ok := in.(LeaseLister)
		if !ok {
			continue
		}
		for _, id := range ll.Leases() {
			if _, seen := held[id]; !seen {
				held[id] = ids[i]
			}
		}
	}
	return held
}

// awaitLeaseEnds runs the world on until every lease some replica still
// holds has passed its bound (endBy), or for at most leaseWaitMax after
// heal: the lease-liveness check then has leases to judge.
func (r *seedRun) awaitLeaseEnds() {
	if len(r.leases.order) == 0 {
		return
	}
	limit := r.healedAt + leaseWaitMax
	for r.w.Elapsed() < limit && !r.overBudget {
		ids, ins := r.inspectors()
		lv, ok := r.leaseLiveness(ins, r.skew.slack())
		if !ok {
			return
		}
		held := heldLeases(ids, ins)
		wait := int64(0)
		for id := range held { // a maximum: the order does not matter
			if l := r.leases.byID[id]; l != nil {
				wait = max(wait, lv.endBy(l))
			}
		}
		wait = min(wait, int64(limit))
		now := int64(r.w.Elapsed())
		if wait <= now {
			return
		}
		r.runFor(min(time.Duration(wait-now)+time.Millisecond, 100*time.Millisecond))
	}
}

// checkLeaseEnds fails if a lease whose bound has passed still holds a
// live key in the write log, or is still held by a replica's store (with
// a latency's margin more, so that every replica has applied the expiry).
func (r *seedRun) checkLeaseEnds(rec *Records, slack time.Duration) error {
	b := &r.leases
	var ids []host.NodeID
	var ins []Inspector
	for _, v := range rec.Replicas {
		ids, ins = append(ids, v.ID), append(ins, v.Inspector)
	}
	lv, ok := r.leaseLiveness(ins, slack)
	if !ok || len(b.order) == 0 {
		return nil
	}
	end := int64(rec.End)
	live := map[string]string{} // lease key -> its live value at the end
	for _, e := range rec.WriteLog {
		for _, ch := range e.Changes {
			if !strings.HasPrefix(ch.Key, leasePrefix) {
				continue
			}
			if ch.Type == lin.EventPut {
				live[ch.Key] = ch.Value
			} else {
				delete(live, ch.Key)
			}
		}
	}
	held := heldLeases(ids, ins)
	for _, l := range b.order {
		v, liveKey := live[l.key]
		liveKey = liveKey && b.valueLease[v] == l.id
		id, isHeld := held[l.id]
		if !liveKey && !isHeld {
			continue // gone: no bound to work out (a long run has many)
		}
		by := lv.endBy(l)
		if liveKey && by <= end {
			return l.neverExpired(fmt.Sprintf("its key %q is still live in the write log with value %q", l.key, v), by, &lv)
		}
		if isHeld && by+int64(lv.latency) <= end {
			return l.neverExpired(fmt.Sprintf("replica %d still holds it", id), by, &lv)
		}
	}
	return nil
}

// neverExpired is the failure for lease l, still there at the end.
func (l *leaseRecord) neverExpired(what string, by int64, lv *leaseLiveness) error {
	return fmt.Errorf("%w: lease %d of client %d (TTL %v, %d keep-alives acknowledged, last grant or keep-alive called at %v): %s, but it had to end by %v (the leader of term %d has led since %v; renewals take effect up to %v after their call, expiry takes up to %v, clock-skew slack %v)",
		errLeaseNeverExpired, l.id, l.client, l.ttl, l.keepAlives, time.Duration(l.lastCall), what, time.Duration(by),
		lv.start.term, time.Duration(lv.start.at), lv.renewDelay, lv.latency, lv.slack)
}
