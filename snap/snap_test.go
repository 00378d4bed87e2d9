package snap

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
	"github.com/seedkv/seedkv/wal"
)

func simDisk(seed uint64) (*sim.World, *sim.Disk) {
	w := sim.NewWorld(seed, sim.DefaultConfig())
	return w, w.AddDisk(1)
}

// saveNow saves and runs the world until the save completed.
func saveNow(t *testing.T, w *sim.World, fs host.FS, index, term uint64, data []byte) {
	t.Helper()
	var got error
	called := false
	Save(fs, index, term, data, func(err error) { got, called = err, true })
	w.RunUntilIdle(0)
	require.True(t, called)
	require.NoError(t, got)
}

func TestSaveLoad(t *testing.T) {
	w, d := simDisk(1)
	_, err := LoadNewest(d)
	require.ErrorIs(t, err, ErrNoSnapshot)
	saveNow(t, w, d, 10, 2, []byte("ten"))
	saveNow(t, w, d, 20, 3, []byte("twenty"))
	_, err = d.Create("0000000000000001-0000000000000001.wal") // other files are ignored
	require.NoError(t, err)
	s, err := LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, Snapshot{Index: 20, Term: 3, Data: []byte("twenty"), File: Name(20, 3)}, s)
	s, err = Load(d, 10, 2)
	require.NoError(t, err)
	require.Equal(t, []byte("ten"), s.Data)
	_, err = Load(d, 11, 2)
	require.ErrorIs(t, err, ErrNoSnapshot)

	require.NoError(t, Release(d, 20))
	names, err := d.List()
	require.NoError(t, err)
	require.Equal(t, []string{"0000000000000001-0000000000000001.wal", Name(20, 3)}, names)
}

func TestOSDir(t *testing.T) {
	fs, err := wal.OSDir(t.TempDir())
	require.NoError(t, err)
	called := false
	Save(fs, 5, 1, []byte("five"), func(err error) { require.NoError(t, err); called = true })
	require.True(t, called)
	s, err := LoadNewest(fs)
	require.NoError(t, err)
	require.Equal(t, []byte("five"), s.Data)
}

func TestCrashBeforeSyncLeavesOldSnapshot(t *testing.T) {
	w, d := simDisk(2)
	saveNow(t, w, d, 10, 2, []byte("ten"))
	Save(d, 20, 3, []byte("twenty"), func(error) { t.Fatal("callback of a crashed save") })
	d.Crash()
	s, err := LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, uint64(10), s.Index)
	// The leftover temp file does not stop the next Save.
	saveNow(t, w, d, 20, 3, []byte("twenty"))
	s, err = LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, uint64(20), s.Index)
}

func TestCorruptSnapshotsSkipped(t *testing.T) {
	w, d := simDisk(3)
	saveNow(t, w, d, 10, 2, []byte("ten"))
	saveNow(t, w, d, 20, 3, []byte("twenty"))
	require.NoError(t, d.Corrupt(Name(20, 3), 40, 1))
	s, err := LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, uint64(10), s.Index)
	require.Len(t, s.Skipped, 1)
	require.Equal(t, Name(20, 3), s.Skipped[0].File)

	require.NoError(t, d.Corrupt(Name(10, 2), 0, 0))
	_, err = LoadNewest(d)
	require.ErrorIs(t, err, ErrNoSnapshot)
	require.ErrorIs(t, err, ErrCorrupt)
	var ce *CorruptError
	require.True(t, errors.As(err, &ce))

	// A file renamed to another index is corrupt, not served.
	saveNow(t, w, d, 30, 4, []byte("thirty"))
	require.NoError(t, d.Rename(Name(30, 4), Name(40, 4)))
	s, err = LoadNewest(d)
	require.ErrorIs(t, err, ErrNoSnapshot)
	require.ErrorContains(t, err, "holds index 30")
	_, err = Load(d, 40, 4)
	require.ErrorIs(t, err, ErrCorrupt)
	_ = s
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(7, 3, []byte("data"))
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:10],
		"bad magic": append([]byte("X"), good[1:]...),
		"truncated": good[:len(good)-1],
		"extended":  append(bytes.Clone(good), 0),
		"bad crc":   append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1),
		"huge length": func() []byte {
			b := bytes.Clone(good)
			b[len(magic)+23] = 0xff
			return b
		}(),
	} {
		_, _, _, err := Decode(b)
		require.Error(t, err, name)
	}
	i, tm, data, err := Decode(good)
	require.NoError(t, err)
	require.Equal(t, []any{uint64(7), uint64(3), []byte("data")}, []any{i, tm, data})

	_, d := simDisk(4)
	var got error
	Save(d, 1, 1, make([]byte, MaxDataSize+1), func(err error) { got = err })
	require.ErrorIs(t, got, ErrTooLarge)
}

