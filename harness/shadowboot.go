package harness

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/wal"
)

// Shadow boots: what a crash now would leave, read without a crash.
//
// A replica's promises (a vote granted, entries acknowledged) rest on its
// WAL. The restart checks (Booted) compare what a restart recovers with
// what the replica had synced, but only when a crash lands in the window
// between a promise and the write that should have backed it; a WAL that
// leaves a vote out of its hard state record, or appends after a repaired
// torn tail at the wrong offset, fails only in the rare seed whose crash
// and restart come at the right moment. A shadow boot reads the replica's
// durable WAL bytes now (sim.Disk.DurableBytes: what any crash keeps) into
// a scratch file system and opens them with wal.Open, as a restart would,
// while the replica runs on untouched (no event, no randomness: traces do
// not change). It fails the run if
//
//   - the durable WAL would not open (damage no fault made: a restart now
//     would find its storage damaged);
//   - a granted vote is being sent while the durable hard state holds
//     another vote in that term, or an older term (a crash now would let
//     the replica vote again in the term);
//   - an acknowledgement is being sent for an index the durable WAL does
//     not hold, or holds with another term than the live log.
//
// It runs at every granted vote, at the first acknowledgement of new
// entries after each restart (a repaired torn tail is overwritten then),
// and once per running replica at the end of the run. Replicas whose disk
// a fault damaged, and replicas rebuilding lost storage, are skipped.

// shadowState is what the shadow boots track per replica.
type shadowState struct {
	// afterBoot: the replica restarted and has not acknowledged new
	// entries since; its first such acknowledgement gets a shadow boot.
	afterBoot map[host.NodeID]uint64 // -> its recovered last index
	boots     int
}

// shadowBoot opens replica id's durable WAL bytes in a scratch file
// system. ok is false when there is nothing to check (no such disk, no
// node, a replica that is rebuilding, a disk a fault damaged, or no WAL
// yet).
func (s *safetyChecker) shadowBoot(id host.NodeID) (rep wal.Replay, ok bool, err error) {
	if s.world == nil || s.wireOff || (s.tainted != nil && s.tainted(id)) {
		return wal.Replay{}, false, nil
	}
	n := s.nodeOf(id)
	d := s.world.Disk(id)
	if n == nil || d == nil {
		return wal.Replay{}, false, nil
	}
	if rec, _ := n.Recovering(); rec {
		return wal.Replay{}, false, nil
	}
	// The directory as of its last completed sync: within the model
	// directory changes are durable at once, but a WAL that relies on
	// that (a new segment named nowhere durable) loses it on a real file
	// system.
	// Names a crash keeps in either model: in the directory as of its
	// last completed sync (a lost directory entry) and not removed since
	// (within the model a removal is durable at once).
	now := d.Names()
	files, snaps := map[string][]byte{}, map[string][]byte{}
	for _, name := range d.DirNames() {
		if _, ok := slices.BinarySearch(now, name); !ok {
			continue
		}
		into := files
		switch {
		case strings.HasSuffix(name, ".snap"):
			into = snaps
		case !strings.HasSuffix(name, ".wal"):
			continue
		}
		// Borrowed, not copied: the boot is over before the world runs
		// another event, and memFS copies a file before writing it.
		if b, ok := d.DirDurableView(name); ok {
			into[name] = b
		}
	}
	s.shadow.boots++
	rep, ok, err = openDurable(files)
	if ok && err == nil {
		s.shadowSnapshot(id, rep, snaps)
	}
	if !ok && s.replica(id).logIndex > 0 {
		err = errors.New("no WAL segment is left, though the replica had synced log entries")
		return rep, true, err
	}
	return rep, ok, err
}

// openDurable opens the WAL segment files of a scratch copy of a disk
// (name -> durable bytes) as a restart would; ok is false if they hold
// no WAL.
func openDurable(files map[string][]byte) (rep wal.Replay, ok bool, err error) {
	w, rep, err := wal.Open(&memFS{files: files}, wal.Options{})
	if errors.Is(err, wal.ErrNoWAL) {
		return wal.Replay{}, false, nil
	}
	if err != nil {
		return wal.Replay{}, true, err
	}
	w.Close()
	return rep, true, nil
}

// voteDurable reports whether a durable hard state backs a vote granted
// to cand in term: it holds that vote, or a later term (the replica never
// goes back to vote in term).
func voteDurable(hs wal.HardState, term, cand uint64) bool {
	return hs.Term > term || (hs.Term == term && hs.Vote == cand)
}

