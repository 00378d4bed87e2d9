package harness

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/faults"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Leases in the workload. A client grants a lease with a TTL drawn from
// [Config.MinLeaseTTL, Config.MaxLeaseTTL] and puts one fresh key under it.
// Keep-alive clients (Config.KeepAlivePercent of them) renew each lease
// every TTL/3, as etcd's client does, for a drawn number of rounds (or
// until they revoke it); the others let every lease lapse. So leases do
// expire during a run, and the check below holds expiry to etcd's promise.
const (
	// maxKeepAliveRounds bounds the keep-alives of one lease: after
	// them a kept-alive lease lapses too.
	maxKeepAliveRounds = 12
	// lessorClient is the history's client ID of the lease expiries the
	// check adds (the lessor is not a client; the ID only labels them).
	lessorClient = 1 << 20
)

// errLeaseExpiry is wrapped by every lease-expiry failure.
var errLeaseExpiry = errors.New("lease expired early")

// leaseRecord is what the history knows of one granted lease. A long run
// grants tens of thousands and keeps them all for the end check, so the
// record is kept small (80 bytes: the narrow counters side by side, the
// rare "lease not found" answers in the book's goneAt).
type leaseRecord struct {
	id     int64
	client int32
	// keepAlives counts the acknowledged keep-alives.
	keepAlives int32
	ttl        time.Duration
	key        string // the one key put under it
	// renewed is the latest call time (virtual ns) of the grant or of an
	// acknowledged keep-alive: the lease was renewed after it, so it may
	// expire no earlier than renewed + ttl.
	renewed int64
	// lastCall is the latest call time (virtual ns) of the grant or of
	// any keep-alive, acknowledged or not: no renewal can take effect
	// much later (see leaseLiveness).
	lastCall int64
	// revoked is the earliest call time of a revoke of it (0: none).
	revoked int64
	// promoted is the latest time a new leader was elected while the
	// lease was surely live (0: none): the lease may expire no earlier
	// than promoted + ttl either (see promote).
	promoted int64
	// expireTerm is the term of the last applied expiry entry naming
	// the lease (0: none seen). Only leaders of terms up to it can have
	// proposed that entry, so only their promotions bind it.
	expireTerm uint64
}

// promote applies etcd's lessor Promote to the bounds of the leases: a
// replica that becomes leader renews every lease it holds by its TTL from
// then, so that leases do not expire merely because there was no leader to
// take their keep-alives. A leadership that began at T while a lease was
// surely live (T before its bound so far, less the clock slack: no leader
// could have proposed its expiry yet) raises its bound to T + TTL. The
// leader's clock may be off by the slack, which checkSeen subtracts.
//
// A promotion binds only the expiry entries of its own term or later: a
// leader deposed behind a partition may still propose an expiry on its own
// schedule, be elected again, and commit that old-term entry after another
// leader's election (seed 1 at -duration 1h). So when the entry that
// expired the lease is known, elections of later terms than its own are
// left out.
func (b *leaseBook) promote(slack time.Duration) {
	for _, l := range b.order {
		for _, s := range b.leaderStarts {
			if l.expireTerm != 0 && s.term > l.expireTerm {
				continue
			}
			if s.at < l.bound()-int64(slack) && s.at > l.promoted {
				l.promoted = s.at
			}
		}
	}
}

// expired notes that an expiry entry of term named lease id. The last one
// is the one that deleted it (an entry finding the lease renewed deletes
// nothing, and no leader names a lease it no longer holds), and terms
// only grow along the log, so the highest term counts.
func (b *leaseBook) expired(id int64, term uint64) {
	if l := b.byID[id]; l != nil {
		l.expireTerm = max(l.expireTerm, term)
	}
}

// leaderStart is a leadership of a newer term than any before.
type leaderStart struct {
	at   int64 // virtual ns
	term uint64
}

// bound is the earliest time (before the clock slack) the lease may
// expire: its TTL after its last renewal or after the last leader
// election it was live at.
func (l *leaseRecord) bound() int64 {
	return max(l.renewed, l.promoted) + int64(l.ttl)
}

// leaseBook records the run's leases and the revisions responses reported,
// for the expiry check.
type leaseBook struct {
	byID map[int64]*leaseRecord
	// goneAt lists, by lease, the return times of answers that said the
	// lease did not exist (a keep-alive or a put under it): it had ended
	// by then. Few leases have any, so they are not in every record.
	goneAt map[int64][]int64
	// valueLease is the lease each put of a lease key carried, by its
	// (unique) value; 0: none.
	valueLease map[string]int64
	order      []*leaseRecord
	seen       revSeen
	// leaderStarts are the virtual times (ns) at which a replica became
	// leader, in order: each new leader renews every live lease by its
	// TTL (see promote).
	leaderStarts []leaderStart
}

