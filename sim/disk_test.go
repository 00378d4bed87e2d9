package sim

import (
	"time"

	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

func newTestDisk(t testing.TB) (*World, *Disk) {
	t.Helper()
	w := NewWorld(1, DefaultConfig())
	return w, w.AddDisk(1)
}

func TestDiskSyncMakesDurable(t *testing.T) {
	w, d := newTestDisk(t)
	f, err := d.Create("a")
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("hello"), 0)
	require.NoError(t, err)
	synced := false
	f.Sync(func(err error) { require.NoError(t, err); synced = true })
	_, err = f.WriteAt([]byte(" world"), 5) // after the Sync call: not covered
	require.NoError(t, err)
	got, _ := d.DurableBytes("a")
	require.Empty(t, got, "durable before sync completes")
	require.True(t, w.RunUntilIdle(0))
	require.True(t, synced)
	got, _ = d.DurableBytes("a")
	require.Equal(t, "hello", string(got))
	cur, _ := d.Contents("a")
	require.Equal(t, "hello world", string(cur))

	d.Crash()
	cur, _ = d.Contents("a")
	require.Equal(t, "hello", string(cur))
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, host.ErrClosed, "handles die with a crash")
}

func TestDiskSyncLostOnCrash(t *testing.T) {
	w, d := newTestDisk(t)
	f, _ := d.Create("a")
	_, _ = f.WriteAt([]byte("data"), 0)
	called := false
	f.Sync(func(error) { called = true })
	d.Crash()
	require.True(t, w.RunUntilIdle(0))
	require.False(t, called, "a sync of a crashed incarnation never completes")
	got, _ := d.DurableBytes("a")
	require.Empty(t, got)
}

func TestDiskBadInput(t *testing.T) {
	w, d := newTestDisk(t)
	_, err := d.Open("missing")
	require.ErrorIs(t, err, host.ErrNotExist)
	require.ErrorIs(t, d.Corrupt("missing", 0, 0), host.ErrNotExist)
	require.ErrorIs(t, d.Remove("missing"), host.ErrNotExist)
	require.ErrorIs(t, d.Rename("missing", "b"), host.ErrNotExist)
	_, err = d.Create("")
	require.ErrorIs(t, err, ErrBadName)
	f, err := d.Create("a")
	require.NoError(t, err)
	_, err = d.Create("a")
	require.ErrorIs(t, err, host.ErrExist)
	_, err = f.WriteAt([]byte("x"), -1)
	require.ErrorIs(t, err, host.ErrBadOffset)
	_, err = f.WriteAt([]byte("x"), MaxFileSize)
	require.ErrorIs(t, err, ErrFileTooLarge)
	require.ErrorIs(t, f.Truncate(-1), host.ErrBadOffset)
	require.ErrorIs(t, d.Corrupt("a", 0, 0), host.ErrBadOffset, "no durable bytes yet")
	_, _ = f.WriteAt([]byte("abc"), 0)
	f.Sync(nil)
	w.RunUntilIdle(0)
	require.ErrorIs(t, d.Corrupt("a", 0, 8), ErrBadBit)
	buf := make([]byte, 5)
	n, err := f.ReadAt(buf, 1)
	require.Equal(t, 2, n)
	require.ErrorIs(t, err, io.EOF)
	_, err = f.ReadAt(buf, 10)
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, f.Close())
	require.ErrorIs(t, f.Close(), host.ErrClosed)
	_, err = f.ReadAt(buf, 0)
	require.ErrorIs(t, err, host.ErrClosed)
	var syncErr error
	f.Sync(func(err error) { syncErr = err })
	w.RunUntilIdle(0)
	require.ErrorIs(t, syncErr, host.ErrClosed)
	require.ErrorIs(t, d.SetSlow(0), ErrBadConfig)
	require.ErrorIs(t, d.SetCapacity(-1), ErrBadConfig)
}

func TestDiskCapacity(t *testing.T) {
	w, d := newTestDisk(t)
	require.NoError(t, d.SetCapacity(10))
	f, _ := d.Create("a")
	_, err := f.WriteAt(make([]byte, 8), 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("abc"), 8)
	require.ErrorIs(t, err, host.ErrNoSpace)
	cur, _ := d.Contents("a")
	require.Len(t, cur, 8, "a failed write changes nothing")
	_, err = f.WriteAt([]byte("ab"), 8) // exactly full
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("zz"), 0) // overwrite needs no space
	require.NoError(t, err)
	require.ErrorIs(t, f.Truncate(11), host.ErrNoSpace)
	require.NoError(t, f.Truncate(4))
	require.Equal(t, int64(4), d.Used())
	require.NoError(t, d.SetCapacity(0))
	_, err = f.WriteAt(make([]byte, 100), 0)
	require.NoError(t, err)
	_ = w
}

