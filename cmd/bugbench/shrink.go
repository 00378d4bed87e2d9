package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// shrinkSize is the part of a size in simrun -shrink's -json line that
// bugbench reads.
type shrinkSize struct {
	Events   uint64 `json:"events"`
	Ops      int    `json:"ops"`
	Episodes int    `json:"episodes"`
	Nodes    int    `json:"nodes"`
}

// shrinkResult is what simrun -shrink made of a bug's first failing seed.
type shrinkResult struct {
	Seed      uint64     `json:"seed"`
	Class     string     `json:"class"`
	Reason    string     `json:"reason"`
	Before    shrinkSize `json:"before"`
	After     shrinkSize `json:"after"`
	Runs      int        `json:"runs"`
	Exhausted bool       `json:"exhausted"`
	Verified  bool       `json:"verified"`
	Replay    string     `json:"replay"`
	WallS     float64    `json:"wall_s"`
	Error     string     `json:"error,omitempty"`
}

// runShrink runs the mutant's simrun -shrink on seed with flags and the
// -shrink-budget, its scenario file going to a directory of the copy.
func runShrink(o *options, bin, dir string, flags []string, seed uint64) *shrinkResult {
	r := &shrinkResult{Seed: seed}
	start := time.Now()
	defer func() { r.WallS = time.Since(start).Seconds() }()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	out := dir + "/shrunk"
	if err := os.MkdirAll(out, 0o755); err != nil {
		r.Error = err.Error()
		return r
	}
	args := append([]string{"-shrink", "-seed", strconv.FormatUint(seed, 10), "-budget", o.shrinkBudget,
		"-json", "-parallel", "1", "-out", out}, flags...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), r); jerr != nil {
		r.Error = "simrun -shrink: " + crashLine(stderr.String(), fmt.Errorf("%v; %v", err, jerr))
	}
	return r
}

// checkShrinkBudget validates -shrink-budget: runs or a wall time.
func checkShrinkBudget(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return fmt.Errorf("-shrink-budget %d must be at least 1 run", n)
		}
		return nil
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		return fmt.Errorf("-shrink-budget %q is neither a number of runs nor a positive duration", s)
	}
	return nil
}

// writeShrinkTable prints, per caught bug, the sizes before and after
// shrinking and the median reductions.
func (r *report) writeShrinkTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bug\tseed\tclass\tevents before\tafter\tx\tops before\tafter\tx\tepisodes\tnodes\truns\twall s\tverified")
	var ev, ops, wall []float64
	for _, b := range r.Bugs {
		if b.Default == nil || b.Default.Shrink == nil {
			continue
		}
		s := b.Default.Shrink
		if s.Error != "" {
			fmt.Fprintf(tw, "%s\t%d\tERROR %s\n", b.Name, s.Seed, s.Error)
			continue
		}
		e, o := reduction(float64(s.Before.Events), float64(s.After.Events)), reduction(float64(s.Before.Ops), float64(s.After.Ops))
		ev, ops, wall = append(ev, e), append(ops, o), append(wall, s.WallS)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.1f\t%d\t%d\t%.1f\t%d→%d\t%d→%d\t%d\t%.1f\t%v\n", b.Name, s.Seed, s.Class,
			s.Before.Events, s.After.Events, e, s.Before.Ops, s.After.Ops, o,
			s.Before.Episodes, s.After.Episodes, s.Before.Nodes, s.After.Nodes, s.Runs, s.WallS, s.Verified)
	}
	tw.Flush()
	fmt.Fprintf(w, "shrink: bugs=%d median_events_reduction=%.1fx median_ops_reduction=%.1fx median_wall=%.1fs max_wall=%.1fs budget=%s\n",
		len(ev), median(ev), median(ops), median(wall), slices.Max(append(wall, 0)), r.o.shrinkBudget)
}

// reduction is before/after (after 0 counts as 1).
func reduction(before, after float64) float64 { return before / max(after, 1) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return (ys[(len(ys)-1)/2] + ys[len(ys)/2]) / 2
}

// shrinkProgress is the shrink part of a bug's progress line.
func shrinkProgress(s *shrinkResult) string {
	if s == nil {
		return ""
	}
	if s.Error != "" {
		return " shrink=ERROR " + strings.TrimSpace(s.Error)
	}
	return fmt.Sprintf(" shrink: events %d->%d ops %d->%d in %.0fs", s.Before.Events, s.After.Events, s.Before.Ops, s.After.Ops, s.WallS)
}
