//go:build linux

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLongSeedPeakRSS builds simrun and runs one-hour virtual 5-node
// seeds in it, one subprocess per seed (seeds 1, 2, ... and seed 8, which
// draws no compaction of its own), as a user would:
//
//	simrun -seeds 1 -seed S -duration 1h -parallel 1
//
// and reports the highest peak RSS (getrusage of the child: target at
// most 200 MB) and the CPU seconds per seed. Run it with -benchtime Nx for
// N seeds.
func BenchmarkLongSeedPeakRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "simrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	seeds := []uint64{8, 1, 2, 3, 4, 5, 6, 7}
	var peak int64
	var cpu time.Duration
	n := 0
	for b.Loop() {
		seed := seeds[n%len(seeds)] + uint64(n/len(seeds))*8
		cmd := exec.Command(bin, "-seeds", "1", "-seed", strconv.FormatUint(seed, 10), "-duration", "1h", "-parallel", "1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("seed %d: %v\n%s", seed, err, out.Bytes())
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			b.Skip("no rusage on this platform")
		}
		peak = max(peak, ru.Maxrss) // KiB on Linux
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		b.Logf("seed %d: peak RSS %d MB, cpu %v", seed, ru.Maxrss>>10, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
		n++
	}
	b.ReportMetric(float64(peak)/1024, "peak-MB")
	b.ReportMetric(cpu.Seconds()/float64(n), "cpu-s/seed")
	b.ReportMetric(float64(n), "seeds")
}
