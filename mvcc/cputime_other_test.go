//go:build !unix

package mvcc

import "time"

// cpuTime is unknown here; per-CPU-second rates are then not reported.
func cpuTime() time.Duration { return 0 }
