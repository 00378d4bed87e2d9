package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/bugbench"
)

// simResult is what one simrun run of a mutant found.
type simResult struct {
	Flags    []string `json:"flags"`
	Caught   bool     `json:"caught"`
	First    uint64   `json:"first_failing_seed,omitempty"`
	Failing  []uint64 `json:"failing_seeds"`
	SeedsRun int      `json:"seeds_run"`
	Unknown  int      `json:"unknown"`
	Reason   string   `json:"reason,omitempty"`
	TimedOut bool     `json:"timed_out,omitempty"`
	WallS    float64  `json:"wall_s"`
	// CPUS is simrun's CPU time (user + system): the cost to the first
	// failure, steadier than wall time on a shared machine.
	CPUS   float64 `json:"cpu_s"`
	Replay string  `json:"replay,omitempty"`
	// RunsToFirst counts the runs up to and including the first failure
	// (seeds for a swarm, runs for -explore; 0 if none failed).
	RunsToFirst int `json:"runs_to_first,omitempty"`
	// Shrink is simrun -shrink's result on the first failing seed (with
	// -shrink).
	Shrink    *shrinkResult `json:"shrink,omitempty"`
	errDetail string
}

// unitResult is what the unit tests of the mutated package found.
type unitResult struct {
	Package string  `json:"package"`
	Caught  bool    `json:"caught"`
	Reason  string  `json:"reason,omitempty"`
	WallS   float64 `json:"wall_s"`
}

// bugResult is everything measured for one bug.
type bugResult struct {
	Name        string      `json:"bug"`
	Group       string      `json:"group"`
	Package     string      `json:"package"`
	Description string      `json:"description"`
	Default     *simResult  `json:"default,omitempty"`
	Targeted    *simResult  `json:"targeted,omitempty"`
	Unit        *unitResult `json:"unit,omitempty"`
	// RecordedUnit is the unit result the catalogue records.
	RecordedUnit string `json:"recorded_unit,omitempty"`
	// Equivalent is the catalogue's reason why the mutant cannot show in
	// the system; such a bug is scored apart (score.Equivalent).
	Equivalent string `json:"equivalent,omitempty"`
	// Error is set when the bug could not be measured (it did not apply,
	// the mutant did not build, simrun could not run).
	Error string `json:"error,omitempty"`
}

