package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// parseTraceFilter builds the trace filter of -trace-from, -trace-to and
// -trace-node (set says which were given). They select lines of the
// trace text only, so they need -trace or -out; the run and its trace
// hash do not depend on them.
func parseTraceFilter(from, to, nodes string, set map[string]bool, traced bool) (sim.TraceFilter, error) {
	var f sim.TraceFilter
	given := set["trace-from"] || set["trace-to"] || set["trace-node"]
	if !given {
		return f, nil
	}
	if !traced {
		return f, usagef("-trace-from, -trace-to and -trace-node select trace lines: give -trace or -out too")
	}
	var err error
	if set["trace-from"] {
		if f.From, err = parseTraceTime("-trace-from", from); err != nil {
			return f, err
		}
	}
	if set["trace-to"] {
		if f.To, err = parseTraceTime("-trace-to", to); err != nil {
			return f, err
		}
		if f.To <= f.From {
			return f, usagef("-trace-to %v must be after -trace-from %v", f.To, f.From)
		}
	}
	if set["trace-node"] {
		if f.Nodes, err = parseNodeList(nodes); err != nil {
			return f, err
		}
	}
	return f, nil
}

// parseTraceTime parses a virtual time since the start of the run: a Go
// duration, not negative.
func parseTraceTime(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usagef("%s: %q is not a Go duration such as 1.5s or 300ms", flag, s)
	}
	if d < 0 {
		return 0, usagef("%s: %v is negative (it is virtual time since the start of the run)", flag, d)
	}
	return d, nil
}

// parseNodeList parses -trace-node: a comma list of node IDs (replicas
// are 1..N, clients 1001 and up), each > 0.
func parseNodeList(s string) ([]host.NodeID, error) {
	var ids []host.NodeID
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil || v == 0 {
			return nil, usagef("-trace-node: %q is not a node ID (a positive integer; a list is comma separated)", part)
		}
		ids = append(ids, host.NodeID(v))
	}
	return ids, nil
}
