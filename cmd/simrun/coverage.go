package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/probe"
)

// coverageReport counts, per declared probe, the seeds that hit it and the
// first of them (in report order, which is seed order).
type coverageReport struct {
	seeds int
	hits  map[string]int
	first map[string]uint64
}

func newCoverageReport() *coverageReport {
	return &coverageReport{hits: map[string]int{}, first: map[string]uint64{}}
}

// add counts one seed's probes.
func (c *coverageReport) add(res harness.Result) {
	c.seeds++
	for name := range res.Probes {
		if c.hits[name] == 0 {
			c.first[name] = res.Seed
		}
		c.hits[name]++
	}
}

// missed names the declared probes no seed reached, sorted.
func (c *coverageReport) missed() []string {
	var out []string
	for _, p := range probe.All() {
		if c.hits[p.Name] == 0 {
			out = append(out, p.Name)
		}
	}
	return out
}

// print writes one line per declared probe, then a totals line.
func (c *coverageReport) print(w io.Writer) {
	all := probe.All()
	width := 0
	for _, p := range all {
		width = max(width, len(p.Name))
	}
	fmt.Fprintf(w, "%-*s %7s %7s  %s\n", width, "probe", "seeds", "first", "what")
	reached := 0
	for _, p := range all {
		n := c.hits[p.Name]
		first := "-"
		if n > 0 {
			reached++
			first = fmt.Sprint(c.first[p.Name])
		}
		doc := strings.TrimPrefix(p.Doc, strings.SplitN(p.Name, "/", 2)[0]+": ")
		fmt.Fprintf(w, "%-*s %7d %7s  %s\n", width, p.Name, n, first, doc)
	}
	fmt.Fprintf(w, "probes=%d reached=%d missed=%d seeds=%d\n", len(all), reached, len(all)-reached, c.seeds)
}