// shadowCompare fails the run if a shadow boot's replay lacks what the
// replica reported synced (Synced, DurableLog: what Booted holds a real
// restart to): its term and vote, and its durable log's last entry.
func (s *safetyChecker) shadowCompare(id host.NodeID, rep wal.Replay, when string) {
	d := s.replica(id)
	term, vote := rep.HardState.Term, rep.HardState.Vote
	if m := rep.Snapshot; m != nil && m.Term > term {
		term, vote = m.Term, 0
	}
	what := "durable storage: replica %d's durable WAL (files named in its synced directory) at %v (%s) "
	switch {
	case term < d.term:
		s.fail(what+"holds term %d, but it had synced term %d: a crash now would lose it", id, s.now(), when, term, d.term)
		return
	case term == d.term && d.vote != 0 && vote != d.vote:
		s.fail(what+"holds vote %d in term %d, but it had synced a vote for %d", id, s.now(), when, vote, term, d.vote)
		return
	}
	if d.logIndex == 0 || (rep.Snapshot != nil && d.logIndex <= rep.Snapshot.Index) {
		return
	}
	t, ok := replayTerm(rep, d.logIndex)
	switch {
	case !ok:
		s.fail(what+"does not hold entry %d of term %d, which it had synced", id, s.now(), when, d.logIndex, d.logTerm)
	case t != d.logTerm:
		s.fail(what+"holds entry %d with term %d, but it had synced it with term %d", id, s.now(), when, d.logIndex, t, d.logTerm)
	}
}

// shadowFail fails the run for a durable WAL that would not open.
func (s *safetyChecker) shadowFail(id host.NodeID, why string, err error) {
	s.fail("durable storage: replica %d's durable WAL would not open at %v (%s), though no fault damaged its disk: a crash now would find its storage damaged: %v",
		id, s.now(), why, err)
}

// shadowVote checks, as replica voter sends its granted vote in term to
// cand, that its durable hard state holds that vote (or a later term).
func (s *safetyChecker) shadowVote(voter, cand host.NodeID, term uint64) {
	rep, ok, err := s.shadowBoot(voter)
	switch {
	case !ok:
		return
	case err != nil:
		s.shadowFail(voter, fmt.Sprintf("as it granted its vote in term %d to %d", term, cand), err)
	case !voteDurable(rep.HardState, term, uint64(cand)):
		s.fail("durable storage: replica %d granted its vote in term %d to %d at %v, but its durable WAL holds term %d, vote %d: a crash now would let it vote again in term %d",
			voter, term, cand, s.now(), rep.HardState.Term, rep.HardState.Vote, term)
	default:
		s.shadowCompare(voter, rep, fmt.Sprintf("as it granted its vote in term %d to %d", term, cand))
	}
}

// shadowAck checks, as replica id acknowledges index to a leader, that
// its durable WAL holds the entry at index with the live log's term.
func (s *safetyChecker) shadowAck(id, to host.NodeID, index uint64) {
	rep, ok, err := s.shadowBoot(id)
	switch {
	case !ok:
		return
	case err != nil:
		s.shadowFail(id, fmt.Sprintf("as it acknowledged index %d to %d", index, to), err)
		return
	}
	if rep.Snapshot != nil && index <= rep.Snapshot.Index {
		return
	}
	t, held := replayTerm(rep, index)
	n := s.nodeOf(id)
	if n == nil {
		return
	}
	live, lok, _ := n.LogTerm(index)
	switch {
	case !held:
		s.fail("durable storage: replica %d acknowledged index %d to %d at %v, but its durable WAL does not hold that entry (a crash now would lose it)",
			id, index, to, s.now())
	case lok && t != live:
		s.fail("durable storage: replica %d acknowledged index %d to %d at %v, but its durable WAL holds that entry with term %d, its log with term %d",
			id, index, to, s.now(), t, live)
	default:
		s.shadowCompare(id, rep, fmt.Sprintf("as it acknowledged index %d to %d", index, to))
	}
}

// replayTerm is the term of the last entry at index in a replay (a
// later entry at an index replaces an earlier one), after the snapshot.
func replayTerm(rep wal.Replay, index uint64) (uint64, bool) {
	for i := len(rep.Entries) - 1; i >= 0; i-- {
		if e := rep.Entries[i]; e.Index == index {
			return e.Term, true
		}
	}
	return 0, false
}