// revSeen is, in time order, each time a response first reported a
// higher store revision than any before: a revision seen at time t had
// been created by t.
type revSeen struct {
	m timedRevs
}

// note records that a response returned at time t reported revision rev.
func (s *revSeen) note(t, rev int64) {
	if s.m.n == 0 || rev > s.m.lastRev() {
		s.m.add(t, rev)
	}
}

// by returns the earliest time a response reported revision rev or
// higher (false: none did).
func (s *revSeen) by(rev int64) (int64, bool) {
	i, at, _ := s.m.firstRevFrom(rev)
	if i < 0 {
		return 0, false
	}
	return at, true
}

func (b *leaseBook) granted(id int64, client int, ttl time.Duration, call int64) *leaseRecord {
	if b.byID == nil {
		b.byID = map[int64]*leaseRecord{}
	}
	if b.valueLease == nil {
		b.valueLease = map[string]int64{}
	}
	l := &leaseRecord{id: id, client: int32(client), ttl: ttl, renewed: call, lastCall: call}
	b.byID[id] = l
	b.order = append(b.order, l)
	return l
}

// revoking notes a revoke of lease id called at time call.
func (b *leaseBook) revoking(id, call int64) {
	if l := b.byID[id]; l != nil && l.revoked == 0 {
		l.revoked = call
	}
}

// gone notes an answer at time t that lease id does not exist.
func (b *leaseBook) gone(id, t int64) {
	if b.byID[id] != nil {
		if b.goneAt == nil {
			b.goneAt = map[int64][]int64{}
		}
		b.goneAt[id] = append(b.goneAt[id], t)
	}
}

// putValue notes that a put of a lease key with value v carried lease id.
func (b *leaseBook) putValue(v string, id int64) {
	if b.valueLease == nil {
		b.valueLease = map[string]int64{}
	}
	b.valueLease[v] = id
}

func (b *leaseBook) keyed(id int64, key string) {
	if l := b.byID[id]; l != nil {
		l.key = key
	}
}

// keepAlive runs the keep-alive loop of lease l: a keep-alive every
// keepAliveGap (TTL/3, etcd's client cadence, or late), for rounds rounds, until the lease is
// revoked or gone or the workload is over. A keep-alive is a logged write;
// it is not part of the linearizability history.
func (c *workClient) keepAlive(l *lease, rounds int) {
	if rounds <= 0 || c.r.workloadOver() || !c.gen.holds(l.id) {
		return
	}
	c.r.w.Schedule(keepAliveGap(l), func() {
		if c.r.workloadOver() || !c.gen.holds(l.id) || !c.r.w.Alive(c.nid) {
			return
		}
		call := c.r.now()
		if rec := c.r.leases.byID[l.id]; rec != nil {
			rec.lastCall = max(rec.lastCall, call)
		}
		c.r.record("call", c.nid, api.OpLeaseKeepAlive, -1, l.id)
		c.c.Do(&api.LeaseKeepAliveRequest{ID: l.id}, client.CallOptions{}, func(resp *api.Response, err error) {
			c.keepAliveDone(l, call, resp, err)
		})
		c.keepAlive(l, rounds-1)
	})
}

// keepAliveGap is the wait before a lease's next keep-alive: TTL/3
// (etcd's client cadence) for leases of even ID; a late renewal, 0..40
// ms before the deadline, for odd ones (a client slowed by a pause or a
// slow link), so that the keep-alive races the leader's expiry: it may
// commit just before an expire the leader proposed from its not yet
// updated lessor, and the expire must then find the lease renewed.
func keepAliveGap(l *lease) time.Duration {
	ttl := time.Duration(l.ttl) * time.Second
	if l.id%2 == 0 {
		return ttl / 3
	}
	return ttl - time.Duration((l.id/2)%5)*10*time.Millisecond
}

