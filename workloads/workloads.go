// Package workloads holds the workloads beyond the built-in key-value one,
// each an implementation of harness.Workload chosen with simrun's
// `-workload` flag. They exercise what people run an etcd-style store
// for:
//
//   - election: candidates campaign with package concurrency's Election;
//     the leader does leader-only work, then resigns or crashes.
//   - lock: clients take a concurrency.Mutex and write to a simulated
//     shared resource under it; the resource checks fencing tokens or not
//     (Options.Fencing).
//   - config: writers replace a configuration key set atomically; watchers
//     follow it and must apply configurations in order and converge.
//   - kubernetes: objects under /registry/<resource>/<namespace>/<name>
//     with JSON values, written with compare-and-swap on mod revision;
//     informers list and then watch from the list revision, and must end
//     with a cache equal to the store.
//
// Each run records what its clients saw and returns checkers that judge
// those records against the cluster's committed write log (the store's
// own history), so a check can tell what the store said from what a
// client believed.
package workloads

import (
	"fmt"
	"slices"
	"strings"

	"github.com/seedkv/seedkv/harness"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Names lists the workloads New knows, in display order ("kv" is the
// harness's built-in one: New returns nil for it).
var Names = []string{"kv", "election", "lock", "config", "kubernetes"}

// Options tune the workloads.
type Options struct {
	// Fencing makes the lock workload's resource check fencing tokens
	// (the default); without it the resource accepts every write.
	Fencing bool
}

// DefaultOptions are the options simrun uses unless told otherwise.
func DefaultOptions() Options { return Options{Fencing: true} }

// New returns the workload called name; nil (and no error) for "kv", the
// harness's built-in workload.
func New(name string, opts Options) (harness.Workload, error) {
	switch name {
	case "kv", "":
		return nil, nil
	case "election":
		return Election{}, nil
	case "config":
		return Config{}, nil
	case "kubernetes":
		return Kubernetes{}, nil
	case "lock":
		//lint:ignore S1016 Options are every workload's, not Lock's alone
		return Lock{Fencing: opts.Fencing}, nil
	}
	return nil, fmt.Errorf("%w: workload %q (want one of %s)", harness.ErrBadConfig, name, strings.Join(Names, ", "))
}

// checker adapts a function to harness.WorkloadChecker.
type checker struct {
	name string
	fn   func(*harness.Records) harness.CheckResult
}

func (c checker) Name() string                                 { return c.name }
func (c checker) Check(r *harness.Records) harness.CheckResult { return c.fn(r) }

// needLog wraps a check that needs the write log: without it the check is
// skipped.
func needLog(name string, fn func(log []lin.LogEntry) error) harness.WorkloadChecker {
	return checker{name: name, fn: func(r *harness.Records) harness.CheckResult {
		if r.WriteLog == nil {
			return harness.CheckResult{Skipped: "no write log"}
		}
		return harness.CheckResult{Err: fn(r.WriteLog)}
	}}
}

// keyState is one key as the write log says it is at some revision.
type keyState struct {
	value          string
	create, modRev int64
}

// replay walks the committed write log forward, revision by revision.
type replay struct {
	log  []lin.LogEntry
	i    int
	rev  int64
	keys map[string]keyState
}

func newReplay(log []lin.LogEntry) *replay {
	return &replay{log: log, rev: 1, keys: map[string]keyState{}}
}

// to applies every entry up to and including revision rev.
func (p *replay) to(rev int64) {
	for p.i < len(p.log) && p.log[p.i].Revision <= rev {
		e := p.log[p.i]
		for _, c := range e.Changes {
			switch c.Type {
			case lin.EventPut:
				ks, ok := p.keys[c.Key]
				if !ok {
					ks.create = e.Revision
				}
				ks.value, ks.modRev = c.Value, e.Revision
				p.keys[c.Key] = ks
			case lin.EventDelete:
				delete(p.keys, c.Key)
			}
		}
		p.i++
	}
	p.rev = max(p.rev, rev)
}

// last is the last revision of the log (1: the empty store).
func lastRev(log []lin.LogEntry) int64 {
	if len(log) == 0 {
		return 1
	}
	return log[len(log)-1].Revision
}

// under lists the keys with prefix, sorted.
func (p *replay) under(prefix string) []string {
	var ks []string
	for k := range p.keys {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// first is the key under prefix with the lowest create revision ("" if
// none).
func (p *replay) first(prefix string) (string, keyState) {
	best, bs := "", keyState{}
	for _, k := range p.under(prefix) {
		if ks := p.keys[k]; best == "" || ks.create < bs.create {
			best, bs = k, ks
		}
	}
	return best, bs
}
