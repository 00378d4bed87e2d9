// Package faults is seedkv's nemesis: it injects faults into a sim.World
// (crashes, partitions, packet faults, disk faults, clock drift) in
// episodes drawn from a seeded random stream, and heals them again.
//
// A Set names which faults a run may use; Parse reads the -faults flag and
// Swarm draws a random subset per seed, in the style of FoundationDB's
// swarm testing, so that each seed explores a different mix. A Nemesis
// applies a resolved Set to a world over a span of virtual time while
// keeping in-model faults within the fault model of DESIGN.md: at any
// instant at most a minority of replicas is crashed (or recovering from
// corruption), and at most a minority carries corrupted data.
package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Fault is one kind of fault, named as the -faults flag names it.
type Fault uint8

// The faults. Membership is driven by the harness (it owns the cluster);
// the Nemesis only carries it in its Set. LoseSynced and
// DiskCorruptMajority are beyond the fault model: opt-in only.
const (
	Crash Fault = iota
	Partition
	Packet
	DiskTorn
	DiskCorrupt
	DiskFull
	DiskSlow
	ClockDrift
	Membership
	LoseSynced
	DiskCorruptMajority
	numFaults
)

var faultNames = [numFaults]string{
	Crash:               "crash",
	Partition:           "partition",
	Packet:              "packet",
	DiskTorn:            "disk-torn",
	DiskCorrupt:         "disk-corrupt",
	DiskFull:            "disk-full",
	DiskSlow:            "disk-slow",
	ClockDrift:          "clock-drift",
	Membership:          "membership",
	LoseSynced:          "lose-synced",
	DiskCorruptMajority: "disk-corrupt-majority",
}

// String is the flag name of f.
func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", uint8(f))
}

// InModel reports whether the store must survive f (DESIGN.md's fault
// model); false for the beyond-model research faults.
func (f Fault) InModel() bool { return f < LoseSynced }

// ErrUnknownFault: a name Parse does not know.
var ErrUnknownFault = errors.New("faults: unknown fault")

// ErrBadFaultList: an empty list, or none/swarm mixed in wrongly.
var ErrBadFaultList = errors.New("faults: bad fault list")

// Set is a set of faults, possibly still to be drawn per seed (swarm).
type Set struct {
	bits  uint32
	swarm bool
}

// None is the empty set.
var None = Set{}

// All is every in-model fault.
var All = func() Set {
	var s Set
	for f := Fault(0); f < numFaults; f++ {
		if f.InModel() {
			s = s.With(f)
		}
	}
	return s
}()

// SwarmSet is the unresolved swarm: Resolve draws its faults per seed.
var SwarmSet = Set{swarm: true}

// Of builds a set from faults.
func Of(fs ...Fault) Set {
	var s Set
	for _, f := range fs {
		s = s.With(f)
	}
	return s
}

// With returns s plus f.
func (s Set) With(f Fault) Set { s.bits |= 1 << f; return s }

// Without returns s minus f.
func (s Set) Without(f Fault) Set { s.bits &^= 1 << f; return s }

// Has reports whether f is in s (for a swarm set: whether f was named
// explicitly beside "swarm").
func (s Set) Has(f Fault) bool { return s.bits&(1<<f) != 0 }

// IsSwarm reports whether s still has to be drawn per seed by Resolve.
func (s Set) IsSwarm() bool { return s.swarm }

// Empty reports whether s injects nothing.
func (s Set) Empty() bool { return s.bits == 0 && !s.swarm }

// InModel reports whether every fault in s is within the fault model.
func (s Set) InModel() bool {
	for _, f := range s.Faults() {
		if !f.InModel() {
			return false
		}
	}
	return true
}

// Faults lists the faults of s in their canonical order.
func (s Set) Faults() []Fault {
	var out []Fault
	for f := Fault(0); f < numFaults; f++ {
		if s.Has(f) {
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
		out = append(out, f.String())
	}
	return out
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
			s.bits |= All.bits
		case "swarm":
			s.swarm = true
		default:
			f, ok := lookup(w)
			if !ok {
				return Set{}, fmt.Errorf("%w: %q (known: swarm, none, all, %s)", ErrUnknownFault, w, strings.Join(faultNames[:], ", "))
			}
			s = s.With(f)
		}
	}
	return s, nil
}

func lookup(name string) (Fault, bool) {
	for f, n := range faultNames {
		if n == name {
			return Fault(f), true
		}
	}
	return 0, false
}

// Swarm draws a random subset of the in-model faults: each is in with
// probability one half, independently (so a seed may also draw none).
func Swarm(r *rand.Rand) Set {
	var s Set
	for _, f := range All.Faults() {
		if r.IntN(2) == 1 {
			s = s.With(f)
		}
	}
	return s
}

// Resolve turns a swarm set into a concrete one by drawing Swarm(r) and
// adding the faults named beside "swarm"; a concrete set is returned as
// is, drawing nothing.
func (s Set) Resolve(r *rand.Rand) Set {
	if !s.swarm {
		return s
	}
	d := Swarm(r)
	d.bits |= s.bits
	return d
}
