package harness

import (
	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// onElection aims a membership change at a leader just elected, while the
// operator still waits for the answer to a change of its own: that change
// may be in the new leader's log, uncommitted, and the new leader must
// refuse a second one until it has committed (and applied) an entry of its
// own term (the single-server change bug Ongaro reported). The add is
// pinned to the new leader and sent at once, so that it arrives within the
// round trip in which the new leader's first entry commits. If it is
// accepted, the operator treats it as any overlapping add (confcheck.go
// and the safety checker's membership rule check the outcome).
func (o *operator) onElection(leader host.NodeID) {
	if o.r.workloadOver() || len(o.spare) == 0 || o.c.Outstanding() == 0 {
		return
	}
	o.r.w.Schedule(0, func() {
		if len(o.spare) == 0 || o.r.workloadOver() {
			return
		}
		o.r.notef("membership: adding learner %d at leader %d, just elected, while a change is unanswered", o.spare[0], leader)
		o.overlapWith(client.CallOptions{Member: leader})
	})
}

// handOff asks, right behind a membership change of the operator's own,
// for leadership to move to a random replica (etcd's MoveLeader): the
// transferee is caught up with the leader's log, so it is elected holding
// the change, committed or not but often not yet applied, and onElection
// then sends it a second change, which it must refuse until an entry of
// its own term is applied. Without the hand-off that moment needs a leader
// lost within the round trip of a change, which random faults rarely
// produce. A refused or unanswered transfer changes nothing.
func (o *operator) handOff() {
	target := o.r.replicas[o.rng.IntN(len(o.r.replicas))]
	o.r.notef("membership: moving leadership to %d right behind a change", target)
	o.r.handOffCall = o.r.now()
	o.c.MoveLeader(target, client.CallOptions{}, func(api.Header, error) {})
}
