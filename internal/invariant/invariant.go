// Package invariant is the switch behind seedkv's always-on assertions.
// Each package asserts its invariants where they live, marked
// `// Invariant:` next to the check (ARCHITECTURE.md lists them):
//
//	if invariant.Checks && broken {
//		invariant.Violated("raft: commit index went back from %d to %d", was, now)
//	}
//
// The checks are on in every build and every run. Checks exists only so
// that one benchmark run can measure what they cost (harness
// BenchmarkSeed/asserts=off); nothing else turns it off. A violation is a
// bug in seedkv, not bad input: bad input gets typed errors.
package invariant

import (
	"errors"
	"fmt"
)

// Checks turns the assertions on (the default). A benchmark may turn it
// off, on one goroutine, between runs; nothing else should.
var Checks = true

// ErrViolated is wrapped by the panic value of a violated invariant.
var ErrViolated = errors.New("invariant violated")

// Violated panics with an error wrapping ErrViolated and saying which
// invariant broke, and how.
func Violated(format string, args ...any) {
	panic(fmt.Errorf("%w: "+format, append([]any{ErrViolated}, args...)...))
}
