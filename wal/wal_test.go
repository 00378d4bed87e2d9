package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

var testMeta = Metadata{NodeID: 7, ClusterID: 42}

func tempFS(t testing.TB) (host.FS, string) {
	dir := t.TempDir()
	fs, err := OSDir(dir)
	require.NoError(t, err)
	return fs, dir
}

// syncNow syncs on a disk whose Sync completes before it returns.
func syncNow(t testing.TB, w *WAL) {
	t.Helper()
	called := false
	w.Sync(func(err error) {
		require.NoError(t, err)
		called = true
	})
	require.True(t, called, "OS sync completes synchronously")
}

func ents(from, to, term uint64) []Entry {
	var es []Entry
	for i := from; i <= to; i++ {
		es = append(es, Entry{Index: i, Term: term, Type: uint8(i % 3), Data: []byte(fmt.Sprintf("e%d.%d", i, term))})
	}
	return es
}

func reopen(t testing.TB, fs host.FS, opts Options) (*WAL, Replay) {
	t.Helper()
	w, rep, err := Open(fs, opts)
	require.NoError(t, err)
	return w, rep
}

func TestRecordRoundTrip(t *testing.T) {
	for _, p := range [][]byte{nil, {1}, bytes.Repeat([]byte{0xab}, 1000)} {
		b := appendRecord(nil, TypeEntry, p)
		rec, n, err := decodeRecord(b)
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		require.Equal(t, TypeEntry, rec.typ)
		require.Equal(t, len(p), len(rec.payload))
	}
	// A zero-filled region is never a record.
	_, _, err := decodeRecord(make([]byte, 64))
	require.ErrorIs(t, err, errChecksum)
	// Each single bit flip is detected.
	b := appendRecord(nil, TypeHardState, appendHardState(nil, HardState{1, 2, 3}))
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		_, _, err := decodeRecord(c)
		require.Error(t, err, "bit %d", i)
	}
}

func TestSaveSyncReplay(t *testing.T) {
	fs, _ := tempFS(t)
	w, err := Create(fs, testMeta, Options{})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1, Vote: 3}, ents(1, 10, 1)))
	require.NoError(t, w.Save(HardState{Term: 2, Vote: 3, Commit: 4}, ents(6, 12, 2))) // truncates 6..10
	syncNow(t, w)
	require.NoError(t, w.Close())

	w, rep := reopen(t, fs, Options{})
	defer w.Close()
	require.Equal(t, testMeta, rep.Metadata)
	require.Equal(t, HardState{Term: 2, Vote: 3, Commit: 4}, rep.HardState)
	require.Nil(t, rep.Snapshot)
	require.Nil(t, rep.Repaired)
	want := append(ents(1, 5, 1), ents(6, 12, 2)...)
	require.Equal(t, want, rep.Entries)
	// Appends continue after the replayed log.
	require.ErrorIs(t, w.Save(HardState{}, ents(14, 14, 2)), ErrBadEntry)
	require.NoError(t, w.Save(HardState{}, ents(13, 13, 2)))
}

func TestSaveValidation(t *testing.T) {
	fs, _ := tempFS(t)
	w, err := Create(fs, testMeta, Options{})
	require.NoError(t, err)
	defer w.Close()
	require.ErrorIs(t, w.Save(HardState{}, ents(2, 3, 1)), ErrBadEntry, "gap at start")
	require.ErrorIs(t, w.Save(HardState{}, []Entry{{Index: 1}, {Index: 3}}), ErrBadEntry, "not consecutive")
	big := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1, Data: make([]byte, MaxRecordSize)}}
	require.ErrorIs(t, w.Save(HardState{Term: 9}, big), ErrRecordTooLarge)
	require.Empty(t, w.buf, "a refused Save saves nothing")
	require.NoError(t, w.Save(HardState{}, ents(1, 5, 1)))
	require.NoError(t, w.SaveSnapshot(SnapshotMarker{Index: 4, Term: 1}))
	require.ErrorIs(t, w.Save(HardState{}, ents(4, 4, 2)), ErrBadEntry, "below snapshot")
	require.ErrorIs(t, w.SaveSnapshot(SnapshotMarker{Index: 3}), ErrBadEntry)
	require.ErrorIs(t, w.SaveSnapshot(SnapshotMarker{Index: 9, ConfState: make([]byte, MaxRecordSize)}), ErrRecordTooLarge)
}

