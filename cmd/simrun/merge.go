package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxMergeLine bounds one -json line read by -merge (a line carries a
// scenario and a probe map, a few KiB; a reason may hold a witness).
const maxMergeLine = 16 << 20

// mergeError is unreadable or bad -merge input (exit status 2); its text
// names the file and, for a bad line, the line number.
type mergeError struct{ msg string }

func (e *mergeError) Error() string { return e.msg }

// mergeRecord is the part of a -json line that -merge reads.
type mergeRecord struct {
	Seed      *uint64  `json:"seed"`
	Verdict   string   `json:"verdict"`
	Reason    string   `json:"reason"`
	TraceHash string   `json:"trace_hash"`
	VirtualS  float64  `json:"virtual_s"`
	WallMS    float64  `json:"wall_ms"`
	Faults    []string `json:"faults"`
	Replay    string   `json:"replay"`
	// The build the line came from (absent in lines of older builds).
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// build names the code and toolchain of a line ("" if it says neither).
func (rec mergeRecord) build() string {
	if rec.Revision == "" && rec.GoVersion == "" {
		return ""
	}
	b := rec.Revision
	if rec.Modified {
		b += " (modified)"
	}
	return strings.TrimSpace(b + " " + rec.GoVersion)
}

// signatureGroup is the failing (or unknown) seeds that share one failure
// signature, in seed order.
type signatureGroup struct {
	signature string
	first     mergeRecord // the lowest failing seed
	seeds     []uint64
}

// merged is the fold of many shards' -json lines.
type merged struct {
	seeds, passed, failed, unknown int
	virtualS, wallMS               float64
	groups                         map[string]*signatureGroup
	seen                           map[string]bool // seed/trace hash pairs already counted
	builds                         map[string]int  // seeds per build (revision and Go version)
}

// runMerge folds the -json lines of files into one summary (the same line
// a run prints) and one replay command per failure signature. It returns
// the exit status: 0 all passed, 1 a seed failed or was unknown, 2 bad
// input.
func runMerge(files []string, stdout, stderr io.Writer) int {
	m := &merged{groups: map[string]*signatureGroup{}, seen: map[string]bool{}, builds: map[string]int{}}
	for _, path := range files {
		if err := m.addFile(path); err != nil {
			fmt.Fprintf(stderr, "simrun: -merge: %v\n", err)
			return exitUsage
		}
	}
	m.print(stdout)
	if m.failed > 0 || m.unknown > 0 {
		return exitFail
	}
	return exitPass
}

// addFile folds one file's lines; blank lines are skipped.
func (m *merged) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &mergeError{err.Error()}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxMergeLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		rec, err := parseMergeLine(text)
		if err != nil {
			return &mergeError{fmt.Sprintf("%s:%d: %v", path, line, err)}
		}
		m.add(rec)
	}
	if err := sc.Err(); err != nil {
		return &mergeError{fmt.Sprintf("%s:%d: %v", path, line+1, err)}
	}
	return nil
}

// parseMergeLine decodes and validates one -json line.
func parseMergeLine(text string) (mergeRecord, error) {
	var rec mergeRecord
	if err := json.Unmarshal([]byte(text), &rec); err != nil {
		return rec, fmt.Errorf("not a simrun -json line: %v", err)
	}
	if rec.Seed == nil {
		return rec, fmt.Errorf("no \"seed\"")
	}
	switch rec.Verdict {
	case "pass", "fail", "unknown":
	default:
		return rec, fmt.Errorf("verdict %q is not pass, fail or unknown", rec.Verdict)
	}
	return rec, nil
}

// add counts one seed. The same seed with the same trace hash (a file
// given twice, overlapping shards) counts once.
func (m *merged) add(rec mergeRecord) {
	key := strconv.FormatUint(*rec.Seed, 10) + "/" + rec.TraceHash
	if m.seen[key] {
		return
	}
	m.seen[key] = true
	m.seeds++
	if b := rec.build(); b != "" {
		m.builds[b]++
	}
	m.virtualS += rec.VirtualS
	m.wallMS += rec.WallMS
	switch rec.Verdict {
	case "pass":
		m.passed++
		return
	case "unknown":
		m.unknown++
	default:
		m.failed++
	}
	sig := failureSignature(rec.Verdict, rec.Reason, rec.Faults)
	g := m.groups[sig]
	if g == nil {
		g = &signatureGroup{signature: sig, first: rec}
		m.groups[sig] = g
	}
	if *rec.Seed < *g.first.Seed {
		g.first = rec
	}
	g.seeds = append(g.seeds, *rec.Seed)
}

