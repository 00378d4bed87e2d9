package harness

import (
	"fmt"
	"strings"
)

// faultNames are the fault names of DESIGN.md. Until package faults lands,
// the harness validates `-faults` against this list itself.
var faultNames = []string{
	"crash", "partition", "packet", "disk-torn", "disk-corrupt", "disk-full",
	"disk-slow", "clock-drift", "membership", "lose-synced", "disk-corrupt-majority",
}

// ValidateFaults checks a `-faults` value: "swarm", "none", "all" or a comma
// list of fault names.
func ValidateFaults(spec string) error {
	switch spec {
	case "swarm", "none", "all":
		return nil
	case "":
		return fmt.Errorf("%w: empty fault list", ErrBadConfig)
	}
	for _, name := range strings.Split(spec, ",") {
		known := false
		for _, f := range faultNames {
			known = known || f == name
		}
		if !known {
			return fmt.Errorf("%w: unknown fault %q", ErrBadConfig, name)
		}
	}
	return nil
}