func TestCreateOpenErrors(t *testing.T) {
	fs, dir := tempFS(t)
	_, _, err := Open(fs, Options{})
	require.ErrorIs(t, err, ErrNoWAL)

	// A Create that never synced leaves an empty segment: no WAL, and
	// Create may start over.
	w, err := Create(fs, testMeta, Options{})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1}, nil))
	w.Sync(func(error) {})
	require.NoError(t, w.Close())
	seg0 := filepath.Join(dir, w.Segments()[0])
	for _, size := range []int64{0, 5, 300} { // empty, or extended with zeros
		require.NoError(t, os.Truncate(seg0, 0))
		require.NoError(t, os.Truncate(seg0, size))
		_, _, err = Open(fs, Options{})
		require.ErrorIs(t, err, ErrNoWAL)
	}
	// Damage that is not zeros is not a crash: corruption.
	require.NoError(t, os.WriteFile(seg0, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0o644))
	_, _, err = Open(fs, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = Create(fs, testMeta, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, os.Truncate(seg0, 0))
	w, err = Create(fs, testMeta, Options{})
	require.NoError(t, err)
	syncNow(t, w)
	require.NoError(t, w.Close())
	_, err = Create(fs, testMeta, Options{})
	require.ErrorIs(t, err, ErrExist)
}

func TestSnapshotMarkerAndRelease(t *testing.T) {
	fs, _ := tempFS(t)
	opts := Options{SegmentSize: 256}
	w, err := Create(fs, testMeta, opts)
	require.NoError(t, err)
	for i := uint64(1); i <= 50; i += 5 {
		require.NoError(t, w.Save(HardState{Term: 1, Commit: i}, ents(i, i+4, 1)))
		syncNow(t, w)
	}
	require.Greater(t, len(w.Segments()), 3)
	// A release is limited by the durable snapshot marker.
	require.NoError(t, w.ReleaseTo(40))
	require.Len(t, w.Segments(), len(w.Segments()))
	before := len(w.Segments())
	cs := []byte("conf")
	require.NoError(t, w.SaveSnapshot(SnapshotMarker{Index: 30, Term: 1, ConfState: cs}))
	require.NoError(t, w.ReleaseTo(30))
	require.Len(t, w.Segments(), before, "marker not durable yet")
	syncNow(t, w)
	require.NoError(t, w.ReleaseTo(40)) // limited to 30
	require.Less(t, len(w.Segments()), before)
	require.NoError(t, w.Save(HardState{Term: 2, Commit: 50}, ents(51, 60, 2)))
	syncNow(t, w)
	require.NoError(t, w.Close())

	names, err := fs.List()
	require.NoError(t, err)
	require.Equal(t, w.Segments(), names)
	first, ok := parseSegmentName(names[0])
	require.True(t, ok)
	require.LessOrEqual(t, first.first, uint64(31))

	w, rep := reopen(t, fs, opts)
	defer w.Close()
	require.Equal(t, &SnapshotMarker{Index: 30, Term: 1, ConfState: cs}, rep.Snapshot)
	require.Equal(t, HardState{Term: 2, Commit: 50}, rep.HardState)
	require.Equal(t, append(ents(31, 50, 1), ents(51, 60, 2)...), rep.Entries)
}

func TestSnapshotPastLogResetsIt(t *testing.T) {
	fs, _ := tempFS(t)
	w, err := Create(fs, testMeta, Options{})
	require.NoError(t, err)
	require.NoError(t, w.Save(HardState{Term: 1}, ents(1, 5, 1)))
	require.NoError(t, w.SaveSnapshot(SnapshotMarker{Index: 100, Term: 3}))
	require.ErrorIs(t, w.Save(HardState{}, ents(6, 6, 1)), ErrBadEntry)
	require.NoError(t, w.Save(HardState{Term: 3}, ents(101, 102, 3)))
	syncNow(t, w)
	require.NoError(t, w.Close())
	w, rep := reopen(t, fs, Options{})
	defer w.Close()
	require.Equal(t, uint64(100), rep.Snapshot.Index)
	require.Equal(t, ents(101, 102, 3), rep.Entries)
}

// writeSome makes a WAL of two segments with several records and returns
// the directory and the last segment's name.
func writeSome(t *testing.T) (host.FS, string, []string) {
	fs, dir := tempFS(t)
	w, err := Create(fs, testMeta, Options{SegmentSize: 200})
	require.NoError(t, err)
	for i := uint64(1); i <= 24; i += 3 {
		require.NoError(t, w.Save(HardState{Term: 1, Commit: i}, ents(i, i+2, 1)))
		syncNow(t, w)
	}
	segs := w.Segments()
	require.GreaterOrEqual(t, len(segs), 2)
	require.NoError(t, w.Close())
	return fs, dir, segs
}

