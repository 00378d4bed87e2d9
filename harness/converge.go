package harness

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/host"
)

// inspectors returns the inspector of every running replica that has not
// stopped for good, in ID order, and how many replicas stopped.
func (r *seedRun) inspectors() (ids []host.NodeID, ins []Inspector) {
	return r.appendInspectors(nil, nil)
}

// appendInspectors is inspectors appending to ids and ins, for a caller
// that reuses its buffers.
func (r *seedRun) appendInspectors(ids []host.NodeID, ins []Inspector) ([]host.NodeID, []Inspector) {
	for _, id := range r.replicas {
		in := r.inspectorOf(r.w.Process(id))
		if in == nil {
			continue
		}
		if s, ok := in.(Stopper); ok {
			if stopped, _ := s.Stopped(); stopped {
				continue
			}
		}
		ids = append(ids, id)
		ins = append(ins, in)
	}
	return ids, ins
}

// awaitConvergence runs the world until every running replica has applied
// the same index (bounded by deadline), then requires equal key-space
// hashes at one revision.
func (r *seedRun) awaitConvergence(deadline time.Duration) error {
	for {
		ids, ins := r.inspectors()
		if len(ins) == 0 {
			r.notef("convergence: no inspectable replica, not checked")
			r.outcome(CheckOutcome{Name: "convergence", Status: CheckSkipped, Detail: "no running replica offers an Inspector"})
			r.outcome(CheckOutcome{Name: "log-agreement", Status: CheckSkipped, Detail: "no running replica offers an Inspector"})
			r.safetyChecked()
			return nil
		}
		lo, hi := ins[0].AppliedIndex(), ins[0].AppliedIndex()
		for _, in := range ins[1:] {
			lo, hi = min(lo, in.AppliedIndex()), max(hi, in.AppliedIndex())
		}
		if lo == hi && len(ins) == len(r.replicas)-r.stoppedReplicas() {
			if err := r.compareHashes(ids, ins); err != nil {
				return err
			}
			r.outcome(CheckOutcome{Name: "convergence", Status: CheckPassed})
			n, err := checkLogs(ids, ins)
			r.logsChecked(ins, n, err)
			r.safetyChecked()
			return err
		}
		if r.w.Elapsed() >= deadline || r.overBudget {
			var b []byte
			for i, in := range ins {
				b = fmt.Appendf(b, " %d:%d", ids[i], in.AppliedIndex())
			}
			lo, hi := laggard(ids, ins)
			return fmt.Errorf("convergence: replicas did not catch up within %v after heal (%d of %d running; applied index%s)%s",
				r.cfg.HealTimeout, len(ins), len(r.replicas), b,
				missingEntry(ids[lo], ins[lo].AppliedIndex(), ids[hi], ins[hi]))
		}
		if !r.runFor(10 * time.Millisecond) {
			return nil // the livelock is the failure
		}
	}
}

// compareHashes requires every replica at the same revision with the same
// key-space hash.
func (r *seedRun) compareHashes(ids []host.NodeID, ins []Inspector) error {
	rev0, h0, err := ins[0].KVHash()
	if err != nil {
		return fmt.Errorf("convergence: replica %d: %v", ids[0], err)
	}
	for i, in := range ins[1:] {
		rev, h, err := in.KVHash()
		switch {
		case err != nil:
			return fmt.Errorf("convergence: replica %d: %v", ids[i+1], err)
		case rev != rev0 || h != h0:
			return fmt.Errorf("convergence: replica %d at revision %d hash %016x, replica %d at revision %d hash %016x%s",
				ids[0], rev0, h0, ids[i+1], rev, h, r.firstDifference(ids[0], ids[i+1], min(rev, rev0)))
		}
	}
	r.notef("convergence: %d replicas at revision %d, hash %016x, applied index %d", len(ins), rev0, h0, ins[0].AppliedIndex())
	return nil
}

// stoppedReplicas counts the replicas that stopped for good (they hold
// data they cannot trust; within the fault model that is a minority).
func (r *seedRun) stoppedReplicas() int {
	n := 0
	for _, id := range r.replicas {
		if s, ok := r.inspectorOf(r.w.Process(id)).(Stopper); ok {
			if stopped, _ := s.Stopped(); stopped {
				n++
			}
		}
	}
	return n
}
