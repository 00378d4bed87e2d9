package faults

import (
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// DiskSyncError is the name of the disk-sync-error fault.
const DiskSyncError = "disk-sync-error"

var (
	probeSyncErrInjected = probe.New("faults/sync-error-injected", "faults: an fsync of a replica failed (disk-sync-error)")
	probeSyncErrSnapshot = probe.New("faults/sync-error-not-wal", "faults: a failed fsync hit a file other than a WAL segment (a snapshot, the hard state copy, a mark)")
	probeSyncErrReceiver = probe.New("faults/sync-error-snapshot-receiver", "faults: the fsync that failed was the first one after a snapshot reached the replica")
)

func init() { MustRegister(syncErrorFault{}) }

// syncErrorFault (in the model) makes one fsync of one replica fail with
// host.ErrIO (sim.Disk.SetSyncFault), with fsyncgate semantics: the writes
// the failed sync covered never become durable, even if the replica
// retries and a later fsync succeeds. etcd treats a failed fsync as fatal
// (it panics), and so must the store: a replica must neither acknowledge
// nor vote on what the failed sync covered, nor go on writing on top of
// it. A sync fails only while the replica may go down within the crash
// budget; from then on the episode books it down, and at the end crashes
// and restarts it: the supervisor restarting the process after the panic,
// which then sees only what was durable. That is within the model: a state a crash could
// leave, on a minority, with nothing acknowledged lost, because nothing
// whose sync failed was acknowledged.
//
// Each episode aims at any file, at the WAL's segments only, or at every
// other file (snapshots, the hard state copy, recovery marks) of one
// replica, and lets a drawn share of the matching syncs pass first (a
// third of these episodes pick the leader when it may be taken down); or,
// with a Protocol, at the next replica a snapshot reaches: the save of the
// snapshot it received fails.
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
	a := &syncErrorEpisode{e: e, aim: e.R.IntN(4), pass: e.Spec.Param("pass")}
	if a.aim == aimSnapReceiver && n.proto == nil {
		a.aim = aimNotWAL
	}
	what := [...]string{"any file", "wal", "not wal", "snapshot receiver"}[a.aim]
	if a.aim == aimSnapReceiver {
		// The replica a snapshot reaches next: its save of the snapshot
		// file is the next fsync of a file other than the WAL.
		n.ArmOn(e, true, func(o Observed) bool {
			if o.Moment != MomentSnapshot || !o.Delivered || !n.crashableNow(o.To) {
				return false
			}
			a.pass = 0
			a.arm(o.To)
			return true
		})
		return "armed (" + what + ")", a.heal, true
	}
	id := Pick(e.R, cands, 1)[0]
	if n.proto != nil && e.R.IntN(3) == 0 {
		if l := n.proto.Leader(); l != 0 && n.crashableNow(l) {
			id = l
		}
	}
	a.arm(id)
	return fmt.Sprintf("%d armed (%s)", id, what), a.heal, true
}

// The targets of a disk-sync-error episode.
const (
	aimAny          = iota // the victim's next fsync of any file
	aimWAL                 // of a WAL segment
	aimNotWAL              // of any other file
	aimSnapReceiver        // the next replica a snapshot reaches: its snapshot file
)

// syncErrorEpisode is one armed episode of disk-sync-error.
type syncErrorEpisode struct {
	e      *Episode
	aim    int
	pass   float64
	victim host.NodeID // 0 until armed
	fired  bool
}

// arm makes one of id's matching fsyncs fail, if id may go down then: it
// is booked down from that moment until healed.
func (a *syncErrorEpisode) arm(id host.NodeID) {
	n, e := a.e.N, a.e
	a.victim = id
	n.w.Disk(id).SetSyncFault(func(name string) bool {
		isWAL := strings.HasSuffix(name, walSuffix)
		switch {
		case a.fired, !n.run, a.aim == aimWAL && !isWAL, (a.aim == aimNotWAL || a.aim == aimSnapReceiver) && isWAL,
			e.R.Float64() < a.pass, !n.crashableNow(id):
			return false
		}
		a.fired = true
		n.MarkDown(id)
		n.w.Probes().Hit(probeSyncErrInjected)
		n.w.Probes().If(!isWAL, probeSyncErrSnapshot)
		n.w.Probes().If(a.aim == aimSnapReceiver, probeSyncErrReceiver)
		n.w.Record("fault/"+DiskSyncError, id, []byte(name))
		e.detail = fmt.Sprintf("%d: fsync of %s failed", id, name)
		return true
	})
}

// heal ends the episode: a victim whose fsync failed has panicked, and
// its supervisor restarts it (a crash first: the restart sees only what
// was durable); one whose fsync never failed is simply up again.
func (a *syncErrorEpisode) heal() {
	n := a.e.N
	n.Disarm(a.e)
	if a.victim == 0 {
		return
	}
	n.w.Disk(a.victim).SetSyncFault(nil)
	if !a.fired {
		return
	}
	if n.CrashNode(a.victim, DiskSyncError+"/exit") {
		n.RestartNode(a.victim)
		return
	}
	n.MarkUp(a.victim)
}

// Rated is implemented by a fault that a swarm draws with a chance other
// than one half (Swarm).
type Rated interface {
	// SwarmChance is the probability, in (0, 1], that a swarm draws
	// the fault.
	SwarmChance() float64
}