func TestDiskCorruptAndSlow(t *testing.T) {
	w, d := newTestDisk(t)
	f, _ := d.Create("a")
	_, _ = f.WriteAt([]byte{0, 0, 0}, 0)
	f.Sync(nil)
	w.RunUntilIdle(0)
	require.NoError(t, d.Corrupt("a", 1, 3))
	got, _ := d.DurableBytes("a")
	require.Equal(t, []byte{0, 8, 0}, got)
	c, err := d.CorruptRandom(w.Rand("test"))
	require.NoError(t, err)
	require.Equal(t, "a", c.Name)
	_, err = w.AddDisk(2).CorruptRandom(w.Rand("test"))
	require.True(t, errors.Is(err, ErrNothingToCorrupt))

	// A slow disk takes proportionally longer to sync.
	start := w.Elapsed()
	f.Sync(nil)
	w.RunUntilIdle(0)
	normal := w.Elapsed() - start
	require.NoError(t, d.SetSlow(1000))
	start = w.Elapsed()
	f.Sync(nil)
	w.RunUntilIdle(0)
	require.Greater(t, w.Elapsed()-start, 100*normal/2)
}

func TestDiskRenameRemove(t *testing.T) {
	w, d := newTestDisk(t)
	a, _ := d.Create("a")
	_, _ = a.WriteAt([]byte("A"), 0)
	b, _ := d.Create("b")
	_, _ = b.WriteAt([]byte("B"), 0)
	a.Sync(nil)
	b.Sync(nil)
	w.RunUntilIdle(0)
	require.NoError(t, d.Rename("a", "b"))
	names, _ := d.List()
	require.Equal(t, []string{"b"}, names)
	got, _ := d.DurableBytes("b")
	require.Equal(t, "A", string(got))
	require.Equal(t, "b", a.Name())
	d.Crash()
	names, _ = d.List()
	require.Equal(t, []string{"b"}, names, "metadata is durable at once")
	require.NoError(t, d.Remove("b"))
	names, _ = d.List()
	require.Empty(t, names)
	require.Equal(t, int64(0), d.Used())
}

func TestDiskLoseSynced(t *testing.T) {
	w, d := newTestDisk(t)
	_, err := d.LoseSynced(w.Rand("t"))
	require.ErrorIs(t, err, ErrNothingToLose)
	f, _ := d.Create("a")
	_, _ = f.WriteAt(make([]byte, 2000), 0)
	f.Sync(nil)
	w.RunUntilIdle(0)
	l, err := d.LoseSynced(w.Rand("t"))
	require.NoError(t, err)
	require.Equal(t, Loss{Name: "a", From: 2000, To: l.To}, l)
	require.Less(t, l.To, int64(2000))
	require.Zero(t, l.To%512)
	got, _ := d.DurableBytes("a")
	require.Len(t, got, int(l.To))
	require.Equal(t, l.To, f.Size())
	require.Equal(t, l.To, d.Used())
}

// TestDiskPendingBytesSurviveCompaction: writes issued while a sync is in
// flight keep their own bytes through the reuse and compaction of the
// file's pending buffer, even when the caller reuses its write buffer.
func TestDiskPendingBytesSurviveCompaction(t *testing.T) {
	w, d := newTestDisk(t)
	f, err := d.Create("a")
	require.NoError(t, err)
	buf := make([]byte, 40<<10)
	var want []byte
	off := int64(0)
	for i := range 6 {
		for j := range buf {
			buf[j] = byte(i*7 + j)
		}
		_, err = f.WriteAt(buf, off)
		require.NoError(t, err)
		want = append(want, buf...)
		off += int64(len(buf))
		// Each sync covers the writes before it; the next write lands
		// before it completes, so the file never catches up fully.
		if i > 0 {
			require.True(t, w.Step())
		}
		f.Sync(func(err error) { require.NoError(t, err) })
	}
	require.LessOrEqual(t, len(d.files["a"].pend), 2*len(buf), "pending buffer compacted")
	f.Sync(func(err error) { require.NoError(t, err) })
	require.True(t, w.RunUntilIdle(0))
	got, _ := d.DurableBytes("a")
	require.Equal(t, want, got)
}

