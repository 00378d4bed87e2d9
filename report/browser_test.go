package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/stretchr/testify/require"
)

// browsers are the headless browsers the test tries, in order (Debian's
// package chromium installs the first).
var browsers = []string{"chromium", "chromium-browser", "google-chrome"}

// findBrowser returns a headless browser, or fails the test: CI installs
// one (.ci/run). Only SEEDKV_NO_BROWSER=1 lets a local run skip.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, b := range browsers {
		if path, err := exec.LookPath(b); err == nil {
			return path
		}
	}
	if os.Getenv("SEEDKV_NO_BROWSER") == "1" {
		t.Skip("no headless browser and SEEDKV_NO_BROWSER=1: the report is not rendered")
	}
	t.Fatalf("no headless browser (%s) on PATH: install Debian's chromium (apt-get install chromium), or set SEEDKV_NO_BROWSER=1 to skip this test locally", strings.Join(browsers, ", "))
	return ""
}

// dumpDOM loads url in the headless browser and returns the DOM after the
// page's scripts ran.
func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	// The browser itself crashes now and then in a container (a
	// segmentation fault seen once in CI, nothing to do with the page):
	// a run killed by a signal is tried again, up to three times; any
	// other failure fails the test at once.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", url)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if crashed(err) && ctx.Err() == nil && attempt < 3 {
			t.Logf("%s crashed (%v), attempt %d; trying again", browser, err, attempt)
			continue
		}
		require.NoError(t, err, "%s: %s", browser, stderr.String())
		return stdout.String()
	}
}

// crashed reports whether err is a process killed by a signal.
func crashed(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// inDOM fails the test if dom lacks want, keeping dom in a file for a look.
func inDOM(t *testing.T, dom, want, what string) {
	t.Helper()
	if strings.Contains(dom, want) {
		return
	}
	f, err := os.CreateTemp("", "seedkv-report-dom-*.html") // kept after the test, to look at
	if err == nil {
		f.WriteString(dom)
		f.Close()
	}
	t.Fatalf("%s: the rendered page lacks %q (DOM in %s)", what, want, f.Name())
}

// failingRun runs seeds of a configuration beyond what the store promises
// (serializable reads under partitions: a replica cut off from the leader
// serves stale reads) until one fails with a linearizability violation
// and a minimal witness, keeping its artifacts.
func failingRun(t *testing.T) (harness.Result, []int) {
	t.Helper()
	cfg := harness.DefaultConfig()
	cfg.Reads = harness.ReadsSerializable
	cfg.Faults = "partition"
	cfg.KeepArtifacts = true
	for seed := uint64(1); seed <= 20; seed++ {
		res := harness.Run(cfg, seed)
		if res.Verdict != harness.Fail || res.Artifacts == nil {
			continue
		}
		var wit []int
		for _, w := range res.Witness {
			wit = append(wit, w.ID)
		}
		if len(wit) > 0 {
			return res, wit
		}
	}
	t.Fatal("no seed in 1..20 of -reads serializable -faults partition failed with a minimal witness")
	return harness.Result{}, nil
}

// TestReportRendersInChromium writes the report of a real failing seed,
// renders it in headless Chromium and finds, in the DOM the script drew,
// every witness operation and the fault episodes.
func TestReportRendersInChromium(t *testing.T) {
	browser := findBrowser(t)
	res, wit := failingRun(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	require.NoError(t, Write(&b, Input{Result: res, Replay: "replay", Build: Build{Revision: "test"}}))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	static := b.String()

	dom := dumpDOM(t, browser, "file://"+path)
	inDOM(t, dom, `data-rendered="true"`, "the drawing script ran to its end")
	inDOM(t, dom, `<svg width="1200" id="timeline-svg"`, "the timeline is drawn")
	for _, i := range wit {
		op := res.Artifacts.Ops[i]
		// Drawn by the script (the static page holds only its source).
		label := fmt.Sprintf(`class="op-label">op %d client %d: %s -&gt; `, i, op.ClientID, html.EscapeString(op.Input.String()))
		require.NotContains(t, static, label)
		inDOM(t, dom, label, fmt.Sprintf("witness op %d drawn", i))
		inDOM(t, dom, fmt.Sprintf(`<tr class="witness-op" id="op-%d">`, i), "witness op listed")
	}
	for _, w := range res.Witness {
		if w.Replica != 0 {
			inDOM(t, dom, fmt.Sprintf(`<td>replica %d</td>`, w.Replica), "the answering replica named")
		}
	}
	require.Equal(t, len(wit), strings.Count(dom, `class="op witness-bar"`))

	// The whole run (#all) draws every fault episode.
	require.NotEmpty(t, res.Artifacts.Faults)
	dom = dumpDOM(t, browser, "file://"+path+"#all")
	require.Equal(t, len(res.Artifacts.Faults), strings.Count(dom, `class="fault fault-episode"`))
	for _, f := range res.Artifacts.Faults {
		inDOM(t, dom, `class="fault fault-episode"><title>`+html.EscapeString(f.Name+" "+f.Detail)+": ", "fault episode drawn")
	}
	for _, rt := range res.Artifacts.Replicas {
		inDOM(t, dom, fmt.Sprintf(">replica %d<", rt.ID), "replica lane drawn")
	}
}