// seedLine is the part of simrun's -json line bugbench reads.
type seedLine struct {
	Seed    uint64 `json:"seed"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Replay  string `json:"replay"`
	// Run numbers an -explore run (from 0).
	Run *int `json:"run"`
}

// measure applies b to a fresh copy of the module and runs what o asks.
func measure(o *options, b bugbench.Bug, stderr io.Writer) bugResult {
	res := bugResult{Name: b.Name, Group: string(b.Group), Package: b.Package(),
		Description: b.Description, RecordedUnit: b.Unit, Equivalent: b.Equivalent}
	dir, err := os.MkdirTemp("", "bugbench-"+b.Name+"-")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if o.keep {
		fmt.Fprintf(stderr, "bugbench: %s: copy kept in %s\n", b.Name, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	src := filepath.Join(dir, "src")
	if err := copyModule(o.root, src); err != nil {
		res.Error = "copy: " + err.Error()
		return res
	}
	if err := b.Apply(src); err != nil {
		res.Error = err.Error()
		return res
	}
	if o.check {
		if out, err := goCmd(context.Background(), src, "build", "-trimpath", "./...").CombinedOutput(); err != nil {
			res.Error = "build: " + buildError(string(out))
		}
		return res
	}
	bin := filepath.Join(dir, "simrun")
	if out, err := goCmd(context.Background(), src, "build", "-trimpath", "-o", bin, "./cmd/simrun").CombinedOutput(); err != nil {
		res.Error = "build: " + buildError(string(out))
		return res
	}
	flags := o.extra
	if o.explore && o.corpus != "" {
		loo := filepath.Join(dir, "corpus")
		if err := copyCorpusWithout(o.corpus, loo, b.Name); err != nil {
			res.Error = "corpus: " + err.Error()
			return res
		}
		flags = append([]string{"-corpus", loo}, o.extra...)
	}
	res.Default = runSim(o, bin, flags)
	if o.shrink && res.Default.Caught && !o.explore {
		res.Default.Shrink = runShrink(o, bin, dir, o.extra, res.Default.First)
	}
	if o.targeted && len(b.Flags) > 0 {
		res.Targeted = runSim(o, bin, append(append([]string(nil), o.extra...), b.Flags...))
	}
	if o.unit {
		res.Unit = runUnit(o, src, b.Package())
	}
	return res
}

// buildError is the first compiler message of go build's output (the
// line after the "# package" header).
func buildError(out string) string {
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "#") {
			return strings.TrimSpace(l)
		}
	}
	return firstLine(strings.TrimSpace(out))
}

// goCmd is a go command run in dir, outside any workspace.
func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	return cmd
}

// runSim runs the mutant's simrun over the seeds, reading its JSON lines
// as they come, and stops it at the first failure unless -all.
func runSim(o *options, bin string, flags []string) *simResult {
	r := &simResult{Flags: append([]string{}, flags...), Failing: []uint64{}}
	start := time.Now()
	defer func() { r.WallS = time.Since(start).Seconds() }()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	args := append([]string{"-seeds", strconv.Itoa(o.seeds), "-seed", strconv.FormatUint(o.seed, 10),
		"-json", "-parallel", "1"}, flags...)
	if o.explore {
		// A coverage-guided search of -seeds runs; -seed is its search seed.
		args = append([]string{"-explore", "-budget", strconv.Itoa(o.seeds), "-seed", strconv.FormatUint(o.seed, 10),
			"-json", "-parallel", "1"}, flags...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.errDetail = err.Error()
		return r
	}
	if err := cmd.Start(); err != nil {
		r.errDetail = err.Error()
		return r
	}
	stopped := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l seedLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Seed == 0 {
			continue
		}
		r.SeedsRun++
		switch l.Verdict {
		case "pass":
		case "unknown":
			r.Unknown++
		default:
			r.Failing = append(r.Failing, l.Seed)
			if !r.Caught {
				r.Caught, r.First, r.Reason, r.Replay = true, l.Seed, firstLine(l.Reason), l.Replay
				r.RunsToFirst = r.SeedsRun
				if l.Run != nil {
					r.RunsToFirst = *l.Run + 1
				}
			}
			if !o.all {
				stopped = true
				_ = cmd.Process.Kill()
			}
		}
		if stopped {
			break
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	if ps := cmd.ProcessState; ps != nil {
		r.CPUS = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	switch {
	case stopped:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.TimedOut = true
	case err != nil && r.SeedsRun < o.seeds:
		// simrun itself died (a fatal error no seed recovers from) while
		// running the next seed: the bug crashed the simulator.
		r.Caught = true
		r.First = o.seed + uint64(r.SeedsRun)
		r.Failing = append(r.Failing, r.First)
		r.Reason = "simrun exited abnormally: " + crashLine(stderr.String(), err)
	}
	return r
}

// crashLine picks the telling line of a crashed simrun's stderr.
func crashLine(stderr string, err error) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "simrun:") {
			return l
		}
	}
	return err.Error()
}

// runUnit runs the unit tests of pkg in the mutated copy.
func runUnit(o *options, src, pkg string) *unitResult {
	u := &unitResult{Package: pkg}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	out, err := goCmd(ctx, src, "test", "-count=1", "-p", "1", "./"+pkg).CombinedOutput()
	u.WallS = time.Since(start).Seconds()
	if err == nil {
		return u
	}
	u.Caught = true
	u.Reason = unitReason(string(out))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		u.Reason = "timed out after " + o.timeout.String()
	}
	return u
}

// unitReason is the first failing test (or the first line of a panic or
// build error) in go test's output.
func unitReason(out string) string {
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "panic:") {
			return t
		}
	}
	return firstLine(strings.TrimSpace(out))
}

// copyModule copies the module at root to dst without .git: the files git
// lists (tracked and untracked but not ignored), or, outside git, every
// file but .git.
func copyModule(root, dst string) error {
	files, err := gitFiles(root)
	if err != nil {
		files, err = walkFiles(root)
		if err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(root, f), filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	return nil
}

func gitFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, filepath.FromSlash(f))
		}
	}
	return files, nil
}

func walkFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil // listed by git but deleted in the working tree
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
