package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

// FuzzParseArgs: any command line either parses into options that pass
// their own checks or gets a one-line usage error; it never panics.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"", "-seeds 5 -seed 9", "-shard 2/3", "-shard 0/0", "-faults crash,partition",
		"-reads serializable", "-duration 1h1s", "-seed 18446744073709551615 -seeds 2", "-nodes -1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseArgs(strings.Fields(line))
		var ue *usageError
		switch {
		case err == nil:
			if cerr := o.check(); cerr != nil {
				t.Fatalf("%q parsed but fails its check: %v", line, cerr)
			}
			if n := uint64(len(o.seedList())); n > o.seeds || n == 0 && o.shardI <= o.seeds {
				t.Fatalf("%q: %d seeds in shard of %d", line, n, o.seeds)
			}
		case errors.Is(err, flag.ErrHelp):
		case errors.As(err, &ue):
			if strings.Contains(ue.Error(), "\n") {
				t.Fatalf("%q: multi-line usage error %q", line, ue.Error())
			}
		default:
			t.Fatalf("%q: unexpected error type %T: %v", line, err, err)
		}
	})
}
