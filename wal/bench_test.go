package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

const benchEntrySize = 128

// BenchmarkFsync is the disk's own rate: append 128 bytes to a file in the
// temp dir and flush it, with fsync and with fdatasync (what OSDir's Sync
// uses). The WAL's one-entry-per-sync rate is judged against it.
func BenchmarkFsync(b *testing.B) {
	for _, mode := range []string{"fsync", "fdatasync", "fdatasync-prezeroed"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			require.NoError(b, err)
			defer f.Close()
			buf := make([]byte, benchEntrySize)
			if mode == "fdatasync-prezeroed" {
				_, err := f.WriteAt(make([]byte, 64<<20), 0)
				require.NoError(b, err)
				require.NoError(b, f.Sync())
			}
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				_, err := f.WriteAt(buf, off)
				require.NoError(b, err)
				off += int64(len(buf))
				if mode == "fsync" {
					err = f.Sync()
				} else {
					err = datasync(f)
				}
				require.NoError(b, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
		})
	}
}

// benchDisk is a disk to benchmark on and a way to wait for a sync.
type benchDisk struct {
	fs   host.FS
	opts Options
	wait func() // runs the world until pending syncs completed
}

// benchPrealloc is the preallocation the "os-prealloc" runs use.
const benchPrealloc = 1 << 20

func osBenchDisk(b *testing.B) benchDisk {
	fs, err := OSDir(b.TempDir())
	require.NoError(b, err)
	return benchDisk{fs: fs, wait: func() {}}
}

func simBenchDisk(b *testing.B) benchDisk {
	w := sim.NewWorld(1, sim.DefaultConfig())
	return benchDisk{fs: w.AddDisk(1), wait: func() { w.RunUntilIdle(0) }}
}

// BenchmarkAppendSync saves batches of 128-byte entries and syncs after
// each batch, on the OS disk (temp dir) and the simulated disk (wall-clock
// rate of the code; the virtual fsync latency costs no wall time).
func BenchmarkAppendSync(b *testing.B) {
	for _, disk := range []struct {
		name string
		mk   func(*testing.B) benchDisk
	}{{"os", osBenchDisk}, {"os-prealloc", func(b *testing.B) benchDisk {
		d := osBenchDisk(b)
		d.opts.Preallocate = benchPrealloc
		return d
	}}, {"sim", simBenchDisk}} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", disk.name, batch), func(b *testing.B) {
				benchAppendSync(b, disk.mk(b), batch)
			})
		}
	}
}

func benchAppendSync(b *testing.B, d benchDisk, batch int) {
	w, err := Create(d.fs, testMeta, d.opts)
	require.NoError(b, err)
	defer w.Close()
	es := make([]Entry, batch)
	data := make([]byte, benchEntrySize)
	next := uint64(1)
	var failed error
	done := func(err error) {
		if err != nil {
			failed = err
		}
	}
	b.SetBytes(int64(batch * (HeaderSize + entryFixed + benchEntrySize)))
	b.ReportAllocs()
	for b.Loop() {
		for i := range es {
			es[i] = Entry{Index: next, Term: 1, Data: data}
			next++
		}
		if err := w.Save(HardState{Term: 1, Commit: next - 1}, es); err != nil {
			b.Fatal(err)
		}
		w.Sync(done)
		d.wait()
	}
	require.NoError(b, failed)
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
}

// BenchmarkVsFsync interleaves, in one run, a raw 128-byte append plus
// fdatasync on one file (the disk's own rate, as in BenchmarkFsync) and a
// WAL Save+Sync of a batch of 128-byte entries on the OS disk, timing each,
// so the ratio is measured under the same disk conditions.
func BenchmarkVsFsync(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, pre := range []int64{0, benchPrealloc} {
			b.Run(fmt.Sprintf("batch=%d/prealloc=%d", batch, pre), func(b *testing.B) {
				benchVsFsync(b, batch, pre)
			})
		}
	}
}

func benchVsFsync(b *testing.B, batch int, prealloc int64) {
	dir := b.TempDir()
	raw, err := os.Create(filepath.Join(dir, "raw"))
	require.NoError(b, err)
	defer raw.Close()
	fs, err := OSDir(filepath.Join(dir, "wal"))
	require.NoError(b, err)
	w, err := Create(fs, testMeta, Options{Preallocate: prealloc})
	require.NoError(b, err)
	defer w.Close()
	data := make([]byte, benchEntrySize)
	es := make([]Entry, batch)
	var rawTime, walTime time.Duration
	var off int64
	var failed error
	next := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		_, err := raw.WriteAt(data, off)
		require.NoError(b, err)
		require.NoError(b, datasync(raw))
		off += int64(len(data))
		t1 := time.Now()
		for i := range es {
			es[i] = Entry{Index: next, Term: 1, Data: data}
			next++
		}
		require.NoError(b, w.Save(HardState{Term: 1, Commit: next - 1}, es))
		w.Sync(func(err error) { failed = err })
		require.NoError(b, failed)
		t2 := time.Now()
		rawTime += t1.Sub(t0)
		walTime += t2.Sub(t1)
	}
	rawRate := float64(b.N) / rawTime.Seconds()
	walRate := float64(b.N) / walTime.Seconds()
	b.ReportMetric(rawRate, "raw-syncs/s")
	b.ReportMetric(walRate, "wal-syncs/s")
	b.ReportMetric(walRate*float64(batch), "wal-records/s")
	b.ReportMetric(walRate/rawRate, "ratio")
}

// BenchmarkReplay opens a WAL of about 64 MiB of 128-byte entries (page
// cache warm) and replays it.
func BenchmarkReplay(b *testing.B) {
	fs, dir := tempFS(b)
	w, err := Create(fs, testMeta, Options{SegmentSize: 16 << 20})
	require.NoError(b, err)
	data := make([]byte, benchEntrySize)
	es := make([]Entry, 1000)
	next := uint64(1)
	for range 64 << 20 / (1000 * (HeaderSize + entryFixed + benchEntrySize)) {
		for i := range es {
			es[i] = Entry{Index: next, Term: 1, Data: data}
			next++
		}
		require.NoError(b, w.Save(HardState{Term: 1, Commit: next - 1}, es))
		syncNow(b, w)
	}
	require.NoError(b, w.Close())
	var size int64
	names, err := fs.List()
	require.NoError(b, err)
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		require.NoError(b, err)
		size += st.Size()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		w, rep, err := Open(fs, Options{SegmentSize: 16 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if uint64(len(rep.Entries)) != next-1 {
			b.Fatalf("replayed %d entries, want %d", len(rep.Entries), next-1)
		}
		w.Close()
	}
	b.ReportMetric(float64(b.N)*float64(next-1)/b.Elapsed().Seconds(), "records/s")
}
