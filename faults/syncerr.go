package faults

import (
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/probe"
)

// DiskSyncError is the name of the disk-sync-error fault.
const DiskSyncError = "disk-sync-error"

var (
	probeSyncErrInjected = probe.New("faults/sync-error-injected", "faults: an fsync of a replica failed (disk-sync-error)")
	probeSyncErrSnapshot = probe.New("faults/sync-error-not-wal", "faults: a failed fsync hit a file other than a WAL segment (a snapshot, the hard state copy, a mark)")
)

func init() { MustRegister(syncErrorFault{}) }

// syncErrorFault (in the model) makes one fsync of one replica fail with
// host.ErrIO (sim.Disk.SetSyncFault), with fsyncgate semantics: the writes
// the failed sync covered never become durable, even if the replica
// retries and a later fsync succeeds. etcd treats a failed fsync as fatal
// (it panics), and so must the store: a replica must neither acknowledge
// nor vote on what the failed sync covered, nor go on writing on top of
// it. The episode books the replica as down from the start (it may stop
// at any sync), and at the end crashes and restarts it if its sync failed:
// the supervisor restarting the process after the panic, which then sees
// only what was durable. That is within the model: a state a crash could
// leave, on a minority, with nothing acknowledged lost, because nothing
// whose sync failed was acknowledged.
//
// Each episode aims at any file, at the WAL's segments only, or at every
// other file (snapshots, the hard state copy, recovery marks), and lets a
// drawn share of the matching syncs pass first; a third of the episodes
// pick the leader when it may be taken down.
type syncErrorFault struct{}

func (syncErrorFault) Name() string { return DiskSyncError }
func (syncErrorFault) Class() Class { return InModel }
func (syncErrorFault) Params() []Param {
	return []Param{{Name: "pass", Min: 0, Max: 0.99, Default: 0.5, DrawMin: 0, DrawMax: 0.9,
		Doc: "the share of the victim's matching fsyncs let pass before one fails"}}
}

// SwarmChance: a failed fsync takes a replica down for the episode, like
// a crash; a quarter of the swarm's seeds is enough to reach the error
// paths without crowding out the other faults.
func (syncErrorFault) SwarmChance() float64 { return 0.25 }

// walSuffix ends the name of a WAL segment (package wal, which faults may
// not import).
const walSuffix = ".wal"

func (syncErrorFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	cands, budget := n.Crashable()
	if budget <= 0 {
		return "", nil, false
	}
	id := Pick(e.R, cands, 1)[0]
	if n.proto != nil && e.R.IntN(3) == 0 {
		if l := n.proto.Leader(); l != 0 && n.crashableNow(l) {
			id = l
		}
	}
	aim := e.R.IntN(3) // 0: any file, 1: WAL segments, 2: other files
	pass := e.Spec.Param("pass")
	d := n.w.Disk(id)
	n.MarkDown(id)
	fired := false
	d.SetSyncFault(func(name string) bool {
		isWAL := strings.HasSuffix(name, walSuffix)
		switch {
		case fired, !n.run, aim == 1 && !isWAL, aim == 2 && isWAL, e.R.Float64() < pass:
			return false
		}
		fired = true
		n.w.Probes().Hit(probeSyncErrInjected)
		n.w.Probes().If(!isWAL, probeSyncErrSnapshot)
		n.w.Record("fault/"+DiskSyncError, id, []byte(name))
		e.detail = fmt.Sprintf("%d: fsync of %s failed", id, name)
		return true
	})
	what := [...]string{"any file", "wal", "not wal"}[aim]
	return fmt.Sprintf("%d armed (%s)", id, what), func() {
		d.SetSyncFault(nil)
		if !fired {
			n.MarkUp(id)
			return
		}
		// The process panicked on the error: its supervisor restarts it,
		// and the restart sees only what was durable.
		if n.CrashNode(id, DiskSyncError+"/exit") {
			n.RestartNode(id)
			return
		}
		n.MarkUp(id)
	}, true
}

// Rated is implemented by a fault that a swarm draws with a chance other
// than one half (Swarm).
type Rated interface {
	// SwarmChance is the probability, in (0, 1], that a swarm draws
	// the fault.
	SwarmChance() float64
}