// keepAliveDone records a keep-alive's outcome.
func (c *workClient) keepAliveDone(l *lease, call int64, resp *api.Response, err error) {
	now := c.r.now()
	if resp != nil {
		c.r.record("return", c.nid, resp.Op, -1, resp.Header.Revision<<8|int64(resp.Err))
	}
	switch {
	case err == nil:
		c.r.checkKeepAliveTTL(l, resp) // check_leasettl.go
		c.r.leases.seen.note(now, resp.Header.Revision)
		l.until = max(l.until, now+l.ttl*int64(time.Second))
		if rec := c.r.leases.byID[l.id]; rec != nil {
			rec.renewed = max(rec.renewed, call)
			rec.keepAlives++
		}
	case resp != nil && resp.Err == api.CodeLeaseNotFound:
		c.r.leases.gone(l.id, now)
		c.gen.drop(l.id)
	}
}

// holds reports whether the client still holds lease id.
func (g *gen) holds(id int64) bool {
	return slices.ContainsFunc(g.leases, func(l *lease) bool { return l.id == id })
}

// drop forgets lease id (it is gone).
func (g *gen) drop(id int64) {
	g.leases = slices.DeleteFunc(g.leases, func(l *lease) bool { return l.id == id })
}

// expiry is a lease key's delete in the write log that no client's revoke
// accounts for.
type expiry struct {
	lease *leaseRecord
	rev   int64 // store revision of the delete
	// ambiguous: a revoke of the lease whose outcome is unknown may have
	// made the delete instead (it was called before the delete was seen).
	ambiguous bool
	revoke    int64 // that revoke's call time
}

// leaseExpiries finds the lease expiries in the write log, checks each
// against the lease's TTL and its last recorded renewal, and returns them
// as history operations (a delete of the key at its revision, by the
// "lessor"), so that the linearizability check sees the key disappear.
//
// The rule, as etcd promises it: a lease expires no earlier than its TTL
// after its last renewal (grant or keep-alive). A renewal takes effect at
// the leader after the client called it, and the leader decides expiry by
// its own clock, so the delete cannot be seen before the call of the last
// acknowledged renewal + TTL, less the largest skew between the replicas'
// clocks during the run (slack; zero without clock drift). etcd may extend
// a lease (a new leader renews every lease by its TTL, a keep-alive whose
// outcome is unknown may have renewed it), never shorten it; so only a
// lower bound is checked. A delete is "seen" by the earliest response that
// reported its revision or a later one; an answer "lease not found" is
// held to the same bound unless the client had revoked the lease.
func (r *seedRun) leaseExpiries(ops []lin.Op, log []lin.LogEntry, slack time.Duration) ([]lin.Op, error) {
	b := &r.leases
	if len(b.order) == 0 {
		return nil, nil
	}
	revokes := revokesByKey(ops)
	b.promote(slack)
	for _, l := range b.order {
		if l.revoked == 0 {
			for _, t := range b.goneAt[l.id] {
				if err := l.checkSeen(t, slack, "an answer 'lease not found'"); err != nil {
					return nil, err
				}
			}
		}
	}
	var extra []lin.Op
	last := map[string]string{} // lease key -> its live value
	for _, e := range log {
		for _, ch := range e.Changes {
			if !strings.HasPrefix(ch.Key, leasePrefix) {
				continue
			}
			if ch.Type == lin.EventPut {
				last[ch.Key] = ch.Value
				continue
			}
			// The delete is of the lease the key's live value carried.
			l := b.byID[b.valueLease[last[ch.Key]]]
			if l == nil {
				if len(revokes[ch.Key]) == 0 {
					return nil, fmt.Errorf("%w: key %q was deleted at revision %d, but its value %q was put without a lease (or under one no client was granted) and no client deleted it",
						errLeaseExpiry, ch.Key, e.Revision, last[ch.Key])
				}
				continue
			}
			x, ok := classify(l, e.Revision, ops, revokes[ch.Key], &b.seen)
			if !ok {
				continue // an acknowledged revoke
			}
			seen, known := b.seen.by(x.rev)
			if !x.ambiguous && known {
				if err := l.checkSeen(seen, slack, fmt.Sprintf("its delete at revision %d", x.rev)); err != nil {
					return nil, err
				}
			}
			extra = append(extra, x.op(seen, known, slack))
		}
	}
	return extra, nil
}

