//go:build unix

package mvcc

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (all threads, including
// the garbage collector's). Benchmarks report rates per CPU second too, a
// figure that does not depend on what else the machine is running.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