// shadowOnSend runs the shadow boots of a message leaving its replica: a
// granted vote, or the first acknowledgement of new entries after a
// restart.
func (s *safetyChecker) shadowOnSend(from, to host.NodeID, h peerHeader) {
	switch {
	case h.reject:
	case h.typ == raft.MsgVoteResp:
		s.shadowVote(from, to, h.term)
	case h.typ == raft.MsgAppResp:
		last, ok := s.shadow.afterBoot[from]
		if !ok || h.index <= last {
			return
		}
		delete(s.shadow.afterBoot, from)
		s.shadowAck(from, to, h.index)
	}
}

// shadowBooted arms the first-acknowledgement shadow boot of a replica
// that restarted with its log ending at last.
func (s *safetyChecker) shadowBooted(id host.NodeID, last uint64) {
	if s.shadow.afterBoot == nil {
		s.shadow.afterBoot = map[host.NodeID]uint64{}
	}
	s.shadow.afterBoot[id] = last
}

// shadowFinal shadow-boots every running replica once, at the end of the
// run.
func (s *safetyChecker) shadowFinal(ids []host.NodeID) {
	for _, id := range ids {
		if s.running != nil && !s.running(id) {
			continue
		}
		rep, ok, err := s.shadowBoot(id)
		switch {
		case ok && err != nil:
			s.shadowFail(id, "at the end of the run", err)
			return
		case ok:
			s.shadowCompare(id, rep, "at the end of the run")
		}
	}
}

// memFS is a scratch in-memory host.FS for shadow boots: every write is
// durable at once and syncs complete before they return.
type memFS struct {
	// files may hold slices it does not own (DirDurableView's): a
	// file's bytes are copied before its first write (own), and only
	// ever replaced or cut short otherwise.
	files map[string][]byte
	owned map[string]bool
}

// own returns name's bytes after making sure memFS owns them, copying
// them on the first write to a file it was handed.
func (m *memFS) own(name string) []byte {
	b := m.files[name]
	if !m.owned[name] {
		b = slices.Clone(b)
		m.files[name] = b
		if m.owned == nil {
			m.owned = map[string]bool{}
		}
		m.owned[name] = true
	}
	return b
}

var _ host.FS = (*memFS)(nil)

func (m *memFS) Create(name string) (host.File, error) {
	if _, ok := m.files[name]; ok {
		return nil, fmt.Errorf("%w: %s", host.ErrExist, name)
	}
	m.files[name] = nil
	return &memFile{fs: m, name: name}, nil
}

func (m *memFS) Open(name string) (host.File, error) {
	if _, ok := m.files[name]; !ok {
		return nil, fmt.Errorf("%w: %s", host.ErrNotExist, name)
	}
	return &memFile{fs: m, name: name}, nil
}

func (m *memFS) Remove(name string) error {
	if _, ok := m.files[name]; !ok {
		return fmt.Errorf("%w: %s", host.ErrNotExist, name)
	}
	delete(m.files, name)
	delete(m.owned, name)
	return nil
}

func (m *memFS) Rename(oldName, newName string) error {
	b, ok := m.files[oldName]
	if !ok {
		return fmt.Errorf("%w: %s", host.ErrNotExist, oldName)
	}
	delete(m.files, oldName)
	m.files[newName] = b
	if m.owned[oldName] {
		delete(m.owned, oldName)
		m.owned[newName] = true
	} else {
		delete(m.owned, newName)
	}
	return nil
}

func (m *memFS) List() ([]string, error) {
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (m *memFS) SyncDir(done func(error)) { done(nil) }

// memFile is an open file of a memFS.
type memFile struct {
	fs   *memFS
	name string
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, host.ErrBadOffset
	}
	b := f.fs.own(f.name)
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = append(b, make([]byte, end-int64(len(b)))...)
	}
	copy(b[off:], p)
	f.fs.files[f.name] = b
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	b := f.fs.files[f.name]
	if off < 0 {
		return 0, host.ErrBadOffset
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Truncate(size int64) error {
	if size < 0 {
		return host.ErrBadOffset
	}
	b := f.fs.own(f.name)
	if size <= int64(len(b)) {
		f.fs.files[f.name] = b[:size]
		return nil
	}
	f.fs.files[f.name] = append(b, make([]byte, size-int64(len(b)))...)
	return nil
}

func (f *memFile) Size() int64           { return int64(len(f.fs.files[f.name])) }
func (f *memFile) Sync(done func(error)) { done(nil) }
func (f *memFile) Close() error          { return nil }
