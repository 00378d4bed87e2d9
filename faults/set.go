// Package faults is seedkv's nemesis: it injects faults into a sim.World
// (crashes, partitions, packet faults, disk faults, clock drift, pauses,
// protocol-aimed crashes) in episodes drawn from a seeded random stream,
// and heals them again.
//
// A fault is a value (Fault: name, class, parameters, Inject) registered
// by name (Register); each built-in fault is one file of this package, and
// a package outside it can register its own. A Spec is one fault of a
// scenario as data (name, mean gap, mean hold, parameters). A Set names
// which faults a run may use; Parse reads the -faults flag and Swarm draws
// a random subset per seed, in the style of FoundationDB's swarm testing.
// A Nemesis applies specs to a world over a span of virtual time while
// keeping in-model faults within the fault model (docs/fault-model.md): at
// any instant at most a minority of voters is crashed, paused or
// recovering from corruption, and at most a minority carries corrupted
// data; it asserts that budget after every injection.
package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// The names of the built-in faults, as the -faults flag takes them.
const (
	Crash               = "crash"
	Partition           = "partition"
	Packet              = "packet"
	DiskTorn            = "disk-torn"
	DiskCorrupt         = "disk-corrupt"
	DiskFull            = "disk-full"
	DiskSlow            = "disk-slow"
	ClockDrift          = "clock-drift"
	Membership          = "membership"
	LoseSynced          = "lose-synced"
	DiskCorruptMajority = "disk-corrupt-majority"
)

// ErrUnknownFault: a name Parse does not know.
var ErrUnknownFault = errors.New("faults: unknown fault")

// ErrBadFaultList: an empty list, or none/swarm mixed in wrongly.
var ErrBadFaultList = errors.New("faults: bad fault list")

// Set is a set of registered faults, possibly still to be drawn per seed
// (swarm). It is a mask over the registry's canonical order.
type Set struct {
	bits  uint64
	swarm bool
	all   bool // "all" was named: every in-model fault registered when resolved
}

// None is the empty set.
var None = Set{}

// All is every in-model fault (resolved against the registry when used,
// so faults registered by other packages' init functions are in it).
var All = Set{all: true}

// SwarmSet is the unresolved swarm: Resolve draws its faults per seed.
var SwarmSet = Set{swarm: true}

// Of builds a set from fault names; unknown names are ignored (use Parse
// to get an error).
func Of(names ...string) Set {
	var s Set
	for _, n := range names {
		s = s.With(n)
	}
	return s
}

// With returns s plus the fault called name (unchanged if unknown).
func (s Set) With(name string) Set {
	if i := index(name); i >= 0 {
		s.bits |= 1 << i
	}
	return s
}

// Without returns s minus the fault called name.
func (s Set) Without(name string) Set {
	s = s.expand()
	if i := index(name); i >= 0 {
		s.bits &^= 1 << i
	}
	return s
}

// expand turns the "all" marker into the in-model faults' bits.
func (s Set) expand() Set {
	if s.all {
		for i, f := range Registered() {
			if f.Class() == InModel {
				s.bits |= 1 << i
			}
		}
		s.all = false
	}
	return s
}

// Has reports whether the fault called name is in s (for a swarm set:
// whether it was named explicitly beside "swarm").
func (s Set) Has(name string) bool {
	i := index(name)
	return i >= 0 && s.expand().bits&(1<<i) != 0
}

// IsSwarm reports whether s still has to be drawn per seed by Resolve.
func (s Set) IsSwarm() bool { return s.swarm }

// Empty reports whether s injects nothing.
func (s Set) Empty() bool { return s.expand().bits == 0 && !s.swarm }

// InModel reports whether every fault in s is within the fault model.
func (s Set) InModel() bool {
	for _, f := range s.Faults() {
		if f.Class() != InModel {
			return false
		}
	}
	return true
}

// Faults lists the faults of s in canonical order.
func (s Set) Faults() []Fault {
	s = s.expand()
	var out []Fault
	for i, f := range Registered() {
		if s.bits&(1<<i) != 0 {
			out = append(out, f)
		}
	}
	return out
}

// Names lists the flag names of s in canonical order ("swarm" first for
// an unresolved swarm).
func (s Set) Names() []string {
	var out []string
	if s.swarm {
		out = append(out, "swarm")
	}
	for _, f := range s.Faults() {
		out = append(out, f.Name())
	}
	return out
}

// Equal reports whether s and t hold the same faults and swarm marker.
func (s Set) Equal(t Set) bool {
	a, b := s.expand(), t.expand()
	return a.bits == b.bits && a.swarm == b.swarm
}

// String is s as Parse reads it: "none" for the empty set, else a comma
// list.
func (s Set) String() string {
	if s.Empty() {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// Parse reads a -faults value: "swarm", "none", "all" (every in-model
// fault) or a comma list of fault names; "all" and "swarm" may be combined
// with further names (for example "all,lose-synced"). An unknown name
// fails with ErrUnknownFault naming it.
func Parse(list string) (Set, error) {
	var s Set
	words := strings.Split(list, ",")
	for _, w := range words {
		w = strings.TrimSpace(w)
		switch w {
		case "":
			return Set{}, fmt.Errorf("%w: empty name in %q", ErrBadFaultList, list)
		case "none":
			if len(words) > 1 {
				return Set{}, fmt.Errorf("%w: %q: none stands alone", ErrBadFaultList, list)
			}
			return None, nil
		case "all":
			s = s.union(All)
		case "swarm":
			s.swarm = true
		default:
			if index(w) < 0 {
				return Set{}, fmt.Errorf("%w: %q (known: swarm, none, all, %s)", ErrUnknownFault, w, knownNames())
			}
			s = s.With(w)
		}
	}
	return s.expand(), nil
}

func (s Set) union(t Set) Set {
	a, b := s.expand(), t.expand()
	a.bits |= b.bits
	a.swarm = a.swarm || b.swarm
	return a
}

// Swarm draws a random subset of the in-model faults: each is in with
// probability one half (or its SwarmChance, if it is Rated),
// independently (so a seed may also draw none).
func Swarm(r *rand.Rand) Set {
	var s Set
	for _, f := range All.Faults() {
		if drawn(f, r) {
			s = s.With(f.Name())
		}
	}
	return s
}

// drawn draws whether a swarm includes f.
func drawn(f Fault, r *rand.Rand) bool {
	if rf, ok := f.(Rated); ok {
		return r.Float64() < rf.SwarmChance()
	}
	return r.IntN(2) == 1
}

// Resolve turns a swarm set into a concrete one by drawing Swarm(r) and
// adding the faults named beside "swarm"; a concrete set is returned as
// is, drawing nothing.
func (s Set) Resolve(r *rand.Rand) Set {
	if !s.swarm {
		return s.expand()
	}
	d := Swarm(r)
	d.bits |= s.expand().bits
	return d
}