// TestLoseDirentsKeepsOnlySyncedDirectory: after a crash, LoseDirents
// falls back to the directory of the last completed SyncDir: files created
// since vanish, renames are undone, removed files return (with their
// durable contents).
func TestLoseDirentsKeepsOnlySyncedDirectory(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	d := w.AddDisk(1)
	mk := func(name, data string) host.File {
		f, err := d.Create(name)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte(data), 0)
		require.NoError(t, err)
		f.Sync(func(err error) { require.NoError(t, err) })
		return f
	}
	mk("kept", "k")
	mk("gone-later", "g")
	mk("tmp", "t")
	synced := false
	d.SyncDir(func(err error) { require.NoError(t, err); synced = true })
	w.RunFor(time.Second)
	require.True(t, synced)
	mk("new", "n")
	require.NoError(t, d.Rename("tmp", "final"))
	require.NoError(t, d.Remove("gone-later"))
	names, _ := d.List()
	require.Equal(t, []string{"final", "kept", "new"}, names)
	w.RunFor(time.Second)

	d.Crash()
	require.Equal(t, 4, d.LoseDirents(), "new and final vanish, gone-later and tmp return")
	names, _ = d.List()
	require.Equal(t, []string{"gone-later", "kept", "tmp"}, names)
	data, err := d.DurableBytes("tmp")
	require.NoError(t, err)
	require.Equal(t, []byte("t"), data)
	require.Equal(t, int64(3), d.Used())

	// A SyncDir lost in a crash makes nothing durable.
	_, err = d.Create("x")
	require.NoError(t, err)
	d.SyncDir(func(error) { t.Fatal("a crashed disk's directory sync completed") })
	d.Crash()
	w.RunFor(time.Second)
	require.Equal(t, 1, d.LoseDirents())
}

// writeAt writes p at off: at the end it appends, inside it overwrites,
// past the end it zeroes the gap, even where the spare capacity holds
// stale bytes (a file truncated and written again).
func TestWriteAt(t *testing.T) {
	stale := func(s string, extra int) []byte {
		b := append([]byte(s), make([]byte, extra)...)
		for i := len(s); i < len(b); i++ {
			b[i] = 'x'
		}
		return b[:len(s)]
	}
	cases := []struct {
		name string
		b    []byte
		off  int64
		p    string
		want string
	}{
		{"empty file", nil, 0, "abc", "abc"},
		{"append", []byte("abc"), 3, "de", "abcde"},
		{"append into stale capacity", stale("abc", 8), 3, "de", "abcde"},
		{"overwrite inside", []byte("abcdef"), 1, "XY", "aXYdef"},
		{"overwrite across the end", []byte("abc"), 2, "XYZ", "abXYZ"},
		{"gap", []byte("ab"), 4, "Z", "ab\x00\x00Z"},
		{"gap in stale capacity", stale("ab", 8), 4, "Z", "ab\x00\x00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, string(writeAt(c.b, c.off, []byte(c.p))))
		})
	}
}

// TestDirSyncsDoNotGoBack: a directory sync called earlier that completes
// after a later one (sync latencies are drawn per call) leaves the later
// one's directory durable: DirNames and LoseDirents keep a file created
// between the two calls.
func TestDirSyncsDoNotGoBack(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	d := w.AddDisk(1)
	_, err := d.Create("a")
	require.NoError(t, err)
	var order []string
	require.NoError(t, d.SetSlow(1000)) // the first call completes last
	d.SyncDir(func(err error) { require.NoError(t, err); order = append(order, "first") })
	require.NoError(t, d.SetSlow(1))
	_, err = d.Create("b")
	require.NoError(t, err)
	d.SyncDir(func(err error) { require.NoError(t, err); order = append(order, "second") })
	w.RunFor(10 * time.Second)
	require.Equal(t, []string{"second", "first"}, order)
	require.Equal(t, []string{"a", "b"}, d.DirNames())
	d.Crash()
	require.Zero(t, d.LoseDirents())
}

// TestNotExistErrorText pins the text of a missing file's error to the
// one fmt.Errorf gave before it was formatted lazily.
func TestNotExistErrorText(t *testing.T) {
	w := NewWorld(1, DefaultConfig())
	d := w.AddDisk(3)
	err := d.remove(0, "gone.tmp")
	require.ErrorIs(t, err, host.ErrNotExist)
	require.Equal(t, fmt.Errorf("%w: disk %d: %q", host.ErrNotExist, host.NodeID(3), "gone.tmp").Error(), err.Error())
}