// print writes one block per signature (most seeds first) and the summary
// line. wall is the sum of the seeds' wall times (the shards ran
// elsewhere, perhaps in parallel), so speedup is per worker.
func (m *merged) print(w io.Writer) {
	groups := make([]*signatureGroup, 0, len(m.groups))
	for _, g := range m.groups {
		sort.Slice(g.seeds, func(i, j int) bool { return g.seeds[i] < g.seeds[j] })
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		if len(groups[i].seeds) != len(groups[j].seeds) {
			return len(groups[i].seeds) > len(groups[j].seeds)
		}
		return *groups[i].first.Seed < *groups[j].first.Seed
	})
	for i, g := range groups {
		reason, _, _ := strings.Cut(g.first.Reason, "\n")
		fmt.Fprintf(w, "signature %d: %d seeds (%s) verdict=%s faults=%s\n",
			i+1, len(g.seeds), seedSample(g.seeds, 10), g.first.Verdict, faultList(g.first.Faults))
		fmt.Fprintf(w, "  reason: %s\n", reason)
		fmt.Fprintf(w, "  replay: %s\n", replayOf(g.first))
	}
	m.printBuilds(w)
	speedup := 0.0
	if m.wallMS > 0 {
		speedup = m.virtualS / (m.wallMS / 1000)
	}
	fmt.Fprintf(w, "seeds=%d passed=%d failed=%d unknown=%d virtual=%.1fs wall=%.3fs speedup=%.0f signatures=%d\n",
		m.seeds, m.passed, m.failed, m.unknown, m.virtualS, m.wallMS/1000, speedup, len(groups))
}

// printBuilds names the build the shards ran, or warns that they ran
// several (a seed replays only on the build that ran it).
func (m *merged) printBuilds(w io.Writer) {
	names := make([]string, 0, len(m.builds))
	for b := range m.builds {
		names = append(names, b)
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
	case 1:
		fmt.Fprintf(w, "build: %s\n", names[0])
	default:
		parts := make([]string, len(names))
		for i, b := range names {
			parts[i] = fmt.Sprintf("%s (%d seeds)", b, m.builds[b])
		}
		fmt.Fprintf(w, "builds: %d differ, replay each seed on its own: %s\n", len(names), strings.Join(parts, "; "))
	}
}

// replayOf is the record's replay command, or the bare one if the line
// carried none.
func replayOf(rec mergeRecord) string {
	if rec.Replay != "" {
		return rec.Replay
	}
	return "go run ./cmd/simrun -seeds 1 -seed " + strconv.FormatUint(*rec.Seed, 10)
}

// seedSample lists at most max seeds, then how many more.
func seedSample(seeds []uint64, max int) string {
	var parts []string
	for i, s := range seeds {
		if i == max {
			parts = append(parts, fmt.Sprintf("+%d more", len(seeds)-max))
			break
		}
		parts = append(parts, strconv.FormatUint(s, 10))
	}
	return strings.Join(parts, ",")
}

// Patterns that failureSignature normalises away: hex hashes and IDs
// (0x-prefixed, or 8+ hex digits holding a digit), then any number with
// the unit of a duration glued to it (3, 1.5, 1.5s, 300ms, 1m30s).
var (
	hexPattern    = regexp.MustCompile(`\b0x[0-9a-fA-F]+\b|\b[0-9a-f]*[0-9][0-9a-f]*\b`)
	numberPattern = regexp.MustCompile(`([0-9]+(\.[0-9]+)?(ns|µs|us|ms|s|m|h)?)+`)
)

// failureSignature is what two failures must share to count as the same
// bug: the verdict, the first line of the reason with numbers, IDs and
// hashes replaced by '#', and the sorted fault names.
func failureSignature(verdict, reason string, faults []string) string {
	first, _, _ := strings.Cut(reason, "\n")
	norm := hexPattern.ReplaceAllStringFunc(first, func(s string) string {
		if strings.HasPrefix(s, "0x") || len(s) >= 8 {
			return "#"
		}
		return s
	})
	norm = numberPattern.ReplaceAllString(norm, "#")
	fs := append([]string(nil), faults...)
	sort.Strings(fs)
	return verdict + "|" + norm + "|" + strings.Join(fs, ",")
}
