package main

import (
	"bufio"
	"bytes"
	"fmt"
	"sync"

	"github.com/seedkv/seedkv/harness"
)

// checkDeterminism runs seed twice at once, in two goroutines (so two
// worlds share the process, as under -parallel), and compares the trace
// hashes. If they differ it reruns both keeping the trace text and names
// the first event where the runs part; the seed then fails. cfg's
// TraceWriter, if any, receives the first run's trace only.
func checkDeterminism(cfg harness.Config, seed uint64) harness.Result {
	second := cfg
	second.TraceWriter = nil
	a, b := runPair(cfg, second, seed)
	if a.TraceHash == b.TraceHash {
		return a
	}
	var ta, tb bytes.Buffer
	cfg.TraceWriter, second.TraceWriter = &ta, &tb
	runPair(cfg, second, seed)
	a.Verdict = harness.Fail
	a.Reason = fmt.Sprintf("nondeterminism: two runs of seed %d gave trace hashes %016x and %016x; %s",
		seed, a.TraceHash, b.TraceHash, firstDifference(ta.Bytes(), tb.Bytes()))
	return a
}

// runPair runs the seed under both configurations concurrently.
func runPair(ca, cb harness.Config, seed uint64) (a, b harness.Result) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b = runSeed(cb, seed)
	}()
	a = runSeed(ca, seed)
	wg.Wait()
	return a, b
}

// firstDifference names the first line (event) where two traces differ,
// with both lines, on one line of text.
func firstDifference(a, b []byte) string {
	sa, sb := bufio.NewScanner(bytes.NewReader(a)), bufio.NewScanner(bytes.NewReader(b))
	sa.Buffer(nil, 1<<20)
	sb.Buffer(nil, 1<<20)
	for line := 1; ; line++ {
		okA, okB := sa.Scan(), sb.Scan()
		switch {
		case !okA && !okB:
			return "the trace texts are equal (the difference is in state the trace text does not show)"
		case !okA:
			return fmt.Sprintf("first difference at event %d: run 1 ended, run 2 %q", line, sb.Text())
		case !okB:
			return fmt.Sprintf("first difference at event %d: run 1 %q, run 2 ended", line, sa.Text())
		case sa.Text() != sb.Text():
			return fmt.Sprintf("first difference at event %d: run 1 %q, run 2 %q", line, sa.Text(), sb.Text())
		}
	}
}