func TestTornTailRepaired(t *testing.T) {
	_, dir, segs := writeSome(t)
	last := filepath.Join(dir, segs[len(segs)-1])
	orig, err := os.ReadFile(last)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		tail func([]byte) []byte
	}{
		{"cut mid-record", func(b []byte) []byte { return b[:len(b)-3] }},
		{"partial record then zeros", func(b []byte) []byte { return append(b[:len(b)-20], make([]byte, 700)...) }},
		{"garbage partial header", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"impossible length", func(b []byte) []byte { return append(b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 9) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(last, tc.tail(bytes.Clone(orig)), 0o644))
			fs, err := OSDir(dir)
			require.NoError(t, err)
			w, rep := reopen(t, fs, Options{SegmentSize: 200})
			require.NotNil(t, rep.Repaired)
			require.Equal(t, segs[len(segs)-1], rep.Repaired.File)
			require.Positive(t, rep.Repaired.Dropped)
			require.NoError(t, w.Close())
			st, err := os.Stat(last)
			require.NoError(t, err)
			require.Equal(t, rep.Repaired.Offset, st.Size(), "tail cut away")
			// A second open finds nothing to repair.
			w, rep = reopen(t, fs, Options{SegmentSize: 200})
			require.Nil(t, rep.Repaired)
			require.NoError(t, w.Close())
		})
	}
}

func TestZeroTailIsCleanEnd(t *testing.T) {
	fs, dir, segs := writeSome(t)
	for _, name := range []string{segs[0], segs[len(segs)-1]} { // sealed and last
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write(make([]byte, 1000))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	w, rep := reopen(t, fs, Options{SegmentSize: 200})
	require.Nil(t, rep.Repaired)
	require.Equal(t, ents(1, 24, 1), rep.Entries)
	require.NoError(t, w.Save(HardState{}, ents(25, 25, 1)))
	syncNow(t, w)
	require.NoError(t, w.Close())
	w, rep = reopen(t, fs, Options{SegmentSize: 200})
	require.Equal(t, ents(1, 25, 1), rep.Entries)
	require.NoError(t, w.Close())
}

func TestPreallocate(t *testing.T) {
	fs, dir := tempFS(t)
	opts := Options{SegmentSize: 1024, Preallocate: 300}
	w, err := Create(fs, testMeta, opts)
	require.NoError(t, err)
	for i := uint64(1); i <= 100; i += 5 {
		require.NoError(t, w.Save(HardState{Term: 1, Commit: i}, ents(i, i+4, 1)))
		syncNow(t, w)
	}
	segs := w.Segments()
	require.NoError(t, w.Close())
	require.Greater(t, len(segs), 1)
	for _, name := range segs {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.LessOrEqual(t, st.Size(), opts.SegmentSize+200, "zero-filled up to the segment size")
	}
	st, err := os.Stat(filepath.Join(dir, segs[len(segs)-1]))
	require.NoError(t, err)
	w, rep := reopen(t, fs, opts)
	require.Nil(t, rep.Repaired)
	require.Equal(t, ents(1, 100, 1), rep.Entries)
	require.NoError(t, w.Save(HardState{}, ents(101, 101, 1)))
	syncNow(t, w)
	require.NoError(t, w.Close())
	st2, err := os.Stat(filepath.Join(dir, segs[len(segs)-1]))
	require.NoError(t, err)
	require.Equal(t, st.Size(), st2.Size(), "appends overwrite preallocated zeros")
	w, rep = reopen(t, fs, opts)
	require.Equal(t, ents(1, 101, 1), rep.Entries)
	require.NoError(t, w.Close())
}

func TestCorruptionDetected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seg    func(segs []string) string
		offset func(size int) int
	}{
		{"middle of last segment", func(s []string) string { return s[len(s)-1] }, func(n int) int { return 20 }},
		{"end of sealed segment", func(s []string) string { return s[0] }, func(n int) int { return n - 2 }},
		{"start of sealed segment", func(s []string) string { return s[0] }, func(n int) int { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir, segs := writeSome(t)
			name := tc.seg(segs)
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			off := tc.offset(len(b))
			b[off] ^= 0x10
			require.NoError(t, os.WriteFile(p, b, 0o644))
			_, _, err = Open(fs, Options{SegmentSize: 200})
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, name, ce.File)
			require.LessOrEqual(t, ce.Offset, int64(off))
		})
	}
	t.Run("missing segment", func(t *testing.T) {
		fs, _, segs := writeSome(t)
		require.GreaterOrEqual(t, len(segs), 3)
		require.NoError(t, fs.Remove(segs[1]))
		_, _, err := Open(fs, Options{SegmentSize: 200})
		require.ErrorIs(t, err, ErrCorrupt)
	})
}

