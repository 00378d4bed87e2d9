//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLongSeedPeakRSS builds simrun and runs one-hour virtual 5-node
// seeds in it (seeds 1, 2, 3, ...), one subprocess per seed, as a user
// would, but with GOMEMLIMIT=off (no soft memory limit):
//
//	GOMEMLIMIT=off simrun -seeds 1 -seed S -nodes 5 -duration 1h -parallel 1
//
// (-nodes 5: without it simrun draws 3 to 7 replicas per seed, and seed 2
// draws 7.)
// and reports the highest peak RSS (getrusage of the child: target at most
// 200 MB), the CPU seconds per seed and how many seeds did not pass (a
// failing seed's memory counts too). Run it with -benchtime Nx for N seeds.
func BenchmarkLongSeedPeakRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "simrun")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var peak int64
	var cpu time.Duration
	seed, failed := uint64(0), 0
	for b.Loop() {
		seed++
		cmd := exec.Command(bin, "-seeds", "1", "-seed", strconv.FormatUint(seed, 10), "-nodes", "5", "-duration", "1h", "-parallel", "1")
		// No soft memory limit (simrun's MemoryLimitPerWorker): the
		// figure is what the run keeps under its own collector target.
		cmd.Env = append(os.Environ(), "GOMEMLIMIT=off")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == exitFail:
			failed++
			b.Logf("seed %d did not pass: %s", seed, firstLine(out.String()))
		case err != nil:
			b.Fatalf("seed %d: %v\n%s", seed, err, out.Bytes())
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			b.Skip("no rusage on this platform")
		}
		used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		peak = max(peak, ru.Maxrss) // KiB on Linux
		cpu += used
		b.Logf("seed %d: peak RSS %d MB, cpu %v", seed, ru.Maxrss>>10, used)
	}
	b.ReportMetric(float64(peak)/1024, "peak-MB")
	b.ReportMetric(cpu.Seconds()/float64(seed), "cpu-s/seed")
	b.ReportMetric(float64(failed), "failed-seeds")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
