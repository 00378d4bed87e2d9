package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
)

// modelFile is the model of one file: what reads see and what is durable.
type modelFile struct {
	cur, durable []byte
	lastApplied  int // highest sync id applied to durable
}

// modelSync is a Sync in flight: a snapshot of the file when it was called.
type modelSync struct {
	id   int
	f    *modelFile
	snap []byte
}

// modelWrite is the last WriteAt, the candidate for a torn write.
type modelWrite struct {
	f    *modelFile
	off  int
	data []byte
	id   int // the next sync id at the time of the write
}

// diskMachine checks the op-log Disk against a snapshot model.
type diskMachine struct {
	w        *World
	d        *Disk
	sector   int
	handles  map[string]host.File
	files    map[string]*modelFile
	syncs    []*modelSync
	done     []int // ids of syncs the disk reported complete
	nextSync int
	last     *modelWrite
	capacity int
}

func (m *diskMachine) used() int {
	n := 0
	for _, f := range m.files {
		n += len(f.cur)
	}
	return n
}

func (m *diskMachine) names() []string {
	ns := []string{}
	for n := range m.files {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (m *diskMachine) pickName(t *rapid.T) string {
	return rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "name")
}

func (m *diskMachine) pickFile(t *rapid.T) string {
	ns := m.names()
	if len(ns) == 0 {
		t.Skip("no files")
	}
	return rapid.SampledFrom(ns).Draw(t, "file")
}

func (m *diskMachine) create(t *rapid.T) {
	name := m.pickName(t)
	h, err := m.d.Create(name)
	if _, ok := m.files[name]; ok {
		require.ErrorIs(t, err, host.ErrExist)
		return
	}
	require.NoError(t, err)
	m.handles[name] = h
	m.files[name] = &modelFile{}
}

func (m *diskMachine) write(t *rapid.T) {
	name := m.pickFile(t)
	f := m.files[name]
	// Half the writes append, as a log's do (the disk takes a synced
	// append's durable bytes from the volatile ones).
	off := len(f.cur)
	if !rapid.Bool().Draw(t, "append") {
		off = rapid.IntRange(0, len(f.cur)+10).Draw(t, "off")
	}
	data := rapid.SliceOfN(rapid.Byte(), 1, 20).Draw(t, "data")
	_, err := m.handles[name].WriteAt(data, int64(off))
	grow := max(0, off+len(data)-len(f.cur))
	if m.capacity > 0 && grow > 0 && m.used()+grow > m.capacity {
		require.ErrorIs(t, err, host.ErrNoSpace)
		return
	}
	require.NoError(t, err)
	if off+len(data) > len(f.cur) {
		f.cur = append(f.cur, make([]byte, off+len(data)-len(f.cur))...)
	}
	copy(f.cur[off:], data)
	m.last = &modelWrite{f: f, off: off, data: data, id: m.nextSync}
}

func (m *diskMachine) truncate(t *rapid.T) {
	name := m.pickFile(t)
	f := m.files[name]
	size := rapid.IntRange(0, len(f.cur)+10).Draw(t, "size")
	err := m.handles[name].Truncate(int64(size))
	if m.capacity > 0 && m.used()+size-len(f.cur) > m.capacity && size > len(f.cur) {
		require.ErrorIs(t, err, host.ErrNoSpace)
		return
	}
	require.NoError(t, err)
	if size <= len(f.cur) {
		f.cur = f.cur[:size:size]
	} else {
		f.cur = append(f.cur, make([]byte, size-len(f.cur))...)
	}
}

func (m *diskMachine) sync(t *rapid.T) {
	name := m.pickFile(t)
	f := m.files[name]
	s := &modelSync{id: m.nextSync, f: f, snap: slices.Clone(f.cur)}
	m.nextSync++
	m.syncs = append(m.syncs, s)
	m.handles[name].Sync(func(err error) {
		require.NoError(t, err)
		m.done = append(m.done, s.id)
	})
}

func (m *diskMachine) step(t *rapid.T) {
	if !m.w.Step() {
		t.Skip("idle")
	}
	for _, id := range m.done {
		i := slices.IndexFunc(m.syncs, func(s *modelSync) bool { return s.id == id })
		require.GreaterOrEqual(t, i, 0, "completed sync %d unknown", id)
		s := m.syncs[i]
		m.syncs = slices.Delete(m.syncs, i, i+1)
		if s.id > s.f.lastApplied {
			s.f.durable = s.snap
			s.f.lastApplied = s.id
			if m.last != nil && m.last.f == s.f && m.last.id <= s.id {
				m.last = nil // the last write is durable now
			}
		}
	}
	m.done = m.done[:0]
}

func (m *diskMachine) remove(t *rapid.T) {
	name := m.pickFile(t)
	require.NoError(t, m.d.Remove(name))
	if m.last != nil && m.last.f == m.files[name] {
		m.last = nil
	}
	delete(m.files, name)
	delete(m.handles, name)
}

func (m *diskMachine) rename(t *rapid.T) {
	from := m.pickFile(t)
	to := m.pickName(t)
	require.NoError(t, m.d.Rename(from, to))
	if from == to {
		return
	}
	if old, ok := m.files[to]; ok && m.last != nil && m.last.f == old {
		m.last = nil
	}
	m.files[to], m.handles[to] = m.files[from], m.handles[from]
	delete(m.files, from)
	delete(m.handles, from)
}

func (m *diskMachine) setCapacity(t *rapid.T) {
	m.capacity = rapid.SampledFrom([]int{0, 0, 30, 60, 100}).Draw(t, "capacity")
	require.NoError(t, m.d.SetCapacity(int64(m.capacity)))
}

func (m *diskMachine) crash(t *rapid.T) {
	m.d.Crash()
	for _, name := range m.names() {
		f := m.files[name]
		got, err := m.d.DurableBytes(name)
		require.NoError(t, err)
		if m.d.TornWrites() && m.last != nil && m.last.f == f {
			require.Contains(t, tornCandidates(f.durable, m.last, m.sector), string(got),
				"file %s: durable content is neither the model's nor a sector prefix of the last write", name)
			f.durable = got
		}
		require.Equal(t, f.durable, got, "file %s durable after crash", name)
		f.cur = slices.Clone(f.durable)
		h, err := m.d.Open(name)
		require.NoError(t, err)
		m.handles[name] = h
	}
	m.syncs, m.done, m.last = nil, nil, nil
	// Faults beyond the model strike a crashed disk, whose files hold
	// their durable contents (and share their bytes with them).
	switch rapid.IntRange(0, 2).Draw(t, "after crash") {
	case 1:
		c, err := m.d.CorruptRandom(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "corrupt seed"), 1)))
		if err != nil {
			require.ErrorIs(t, err, ErrNothingToCorrupt)
			break
		}
		f := m.files[c.Name]
		f.durable[c.Off] ^= 1 << c.Bit
		f.cur[c.Off] ^= 1 << c.Bit
	case 2:
		l, err := m.d.LoseSynced(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "lose seed"), 1)))
		if err != nil {
			require.ErrorIs(t, err, ErrNothingToLose)
			break
		}
		f := m.files[l.Name]
		f.durable, f.cur = f.durable[:l.To], f.cur[:l.To]
	}
}

