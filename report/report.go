// Package report writes the failure report of one seed: a single
// self-contained HTML page (inline CSS, JavaScript and SVG, no external
// resources) that answers which operations could not be ordered, which
// replica served them and what the faults were doing at the time.
//
// The harness collects the material (harness.Artifacts: the checked
// history, the fault episodes, each replica's role, term, commit index and
// applied revision over time); this package only lays it out. The page
// works without JavaScript (the tables are rendered here); the script
// draws the zoomable timeline from the same data.
package report

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/harness"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Build identifies the code and the command line a run came from.
type Build struct {
	// Revision is the VCS revision ("unknown" if it could not be found);
	// Modified says the working tree had uncommitted changes.
	Revision string `json:"revision"`
	Modified bool   `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Flags is the command line as given.
	Flags []string `json:"flags"`
}

// Input is everything a report is made from.
type Input struct {
	// Result is the seed's result; its Artifacts must be set.
	Result harness.Result
	// Build names the code and command line.
	Build Build
	// Replay is the command that replays the seed.
	Replay string
	// Visualization is the link (relative to the report) to porcupine's
	// page of the same history, "" if there is none.
	Visualization string
	// Witness lists the indices (into Result.Artifacts.Ops) of the
	// operations to highlight; nil means Result.Witness (the minimal
	// witness of a linearizability failure) or, if it is empty, the
	// operations the failure reason names.
	Witness []int
}

// ErrNoArtifacts is returned for a result kept without artifacts.
var ErrNoArtifacts = errors.New("report: the result carries no artifacts (run with Config.KeepArtifacts)")

//go:embed page.html.tmpl
var pageSource string

//go:embed style.css
var styleSource string

//go:embed timeline.js
var scriptSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"secs": secs,
}).Parse(pageSource))

// Write writes the report page of in to w.
func Write(w io.Writer, in Input) error {
	if in.Result.Artifacts == nil {
		return ErrNoArtifacts
	}
	return pageTemplate.Execute(w, newPage(in))
}

// opRef matches the operations a failure reason names: "op 12 (client 3".
var opRef = regexp.MustCompile(`\bop (\d+) \(client `)

// WitnessFromReason returns the operations a failure reason names, as
// indices below n, in the order first named.
func WitnessFromReason(reason string, n int) []int {
	var out []int
	for _, m := range opRef.FindAllStringSubmatch(reason, -1) {
		i, err := strconv.Atoi(m[1])
		if err != nil || i < 0 || i >= n || slices.Contains(out, i) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// page is what the template renders.
type page struct {
	Seed, Verdict, Reason, TraceHash, Replay string
	Faults                                   string
	WitnessReason                            string // why the witness operations cannot be linearized
	Minimal                                  bool   // the operations are the minimal witness
	Build                                    Build
	Visualization                            string
	Virtual                                  int64
	Witness                                  []opRow
	Window                                   [2]int64 // the witness's span (call of the first to return of the last), or the focus
	Focus                                    *focus   // what a failure without operations names (nil: nothing)
	Episodes                                 []faultRow
	Replicas                                 []replicaRow
	Style                                    template.CSS
	Script                                   template.JS
	Data                                     pageData
}

// pageData is what the script draws, as JSON.
type pageData struct {
	End      int64         `json:"end"`
	Window   [2]int64      `json:"window"`
	Focused  bool          `json:"focused"` // Window is the moment the reason names
	Named    []uint64      `json:"named"`   // the replicas the reason names
	Faults   []faultRow    `json:"faults"`
	Replicas []replicaData `json:"replicas"`
	Witness  []opRow       `json:"witness"`
	Roles    []string      `json:"roles"`
}

// opRow is one highlighted operation.
type opRow struct {
	Index  int    `json:"index"`
	Client int    `json:"client"`
	Call   int64  `json:"call"`
	Return int64  `json:"return"` // the run's end if it never returned
	Never  bool   `json:"never"`  // it never returned
	Input  string `json:"input"`
	Output string `json:"output"`
	// Replica names the replica that answered ("" if not known).
	Replica string      `json:"replica"`
	AtRev   string      `json:"at_rev"` // replicas at the revision it reported while it ran
	Faults  string      `json:"-"`      // fault episodes active while it ran
	States  []stateCell `json:"-"`
}

// stateCell is one replica's state at an operation's call and return.
type stateCell struct {
	ID           uint64
	Call, Return string
}

// faultRow is one fault episode.
type faultRow struct {
	Name   string `json:"name"`
	Detail string `json:"detail"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	// Witness: the episode overlaps the witness's span.
	Witness bool `json:"witness"`
}

// replicaRow is one replica's role and term changes, for the table.
type replicaRow struct {
	ID      uint64
	Changes []string
	More    int
	Named   bool // the failure reason names it
}

// replicaData is one replica's samples for the script, each
// [at, role, term, commit, revision] with role an index into roles.
type replicaData struct {
	ID      uint64     `json:"id"`
	Samples [][5]int64 `json:"samples"`
}

// roles are the roles a sample can carry, as the script indexes them.
var roles = []string{"follower", "candidate", "precandidate", "leader", "down", "stopped", "retired"}

func newPage(in Input) *page {
	res := in.Result
	a := res.Artifacts
	p := &page{
		Seed: strconv.FormatUint(res.Seed, 10), Verdict: string(res.Verdict), Reason: res.Reason,
		TraceHash: fmt.Sprintf("%016x", res.TraceHash), Replay: in.Replay, Build: in.Build,
		Visualization: in.Visualization, Virtual: a.End, Faults: strings.Join(res.Faults, ","),
		Style: template.CSS(styleSource), Script: template.JS(scriptSource),
	}
	if p.Faults == "" {
		p.Faults = "none"
	}
	wit := in.Witness
	if wit == nil && len(res.Witness) > 0 {
		p.Minimal, p.WitnessReason = true, res.WitnessReason
		for _, w := range res.Witness {
			wit = append(wit, w.ID)
		}
	}
	if wit == nil {
		wit = WitnessFromReason(res.Reason, len(a.Ops))
	}
	p.Witness, p.Window = witnessRows(a, wit)
	for i := range p.Witness {
		p.Witness[i].Replica = answeredBy(res.Witness, p.Witness[i].Index)
	}
	p.Episodes = faultRows(a.Faults, p.Window, len(p.Witness) > 0)
	for i := range p.Witness {
		p.Witness[i].Faults = activeFaults(p.Episodes, p.Witness[i].Call, p.Witness[i].Return)
	}
	p.Replicas = replicaRows(a.Replicas)
	p.Data = pageData{End: a.End, Window: p.Window, Faults: p.Episodes, Witness: p.Witness, Roles: roles}
	full := [2]int64{-1, -1} // the span drawn at full resolution
	if len(p.Witness) == 0 {
		p.focusOn(focusOf(res.Reason, a.End))
		if p.Data.Focused {
			full = p.Window
		}
	} else {
		pad := max((p.Window[1]-p.Window[0])/5, int64(200*time.Millisecond))
		full = [2]int64{p.Window[0] - pad, p.Window[1] + pad}
	}
	p.Data.Replicas = replicaSamples(a.Replicas, a.End, full)
	return p
}

// focus is what a failure that names no operation names instead: the
// replicas and the first moment its reason mentions.
type focus struct {
	Replicas []uint64
	At       int64 // virtual ns; -1 if the reason names no time
}

// Patterns of focusOf: "replica 3", "replicas [1 2 3]", "at 7.88106021s".
var (
	replicaRef = regexp.MustCompile(`\breplicas? (\d+)|\breplicas? \[([\d ]+)\]`)
	timeRef    = regexp.MustCompile(`\bat (\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h))*)`)
)

// Before and after the moment a reason names, the timeline shows this
// much.
const (
	focusBefore = int64(time.Second)
	focusAfter  = int64(500 * time.Millisecond)
)

// focusOf reads the replicas and the first time (within the run, which
// ended at end) a failure reason names; nil if it names neither.
func focusOf(reason string, end int64) *focus {
	f := &focus{At: -1}
	for _, m := range replicaRef.FindAllStringSubmatch(reason, -1) {
		for _, field := range strings.Fields(m[1] + " " + m[2]) {
			id, err := strconv.ParseUint(field, 10, 64)
			if err == nil && !slices.Contains(f.Replicas, id) {
				f.Replicas = append(f.Replicas, id)
			}
		}
	}
	for _, m := range timeRef.FindAllStringSubmatch(reason, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil && int64(d) <= end {
			f.At = int64(d)
			break
		}
	}
	if len(f.Replicas) == 0 && f.At < 0 {
		return nil
	}
	return f
}

// focusOn marks what f names and opens the timeline on its moment.
func (p *page) focusOn(f *focus) {
	if f == nil {
		return
	}
	p.Focus = f
	p.Data.Named = f.Replicas
	for i := range p.Replicas {
		p.Replicas[i].Named = slices.Contains(f.Replicas, p.Replicas[i].ID)
	}
	if f.At >= 0 {
		p.Window = [2]int64{max(0, f.At-focusBefore), min(p.Data.End, f.At+focusAfter)}
		p.Data.Window, p.Data.Focused = p.Window, true
	}
}

// witnessRows describes the operations wit names and returns their span.
func witnessRows(a *harness.Artifacts, wit []int) ([]opRow, [2]int64) {
	var rows []opRow
	span := [2]int64{a.End, 0}
	for _, i := range wit {
		if i < 0 || i >= len(a.Ops) {
			continue
		}
		op := &a.Ops[i]
		row := opRow{Index: i, Client: op.ClientID, Call: op.Call, Return: op.Return,
			Input: op.Input.String(), Output: outputString(op)}
		if op.Unknown || op.Return == lin.UnknownReturn || op.Return > a.End {
			row.Return, row.Never = a.End, true
		}
		row.States = statesAt(a.Replicas, row.Call, row.Return)
		if !op.Unknown && !op.Failed {
			row.AtRev = replicasAtRevision(a.Replicas, op.Output.Revision, row.Call, row.Return)
		}
		span[0], span[1] = min(span[0], row.Call), max(span[1], row.Return)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		span = [2]int64{0, a.End}
	}
	return rows, span
}

// answeredBy names the replica that answered op i, from the witness ("" if
// the witness does not hold op i).
func answeredBy(wit []harness.WitnessOp, i int) string {
	for _, w := range wit {
		switch {
		case w.ID != i:
		case w.Replica == 0:
			return "no answer"
		default:
			return "replica " + strconv.FormatUint(w.Replica, 10)
		}
	}
	return ""
}

// outputString describes what an operation returned.
func outputString(op *lin.Op) string {
	out := &op.Output
	switch {
	case op.Failed:
		return "failed: " + out.Err
	case op.Unknown:
		return "unknown outcome (timed out or answer lost)"
	}
	parts := []string{fmt.Sprintf("rev %d", out.Revision)}
	switch op.Input.Kind {
	case lin.KindGet, lin.KindRange:
		parts = append(parts, "read "+kvsString(out.KVs))
	case lin.KindDelete:
		parts = append(parts, fmt.Sprintf("deleted %d", out.Deleted))
	case lin.KindTxn:
		branch := "else"
		if out.Succeeded {
			branch = "then"
		}
		parts = append(parts, branch)
		for _, kvs := range out.TxnKVs {
			if kvs != nil {
				parts = append(parts, "read "+kvsString(kvs))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func kvsString(kvs []lin.KV) string {
	s := make([]string, len(kvs))
	for i, kv := range kvs {
		s[i] = kv.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// stateAt is the sample of rt in force at t (ok false before the first).
func stateAt(rt harness.ReplicaTimeline, t int64) (harness.ReplicaSample, bool) {
	i, found := slices.BinarySearchFunc(rt.Samples, t, func(s harness.ReplicaSample, t int64) int {
		return compareInt(s.At, t)
	})
	if found {
		// The last sample at exactly t is the state after t's events.
		for i+1 < len(rt.Samples) && rt.Samples[i+1].At == t {
			i++
		}
		return rt.Samples[i], true
	}
	if i == 0 {
		return harness.ReplicaSample{}, false
	}
	return rt.Samples[i-1], true
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// statesAt is every replica's state at call and at ret.
func statesAt(reps []harness.ReplicaTimeline, call, ret int64) []stateCell {
	cells := make([]stateCell, len(reps))
	for i, rt := range reps {
		cells[i] = stateCell{ID: rt.ID, Call: stateString(rt, call), Return: stateString(rt, ret)}
	}
	return cells
}

func stateString(rt harness.ReplicaTimeline, t int64) string {
	s, ok := stateAt(rt, t)
	switch {
	case !ok:
		return "not yet sampled"
	case s.Term == 0 && s.Commit == 0:
		return s.Role
	}
	return fmt.Sprintf("%s, term %d, commit %d, rev %d", s.Role, s.Term, s.Commit, s.Revision)
}

// replicasAtRevision names the replicas that had applied exactly rev at
// some sampled moment in [from, to]: the ones that could have answered an
// operation that reported rev.
func replicasAtRevision(reps []harness.ReplicaTimeline, rev, from, to int64) string {
	var ids []string
	for _, rt := range reps {
		if atRevision(rt, rev, from, to) {
			ids = append(ids, strconv.FormatUint(rt.ID, 10))
		}
	}
	if len(ids) == 0 {
		return "none sampled"
	}
	return strings.Join(ids, ", ")
}

func atRevision(rt harness.ReplicaTimeline, rev, from, to int64) bool {
	if s, ok := stateAt(rt, from); ok && s.Revision == rev && s.Term > 0 {
		return true
	}
	for _, s := range rt.Samples {
		if s.At > from && s.At <= to && s.Revision == rev && s.Term > 0 {
			return true
		}
	}
	return false
}

// faultRows lists the episodes in start order, marking those that overlap
// the witness's span.
func faultRows(faults []lin.Fault, span [2]int64, haveWitness bool) []faultRow {
	rows := make([]faultRow, len(faults))
	for i, f := range faults {
		rows[i] = faultRow{Name: f.Name, Detail: f.Detail, Start: f.Start, End: f.End,
			Witness: haveWitness && f.Start <= span[1] && f.End >= span[0]}
	}
	slices.SortStableFunc(rows, func(a, b faultRow) int { return compareInt(a.Start, b.Start) })
	return rows
}

// activeFaults names the episodes active at some moment of [from, to].
func activeFaults(rows []faultRow, from, to int64) string {
	var s []string
	for _, f := range rows {
		if f.Start <= to && f.End >= from {
			s = append(s, strings.TrimSpace(f.Name+" "+f.Detail))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}

// maxChanges bounds the role and term changes listed per replica.
const maxChanges = 40

// replicaRows lists each replica's role and term changes.
func replicaRows(reps []harness.ReplicaTimeline) []replicaRow {
	rows := make([]replicaRow, len(reps))
	for i, rt := range reps {
		row := replicaRow{ID: rt.ID}
		var last harness.ReplicaSample
		for j, s := range rt.Samples {
			if j > 0 && s.Role == last.Role && s.Term == last.Term {
				continue
			}
			last = s
			if len(row.Changes) == maxChanges {
				row.More++
				continue
			}
			c := fmt.Sprintf("%s %s", secs(s.At), s.Role)
			if s.Term > 0 {
				c += fmt.Sprintf(" (term %d)", s.Term)
			}
			row.Changes = append(row.Changes, c)
		}
		rows[i] = row
	}
	return rows
}

// maxPoints bounds the samples per replica the page carries outside the
// window it opens on, so that the report of a long run stays small: there
// the commit line is thinned to one sample per run/maxPoints of virtual
// time (every change of role or term is kept).
const maxPoints = 4000

// replicaSamples packs the samples for the script: all of them within
// full, thinned outside it.
func replicaSamples(reps []harness.ReplicaTimeline, end int64, full [2]int64) []replicaData {
	step := end / maxPoints
	out := make([]replicaData, len(reps))
	for i, rt := range reps {
		d := replicaData{ID: rt.ID, Samples: [][5]int64{}}
		var last harness.ReplicaSample
		for j, s := range rt.Samples {
			keep := j == 0 || j == len(rt.Samples)-1 || s.Role != last.Role || s.Term != last.Term ||
				s.At-last.At >= step || (s.At >= full[0] && s.At <= full[1])
			if !keep {
				continue
			}
			last = s
			d.Samples = append(d.Samples, [5]int64{s.At, int64(slices.Index(roles, s.Role)), int64(s.Term), int64(s.Commit), s.Revision})
		}
		out[i] = d
	}
	return out
}

// secs formats virtual nanoseconds as seconds with millisecond precision.
func secs(ns int64) string {
	return fmt.Sprintf("%.3fs", time.Duration(ns).Seconds())
}
