package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/seedkv/seedkv/report"
)

// modulePath is this module's path; the git fallback only trusts a
// checkout of it.
const modulePath = "github.com/seedkv/seedkv"

// codeRevision is the revision this binary was built from, found once.
var codeRevision = sync.OnceValues(findRevision)

// buildOf is the Build of this process run with args.
func buildOf(args []string) report.Build {
	rev, modified := codeRevision()
	return report.Build{Revision: rev, Modified: modified, GoVersion: runtime.Version(),
		Flags: append([]string{}, args...)}
}

// findRevision returns the VCS revision from the binary's build info
// (vcs.revision and vcs.modified, stamped by go build with -buildvcs in a
// git checkout). Builds without it (-buildvcs=false, a git worktree, whose
// .git is a file the go command does not recognise; go run and go test
// stamp nothing) fall back to asking git about the working directory, but
// only if it is a checkout of this module; otherwise "unknown". It runs
// once per process, never on the simulated path.
func findRevision() (string, bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			return rev, modified
		}
	}
	return gitRevision()
}

// gitRevision asks git for HEAD and whether tracked files changed.
func gitRevision() (string, bool) {
	top, err := gitOutput("rev-parse", "--show-toplevel")
	if err != nil || !isThisModule(filepath.Join(top, "go.mod")) {
		return "unknown", false
	}
	rev, err := gitOutput("rev-parse", "HEAD")
	if err != nil || rev == "" {
		return "unknown", false
	}
	status, err := gitOutput("status", "--porcelain", "--untracked-files=no")
	return rev, err == nil && status != ""
}

func gitOutput(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	return strings.TrimSpace(string(out)), err
}

// isThisModule reports whether the go.mod at path declares this module.
func isThisModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == modulePath
		}
	}
	return false
}
