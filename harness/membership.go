package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
)

// Membership changes are the harness's part of the fault model (it owns the
// cluster): with the membership fault on, an operator client replaces
// replicas during the workload, one single-server change at a time: add a
// fresh replica as a learner, promote it once caught up, then remove an old
// one (a stopped one if there is, which is how a replica that found its
// data corrupt is replaced).
const (
	// maxMembershipChanges bounds the replacements in one run; the
	// replica IDs they may use are reserved from the start, so that
	// clients know every server that may ever exist.
	maxMembershipChanges             = 3
	membershipClient     host.NodeID = 3001
	minChangeGap                     = 1 * time.Second
	maxChangeGap                     = 3 * time.Second
)

// operator drives membership changes.
type operator struct {
	r       *seedRun
	c       *client.Client
	rng     *rand.Rand
	spare   []host.NodeID // reserved IDs not used yet
	learner host.NodeID   // added as a learner, not yet promoted
	// direct is a learner slot taken by a replica added as a voter at
	// once (see add): the nemesis counts it as a voter from the start.
	direct    host.NodeID
	voter     host.NodeID // promoted, its old counterpart not yet removed
	victim    host.NodeID // being removed (a timed-out remove is retried)
	started   map[host.NodeID]bool
	requested map[host.NodeID]bool // MemberAdd sent
	changes   int
	overlaps  int           // second changes sent while the first was in flight
	extra     []host.NodeID // learners added by an overlapping change
	settled   bool          // the final member list decided who runs
	// lost are the removals whose answer timed out: a late copy of the
	// request may still apply, after the final member list was read.
	lost map[host.NodeID]bool
}

// servers is every replica ID a client may need: the initial replicas and,
// with membership changes on, the spare IDs.
func (r *seedRun) servers() []host.NodeID {
	s := slices.Clone(r.replicas)
	if r.faultSet.Has(faults.Membership) {
		for i := range maxMembershipChanges {
			s = append(s, firstReplica+host.NodeID(r.cfg.Nodes+i))
		}
	}
	return s
}

// startOperator adds the operator's client and schedules its first change.
func (r *seedRun) startOperator(start ReplicaFunc) {
	if !r.faultSet.Has(faults.Membership) || !r.kvOnly("membership changes") {
		return
	}
	o := &operator{r: r, rng: r.w.Rand("membership"), started: map[host.NodeID]bool{}, requested: map[host.NodeID]bool{},
		lost: map[host.NodeID]bool{}}
	r.confTaps.onRemoved = o.removedLate
	for i := range maxMembershipChanges {
		o.spare = append(o.spare, firstReplica+host.NodeID(r.cfg.Nodes+i))
	}
	r.operator = o
	r.startReplica = start
	must(r.w.AddNode(membershipClient, func(h host.Host) host.Process {
		o.c = client.New(h, r.servers(), client.Options{RequestTimeout: 2 * r.cfg.RequestTimeout})
		return o.c
	}))
	o.schedule()
}

func (o *operator) schedule() {
	gap := minChangeGap + time.Duration(o.rng.Int64N(int64(maxChangeGap-minChangeGap)))
	o.r.w.Schedule(gap, o.step)
}

// step makes the next move of a replacement, as an operator should: add
// the fresh replica as a learner, promote it once it has caught up, then
// remove an old replica. Each step is one single-server change.
func (o *operator) step() {
	switch {
	case o.r.workloadOver():
	case o.victim != 0:
		o.removeVictim()
	case o.voter != 0:
		o.remove()
	case o.learner != 0:
		o.promote()
	case o.changes < maxMembershipChanges && len(o.spare) > 0:
		o.add()
	}
}

// add adds the next spare ID as a learner and starts its replica.
//
// A third of the adds add it as a voter at once, as etcd's member add
// without --learner does: the cluster then counts a member toward its
// quorum that holds nothing yet, and the leader must learn what it holds
// before counting it (a leader that took a new member's progress on trust
// committed entries a minority held, and no learner-first add could show
// it: the promotion of a learner reuses its progress). Its later
// promotion is refused as done (ErrMemberExists), which settles it like a
// learner's; the nemesis counts it as a voter from the start.
func (o *operator) add() {
	id := o.spare[0]
	o.spare = o.spare[1:]
	o.changes++
	o.requested[id] = true
	voter, w := o.rng.IntN(3) == 0, -1
	if voter {
		o.r.notef("membership: adding voter %d", id)
		o.direct = id
		w = o.r.safety.voterChangeSent()
	} else {
		o.r.notef("membership: adding learner %d", id)
	}
	o.c.MemberAdd(id, !voter, client.CallOptions{}, func(_ *api.MemberResponse, _ api.Header, err error) {
		if voter {
			o.r.safety.voterChangeAnswered(w, err)
		}
		// A member that exists already was added by an earlier copy
		// of this request whose answer was lost: start it, as added.
		if err != nil && !errors.Is(err, client.ErrTimeout) && !errors.Is(err, api.ErrMemberExists) {
			o.r.notef("membership: add %d refused: %v", id, err)
			if o.direct == id {
				o.direct = 0
			}
			o.schedule()
			return
		}
		// Added, or perhaps added (unknown outcome): start it either way;
		// the promotion or the final member list settles it.
		o.learner = id
		o.startNode(id)
		o.schedule()
	})
	if o.rng.IntN(2) == 0 {
		o.overlap()
	}
	if o.rng.IntN(2) == 0 {
		o.handOff()
	}
}

