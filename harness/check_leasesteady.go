package harness

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/faults"

	"github.com/seedkv/seedkv/host"
)

// Lease liveness under a steady leader, during the run. The end check
// (leaselive.go) judges leases only against the leadership the cluster
// ends with, once every fault has healed: a lessor that keeps a lease
// seconds past its TTL under one leader, which a later leader then
// expires on time, passes it. This check applies the same bound while
// the run goes on, at every slice of virtual time (runFor), whenever no
// fault episode is active: with quiet the end of the last episode, the
// leader of the newest term (still leading in it) must have ended every
// lease whose bound, as endBy computes it with quiet in place of heal,
// is at least steadyMargin (plus a latency) behind. The margin is for
// the workload still running (the end check runs after it stops): queues
// of client writes, a lagging apply, tails of the network.
//
// Only the leader's own store is judged (followers may lag behind a
// fault that just healed), and only leases of the workload whose grant
// was acknowledged. A lease that is still held there is one the leader
// failed to expire: its lessor lost track of it (an expiry it proposed in
// an earlier term taken as still in flight, a promotion that renewed it
// twice, a revocation dropped on the floor).

// steadyMargin is the time a lease may outlast its bound under a steady
// leader, on top of a latency, before the check fails.
const steadyMargin = 500 * time.Millisecond

// steadyQuiet follows the nemesis's episode log for the steady-leader
// lease check: the entries before seen have been looked at, open holds
// those of them that had not ended then, and end is the latest end of
// the ones that ended having acted.
type steadyQuiet struct {
	seen int
	open []int
	end  int64
	// scratch for sampleLeaseSteady's inspectors
	ids  []host.NodeID
	ins  []Inspector
	held map[int64]bool // checkLeaseSteady's, reused
}

// episodeLog is the nemesis's episode log as steadyQuiet reads it.
type episodeLog interface {
	NumEpisodes() int
	Episode(i int) faults.EpisodeLog
}

// idleWhileArmed reports whether e is an episode of an aimed fault that
// has done nothing yet (or did nothing at all): such a fault only watches
// messages until its moment comes, and its detail stays "armed" until it
// acts. (The replay and dup-request faults act while their detail still
// says "armed": they are not among these.)
func idleWhileArmed(e faults.EpisodeLog) bool {
	switch e.Name {
	case faults.CrashAck, faults.CrashSnapshot, faults.IsolateLeader, faults.IsolateExpirer,
		faults.CrashStorage, faults.DiskSyncError:
		return e.Detail == "armed"
	}
	return false
}

// advance takes in the log's new entries and the ones that ended since
// the last call, and reports the end of the last episode that acted and
// whether none is active now. An aimed fault's episode that has not fired
// (idleWhileArmed; isolate-expirer stays armed for most of a run, waiting
// for an expiry) did nothing and counts as none. Each call reads only the
// new entries and the open ones: re-reading the log from the oldest open
// entry on, as it once did, cost a one-hour seed with an armed episode
// from its start a third of its CPU time (quadratic in the run's length).
func (q *steadyQuiet) advance(log episodeLog) (int64, bool) {
	for n := log.NumEpisodes(); q.seen < n; q.seen++ {
		q.open = append(q.open, q.seen)
	}
	quiet := true
	open := q.open[:0]
	for _, i := range q.open {
		e := log.Episode(i)
		armed := idleWhileArmed(e)
		switch {
		case e.End >= 0 && !armed:
			q.end = max(q.end, int64(e.End))
		case e.End < 0:
			quiet = quiet && armed
			open = append(open, i)
		}
	}
	q.open = open
	return q.end, quiet
}

// sampleLeaseSteady runs the steady-leader lease check at the end of a
// slice of virtual time (runFor), unless a fault episode is active or a
// healed one left a disk, clock or network setting off its baseline
// (Nemesis.AtBaseline; HealAll restores them at the end).
func (r *seedRun) sampleLeaseSteady() {
	if r.failure != "" || len(r.leases.order) == 0 {
		return
	}
	var quiet int64
	if r.nemesis != nil {
		q, ok := r.steadyQuiet.advance(r.nemesis)
		if !ok || !r.nemesis.AtBaseline() {
			return
		}
		quiet = q
	}
	// The buffers are reused after every slice; checkLeaseSteady keeps
	// neither.
	sq := &r.steadyQuiet
	sq.ids, sq.ins = r.appendInspectors(sq.ids[:0], sq.ins[:0])
	ids, ins := sq.ids, sq.ins
	err := r.checkLeaseSteady(int64(r.w.Elapsed()), quiet, ids, ins, r.skew.slack())
	// An inspector holds its replica's incarnation: left in the buffer it
	// would keep a crashed one (its WAL segment, its store) alive.
	clear(sq.ins)
	if err != nil {
		r.failf("%v", err)
	}
}

// checkLeaseSteady fails if the leader of the newest term still holds a
// workload lease at now whose bound, with faults quiet since quiet, has
// passed by a latency and steadyMargin.
func (r *seedRun) checkLeaseSteady(now, quiet int64, ids []host.NodeID, ins []Inspector, slack time.Duration) error {
	lv, ok := r.leaseLivenessBase(ins, slack) // the pauses only when a bound without them has passed
	if !ok {
		return nil
	}
	lv.healedAt = quiet
	var held map[int64]bool
	var leader host.NodeID
	for i, in := range ins {
		ld, isRaft := in.(Leadership)
		ll, lists := in.(LeaseLister)
		if !isRaft || !lists {
			continue
		}
		if term, leads := ld.Leadership(); leads && term == lv.start.term {
			// One map for the run, cleared: this runs after every slice.
			if r.steadyQuiet.held == nil {
				r.steadyQuiet.held = map[int64]bool{}
			}
			leader, held = ids[i], r.steadyQuiet.held
			clear(held)
			for _, id := range ll.Leases() {
				held[id] = true
			}
			break
		}
	}
	if held == nil {
		return nil
	}
	paused := false
	for _, l := range r.leases.order {
		if !held[l.id] || lv.endBy(l)+int64(lv.latency+steadyMargin) > now {
			continue
		}
		if !paused {
			paused = true
			lv.addPauses(r)
		}
		if by := lv.endBy(l); by+int64(lv.latency+steadyMargin) <= now {
			return l.neverExpired(fmt.Sprintf("at %v, with no fault active since %v, its leader %d still holds it",
				time.Duration(now), time.Duration(quiet), leader), by, &lv)
		}
	}
	return nil
}
