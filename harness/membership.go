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
// fresh replica, then remove an old one (a stopped one if there is, which
// is how a replica that found its data corrupt is replaced).
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
	adding  host.NodeID   // added, its old counterpart not yet removed
	started map[host.NodeID]bool
	removed []host.NodeID
	changes int
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
	if !r.faultSet.Has(faults.Membership) {
		return
	}
	o := &operator{r: r, rng: r.w.Rand("membership"), started: map[host.NodeID]bool{}}
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

// step makes the next change: add a fresh replica, or remove an old one
// after an add.
func (o *operator) step() {
	if o.r.workloadOver() {
		return
	}
	if o.adding != 0 {
		o.remove()
		return
	}
	if o.changes >= maxMembershipChanges || len(o.spare) == 0 {
		return
	}
	o.add()
}

func (o *operator) add() {
	id := o.spare[0]
	o.spare = o.spare[1:]
	o.changes++
	o.r.notef("membership: adding %d", id)
	o.c.MemberAdd(id, false, client.CallOptions{}, func(_ *api.MemberResponse, _ api.Header, err error) {
		if err != nil && !errors.Is(err, client.ErrTimeout) {
			o.r.notef("membership: add %d refused: %v", id, err)
			o.schedule()
			return
		}
		// Added, or perhaps added (unknown outcome): start it either way;
		// the final member list settles it.
		o.startNode(id)
		o.adding = id
		o.schedule()
	})
}

// remove removes a stopped replica if there is one, else a random old
// replica other than the one just added.
func (o *operator) remove() {
	added := o.adding
	o.adding = 0
	var cands []host.NodeID
	for _, id := range o.r.replicas {
		if id != added && o.r.stopped(id) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		for _, id := range o.r.replicas {
			if id != added {
				cands = append(cands, id)
			}
		}
	}
	victim := cands[o.rng.IntN(len(cands))]
	o.r.notef("membership: removing %d", victim)
	o.c.MemberRemove(victim, client.CallOptions{}, func(_ *api.MemberResponse, _ api.Header, err error) {
		if err == nil {
			o.retire(victim)
		} else {
			o.r.notef("membership: remove %d: %v", victim, err)
		}
		o.schedule()
	})
}

// startNode starts a fresh replica that joins the cluster.
func (o *operator) startNode(id host.NodeID) {
	if o.started[id] {
		return
	}
	o.started[id] = true
	start := o.r.startReplica
	must(o.r.w.AddNode(id, func(h host.Host) host.Process { return start(h, nil) }))
	o.r.replicas = append(o.r.replicas, id)
	slices.Sort(o.r.replicas)
	must(o.r.nemesis.SetReplicas(o.r.replicas))
}

// retire takes a removed replica out of the cluster's view and stops it
// for good (a removed etcd member shuts itself down).
func (o *operator) retire(id host.NodeID) {
	i := slices.Index(o.r.replicas, id)
	if i < 0 {
		return
	}
	o.r.replicas = slices.Delete(o.r.replicas, i, i+1)
	o.removed = append(o.removed, id)
	must(o.r.nemesis.SetReplicas(o.r.replicas))
	if o.r.w.Alive(id) {
		must(o.r.w.Crash(id))
	}
}

// settle asks the cluster for its final member list after heal and makes
// the harness's view agree: members it did not know of (an add whose
// answer was lost) must have been started, replicas that are no longer
// members (a remove whose answer was lost) are retired.
func (o *operator) settle(deadline time.Duration) error {
	var members []api.Member
	var lastErr error
	for members == nil && o.r.w.Elapsed() < deadline {
		done := false
		o.c.MemberList(client.CallOptions{}, func(m *api.MemberResponse, _ api.Header, err error) {
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
	}
	if members == nil {
		return fmt.Errorf("membership: no member list within %v after heal (last: %v)", o.r.cfg.HealTimeout, lastErr)
	}
	var final []host.NodeID
	for _, m := range members {
		if !m.Learner {
			final = append(final, m.ID)
		}
	}
	for _, id := range slices.Clone(o.r.replicas) {
		if !slices.Contains(final, id) {
			o.retire(id)
		}
	}
	for _, id := range final {
		if !slices.Contains(o.r.replicas, id) {
			return fmt.Errorf("membership: member %d was never started (members %v)", id, final)
		}
	}
	o.r.notef("membership: %d changes, final voters %v", o.changes, final)
	return nil
}
