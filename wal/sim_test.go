package wal

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// modelRec is one record the WAL was asked to write, in order: an entry,
// a hard state or a snapshot marker (exactly one is set).
type modelRec struct {
	ent    *Entry
	hs     *HardState
	marker *SnapshotMarker
}

// modelState is what a replay of a prefix of the records must give. It is
// a deliberately naive model: a map of every entry ever kept.
type modelState struct {
	hs     HardState
	marker *SnapshotMarker
	log    map[uint64]Entry
	last   uint64 // highest entry index in log
}

func newModelState() *modelState { return &modelState{log: map[uint64]Entry{}} }

func (s *modelState) apply(r modelRec) {
	switch {
	case r.ent != nil:
		for i := r.ent.Index; i <= s.last; i++ {
			delete(s.log, i)
		}
		s.log[r.ent.Index] = *r.ent
		s.last = r.ent.Index
	case r.hs != nil:
		s.hs = *r.hs
	case r.marker != nil:
		s.marker = r.marker
	}
}

// entries are the entries a replay returns: those above the marker.
func (s *modelState) entries() []Entry {
	var from uint64 = 1
	if s.marker != nil {
		from = s.marker.Index + 1
	}
	var es []Entry
	for i := from; i <= s.last; i++ {
		e, ok := s.log[i]
		if !ok {
			break
		}
		es = append(es, e)
	}
	return es
}

func (s *modelState) matches(rep Replay) bool {
	if s.hs != rep.HardState {
		return false
	}
	if (s.marker == nil) != (rep.Snapshot == nil) {
		return false
	}
	if s.marker != nil && (s.marker.Index != rep.Snapshot.Index || s.marker.Term != rep.Snapshot.Term ||
		string(s.marker.ConfState) != string(rep.Snapshot.ConfState)) {
		return false
	}
	want := s.entries()
	if len(want) != len(rep.Entries) {
		return false
	}
	for i := range want {
		a, b := want[i], rep.Entries[i]
		if a.Index != b.Index || a.Term != b.Term || a.Type != b.Type || string(a.Data) != string(b.Data) {
			return false
		}
	}
	return true
}

// walMachine drives a WAL on a simulated disk against the model.
type walMachine struct {
	world *sim.World
	disk  *sim.Disk
	diskN host.NodeID
	opts  Options
	flips bool // bit flips in durable bytes are on

	w      *WAL
	recs   []modelRec
	synced int // records covered by a completed Sync
	lastHS HardState
	last   uint64 // the WAL's last index (entry or marker)
	snap   uint64
	term   uint64

	crashes, repairs, corruptions, flipsDone int
	steps, syncsDone, maxSegs                int
}

func newWALMachine(t *rapid.T, flips bool) *walMachine {
	seed := rapid.Uint64().Draw(t, "seed")
	m := &walMachine{
		world: sim.NewWorld(seed, sim.DefaultConfig()),
		opts: Options{
			SegmentSize: rapid.Int64Range(128, 4096).Draw(t, "segmentSize"),
			Preallocate: rapid.SampledFrom([]int64{0, 0, 100, 1000}).Draw(t, "preallocate"),
		},
		flips: flips,
	}
	m.freshDisk(t)
	return m
}

// freshDisk starts over on a new, empty disk.
func (m *walMachine) freshDisk(t *rapid.T) {
	m.diskN++
	m.disk = m.world.AddDisk(m.diskN)
	m.disk.SetTornWrites(true)
	m.create(t)
}

func (m *walMachine) create(t *rapid.T) {
	w, err := Create(m.disk, testMeta, m.opts)
	require.NoError(t, err)
	m.w = w
	m.recs, m.synced, m.lastHS, m.last, m.snap, m.term = nil, 0, HardState{}, 0, 0, 1
}