// overlap sends, right behind an add, a second change: the add of the
// next spare ID as a learner. While the first add is pending the leader
// must refuse it (confcheck.go checks that no replica applied two changes
// with one pending). If the first was applied already, the second is
// legal: the operator starts the extra learner, which stays a learner (the
// nemesis does not count it as a voter); an unknown outcome is settled by
// the final member list.
func (o *operator) overlap() {
	if len(o.spare) > 0 {
		o.r.notef("membership: adding learner %d right behind the previous add", o.spare[0])
		o.overlapWith(client.CallOptions{})
	}
}

// overlapWith sends the overlapping add of the next spare ID with opts.
func (o *operator) overlapWith(opts client.CallOptions) {
	id := o.spare[0]
	o.overlaps++
	o.requested[id] = true
	o.c.MemberAdd(id, true, opts, func(_ *api.MemberResponse, _ api.Header, err error) {
		switch {
		case err == nil, errors.Is(err, api.ErrMemberExists): // exists: an earlier copy was applied, its answer lost
			o.r.notef("membership: learner %d added by the overlapping change", id)
			o.spare = slices.DeleteFunc(o.spare, func(s host.NodeID) bool { return s == id })
			o.extra = append(o.extra, id)
			o.startNode(id)
		case errors.Is(err, client.ErrTimeout):
			o.spare = slices.DeleteFunc(o.spare, func(s host.NodeID) bool { return s == id })
		default:
			o.r.notef("membership: overlapping add of %d refused: %v", id, err)
		}
	})
}

// promote makes the learner a voter once it has caught up with the
// cluster (the operator looks at the replicas, as etcd's learner-readiness
// check looks at the leader's view of its progress).
func (o *operator) promote() {
	id := o.learner
	if !o.caughtUp(id) {
		o.schedule()
		return
	}
	o.r.notef("membership: promoting %d", id)
	w := o.r.safety.voterChangeSent()
	o.c.MemberAdd(id, false, client.CallOptions{}, func(_ *api.MemberResponse, _ api.Header, err error) {
		o.r.safety.voterChangeAnswered(w, err)
		switch {
		case err == nil:
			o.learner, o.voter = 0, id
			o.tellNemesis()
		case errors.Is(err, client.ErrTimeout):
			// Try again: promoting a voter is refused, which tells.
		case errors.Is(err, api.ErrMemberExists):
			o.learner, o.voter = 0, id // an earlier promotion took effect
			o.tellNemesis()
		default:
			o.r.notef("membership: promote %d: %v", id, err)
			if errors.Is(err, api.ErrMemberNotFound) {
				o.learner = 0 // the add never happened
				o.retire(id)
			}
		}
		o.schedule()
	})
}

// caughtUp reports whether replica id has applied about as much as the
// most advanced replica.
func (o *operator) caughtUp(id host.NodeID) bool {
	in := o.r.inspectorOf(o.r.w.Process(id))
	if in == nil {
		return false
	}
	a := in.AppliedIndex()
	return a > 0 && a+catchUpSlack >= o.r.appliedMax()
}

// catchUpSlack is how far behind the most advanced replica a learner may be
// and still be promoted (it has its snapshot and is receiving the log).
const catchUpSlack = 10

