package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// score is the benchmark's summary over the default-swarm runs.
type score struct {
	Caught int `json:"caught"`
	Total  int `json:"total"`
	// Errors counts bugs that could not be measured (not in Total).
	Errors int `json:"errors"`
	// MedianFirst is the median first failing seed over every measured
	// bug, a missed bug counting as never failing; nil when that median
	// is a miss.
	MedianFirst *float64 `json:"median_first_failing_seed"`
	// MedianFirstCaught is the median over the caught bugs only.
	MedianFirstCaught *float64 `json:"median_first_failing_seed_caught"`
	// TargetedCaught counts bugs caught by the default or targeted run.
	TargetedCaught int `json:"caught_default_or_targeted,omitempty"`
	// UnitCaught counts bugs the package's unit tests caught (with -unit).
	UnitCaught int `json:"unit_caught,omitempty"`
	// Equivalent counts the measured mutants the catalogue argues cannot
	// show in the system; they are not in Total or the medians.
	Equivalent int `json:"equivalent,omitempty"`
	// EquivalentCaught counts those that failed a seed all the same: the
	// argument no longer holds, and the bug belongs in Total.
	EquivalentCaught int `json:"equivalent_caught,omitempty"`
}

// report is the whole result of a bugbench run.
type report struct {
	o         *options
	Seeds     int         `json:"seeds"`
	FirstSeed uint64      `json:"first_seed"`
	Flags     []string    `json:"flags"`
	Bugs      []bugResult `json:"bugs"`
	Score     score       `json:"score"`
}

func newReport(o *options, results []bugResult) *report {
	r := &report{o: o, Seeds: o.seeds, FirstSeed: o.seed, Flags: append([]string{}, o.extra...), Bugs: results}
	r.Score = computeScore(results, o.seed)
	return r
}

// computeScore summarises results; first is the run's first seed, so a
// first failing seed is counted as its position in the run (1-based).
func computeScore(results []bugResult, first uint64) score {
	var s score
	var all, caught []float64
	for i := range results {
		b := &results[i]
		if b.Error != "" || b.Default == nil {
			s.Errors++
			continue
		}
		if b.Equivalent != "" {
			s.Equivalent++
			if b.Default.Caught {
				s.EquivalentCaught++
			}
			continue
		}
		s.Total++
		pos := float64(-1)
		if b.Default.Caught {
			s.Caught++
			pos = float64(b.Default.First - first + 1)
			if b.Default.RunsToFirst > 0 {
				pos = float64(b.Default.RunsToFirst) // -explore: its seeds are drawn, not counted
			}
			caught = append(caught, pos)
		}
		all = append(all, pos)
		if b.Default.Caught || (b.Targeted != nil && b.Targeted.Caught) {
			s.TargetedCaught++
		}
		if b.Unit != nil && b.Unit.Caught {
			s.UnitCaught++
		}
	}
	s.MedianFirst = medianWithMisses(all)
	s.MedianFirstCaught = medianWithMisses(caught)
	return s
}

// medianWithMisses is the median of xs where -1 means "never": misses sort
// last. It is nil if xs is empty or the median is a miss.
func medianWithMisses(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	ys := slices.Clone(xs)
	slices.SortFunc(ys, func(a, b float64) int {
		switch {
		case a == b:
			return 0
		case a < 0:
			return 1
		case b < 0:
			return -1
		case a < b:
			return -1
		}
		return 1
	})
	n := len(ys)
	lo, hi := ys[(n-1)/2], ys[n/2]
	if lo < 0 || hi < 0 {
		return nil
	}
	m := (lo + hi) / 2
	return &m
}

func (r *report) exitStatus() int {
	if r.Score.Errors > 0 {
		return exitFail
	}
	if r.o.requireCaught && (r.Score.Caught < r.Score.Total || r.Score.EquivalentCaught > 0) {
		return exitFail
	}
	return exitOK
}