func (m *walMachine) save(t *rapid.T) {
	hs := m.lastHS
	if rapid.Bool().Draw(t, "newHS") {
		m.term += uint64(rapid.IntRange(0, 1).Draw(t, "termStep"))
		hs = HardState{Term: m.term, Vote: rapid.Uint64Range(0, 3).Draw(t, "vote"), Commit: rapid.Uint64Range(0, m.last).Draw(t, "commit")}
	}
	lo := max(m.snap+1, m.last-min(m.last, 3))
	start := rapid.Uint64Range(lo, m.last+1).Draw(t, "start")
	n := rapid.IntRange(0, 6).Draw(t, "n")
	var es []Entry
	for i := range n {
		es = append(es, Entry{
			Index: start + uint64(i), Term: m.term, Type: uint8(rapid.IntRange(0, 2).Draw(t, "type")),
			Data: rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data"),
		})
	}
	require.NoError(t, m.w.Save(hs, es))
	for i := range es {
		m.recs = append(m.recs, modelRec{ent: &es[i]})
		m.last = es[i].Index
	}
	if !hs.IsEmpty() && hs != m.lastHS {
		m.recs = append(m.recs, modelRec{hs: &hs})
		m.lastHS = hs
	}
}

func (m *walMachine) saveBad(t *rapid.T) {
	start := m.last + 2 + rapid.Uint64Range(0, 3).Draw(t, "ahead")
	require.ErrorIs(t, m.w.Save(HardState{Term: m.term + 100}, ents(start, start+1, m.term)), ErrBadEntry)
}

func (m *walMachine) saveSnapshot(t *rapid.T) {
	idx := rapid.Uint64Range(m.snap, m.last+2).Draw(t, "snapIndex")
	mk := SnapshotMarker{Index: idx, Term: m.term, ConfState: rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "conf")}
	require.NoError(t, m.w.SaveSnapshot(mk))
	m.recs = append(m.recs, modelRec{marker: &mk})
	m.snap, m.last = idx, max(m.last, idx)
}

func (m *walMachine) sync(t *rapid.T) {
	n := len(m.recs)
	w := m.w
	w.Sync(func(err error) {
		if errors.Is(err, ErrClosed) {
			return // the WAL was closed before the sync ran
		}
		require.NoError(t, err)
		if w == m.w { // not a callback of a WAL we dropped
			m.syncsDone++
			m.maxSegs = max(m.maxSegs, len(w.segs))
			m.synced = max(m.synced, n)
		}
	})
}

func (m *walMachine) run(t *rapid.T) {
	m.world.RunUntilIdle(rapid.IntRange(1, 8).Draw(t, "events"))
}

func (m *walMachine) release(t *rapid.T) {
	require.NoError(t, m.w.ReleaseTo(rapid.Uint64Range(0, m.last+1).Draw(t, "releaseTo")))
}

func (m *walMachine) flip(t *rapid.T) {
	r := m.world.Rand(fmt.Sprintf("flip/%d", m.flipsDone))
	if c, err := m.disk.CorruptRandom(r); err == nil {
		m.flipsDone++
		t.Logf("flipped %+v", c)
	}
}

// crash crashes the disk (or closes the WAL cleanly) and reopens it,
// checking the replay against the model.
func (m *walMachine) crash(t *rapid.T) {
	if rapid.Bool().Draw(t, "clean") {
		// A clean restart: what Open reads may still be volatile.
		require.NoError(t, m.w.Close())
		m.w = nil
		m.reopen(t, false)
		return
	}
	m.disk.Crash()
	m.crashes++
	m.w = nil
	m.reopen(t, true)
}