// tornCandidates lists every durable content the torn-write rule allows.
func tornCandidates(durable []byte, w *modelWrite, sector int) []string {
	cands := []string{string(durable)}
	end := w.off + len(w.data)
	for cut := w.off + 1; cut <= end; cut++ {
		if cut%sector != 0 && cut != end {
			continue
		}
		c := slices.Clone(durable)
		if len(c) < cut {
			c = append(c, make([]byte, cut-len(c))...)
		}
		copy(c[w.off:cut], w.data)
		cands = append(cands, string(c))
	}
	return cands
}

func (m *diskMachine) check(t *rapid.T) {
	names, err := m.d.List()
	require.NoError(t, err)
	require.Equal(t, m.names(), append([]string{}, names...))
	for _, name := range names {
		got, _ := m.d.Contents(name)
		if !bytes.Equal(m.files[name].cur, got) {
			t.Fatalf("file %s contents %v, model %v", name, got, m.files[name].cur)
		}
		require.Equal(t, int64(len(got)), m.handles[name].Size())
		dur, _ := m.d.DurableBytes(name)
		if !bytes.Equal(m.files[name].durable, dur) {
			t.Fatalf("file %s durable %v, model %v", name, dur, m.files[name].durable)
		}
	}
	require.Equal(t, int64(m.used()), m.d.Used())
}

func TestDiskStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.Disk.SectorSize = 4
		cfg.Disk.TornWrites = rapid.Bool().Draw(t, "torn")
		w := NewWorld(rapid.Uint64().Draw(t, "seed"), cfg)
		m := &diskMachine{w: w, d: w.AddDisk(1), sector: 4,
			handles: map[string]host.File{}, files: map[string]*modelFile{}, nextSync: 1}
		t.Repeat(map[string]func(*rapid.T){
			"":            m.check,
			"create":      m.create,
			"write":       m.write,
			"truncate":    m.truncate,
			"sync":        m.sync,
			"step":        m.step,
			"remove":      m.remove,
			"rename":      m.rename,
			"crash":       m.crash,
			"setCapacity": m.setCapacity,
		})
	})
}

// TestTornCutRange checks tornCut draws only allowed cut points and all of them.
func TestTornCutRange(t *testing.T) {
	w := NewWorld(7, DefaultConfig())
	r := w.Rand("t")
	seen := map[int64]bool{}
	for range 1000 {
		c := tornCut(5, 18, 4, r)
		require.True(t, c == 5 || c == 18 || (c > 5 && c < 18 && c%4 == 0), fmt.Sprint(c))
		seen[c] = true
	}
	require.Len(t, seen, 5) // 5 (none), 8, 12, 16, 18 (all)
	require.True(t, errors.Is(fmt.Errorf("x: %w", host.ErrNoSpace), host.ErrNoSpace))
}