func (r *report) writeJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints one row per bug and the score.
func (r *report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"bug", "group", "caught", "first", "failing", "reason"}
	if r.o.targeted {
		head = append(head, "targeted")
	}
	if r.o.unit {
		head = append(head, "unit")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for i := range r.Bugs {
		fmt.Fprintln(tw, strings.Join(r.row(&r.Bugs[i]), "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w, r.scoreLine())
	if r.o.shrink {
		r.writeShrinkTable(w)
	}
}

// row is one bug's table row.
func (r *report) row(b *bugResult) []string {
	if b.Error != "" || b.Default == nil {
		row := []string{b.Name, b.Group, "ERROR", "-", "-", b.Error}
		if r.o.targeted {
			row = append(row, "-")
		}
		if r.o.unit {
			row = append(row, "-")
		}
		return row
	}
	d := b.Default
	caught := caughtWord(d)
	if b.Equivalent != "" {
		caught += " (equivalent)"
	}
	row := []string{b.Name, b.Group, caught, firstWord(d), failingWord(d, r.o.all), reasonWord(d)}
	if r.o.targeted {
		if b.Targeted == nil {
			row = append(row, "-")
		} else {
			row = append(row, caughtWord(b.Targeted)+" "+firstWord(b.Targeted))
		}
	}
	if r.o.unit {
		row = append(row, unitWord(b.Unit))
	}
	return row
}

func caughtWord(s *simResult) string {
	switch {
	case s.Caught:
		return "yes"
	case s.TimedOut:
		return "timeout"
	}
	return "no"
}

func firstWord(s *simResult) string {
	if !s.Caught {
		return "-"
	}
	return strconv.FormatUint(s.First, 10)
}

func failingWord(s *simResult, all bool) string {
	if all {
		return fmt.Sprintf("%d/%d", len(s.Failing), s.SeedsRun)
	}
	return fmt.Sprintf("%d (of %d run)", len(s.Failing), s.SeedsRun)
}

func reasonWord(s *simResult) string {
	switch {
	case s.Caught:
		return truncate(s.Reason, 100)
	case s.errDetail != "":
		return "simrun: " + s.errDetail
	case s.Unknown > 0:
		return fmt.Sprintf("(%d unknown verdicts)", s.Unknown)
	}
	return ""
}

func unitWord(u *unitResult) string {
	if u == nil {
		return "-"
	}
	if u.Caught {
		return "caught"
	}
	return "missed"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (r *report) scoreLine() string {
	s := r.Score
	line := fmt.Sprintf("score: caught=%d/%d median_first_failing_seed=%s median_over_caught=%s seeds=%d",
		s.Caught, s.Total, medianWord(s.MedianFirst, r.Seeds), medianWord(s.MedianFirstCaught, r.Seeds), r.Seeds)
	if r.o.targeted {
		line += fmt.Sprintf(" caught_default_or_targeted=%d/%d", s.TargetedCaught, s.Total)
	}
	if r.o.unit {
		line += fmt.Sprintf(" unit_caught=%d/%d", s.UnitCaught, s.Total)
	}
	if s.Equivalent > 0 {
		line += fmt.Sprintf(" equivalent=%d equivalent_caught=%d", s.Equivalent, s.EquivalentCaught)
	}
	if s.Errors > 0 {
		line += fmt.Sprintf(" errors=%d", s.Errors)
	}
	return line
}

func medianWord(m *float64, seeds int) string {
	if m == nil {
		return fmt.Sprintf(">%d", seeds)
	}
	return strconv.FormatFloat(*m, 'f', -1, 64)
}

// progressLine is one finished bug, for stderr.
func progressLine(b *bugResult) string {
	if b.Error != "" {
		return b.Name + ": ERROR " + b.Error
	}
	if b.Default == nil {
		return b.Name + ": builds"
	}
	s := fmt.Sprintf("%s: caught=%s first=%s seeds_run=%d", b.Name, caughtWord(b.Default), firstWord(b.Default), b.Default.SeedsRun)
	if b.Targeted != nil {
		s += fmt.Sprintf(" targeted=%s/%s", caughtWord(b.Targeted), firstWord(b.Targeted))
	}
	if b.Unit != nil {
		s += " unit=" + unitWord(b.Unit)
	}
	if b.Default.Caught {
		s += fmt.Sprintf(" cpu=%.0fs reason=%q", b.Default.CPUS, b.Default.Reason) + shrinkProgress(b.Default.Shrink)
	} else {
		s += fmt.Sprintf(" cpu=%.0fs unknown=%d", b.Default.CPUS, b.Default.Unknown)
	}
	return s
}

// printList prints the catalogue.
func printList(w io.Writer, o *options) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bug\tgroup\tfile\ttargeted flags\tunit (recorded)\tdescription")
	for _, b := range o.bugs {
		unit := b.Unit
		if unit == "" {
			unit = "-"
		}
		flags := strings.Join(b.Flags, " ")
		if flags == "" {
			flags = "-"
		}
		desc := b.Description
		if b.Equivalent != "" {
			desc = "EQUIVALENT (" + b.Equivalent + "). " + desc
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, b.Group, b.File, flags, unit, desc)
	}
	tw.Flush()
}
