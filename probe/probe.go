// Package probe marks interesting moments in the code (FoundationDB's
// CODE_PROBE): a conflicting suffix truncated, a lease expired while a
// keep-alive was in flight, a read at a compacted revision. A probe is
// declared once at package level,
//
//	var conflictTruncated = probe.New("raft/conflict-truncated", "raft: a conflicting suffix was truncated")
//
// and hit where the moment happens, into the *Set of the world the code
// runs in:
//
//	s.Hit(conflictTruncated)
//
// A Set belongs to one simulated world, so parallel worlds in one process
// never mix their hits, and a world's hits are a function of its seed and
// scenario alone. A nil *Set collects nothing: Hit on it is one compare.
//
// The package is a leaf: it imports nothing of seedkv, so any package may
// import it.
package probe

import (
	"fmt"
	"sort"
	"sync"
)

// ID names one declared probe. IDs are dense, in declaration order; only
// names leave the process.
type ID uint32

// Info describes a declared probe.
type Info struct {
	// Name is the probe's stable name, "package/what".
	Name string
	// Doc says in words what moment the probe marks.
	Doc string
}

var (
	mu       sync.Mutex // guards registry: Set methods may name probes from parallel worlds
	registry []Info
	byName   = map[string]ID{}
)

// New declares a probe. Call it at package level. It panics on an empty
// or duplicate name: that is a programming error.
func New(name, doc string) ID {
	mu.Lock()
	defer mu.Unlock()
	if name == "" {
		panic("probe: empty name")
	}
	if _, dup := byName[name]; dup {
		panic(fmt.Sprintf("probe: %q declared twice", name))
	}
	id := ID(len(registry))
	registry = append(registry, Info{Name: name, Doc: doc})
	byName[name] = id
	return id
}

// All returns every declared probe, sorted by name.
func All() []Info {
	mu.Lock()
	out := append([]Info(nil), registry...)
	mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the probe called name.
func Lookup(name string) (ID, bool) {
	mu.Lock()
	defer mu.Unlock()
	id, ok := byName[name]
	return id, ok
}

// Name is the name of id ("" if none was declared with it).
func (id ID) Name() string {
	mu.Lock()
	defer mu.Unlock()
	if int(id) >= len(registry) {
		return ""
	}
	return registry[id].Name
}

// Set collects the probe hits of one world. It is not safe for concurrent
// use: like the world, it is driven from one goroutine. The zero value is
// ready; a nil *Set ignores every hit.
type Set struct {
	counts []uint32 // by ID
	first  []ID     // IDs in the order of their first hit
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{} }

// Hit records one hit of id. On a nil set it does nothing.
func (s *Set) Hit(id ID) {
	if s == nil {
		return
	}
	if int(id) >= len(s.counts) {
		s.grow(id)
	}
	if s.counts[id] == 0 {
		s.first = append(s.first, id)
	}
	s.counts[id]++
}

// If records a hit of id when cond holds; for one-line probe sites.
func (s *Set) If(cond bool, id ID) {
	if cond {
		s.Hit(id)
	}
}

func (s *Set) grow(id ID) {
	n := max(int(id)+1, len(registry))
	c := make([]uint32, n)
	copy(c, s.counts)
	s.counts = c
}

// Count is the number of hits of id so far.
func (s *Set) Count(id ID) uint32 {
	if s == nil || int(id) >= len(s.counts) {
		return 0
	}
	return s.counts[id]
}

// Order returns the names of the probes hit, in the order of their first
// hit.
func (s *Set) Order() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.first))
	for i, id := range s.first {
		out[i] = id.Name()
	}
	return out
}

// Hits returns each probe hit with its count, by name.
func (s *Set) Hits() map[string]uint32 {
	out := map[string]uint32{}
	if s == nil {
		return out
	}
	for _, id := range s.first {
		out[id.Name()] = s.counts[id]
	}
	return out
}

// Len is the number of distinct probes hit.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.first)
}

// Of returns the Set that x carries, if it has one (a host, a file system
// or anything else with a Probes() *Set method), else nil. Packages that
// are handed a host use it to find their world's set without a new
// parameter.
func Of(x any) *Set {
	if c, ok := x.(interface{ Probes() *Set }); ok {
		return c.Probes()
	}
	return nil
}