// reopen opens the WAL and checks the replay. After a crash everything
// read is durable; after a clean close only what was synced is.
func (m *walMachine) reopen(t *rapid.T, crashed bool) {
	w, rep, err := Open(m.disk, m.opts)
	switch {
	case errors.Is(err, ErrNoWAL):
		// Only if nothing beyond the metadata ever became durable.
		require.Zero(t, m.synced, "synced records lost: no WAL")
		m.create(t)
		return
	case m.flips && errors.Is(err, ErrCorrupt):
		var ce *CorruptionError
		require.True(t, errors.As(err, &ce))
		m.corruptions++
		m.freshDisk(t)
		return
	}
	require.NoError(t, err)
	require.Equal(t, testMeta, rep.Metadata)
	lo := m.synced
	if m.flips && rep.Repaired != nil {
		lo = 0 // a flip in a synced last record looks like a torn tail
	}
	k := m.matchPrefix(rep, lo)
	if k < 0 {
		m.describe(t, rep)
	}
	require.GreaterOrEqual(t, k, 0, "replay matches no prefix of the records from %d of %d (repaired %+v)", lo, len(m.recs), rep.Repaired)
	if rep.Repaired != nil {
		m.repairs++
	}
	m.w, m.recs = w, m.recs[:k]
	if crashed || m.synced > k {
		m.synced = k
	}
	st := foldPrefix(m.recs)
	m.lastHS, m.snap, m.last = st.hs, 0, st.last
	if st.marker != nil {
		m.snap = st.marker.Index
		m.last = max(m.last, m.snap)
	}
	// The WAL continues from the replayed state.
	if es := rep.Entries; len(es) > 0 {
		require.Equal(t, es[len(es)-1].Index, m.last)
	}
}

func foldPrefix(recs []modelRec) *modelState {
	s := newModelState()
	for _, r := range recs {
		s.apply(r)
	}
	return s
}

// matchPrefix returns the longest k >= lo such that the first k records
// replay to rep, or -1.
func (m *walMachine) matchPrefix(rep Replay, lo int) int {
	s := newModelState()
	found := -1
	for k := 0; k <= len(m.recs); k++ {
		if k > 0 {
			s.apply(m.recs[k-1])
		}
		if k >= lo && s.matches(rep) {
			found = k
		}
	}
	return found
}

// steps runs a weighted random sequence of actions. Saves, syncs and
// event steps dominate so that crashes find syncs in flight and torn
// writes in the middle of records.
func (m *walMachine) runSteps(t *rapid.T) {
	type action struct {
		name   string
		weight int
		f      func(*rapid.T)
	}
	acts := []action{
		{"save", 6, m.save}, {"sync", 4, m.sync}, {"run", 4, m.run},
		{"saveSnapshot", 1, m.saveSnapshot}, {"release", 1, m.release},
		{"crash", 1, m.crash}, {"saveBad", 1, m.saveBad},
	}
	if m.flips {
		acts = append(acts, action{"flip", 1, m.flip})
	}
	var names []string
	for _, a := range acts {
		for range a.weight {
			names = append(names, a.name)
		}
	}
	n := rapid.IntRange(1, 400).Draw(t, "steps")
	m.steps += n
	for range n {
		name := rapid.SampledFrom(names).Draw(t, "action")
		for _, a := range acts {
			if a.name == name {
				a.f(t)
				break
			}
		}
	}
}

// TestRapidCrashes: after a crash at any point (torn writes on), a reopened
// WAL holds a prefix of what was saved that includes every record a
// completed Sync covered: nothing lost, nothing invented, order kept.
func TestRapidCrashes(t *testing.T) {
	var crashes, repairs, steps, syncs, maxSegs int
	rapid.Check(t, func(t *rapid.T) {
		m := newWALMachine(t, false)
		m.runSteps(t)
		m.world.RunUntilIdle(0)
		m.disk.Crash()
		m.reopen(t, true)
		crashes += m.crashes + 1
		repairs += m.repairs
		steps += m.steps
		syncs += m.syncsDone
		maxSegs = max(maxSegs, m.maxSegs)
	})
	t.Logf("steps=%d syncs completed=%d crashes=%d repairs=%d max segments=%d", steps, syncs, crashes, repairs, maxSegs)
}

// TestRapidBitFlips: with random bit flips in durable bytes, a reopen is a
// clean replay of a prefix (a shorter one than was synced only with a
// repair reported) or a CorruptionError; never silently wrong data.
func TestRapidBitFlips(t *testing.T) {
	var flips, repairs, corruptions int
	rapid.Check(t, func(t *rapid.T) {
		m := newWALMachine(t, true)
		m.runSteps(t)
		m.world.RunUntilIdle(0)
		m.flip(t)
		m.disk.Crash()
		m.reopen(t, true)
		flips += m.flipsDone
		repairs += m.repairs
		corruptions += m.corruptions
	})
	t.Logf("flips=%d repairs=%d corruptions=%d", flips, repairs, corruptions)
}

