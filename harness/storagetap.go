package harness

import (
	"strings"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	codeprobe "github.com/seedkv/seedkv/probe"
)

// tapStorage wraps start so that every replica's file system reports its
// storage moments to the nemesis (faults.Nemesis.ObserveStorage), for
// faults aimed at them (crash-storage). The wrapper only watches: every
// call goes through unchanged, so runs without such faults are the same.
func (r *seedRun) tapStorage(start ReplicaFunc) ReplicaFunc {
	return func(h host.Host, peers []host.NodeID) host.Process {
		t := &storageTap{r: r, id: h.ID()}
		return start(&fsTapHost{Host: h, fs: tapFS{FS: h.FS(), t: t}}, peers)
	}
}

// storageTap reports one replica's storage moments.
type storageTap struct {
	r  *seedRun
	id host.NodeID
	// idle holds the waiters whose sync completed, for reuse: a sync's
	// callback is wrapped in a waiter, and one allocated per sync was
	// one allocation per fsync.
	idle []*syncWaiter
}

func (t *storageTap) report(m faults.Moment) {
	if t.r.nemesis != nil {
		t.r.nemesis.ObserveStorage(t.id, m)
	}
}

// syncDone wraps a sync's callback: before it runs, report the moment if
// another sync of the replica is still in flight.
func (t *storageTap) syncDone(done func(error)) func(error) {
	var w *syncWaiter
	if n := len(t.idle); n > 0 {
		w = t.idle[n-1]
		t.idle = t.idle[:n-1]
	} else {
		w = &syncWaiter{t: t}
		w.fn = w.run
	}
	w.done = done
	return w.fn
}

// syncWaiter is one sync's wrapped callback (syncDone). The disk calls
// a sync's callback at most once (never if it crashes first), so once
// it ran nothing holds the waiter but the tap, which reuses it.
type syncWaiter struct {
	t    *storageTap
	done func(error) // the caller's callback; nil while idle
	fn   func(error) // w.run, bound once
}

func (w *syncWaiter) run(err error) {
	t, done := w.t, w.done
	if done == nil {
		panic("harness: a sync's callback ran twice")
	}
	w.done = nil
	t.idle = append(t.idle, w)
	if err == nil {
		if d := t.r.w.Disk(t.id); d != nil && d.SyncsInFlight() > 0 {
			t.report(faults.MomentSyncDone)
		}
	}
	done(err)
}

// fsTapHost is a host whose file system is tapped.
type fsTapHost struct {
	host.Host
	fs tapFS
}

func (h *fsTapHost) FS() host.FS { return h.fs }

// Probes forwards the host's coverage probes (codeprobe.Of).
func (h *fsTapHost) Probes() *codeprobe.Set { return codeprobe.Of(h.Host) }

// tapFS reports renames, removals and syncs.
type tapFS struct {
	host.FS
	t *storageTap
}

// Probes forwards the file system's coverage probes (codeprobe.Of).
func (fs tapFS) Probes() *codeprobe.Set { return codeprobe.Of(fs.FS) }

func (fs tapFS) Create(name string) (host.File, error) { return fs.wrap(fs.FS.Create(name)) }
func (fs tapFS) Open(name string) (host.File, error)   { return fs.wrap(fs.FS.Open(name)) }

func (fs tapFS) wrap(f host.File, err error) (host.File, error) {
	if err != nil {
		return f, err
	}
	return tapFile{File: f, t: fs.t}, nil
}

func (fs tapFS) Remove(name string) error {
	err := fs.FS.Remove(name)
	if err == nil {
		fs.t.report(faults.MomentFileChanged)
		if s := fs.t.r.safety; s != nil && (strings.HasSuffix(name, ".wal") || strings.HasSuffix(name, ".snap")) {
			s.shadowRemoved(fs.t.id, name)
		}
	}
	return err
}

func (fs tapFS) Rename(oldName, newName string) error {
	err := fs.FS.Rename(oldName, newName)
	if err == nil {
		fs.t.report(faults.MomentFileChanged)
	}
	return err
}

func (fs tapFS) SyncDir(done func(error)) { fs.FS.SyncDir(fs.t.syncDone(done)) }

// tapFile reports its syncs (started and done).
type tapFile struct {
	host.File
	t *storageTap
}

func (f tapFile) Sync(done func(error)) {
	f.t.syncStarted()
	f.File.Sync(f.t.syncDone(done))
}

// syncStarted reports MomentSyncStarted when a sync begins while the
// disk's last write is unsynced and crosses a sector boundary (a torn
// crash now cuts a record short).
func (t *storageTap) syncStarted() {
	if t.r.nemesis == nil || !t.r.nemesis.Armed() {
		return
	}
	if d := t.r.w.Disk(t.id); d != nil && d.LastWriteTearable() {
		t.report(faults.MomentSyncStarted)
	}
}