// checkSeen fails if the lease was seen gone at time t, earlier than its
// TTL allows.
func (l *leaseRecord) checkSeen(t int64, slack time.Duration, what string) error {
	bound := l.bound() - int64(slack)
	if t >= bound {
		return nil
	}
	why := fmt.Sprintf("its last renewal was called at %v", time.Duration(l.renewed))
	if l.promoted > l.renewed {
		why = fmt.Sprintf("a leader was elected at %v while it was live, which renews every lease by its TTL (etcd's lessor Promote)", time.Duration(l.promoted))
	}
	return fmt.Errorf("%w: lease %d of client %d (TTL %v, key %q, %d keep-alives acknowledged): %s was seen at %v, but %s, so it may expire only from %v (clock-skew slack %v)",
		errLeaseExpiry, l.id, l.client, l.ttl, l.key, l.keepAlives, what, time.Duration(t), why, time.Duration(bound), slack)
}

// revokesByKey indexes the history's lease revokes (a Txn that deletes one
// lease key, without compares) and the clients' plain deletes of lease
// keys by key: either may be what removed a lease key instead of expiry.
func revokesByKey(ops []lin.Op) map[string][]int {
	out := map[string][]int{}
	for i := range ops {
		in := &ops[i].Input
		if in.Kind == lin.KindTxn && len(in.Compares) == 0 && len(in.Then) == 1 &&
			in.Then[0].Kind == lin.KindDelete && strings.HasPrefix(in.Then[0].Key, leasePrefix) {
			out[in.Then[0].Key] = append(out[in.Then[0].Key], i)
		}
		if in.Kind == lin.KindDelete && strings.HasPrefix(in.Key, leasePrefix) {
			out[in.Key] = append(out[in.Key], i)
		}
	}
	return out
}

// classify decides who deleted lease l's key at store revision rev: an
// acknowledged revoke at that revision (ok false), else the lessor,
// ambiguously if an unanswered revoke was called before the delete was
// seen. An ambiguous revoke is settled as "no effect": the expiry op
// added for the delete covers its window too.
func classify(l *leaseRecord, rev int64, ops []lin.Op, revokes []int, seen *revSeen) (expiry, bool) {
	x := expiry{lease: l, rev: rev}
	by, known := seen.by(rev)
	for _, i := range revokes {
		op := &ops[i]
		switch {
		case op.Failed:
		case !op.Unknown && op.Output.Revision+revBase == rev &&
			(op.Input.Kind != lin.KindDelete || op.Output.Deleted > 0):
			// (A plain delete that deleted nothing reports the
			// revision it found, which may be the expiry's own.)
			return x, false
		case op.Unknown && (!known || op.Call < by):
			if !x.ambiguous || op.Call < x.revoke {
				x.ambiguous, x.revoke = true, op.Call
			}
			op.Unknown, op.Failed = false, true
			op.Output = lin.Output{Err: "settled: the delete it may have made is the lease's expiry"}
		}
	}
	return x, true
}

// op is the expiry as a history operation: the delete of the lease's key
// at its revision, called no earlier than the TTL allows (or the
// ambiguous revoke's call), returned when a response first reported the
// revision (else never).
func (x *expiry) op(seen int64, known bool, slack time.Duration) lin.Op {
	l := x.lease
	call := max(0, l.bound()-int64(slack))
	if x.ambiguous {
		call = min(call, x.revoke)
	}
	ret := lin.UnknownReturn
	if known {
		ret = max(seen, call)
	}
	return lin.Op{ClientID: lessorClient, Call: call, Return: ret,
		Input:  lin.Input{Kind: lin.KindTxn, Key: l.key, Then: []lin.TxnOp{{Kind: lin.KindDelete, Key: l.key}}},
		Output: lin.Output{Revision: x.rev - revBase, Succeeded: true}}
}

// clockSkew tracks the extremes of the replicas' clock offsets over the
// run, sampled as the world runs.
type clockSkew struct {
	lo, hi  time.Duration
	drifted bool
}

// sample folds in the current offsets of the given nodes.
func (k *clockSkew) sample(r *seedRun) {
	if !r.faultSet.Has(faults.ClockDrift) {
		return // every clock runs at the world's rate
	}
	for _, id := range r.servers() {
		off := r.w.ClockOffset(id)
		if off != 0 {
			k.drifted = true
		}
		k.lo, k.hi = min(k.lo, off), max(k.hi, off)
	}
}

// skewMargin covers the drift between two samples (a slice of runFor at
// the largest drift rate the nemesis draws is well within it).
const skewMargin = 25 * time.Millisecond

// slack is the largest difference between two replicas' clocks at any two
// times of the run: a time stamped by one replica's clock and a deadline
// checked by another's may be off by that much in world time.
func (k *clockSkew) slack() time.Duration {
	if !k.drifted {
		return 0
	}
	return k.hi - k.lo + skewMargin
}
