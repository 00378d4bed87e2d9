package faults

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// logUniform draws a duration log-uniformly in [lo, hi], rounded to a
// millisecond so that a printed scenario reads back exactly.
func logUniform(r *rand.Rand, lo, hi time.Duration) Duration {
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	d := time.Duration(v).Round(time.Millisecond)
	return Duration(min(max(d, lo), hi))
}

// roundTo rounds v to digits decimal places, so a drawn value prints
// short and reads back exactly.
func roundTo(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func sortedKeys(m map[string]float64) []string {
	return slices.Sorted(maps.Keys(m))
}