// describe logs a replay and the model's records, to debug a mismatch.
func (m *walMachine) describe(t *rapid.T, rep Replay) {
	var idx []uint64
	for _, e := range rep.Entries {
		idx = append(idx, e.Index)
	}
	t.Logf("replay: hs=%+v snap=%v entries=%v", rep.HardState, rep.Snapshot, idx)
	for i, r := range m.recs {
		switch {
		case r.ent != nil:
			t.Logf("rec %d: entry %d/%d", i, r.ent.Index, r.ent.Term)
		case r.hs != nil:
			t.Logf("rec %d: hs %+v", i, *r.hs)
		default:
			t.Logf("rec %d: snapshot %d", i, r.marker.Index)
		}
	}
}

// TestNoSpace: a full disk fails the Sync cleanly, keeps the records
// buffered, and a later Sync (with space again) makes them durable. A
// write failing for another reason makes the WAL unusable.
func TestNoSpace(t *testing.T) {
	world := sim.NewWorld(1, sim.DefaultConfig())
	d := world.AddDisk(1)
	w, err := Create(d, testMeta, Options{Preallocate: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1}, ents(1, 3, 1)))
	var got []error
	record := func(err error) { got = append(got, err) }
	require.NoError(t, d.SetCapacity(300)) // room for the records, not the zeros
	w.Sync(record)
	world.RunUntilIdle(0)
	require.NoError(t, d.SetCapacity(d.Used()+10))
	require.NoError(t, w.Save(HardState{Term: 2}, ents(4, 6, 2)))
	w.Sync(record)
	world.RunUntilIdle(0)
	require.NoError(t, d.SetCapacity(0))
	w.Sync(record)
	world.RunUntilIdle(0)
	require.Len(t, got, 3)
	require.NoError(t, got[0])
	require.ErrorIs(t, got[1], host.ErrNoSpace)
	require.NoError(t, got[2])

	d.Crash()
	_, rep, err := Open(d, Options{})
	require.NoError(t, err)
	require.Equal(t, append(ents(1, 3, 1), ents(4, 6, 2)...), rep.Entries)
	require.Equal(t, HardState{Term: 2}, rep.HardState)

	// The old handle died in the crash: its WAL fails for good.
	require.NoError(t, w.Save(HardState{}, ents(7, 7, 2)))
	w.Sync(record)
	require.ErrorIs(t, got[3], host.ErrClosed)
	require.ErrorIs(t, w.Save(HardState{}, ents(8, 8, 2)), host.ErrClosed)
}

// TestGroupCommit: Saves and Syncs while a sync is in flight are allowed;
// the waiting Syncs share one write and fsync and complete in order, and a
// completed Sync covers everything saved before it.
func TestGroupCommit(t *testing.T) {
	world := sim.NewWorld(2, sim.DefaultConfig())
	d := world.AddDisk(1)
	w, err := Create(d, testMeta, Options{})
	require.NoError(t, err)
	var order []int
	for i := range 4 {
		require.NoError(t, w.Save(HardState{Term: 1, Commit: uint64(i)}, ents(uint64(i)*2+1, uint64(i)*2+2, 1)))
		w.Sync(func(err error) {
			require.NoError(t, err)
			order = append(order, i)
		})
	}
	require.True(t, w.syncing)
	require.Len(t, w.waiting, 3, "later Syncs wait for the one in flight")
	world.RunUntilIdle(0)
	require.Equal(t, []int{0, 1, 2, 3}, order)
	require.Empty(t, w.waiting)

	d.Crash()
	_, rep, err := Open(d, Options{})
	require.NoError(t, err)
	require.Equal(t, ents(1, 8, 1), rep.Entries)
	require.Equal(t, HardState{Term: 1, Commit: 3}, rep.HardState)
}
