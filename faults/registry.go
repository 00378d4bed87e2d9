package faults

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Class places a fault in or beyond the fault model (docs/fault-model.md).
type Class uint8

// The classes.
const (
	// InModel faults are ones the store must survive: it stays
	// linearizable, loses no acknowledged write and recovers once healed.
	// "all" and the swarm draw from them.
	InModel Class = iota + 1
	// BeyondModel faults are research faults, opt-in only; the checker is
	// expected to report a violation under them.
	BeyondModel
)

// String is "in-model" or "beyond-model".
func (c Class) String() string {
	switch c {
	case InModel:
		return "in-model"
	case BeyondModel:
		return "beyond-model"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Fault is one kind of fault, as data: a name (as -faults takes it), its
// class, its parameters and how to inject one episode of it. A new fault is
// one value registered with Register, from any package; the nemesis
// schedules its episodes (quiet gap, inject, hold, heal) and checks the
// budget after every injection.
type Fault interface {
	// Name is the fault's -faults name: lower case, no commas or spaces.
	Name() string
	// Class is InModel or BeyondModel.
	Class() Class
	// Params lists the fault's parameters (nil if none).
	Params() []Param
	// Inject starts one episode. It returns what it did (for traces and
	// histories), the function that heals it, and false if the fault
	// cannot be injected now (for example because the budget is used up);
	// then the nemesis tries again after another gap. Inject runs on the
	// world's event loop and may only draw randomness from e.R.
	Inject(e *Episode) (detail string, heal func(), ok bool)
}

// Driven is implemented by faults that the nemesis does not schedule
// because something else drives them: membership changes are made by the
// harness, which owns the cluster. The nemesis carries such a fault in its
// set and says so in Active, never injects it.
type Driven interface {
	// DrivenBy names who injects the fault.
	DrivenBy() string
}

// MaxFaults bounds the registry (a Set is a 64-bit mask over it).
const MaxFaults = 64

// ErrRegister: a fault that cannot be registered (bad or taken name, bad
// class or parameter, registry full).
var ErrRegister = errors.New("faults: cannot register fault")

// registry holds every registered fault in registration order, which is
// the canonical order of sets and of swarm draws.
var registry struct {
	sync.RWMutex
	faults []Fault
}

// Register adds f to the registry. Call it from an init function: the
// registry must not change while seeds run (the swarm draws over it in
// order). The name must be new, lower case letters, digits and dashes.
func Register(f Fault) error {
	registry.Lock()
	defer registry.Unlock()
	name := f.Name()
	switch {
	case !validName(name):
		return fmt.Errorf("%w: name %q (want lower case letters, digits, dashes)", ErrRegister, name)
	case name == "all" || name == "none" || name == "swarm":
		return fmt.Errorf("%w: name %q is reserved", ErrRegister, name)
	case f.Class() != InModel && f.Class() != BeyondModel:
		return fmt.Errorf("%w: %s: class %v", ErrRegister, name, f.Class())
	case len(registry.faults) >= MaxFaults:
		return fmt.Errorf("%w: %s: registry full (%d)", ErrRegister, name, MaxFaults)
	}
	for _, g := range registry.faults {
		if g.Name() == name {
			return fmt.Errorf("%w: %s: name taken", ErrRegister, name)
		}
	}
	for _, p := range f.Params() {
		if !validName(strings.ReplaceAll(p.Name, "_", "-")) || !(p.Min <= p.Default && p.Default <= p.Max) {
			return fmt.Errorf("%w: %s: parameter %q: default %v not in [%v, %v]", ErrRegister, name, p.Name, p.Default, p.Min, p.Max)
		}
	}
	registry.faults = append(registry.faults, f)
	return nil
}

// MustRegister is Register that panics on error, for init functions.
func MustRegister(f Fault) {
	if err := Register(f); err != nil {
		panic(err)
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Registered lists every registered fault in canonical order.
func Registered() []Fault {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Clone(registry.faults)
}

// Lookup finds a registered fault by name.
func Lookup(name string) (Fault, bool) {
	i := index(name)
	if i < 0 {
		return nil, false
	}
	return Registered()[i], true
}

func index(name string) int {
	registry.RLock()
	defer registry.RUnlock()
	for i, f := range registry.faults {
		if f.Name() == name {
			return i
		}
	}
	return -1
}

func knownNames() string {
	var names []string
	for _, f := range Registered() {
		names = append(names, f.Name())
	}
	return strings.Join(names, ", ")
}

// DrawSpec draws a spec of f for one seed: mean gap and hold log-uniform
// in [200ms, 1.5s] and [100ms, 1.5s], each parameter uniform in its draw
// range.
func DrawSpec(f Fault, r *rand.Rand) Spec {
	s := Spec{Name: f.Name(), Gap: logUniform(r, DrawGapMin, DrawGapMax), Hold: logUniform(r, DrawHoldMin, DrawHoldMax)}
	for _, p := range f.Params() {
		lo, hi := p.DrawMin, p.DrawMax
		if lo == 0 && hi == 0 {
			lo, hi = p.Min, p.Max
		}
		if s.Params == nil {
			s.Params = map[string]float64{}
		}
		v := roundTo(lo+(hi-lo)*r.Float64(), 4)
		if p.Integer {
			v = math.Round(v)
		}
		s.Params[p.Name] = v
	}
	return s
}

// The range a drawn spec's mean gap and hold come from.
const (
	DrawGapMin  = 200 * time.Millisecond
	DrawGapMax  = 1500 * time.Millisecond
	DrawHoldMin = 100 * time.Millisecond
	DrawHoldMax = 1500 * time.Millisecond
)
