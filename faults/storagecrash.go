package faults

import (
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// Storage moments: what a replica just did to its own disk, reported by
// whoever watches its file system (ObserveStorage), not by the network.
const (
	// MomentSyncDone: one of the replica's fsyncs (of a file or of its
	// directory) completed while another was still in flight. A crash
	// now keeps the first and loses the second: the moment that shows
	// whether the replica made its data durable before what refers to it
	// (a snapshot file before the WAL marker that names it).
	MomentSyncDone Moment = 64 + iota
	// MomentFileChanged: the replica renamed or removed a file. A crash
	// now keeps the change (directory changes are durable at once within
	// the model) and loses every unsynced write: the moment that shows
	// whether it renamed a file before its data was durable, or removed
	// data that only an unsynced record made redundant.
	MomentFileChanged
	// MomentSyncStarted: the replica started an fsync whose last write
	// crosses a sector boundary (sim.Disk.LastWriteTearable). A crash
	// now, with torn writes, keeps a sector-granular part of that write:
	// the restart finds a record cut short, must cut it off, and must
	// append after the last whole record.
	MomentSyncStarted
)

// CrashStorage is the name of the crash-storage fault.
const CrashStorage = "crash-storage"

var (
	probeCrashSyncDone    = probe.New("faults/crash-between-syncs", "faults: a replica crashed right after one fsync completed while another was in flight")
	probeCrashTorn        = probe.New("faults/crash-torn-sync", "faults: a replica crashed, tearing its write, right after it started syncing a write that crosses a sector")
	probeCrashFileChanged = probe.New("faults/crash-after-rename-or-remove", "faults: a replica crashed right after it renamed or removed a file")
)

func init() { MustRegister(crashStorageFault{}) }

// crashStorageFault crashes a replica at a storage moment (see
// MomentSyncDone, MomentFileChanged): right after one of its syncs
// completed while another was in flight, or right after it renamed or
// removed a file. Random crashes almost never land there, yet that is
// where a store that orders its writes wrongly loses data. Each episode
// aims at one kind of moment or both, and lets a drawn share of the
// moments pass so the crash does not always hit the first one. It needs a
// harness that reports storage moments (ObserveStorage).
type crashStorageFault struct{}

func (crashStorageFault) Name() string { return CrashStorage }
func (crashStorageFault) Class() Class { return InModel }
func (crashStorageFault) Params() []Param {
	return []Param{{Name: "pass", Min: 0, Max: 0.99, Default: 0.5, DrawMin: 0, DrawMax: 0.9,
		Doc: "the share of storage moments let pass before the crash"}}
}

func (crashStorageFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	want := e.R.IntN(4) // 0: sync done, 1: file changed, 2: either, 3: torn write
	pass := e.Spec.Param("pass")
	var hit []host.NodeID
	fired := false
	n.Arm(e, func(o Observed) bool {
		switch {
		case fired, o.Moment != MomentSyncDone && o.Moment != MomentFileChanged && o.Moment != MomentSyncStarted,
			want == 0 && o.Moment != MomentSyncDone, want == 1 && o.Moment != MomentFileChanged,
			want == 2 && o.Moment == MomentSyncStarted, want == 3 && o.Moment != MomentSyncStarted,
			!n.crashableNow(o.From), e.R.Float64() < pass:
			return false
		}
		fired = true
		what := map[Moment]string{MomentSyncDone: "one sync done, another in flight", MomentFileChanged: "rename or remove",
			MomentSyncStarted: "a sync started, its write torn"}[o.Moment]
		restore := n.tearOnCrash(o.From, o.Moment == MomentSyncStarted)
		n.CrashSoon(e, o.From, CrashStorage, func(ok bool) {
			restore()
			if ok {
				n.w.Probes().If(o.Moment == MomentSyncStarted, probeCrashTorn)
				hit = append(hit, o.From)
				n.w.Probes().If(o.Moment == MomentSyncDone, probeCrashSyncDone)
				n.w.Probes().If(o.Moment == MomentFileChanged, probeCrashFileChanged)
				e.detail = fmt.Sprintf("%d after %s", o.From, what)
			}
		})
		return true
	})
	return "armed", restartHeal(e, &hit), true
}

// ObserveStorage shows the armed triggers a storage moment of replica id
// (MomentSyncDone, MomentFileChanged): the harness calls it from the
// replica's file system as the moment happens. Cheap when nothing is
// armed.
func (n *Nemesis) ObserveStorage(id host.NodeID, m Moment) {
	if len(n.armed) == 0 || !n.run || !n.isReplica(id) {
		return
	}
	ob := Observed{From: id, To: id, Moment: m}
	for i := 0; i < len(n.armed); i++ {
		if n.armed[i].t(ob) {
			n.armed = append(n.armed[:i], n.armed[i+1:]...)
			n.rewatch()
			i--
		}
	}
}