// remove removes a stopped replica if there is one (even the one just
// promoted), else one whose data the nemesis corrupted, else a random old
// replica other than the one just promoted. Removing a healthy voter while a corrupted one stays would
// shrink the cluster below its tolerance: a corrupted replica votes again
// only once it caught up with a leader, so 2 of 4 voters recovering is a
// deadlock that survives heal (simrun -nodes 4 -faults
// disk-corrupt,membership -seed 5).
func (o *operator) remove() {
	promoted := o.voter
	o.voter = 0
	tainted := o.r.nemesis.Tainted()
	var stopped, corrupted, others []host.NodeID
	for _, id := range o.r.replicas {
		switch {
		case o.r.stopped(id): // the promoted one too (-nodes 2 -seed 35)
			stopped = append(stopped, id)
		case slices.Contains(tainted, id):
			corrupted = append(corrupted, id)
		case id != promoted:
			others = append(others, id)
		}
	}
	cands := stopped
	if len(cands) == 0 {
		cands = corrupted
	}
	if len(cands) == 0 {
		cands = others
	}
	o.victim = cands[o.rng.IntN(len(cands))]
	o.tellNemesis() // the victim no longer counts as a voter
	o.removeVictim()
}

// removeVictim removes o.victim; a remove whose outcome is unknown is
// tried again (removing a non-member is refused, which tells).
func (o *operator) removeVictim() {
	victim := o.victim
	o.r.notef("membership: removing %d", victim)
	w := o.r.safety.voterChangeSent()
	o.c.MemberRemove(victim, client.CallOptions{}, func(_ *api.MemberResponse, _ api.Header, err error) {
		o.r.safety.voterChangeAnswered(w, err)
		switch {
		case err == nil || errors.Is(err, api.ErrMemberNotFound):
			o.victim = 0
			o.retire(victim)
		case errors.Is(err, client.ErrTimeout):
			o.r.notef("membership: remove %d: %v", victim, err)
			o.lost[victim] = true
		default:
			o.victim = 0
			o.r.notef("membership: remove %d: %v", victim, err)
			o.tellNemesis() // still a voter
		}
		o.schedule()
	})
}

// removedLate retires a replica whose removal the operator gave up on as
// unknown once a replica answers a copy of that request OK: the network
// may deliver a duplicate seconds late, after the workload ended and even
// after settle read the final member list (seed 1869 of -faults all
// -nodes 3). The removed replica then no longer hears of new entries and
// must not be waited for. Removals the operator hears answered retire
// through its own callback, so only lost ones change anything here.
func (o *operator) removedLate(id host.NodeID) {
	if !o.lost[id] {
		return
	}
	// The tap runs inside the answering replica's step: retire after it.
	o.r.w.Schedule(0, func() {
		if o.victim == id {
			o.victim = 0
		}
		if slices.Contains(o.r.replicas, id) {
			o.r.notef("membership: a late copy of the removal of %d applied", id)
			o.retire(id)
		}
	})
}

// startNode starts a fresh replica that joins the cluster. After settle,
// an add's late answer (a timeout that fired after the final member list
// was read) starts nothing: the list decided, and a replica started for a
// refused add would never join, yet be counted as one that must catch up.
func (o *operator) startNode(id host.NodeID) {
	if o.started[id] || o.settled {
		return
	}
	o.started[id] = true
	start := o.r.startReplica
	must(o.r.w.AddNode(id, func(h host.Host) host.Process { return start(h, nil) }))
	o.r.replicas = append(o.r.replicas, id)
	slices.Sort(o.r.replicas)
	o.tellNemesis()
}

// tellNemesis hands the nemesis the replica set and which of its members
// do not count as voters, since its minority budget must be computed over
// voters only (a learner counted as a voter let a 4-voter cluster lose 2
// replicas, beyond its tolerance of 1). Not voters are the learner
// not yet promoted and the victim of a removal from the moment it is sent,
// since the smaller configuration may already be in force. Both err on the
// safe side: a promotion or removal that did not take effect yet only
// makes the budget smaller than the cluster's tolerance.
func (o *operator) tellNemesis() {
	must(o.r.nemesis.SetReplicas(o.r.replicas))
	var notVoters []host.NodeID
	for _, id := range append([]host.NodeID{o.learner, o.victim}, o.extra...) {
		if id != 0 && !(id == o.learner && id == o.direct) && slices.Contains(o.r.replicas, id) {
			notVoters = append(notVoters, id)
		}
	}
	must(o.r.nemesis.SetLearners(notVoters))
}

// Shutting down a removed replica waits, like etcd's stopWithDelay, until
// a majority of the remaining replicas have applied as far as the most
// advanced replica had when the removal was answered, so that they know
// the removal committed and use the new configuration (until then they
// need a quorum of the old one, which counts the removed replica),
// but no longer than maxRetireDelay.
const (
	retirePoll     = 10 * time.Millisecond
	maxRetireDelay = time.Second
)