func TestSegmentNames(t *testing.T) {
	s, ok := parseSegmentName(segmentName(3, 0x1234))
	require.True(t, ok)
	require.Equal(t, uint64(3), s.seq)
	require.Equal(t, uint64(0x1234), s.first)
	for _, bad := range []string{"x.wal", "0000000000000001-0000000000000001.snap", "000000000000000g-0000000000000001.wal", "0000000000000001-0000000000000001.wal.tmp"} {
		_, ok := parseSegmentName(bad)
		require.False(t, ok, bad)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, TypeEntry, appendEntry(nil, Entry{Index: 1, Term: 2, Data: []byte("x")})))
	f.Add(appendRecord(nil, TypeHardState, appendHardState(nil, HardState{1, 2, 3})))
	f.Add(appendRecord(nil, TypeSnapshot, appendMarker(nil, SnapshotMarker{Index: 5, ConfState: []byte("c")})))
	f.Add(appendRecord(nil, TypeMetadata, appendMetadata(nil, testMeta)))
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := decodeRecord(b)
		if err != nil {
			return
		}
		if n < HeaderSize || n > len(b) || len(rec.payload) != n-HeaderSize {
			t.Fatalf("bad size %d of %d", n, len(b))
		}
		want := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		if got := crcOf(b[4:n]); got != want {
			t.Fatalf("decoded a record with checksum %x, stored %x", got, want)
		}
		if !rec.typ.valid() {
			t.Fatalf("decoded type %d", rec.typ)
		}
		// Payload decoders never panic either, and a replay of the
		// record never does.
		var r replayer
		_ = r.apply(rec)
		_, _ = readSegment("fuzz", b, true, &replayer{})
	})
}

func TestLastRecord(t *testing.T) {
	var b []byte
	_, _, ok := LastRecord(b)
	require.False(t, ok, "empty")
	b = appendRecord(b, TypeMetadata, appendMetadata(nil, testMeta))
	off, size, ok := LastRecord(b)
	require.True(t, ok)
	require.Equal(t, int64(0), off)
	require.Equal(t, int64(len(b)), size)
	first := len(b)
	b = appendRecord(b, TypeHardState, appendHardState(nil, HardState{Term: 2, Vote: 1}))
	off, size, ok = LastRecord(append(b, 0, 0, 0)) // zero fill after it
	require.True(t, ok)
	require.Equal(t, int64(first), off)
	require.Equal(t, int64(len(b)-first), size)
	require.Equal(t, uint32(hardStateSize), binary.LittleEndian.Uint32(b[off+LengthFieldOffset:]))
	require.True(t, IsSegmentName(segmentName(3, 17)))
	require.False(t, IsSegmentName("0000000000000003-0000000000000011.snap"))
}

// A release before any snapshot marker removes nothing, not even segments
// holding only hard states: replay reads a released segment as a hole no
// marker explains (TestRapidCrashes found ReleaseTo(0) removing segment 0).
func TestReleaseWithoutMarkerKeepsEverything(t *testing.T) {
	fs, _ := tempFS(t)
	opts := Options{SegmentSize: 128}
	w, err := Create(fs, testMeta, opts)
	require.NoError(t, err)
	for term := uint64(1); term <= 8; term++ {
		require.NoError(t, w.Save(HardState{Term: term}, nil))
		syncNow(t, w)
	}
	require.NoError(t, w.Save(HardState{Term: 8, Commit: 1}, ents(1, 1, 8)))
	syncNow(t, w)
	before := len(w.Segments())
	require.Greater(t, before, 1, "the hard states alone must roll a segment")
	require.NoError(t, w.ReleaseTo(0))
	require.Len(t, w.Segments(), before)
	require.NoError(t, w.Close())

	w, rep := reopen(t, fs, opts)
	defer w.Close()
	require.Nil(t, rep.Snapshot)
	require.Equal(t, ents(1, 1, 8), rep.Entries)
}
