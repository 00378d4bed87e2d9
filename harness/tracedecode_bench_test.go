package harness

import (
	"bytes"
	"testing"
	"time"
)

// lineCounter is a trace writer that counts lines (one per event) and
// keeps nothing.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// BenchmarkDecodedTrace measures what the decoded trace costs: each
// iteration runs one default seed twice, without a trace and with the
// decoded trace written to a line counter (alternating which goes first,
// so that drift in machine load cancels), and requires the same trace
// hash both ways. It reports the CPU time per event each way (events are
// the lines of the trace) and the trace's cost as a multiple of the run
// without it.
//
//	go test ./harness -run '^$' -bench BenchmarkDecodedTrace -benchtime 20x
func BenchmarkDecodedTrace(b *testing.B) {
	requireNode(b)
	cfg := testConfig()
	var on, off time.Duration
	events := 0
	seed := uint64(1)
	for b.Loop() {
		first := seed%2 == 0
		var hashes [2]uint64
		for i, traced := range []bool{first, !first} {
			c := cfg
			var lc lineCounter
			if traced {
				c.TraceWriter = &lc
			}
			r, spent := timedRun(c, seed)
			if r.Verdict != Pass {
				b.Fatalf("seed %d (trace %v): %s: %s", seed, traced, r.Verdict, firstLine(r.Reason))
			}
			hashes[i] = r.TraceHash
			if traced {
				on += spent
				events += lc.lines
			} else {
				off += spent
			}
		}
		if hashes[0] != hashes[1] {
			b.Fatalf("seed %d: trace hash differs with and without the decoded trace", seed)
		}
		seed++
	}
	b.ReportMetric(float64(on.Nanoseconds())/float64(events), "cpu-ns/event-decoded")
	b.ReportMetric(float64(off.Nanoseconds())/float64(events), "cpu-ns/event-notrace")
	b.ReportMetric(on.Seconds()/off.Seconds(), "decoded/notrace")
}