// The durable bytes that a synced append takes from the volatile ones,
// or that a crash leaves as the volatile view, stay as they were synced
// whatever is written, truncated or corrupted afterwards, on either side.
func TestDiskSharedBytesStayApart(t *testing.T) {
	sync := func(w *World, f host.File) {
		f.Sync(func(err error) { require.NoError(t, err) })
		require.True(t, w.RunUntilIdle(0))
	}
	check := func(d *Disk, durable, cur string) {
		t.Helper()
		got, _ := d.DurableBytes("a")
		require.Equal(t, durable, string(got), "durable")
		got, _ = d.Contents("a")
		require.Equal(t, cur, string(got), "volatile")
	}
	for _, c := range []struct {
		name  string
		after func(w *World, d *Disk, f host.File) (durable, cur string)
	}{
		{"overwrite", func(w *World, d *Disk, f host.File) (string, string) {
			_, err := f.WriteAt([]byte("XY"), 1)
			require.NoError(t, err)
			return "abcdefgh", "aXYdefgh"
		}},
		{"overwrite synced", func(w *World, d *Disk, f host.File) (string, string) {
			_, err := f.WriteAt([]byte("XY"), 1)
			require.NoError(t, err)
			sync(w, f)
			_, err = f.WriteAt([]byte("Z"), 0)
			require.NoError(t, err)
			return "aXYdefgh", "ZXYdefgh"
		}},
		{"truncate and grow", func(w *World, d *Disk, f host.File) (string, string) {
			require.NoError(t, f.Truncate(2))
			require.NoError(t, f.Truncate(4))
			return "abcdefgh", "ab\x00\x00"
		}},
		{"truncate synced, append", func(w *World, d *Disk, f host.File) (string, string) {
			require.NoError(t, f.Truncate(2))
			sync(w, f)
			_, err := f.WriteAt([]byte("xy"), 2)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(6))
			sync(w, f)
			_, err = f.WriteAt([]byte("Q"), 0)
			require.NoError(t, err)
			return "abxy\x00\x00", "Qbxy\x00\x00"
		}},
		{"append, overwrite in one sync", func(w *World, d *Disk, f host.File) (string, string) {
			_, err := f.WriteAt([]byte("ij"), 8)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte("K"), 2)
			require.NoError(t, err)
			sync(w, f)
			_, err = f.WriteAt([]byte("L"), 9)
			require.NoError(t, err)
			return "abKdefghij", "abKdefghiL"
		}},
		{"truncate to 0, rewrite, sync, append", func(w *World, d *Disk, f host.File) (string, string) {
			require.NoError(t, f.Truncate(0))
			_, err := f.WriteAt([]byte("ab"), 0) // into pend, shared
			require.NoError(t, err)
			sync(w, f)
			_, err = f.WriteAt([]byte("XY"), 2) // pend's array again
			require.NoError(t, err)
			return "ab", "abXY"
		}},
		{"crash, write", func(w *World, d *Disk, f host.File) (string, string) {
			_, err := f.WriteAt([]byte("ij"), 8) // lost
			require.NoError(t, err)
			d.Crash()
			g, err := d.Open("a")
			require.NoError(t, err)
			_, err = g.WriteAt([]byte("X"), 0)
			require.NoError(t, err)
			return "abcdefgh", "Xbcdefgh"
		}},
		{"crash, append, sync, write", func(w *World, d *Disk, f host.File) (string, string) {
			d.Crash()
			g, err := d.Open("a")
			require.NoError(t, err)
			_, err = g.WriteAt([]byte("ij"), 8)
			require.NoError(t, err)
			sync(w, g)
			_, err = g.WriteAt([]byte("X"), 1)
			require.NoError(t, err)
			return "abcdefghij", "aXcdefghij"
		}},
		{"corrupt", func(w *World, d *Disk, f host.File) (string, string) {
			d.Crash()
			require.NoError(t, d.Corrupt("a", 0, 0))
			g, err := d.Open("a")
			require.NoError(t, err)
			_, err = g.WriteAt([]byte("Y"), 1)
			require.NoError(t, err)
			return "`bcdefgh", "`Ycdefgh"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, d := newTestDisk(t)
			f, err := d.Create("a")
			require.NoError(t, err)
			// An append at 0 then two more, synced together and apart.
			for _, s := range []struct {
				p   string
				off int64
			}{{"ab", 0}, {"cd", 2}} {
				_, err = f.WriteAt([]byte(s.p), s.off)
				require.NoError(t, err)
			}
			sync(w, f)
			_, err = f.WriteAt([]byte("efgh"), 4)
			require.NoError(t, err)
			sync(w, f)
			check(d, "abcdefgh", "abcdefgh")
			durable, cur := c.after(w, d, f)
			check(d, durable, cur)
		})
	}
}
