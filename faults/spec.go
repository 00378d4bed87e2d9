package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("150ms", "1.5s"), so a scenario file is readable and stable.
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the Go duration string of d.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string ("150ms"); a bare number is
// refused, since its unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"150ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ErrBadSpec is wrapped by every error of Spec validation: an unknown
// fault or parameter, or a value outside its bounds. The message names the
// field.
var ErrBadSpec = errors.New("faults: bad fault spec")

// Episode bounds of every fault: the mean quiet gap before an episode and
// the mean length of an episode. Each episode draws its gap and hold
// uniformly in [mean/2, 3*mean/2].
const (
	MinGap  = 20 * time.Millisecond
	MaxGap  = 10 * time.Second
	MinHold = 10 * time.Millisecond
	MaxHold = 10 * time.Second
)

// Spec is one fault of a scenario as data: which fault, how often (Gap,
// the mean quiet time between episodes), how long each episode holds
// (Hold) and the fault's own parameters by name (see the fault's Params).
// Its JSON form is what `simrun -json` prints and `-scenario` reads.
type Spec struct {
	// Name is the fault's name as -faults takes it.
	Name string `json:"name"`
	// Gap is the mean quiet gap before each episode.
	Gap Duration `json:"gap"`
	// Hold is the mean length of an episode.
	Hold Duration `json:"hold"`
	// Params are the fault's parameters; a missing one takes its
	// default, an unknown one is an error.
	Params map[string]float64 `json:"params,omitempty"`
	// MaxEpisodes, if positive, caps the fault's episodes: once that
	// many have begun (injected, skipped or refused by the budget), no
	// more are scheduled. 0 means no cap. Shrinking sets it, so that
	// dropping an episode cannot bring in a new one at the end.
	MaxEpisodes int `json:"max_episodes,omitempty"`
	// Skip lists episodes, numbered from 0 in the order they begin,
	// that keep their time slot (the gap and the hold pass as usual)
	// but are not injected; strictly increasing. Shrinking uses it to
	// drop episodes one at a time. Empty: every episode is injected.
	Skip []int `json:"skip,omitempty"`
}

// MaxEpisodeIndex bounds Spec.MaxEpisodes and the entries of Spec.Skip.
const MaxEpisodeIndex = 1_000_000

// Param describes one parameter of a fault: its bounds, its default and
// how a swarm draws it.
type Param struct {
	// Name is the key in Spec.Params.
	Name string
	// Min and Max bound the value (inclusive).
	Min, Max float64
	// Default is the value when a spec leaves it out.
	Default float64
	// DrawMin and DrawMax are the range a drawn scenario picks from
	// (uniformly); both zero means [Min, Max].
	DrawMin, DrawMax float64
	// Integer parameters take whole values only.
	Integer bool
	// Doc says what the parameter does.
	Doc string
}

// Validate checks s against the registered fault of its name: a known
// name, episode lengths within [MinGap, MaxGap] and [MinHold, MaxHold],
// known parameters within their bounds. Errors name the field, prefixed
// with path (for example "faults[2]").
func (s Spec) Validate(path string) error {
	f, ok := Lookup(s.Name)
	if !ok {
		return fmt.Errorf("%w: %s.name: unknown fault %q (known: %s)", ErrBadSpec, path, s.Name, knownNames())
	}
	if s.Gap.D() < MinGap || s.Gap.D() > MaxGap {
		return fmt.Errorf("%w: %s.gap: %v not in [%v, %v]", ErrBadSpec, path, s.Gap, MinGap, MaxGap)
	}
	if s.Hold.D() < MinHold || s.Hold.D() > MaxHold {
		return fmt.Errorf("%w: %s.hold: %v not in [%v, %v]", ErrBadSpec, path, s.Hold, MinHold, MaxHold)
	}
	if err := s.validateEpisodes(path); err != nil {
		return err
	}
	for _, name := range sortedKeys(s.Params) {
		p, ok := paramOf(f, name)
		v := s.Params[name]
		switch {
		case !ok:
			return fmt.Errorf("%w: %s.params.%s: fault %s has no such parameter", ErrBadSpec, path, name, s.Name)
		case !(v >= p.Min && v <= p.Max):
			return fmt.Errorf("%w: %s.params.%s: %v not in [%v, %v]", ErrBadSpec, path, name, v, p.Min, p.Max)
		case p.Integer && v != math.Trunc(v):
			return fmt.Errorf("%w: %s.params.%s: %v is not a whole number", ErrBadSpec, path, name, v)
		}
	}
	return nil
}

// validateEpisodes checks MaxEpisodes and Skip.
func (s Spec) validateEpisodes(path string) error {
	if s.MaxEpisodes < 0 || s.MaxEpisodes > MaxEpisodeIndex {
		return fmt.Errorf("%w: %s.max_episodes: %d not in [0, %d]", ErrBadSpec, path, s.MaxEpisodes, MaxEpisodeIndex)
	}
	for i, k := range s.Skip {
		switch {
		case k < 0 || k >= MaxEpisodeIndex:
			return fmt.Errorf("%w: %s.skip[%d]: %d not in [0, %d)", ErrBadSpec, path, i, k, MaxEpisodeIndex)
		case i > 0 && k <= s.Skip[i-1]:
			return fmt.Errorf("%w: %s.skip[%d]: %d is not above %d (the list must be strictly increasing)", ErrBadSpec, path, i, k, s.Skip[i-1])
		}
	}
	return nil
}

// skips reports whether episode k is in s.Skip.
func (s Spec) skips(k int) bool {
	_, found := slices.BinarySearch(s.Skip, k)
	return found
}

// Param is the value of parameter name: the spec's, else its default.
func (s Spec) Param(name string) float64 {
	if v, ok := s.Params[name]; ok {
		return v
	}
	if f, ok := Lookup(s.Name); ok {
		if p, ok := paramOf(f, name); ok {
			return p.Default
		}
	}
	return 0
}

func paramOf(f Fault, name string) (Param, bool) {
	for _, p := range f.Params() {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}