// TestRapidSnapshots: with saves, crashes and bit flips at random, a load
// returns a snapshot exactly as saved (never one that was not), at least
// as new as the newest whose Save completed unless it reports skipping
// damaged ones.
func TestRapidSnapshots(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w, d := simDisk(rapid.Uint64().Draw(t, "seed"))
		d.SetTornWrites(true)
		saved := map[string][]byte{} // name -> data of every Save started
		var durable uint64           // index of the newest completed Save
		next := uint64(1)
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			switch rapid.IntRange(0, 4).Draw(t, "action") {
			case 0, 1:
				data := rapid.SliceOfN(rapid.Byte(), 0, 600).Draw(t, "data")
				idx := next
				next += rapid.Uint64Range(1, 3).Draw(t, "gap")
				saved[Name(idx, 1)] = data
				Save(d, idx, 1, data, func(err error) {
					require.NoError(t, err)
					durable = max(durable, idx)
				})
			case 2:
				w.RunUntilIdle(rapid.IntRange(1, 5).Draw(t, "events"))
			case 3:
				d.Crash()
			case 4:
				_, _ = d.CorruptRandom(w.Rand(fmt.Sprint("flip", next)))
			}
			s, err := LoadNewest(d)
			if errors.Is(err, ErrNoSnapshot) {
				require.True(t, durable == 0 || errors.Is(err, ErrCorrupt), "completed snapshot %d lost: %v", durable, err)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, saved[s.File], s.Data, "served data differs from what was saved")
			if len(s.Skipped) == 0 {
				require.GreaterOrEqual(t, s.Index, durable)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(1, 2, []byte("hello")))
	f.Add(Encode(0, 0, nil))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		index, term, data, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes is exactly what Encode writes: the checksum
		// and the length were checked.
		if !bytes.Equal(Encode(index, term, data), b) {
			t.Fatalf("decoded %d/%d/%x from bytes Encode would not write", index, term, data)
		}
	})
}

// TestSavedSnapshotSurvivesLostDirents: Save reports done only once the
// rename into the final name is durable with its directory.
func TestSavedSnapshotSurvivesLostDirents(t *testing.T) {
	w, d := simDisk(4)
	saveNow(t, w, d, 10, 2, []byte("ten"))
	d.Crash()
	d.LoseDirents()
	s, err := LoadNewest(d)
	require.NoError(t, err)
	require.Equal(t, uint64(10), s.Index)
}

// TestNameMatchesFormat pins Name to the "%016x-%016x.snap" form it had
// when it used fmt (parseName and every existing data directory rely on it).
func TestNameMatchesFormat(t *testing.T) {
	for _, v := range [][2]uint64{{0, 0}, {1, 1}, {20, 3}, {0xdeadbeef, 0x10}, {1<<64 - 1, 1<<63 + 5}} {
		require.Equal(t, fmt.Sprintf("%016x-%016x.snap", v[0], v[1]), Name(v[0], v[1]))
		i, tm, ok := parseName(Name(v[0], v[1]))
		require.True(t, ok)
		require.Equal(t, v, [2]uint64{i, tm})
	}
}