// retire takes a removed replica out of the cluster's view and stops it
// for good (a removed etcd member shuts itself down), after a delay.
func (o *operator) retire(id host.NodeID) {
	i := slices.Index(o.r.replicas, id)
	if i < 0 {
		return
	}
	target := o.r.appliedMax()
	o.r.replicas = slices.Delete(o.r.replicas, i, i+1)
	o.r.retired[id] = true
	o.tellNemesis()
	o.shutDown(id, target, o.r.w.Elapsed()+maxRetireDelay)
}

// shutDown crashes the retired replica id once a majority of the voters
// applied target or the deadline passed. If it is down already it stays
// down: retired replicas restart inert (unlessRetired).
func (o *operator) shutDown(id host.NodeID, target uint64, deadline time.Duration) {
	if !o.r.w.Alive(id) {
		return
	}
	applied := o.majorityApplied(target)
	if o.r.w.Elapsed() < deadline && !applied {
		o.r.w.Schedule(retirePoll, func() { o.shutDown(id, target, deadline) })
		return
	}
	o.r.notef("membership: shutting %d down (a majority applied %d: %v)", id, target, applied)
	must(o.r.w.Crash(id))
}

// majorityApplied reports whether a majority of the voters (the replicas
// but the learner) have applied index.
func (o *operator) majorityApplied(index uint64) bool {
	voters, applied := 0, 0
	for _, id := range o.r.replicas {
		if id == o.learner {
			continue
		}
		voters++
		if in := o.r.inspectorOf(o.r.w.Process(id)); in != nil && in.AppliedIndex() >= index {
			applied++
		}
	}
	return applied > voters/2
}

// appliedMax is the most any running replica has applied.
func (r *seedRun) appliedMax() uint64 {
	best := uint64(0)
	_, ins := r.inspectors()
	for _, in := range ins {
		best = max(best, in.AppliedIndex())
	}
	return best
}

// unlessRetired wraps start so that a retired replica that is restarted
// (a crash episode that began before its removal restarts it when it
// heals) comes back inert, as a removed etcd member stays shut down.
func (r *seedRun) unlessRetired(start ReplicaFunc) ReplicaFunc {
	return func(h host.Host, peers []host.NodeID) host.Process {
		if r.retired[h.ID()] {
			r.notef("membership: retired replica %d restarted inert", h.ID())
			return inert{}
		}
		return start(h, peers)
	}
}

// inert is a retired replica's process: it ignores everything.
type inert struct{}

func (inert) Receive(host.NodeID, []byte) {}

// settle asks the cluster for its final member list after heal and makes
// the harness's view agree: members it did not know of (an add whose
// answer was lost) must have been started, replicas that are no longer
// members (a remove whose answer was lost) are retired.
func (o *operator) settle(deadline time.Duration) error {
	var members []api.Member
	var lastErr error
	for len(members) == 0 && o.r.w.Elapsed() < deadline {
		// Ask the most advanced replica: the list is served from local
		// state, and a replica still joining has none.
		done := false
		o.c.MemberList(client.CallOptions{Member: o.r.mostAdvanced()}, func(m *api.MemberResponse, _ api.Header, err error) {
			done, lastErr = true, err
			if err == nil && m != nil {
				members = m.Members
			}
		})
		for !done && o.r.runFor(10*time.Millisecond) {
		}
		if !done {
			break
		}
		if len(members) == 0 && !o.r.runFor(50*time.Millisecond) {
			break
		}
	}
	if len(members) == 0 {
		return fmt.Errorf("membership: no member list within %v after heal (last: %v)", o.r.cfg.HealTimeout, lastErr)
	}
	var final []host.NodeID // voters and learners: all hold the data
	for _, m := range members {
		final = append(final, m.ID)
	}
	for _, id := range slices.Clone(o.r.replicas) {
		if !slices.Contains(final, id) {
			o.retire(id)
		}
	}
	for _, id := range final {
		if slices.Contains(o.r.replicas, id) {
			continue
		}
		if !o.requested[id] {
			return fmt.Errorf("membership: member %d was never added by the operator (members %v)", id, final)
		}
		// Its add was still unanswered when the workload ended.
		o.startNode(id)
	}
	o.settled = true
	o.r.notef("membership: %d changes (%d overlapped), final members %v", o.changes, o.overlaps, members)
	return nil
}

// mostAdvanced is the running replica that has applied the most (0: none).
func (r *seedRun) mostAdvanced() host.NodeID {
	ids, ins := r.inspectors()
	best, bestID := uint64(0), host.NodeID(0)
	for i, in := range ins {
		if a := in.AppliedIndex(); bestID == 0 || a > best {
			best, bestID = a, ids[i]
		}
	}
	return bestID
}
