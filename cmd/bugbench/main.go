// Command bugbench measures how many of the planted bugs of package
// bugbench the simulator catches: for each bug it copies the module,
// applies the bug, builds simrun from the copy and runs seeds until one
// fails. See `bugbench -h` and the README's bugbench section.
//
// bugbench runs go and simrun as subprocesses; nothing of it is in
// simrun's import graph.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// measureBug is what a worker runs for one bug; tests replace it.
var measureBug = measure

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "bugbench: %v (see bugbench -h)\n", err)
		return exitUsage
	}
	if o.list {
		printList(stdout, &o)
		return exitOK
	}
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			fmt.Fprintf(stderr, "bugbench: %v (use -root)\n", err)
			return exitUsage
		}
	}
	if _, err := os.Stat(filepath.Join(o.root, "go.mod")); err != nil {
		fmt.Fprintf(stderr, "bugbench: -root %s: no go.mod\n", o.root)
		return exitUsage
	}
	for i := range o.bugs {
		if err := o.bugs[i].Check(o.root); err != nil {
			fmt.Fprintf(stderr, "bugbench: %v\n", err)
			return exitFail
		}
	}
	results := measureAll(&o, stderr)
	if o.check {
		return reportCheck(stdout, results)
	}
	rep := newReport(&o, results)
	if o.json {
		if err := rep.writeJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "bugbench: %v\n", err)
			return exitFail
		}
	} else {
		rep.writeTable(stdout)
	}
	return rep.exitStatus()
}

// measureAll measures the selected bugs on o.parallel workers and returns
// the results in catalogue order, reporting each on stderr as it ends.
func measureAll(o *options, stderr io.Writer) []bugResult {
	results := make([]bugResult, len(o.bugs))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	done := 0
	for range o.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := measureBug(o, o.bugs[i], stderr)
				mu.Lock()
				results[i] = r
				done++
				fmt.Fprintf(stderr, "bugbench: [%d/%d %s] %s\n", done, len(o.bugs),
					time.Since(start).Round(time.Second), progressLine(&r))
				mu.Unlock()
			}
		}()
	}
	for i := range o.bugs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// reportCheck prints, per bug, whether its mutant builds.
func reportCheck(w io.Writer, results []bugResult) int {
	code := exitOK
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: ERROR %s\n", r.Name, r.Error)
			code = exitFail
			continue
		}
		fmt.Fprintf(w, "%s: builds\n", r.Name)
	}
	return code
}

// findRoot walks up from the working directory to the directory holding
// go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
