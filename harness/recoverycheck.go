package harness

import (
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

// storageChecker adds to the safety checker the checks of what a replica
// finds on its own disk when it restarts:
//
//   - Unexpected recovery. Within the fault model a disk loses only
//     unsynced writes (a crash, torn writes of the last unsynced write) and
//     corrupts data only when a fault says so (disk-corrupt and the faults
//     beyond the model). A replica that finds its storage damaged although
//     no fault damaged its disk lost or mangled data by itself: a snapshot
//     named before its file was durable, WAL segments released on an
//     unsynced marker, a torn tail mistaken for damage. Protocol-aware
//     recovery would rebuild it from its peers and hide the bug, so the
//     run fails at once, naming the replica and the damage (the file).
//   - Recovered log shape. The terms of a raft log never decrease along
//     it; a recovered log whose terms do held on to entries that a later
//     write replaced (a stale suffix that survived replay).
//
// A replica that stops for good without a fault that damaged its disk
// fails the run too (checkStops, after the run).
type storageChecker struct {
	*safetyChecker
	// damagedByFault reports whether a fault damaged id's disk (the
	// nemesis's EverTainted); nil before the nemesis exists.
	damagedByFault func(id host.NodeID) bool
	unexpected     int
	leases         *leaseBook           // the run's leases, told of new leaders
	onBoot         func(id host.NodeID) // check_bootread.go
}

var _ node.Observer = (*storageChecker)(nil)

// storageObserver is the observer the replicas of r report to: the safety
// checks plus the storage checks.
func (r *seedRun) storageObserver() *storageChecker {
	return &storageChecker{safetyChecker: r.safety, leases: &r.leases, damagedByFault: func(id host.NodeID) bool {
		return r.nemesis != nil && r.nemesis.EverTainted(id)
	}, onBoot: r.bootReads}
}

// tainted reports whether a fault damaged replica id's disk.
func (r *seedRun) tainted(id host.NodeID) bool {
	return r.nemesis != nil && r.nemesis.EverTainted(id)
}

// BecameLeader notes when a leadership of a newer term than any before
// began, for the lease check (a new leader renews every lease), then checks
// election safety. A leader of a stale term (a candidate paused with its
// votes in flight, elected after a later term's leader) renews only its
// own lessor, which no one will ever ask: the real leader may still
// expire the lease on its own schedule.
func (c *storageChecker) BecameLeader(id host.NodeID, term uint64) {
	if term > c.newestTerm {
		c.leases.leaderStarts = append(c.leases.leaderStarts, leaderStart{at: int64(c.now()), term: term})
	}
	c.safetyChecker.BecameLeader(id, term)
}

// Applied notes the term of each lease-expiry entry for the lease check
// (see leaseBook.promote), then checks state-machine safety.
func (c *storageChecker) Applied(id host.NodeID, index, term uint64, data []byte) {
	if node.IsExpireCommand(data) {
		if cmd, err := node.DecodeCommand(data); err == nil {
			for _, l := range cmd.Leases {
				c.leases.expired(l, term)
			}
		}
	}
	c.safetyChecker.Applied(id, index, term, data)
}

// Stopped fails the run if a replica stopped for good on a full disk: a
// full disk changes nothing durable and passes, so the replica must wait
// for room (a replica whose recovery met one used to stop, and a 1 h run
// lost two of five replicas that way). Stops for other reasons are
// judged at the end (checkStops).
func (c *storageChecker) Stopped(id host.NodeID, reason string) {
	if strings.Contains(reason, host.ErrNoSpace.Error()) {
		c.fail("unexpected stop: replica %d stopped for good at %v on a full disk, which passes: %s", id, c.now(), reason)
	}
}

// Damaged fails the run if no fault damaged the replica's disk.
func (c *storageChecker) Damaged(id host.NodeID, cause string) {
	if !c.damagedByFault(id) {
		c.unexpected++
		c.fail("unexpected recovery: replica %d found its storage damaged at %v, but no fault damaged its disk (only crashes and unsynced writes, which must lose nothing it relies on): %s",
			id, c.now(), cause)
	}
	c.safetyChecker.Damaged(id, cause)
}

// Booted checks the shape of the recovered log, then durability.
func (c *storageChecker) Booted(id host.NodeID, r node.Recovered) {
	if c.onBoot != nil {
		c.onBoot(id)
	}
	prev, prevIndex := r.SnapTerm, r.SnapIndex
	for i := r.SnapIndex + 1; i <= r.LastIndex; i++ {
		t, ok := r.TermAt(i)
		if !ok {
			c.fail("recovered log: replica %d restarted at %v with a hole at index %d (snapshot %d, last index %d)",
				id, c.now(), i, r.SnapIndex, r.LastIndex)
			break
		}
		if t < prev {
			c.fail("recovered log: replica %d restarted at %v holding entry %d of term %d after entry %d of term %d: terms never decrease along a log, so a replaced (stale) suffix survived the restart",
				id, c.now(), i, t, prevIndex, prev)
			break
		}
		prev, prevIndex = t, i
	}
	c.safetyChecker.Booted(id, r)
	c.shadowBooted(id, r.LastIndex)
}

// checkStops fails the run if a replica stopped for good although no fault
// damaged its disk: within the model a replica never has to give up.
func (r *seedRun) checkStops() {
	for _, id := range r.replicas {
		if r.retired[id] || (r.nemesis != nil && r.nemesis.EverTainted(id)) {
			continue
		}
		if s, ok := r.inspectorOf(r.w.Process(id)).(Stopper); ok {
			if stopped, why := s.Stopped(); stopped {
				r.failf("unexpected stop: replica %d stopped for good, but no fault damaged its disk: %s", id, why)
				return
			}
		}
	}
}

// safetyOf is the safety checker behind a run's observer (tests reach it
// to switch single checks off).
func safetyOf(obs node.Observer) *safetyChecker {
	switch o := obs.(type) {
	case *safetyChecker:
		return o
	case *storageChecker:
		return o.safetyChecker
	}
	return nil
}
