// Package bugbench is seedkv's planted-bug benchmark: a catalogue of
// realistic bugs, each a named mutation of the code, that the simulator
// (and the unit tests) are measured against.
//
// A bug is data, not a patch: the file it lives in, an Old snippet that
// must occur exactly once in that file, and the New text that replaces it.
// Line-based patches break as soon as code around them moves; a snippet
// survives moves, reformatting and edits elsewhere in the file, and when
// it no longer applies (the code it mutates was rewritten) the package's
// test names the bug, so the catalogue is repaired in the same change.
//
// Matching ignores indentation: a one-line Old is a plain substring of the
// file; a multi-line Old matches consecutive whole lines whose text,
// trimmed of surrounding white space, equals Old's lines. A multi-line New
// is re-indented to the first matched line, keeping its own relative
// indentation (a tab or four spaces per level), so the catalogue needs no
// literal tabs. The mutated code need not be gofmt-clean, only compile.
//
// The runner (cmd/bugbench) copies the module, applies one bug, builds
// simrun from the copy and runs seeds until one fails. Nothing here is
// imported by the simulator.
package bugbench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Group is the kind of blind spot a bug stands for (issue 10's groups).
type Group string

// The groups.
const (
	// GroupPath: the bug sits on a code path default runs rarely or never
	// reach (lease expiry, compaction, old-revision reads, even-sized
	// clusters, overlapping membership changes, snapshot over conflicting
	// log, late duplicates, segment release).
	GroupPath Group = "path"
	// GroupTiming: the bug needs a fault at a protocol moment (a crash
	// between a send and its fsync, a partition right after an append, a
	// stale leader, a read racing a leader change).
	GroupTiming Group = "timing"
	// GroupSymptom: the bug's effect is visible only indirectly (a
	// replica that quietly holds wrong state, a stream with a hole, a
	// history recorded wrongly) and a check must look in the right place.
	GroupSymptom Group = "symptom"
)

// Groups lists the groups in display order.
var Groups = []Group{GroupPath, GroupTiming, GroupSymptom}

// Bug is one planted bug: a named mutation of one file.
type Bug struct {
	// Name identifies the bug (lower-case words joined by dashes,
	// starting with the package it mutates).
	Name string
	// Group is the blind spot it stands for.
	Group Group
	// File is the mutated file, a slash path relative to the module root.
	File string
	// Old must occur exactly once in File; New replaces it.
	Old, New string
	// Description says what the mistake is and how it can hurt.
	Description string
	// Flags, if any, are extra simrun flags of a targeted run: a fault
	// mix or setting that should expose the bug. The default swarm is
	// what is measured first; the targeted run is recorded beside it.
	Flags []string
	// Unit is the recorded result of running the unit tests of the
	// mutated package on the mutant (`bugbench -unit`): UnitCaught,
	// UnitMissed, or "" if not measured.
	Unit string
	// Equivalent, when set, says why no run of the whole system can tell
	// this mutant from the code (the full argument is in RESULTS.md): the
	// mutation is kept for the unit tests of its package and is still run
	// by bugbench, so that a code change that makes it reachable shows,
	// but it is scored apart from the bugs the simulator must catch.
	Equivalent string
}

// Recorded unit-test results.
const (
	UnitCaught = "caught"
	UnitMissed = "missed"
)

// Package is the import directory of the mutated file ("raft", "node").
func (b *Bug) Package() string { return filepath.ToSlash(filepath.Dir(b.File)) }

// ErrSnippet is wrapped by every failure to apply a bug's snippet.
var ErrSnippet = errors.New("bugbench: snippet")

// Mutate returns src with the bug's Old replaced by New. It fails, naming
// the bug, unless Old occurs exactly once.
func (b *Bug) Mutate(src []byte) ([]byte, error) {
	text := string(src)
	if !strings.Contains(b.Old, "\n") {
		switch n := strings.Count(text, b.Old); n {
		case 1:
			return []byte(strings.Replace(text, b.Old, b.New, 1)), nil
		default:
			return nil, fmt.Errorf("%w: bug %s: old snippet occurs %d times in %s (want 1)", ErrSnippet, b.Name, n, b.File)
		}
	}
	lines := strings.Split(text, "\n")
	want := trimmedLines(b.Old)
	var at []int
	for i := 0; i+len(want) <= len(lines); i++ {
		if windowMatches(lines[i:i+len(want)], want) {
			at = append(at, i)
		}
	}
	if len(at) != 1 {
		return nil, fmt.Errorf("%w: bug %s: old snippet occurs %d times in %s (want 1)", ErrSnippet, b.Name, len(at), b.File)
	}
	i := at[0]
	indent := leadingSpace(lines[i])
	repl := reindent(b.New, indent)
	out := append(append(append([]string(nil), lines[:i]...), repl...), lines[i+len(want):]...)
	return []byte(strings.Join(out, "\n")), nil
}

// Check reports whether the bug applies to the module at root: its file
// exists and its Old snippet occurs exactly once.
func (b *Bug) Check(root string) error {
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(b.File)))
	if err != nil {
		return fmt.Errorf("%w: bug %s: %w", ErrSnippet, b.Name, err)
	}
	_, err = b.Mutate(src)
	return err
}

// Apply mutates the bug's file in the module copy at root.
func (b *Bug) Apply(root string) error {
	path := filepath.Join(root, filepath.FromSlash(b.File))
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: bug %s: %w", ErrSnippet, b.Name, err)
	}
	out, err := b.Mutate(src)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// trimmedLines splits s into lines trimmed of surrounding white space,
// dropping a leading and a trailing empty line (raw-string layout).
func trimmedLines(s string) []string {
	ls := strings.Split(strings.Trim(s, "\n"), "\n")
	for i := range ls {
		ls[i] = strings.TrimSpace(ls[i])
	}
	return ls
}

func windowMatches(lines, want []string) bool {
	for j := range want {
		if strings.TrimSpace(lines[j]) != want[j] {
			return false
		}
	}
	return true
}

func leadingSpace(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " \t"))] }

// reindent lays out New's lines at base plus their own indentation
// relative to New's least indented line (a tab or four spaces a level).
func reindent(s, base string) []string {
	if strings.TrimSpace(s) == "" {
		return nil // the window is deleted
	}
	ls := strings.Split(strings.Trim(s, "\n"), "\n")
	levels := make([]int, len(ls))
	least := -1
	for i, l := range ls {
		if strings.TrimSpace(l) == "" {
			levels[i] = -1
			continue
		}
		levels[i] = indentLevel(leadingSpace(l))
		if least < 0 || levels[i] < least {
			least = levels[i]
		}
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		if levels[i] < 0 {
			out[i] = ""
			continue
		}
		out[i] = base + strings.Repeat("\t", levels[i]-least) + strings.TrimSpace(l)
	}
	return out
}

func indentLevel(ws string) int {
	level, spaces := 0, 0
	for _, c := range ws {
		if c == '\t' {
			level++
			spaces = 0
			continue
		}
		if spaces++; spaces == 4 {
			level++
			spaces = 0
		}
	}
	return level
}

// Lookup returns the bugs named in names, in catalogue order, or an error
// naming an unknown one. No names means every bug.
func Lookup(names []string) ([]Bug, error) {
	all := All()
	if len(names) == 0 {
		return all, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			continue
		}
		found := false
		for i := range all {
			if all[i].Name == n {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown bug %q (see -list)", n)
		}
		want[n] = true
	}
	var out []Bug
	for _, b := range all {
		if want[b.Name] {
			out = append(out, b)
		}
	}
	return out, nil
}
