package harness

import (
	"time"

	"github.com/seedkv/seedkv/faults"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Verdict is the outcome of one seed.
type Verdict string

// The verdicts.
const (
	// Pass: every check passed.
	Pass Verdict = "pass"
	// Fail: a check found a violation, or the run panicked.
	Fail Verdict = "fail"
	// Unknown: no violation was found but a check ran out of time.
	Unknown Verdict = "unknown"
)

// Result is what one seed produced.
type Result struct {
	// Seed is the seed that was run.
	Seed uint64
	// Verdict is pass, fail or unknown.
	Verdict Verdict
	// Reason says why the verdict is not pass (empty on pass).
	Reason string
	// TraceHash folds every event of the world; the same seed and
	// configuration give the same hash.
	TraceHash uint64
	// Ops is the number of client operations invoked.
	Ops int
	// Events is the number of events the world executed.
	Events uint64
	// Schedule is each scheduled fault's episodes: how many began and
	// which were injected (what shrinking drops one at a time).
	Schedule []faults.FaultSchedule
	// Virtual is the virtual time the world ran, heal phase included.
	Virtual time.Duration
	// Wall is the wall time of the whole seed, checking included.
	Wall time.Duration
	// CheckTime is the wall time spent in the checks after the run.
	CheckTime time.Duration
	// Faults names the faults that were enabled for this seed.
	Faults []string
	// Scenario is the scenario the seed ran (nil only if the
	// configuration was invalid).
	Scenario *Scenario
	// Probes counts the hits of each probe the run reached, by name (nil
	// unless Config.Probes).
	Probes map[string]uint32
	// ProbeOrder names the probes reached, in the order of their first
	// hit (nil unless Config.Probes).
	ProbeOrder []string
	// States are the abstract cluster states the run went through, as
	// sorted feature hashes (nil unless Config.Probes); see sampleStates.
	States []uint64
	// Checks is the outcome of every check that ran after the run, in
	// order (pass, fail, skipped or unknown, with the detail); Skipped
	// lists the skipped ones.
	Checks []CheckOutcome
	// Witness is the minimal witness of a linearizability failure: the
	// few operations of the history that cannot be linearized together
	// (nil if the history passed the linearizability check, or if no
	// sub-history fails on its own). Reason lists them too.
	Witness []WitnessOp
	// WitnessReason says why the Witness operations cannot be linearized.
	WitnessReason string
	// Artifacts holds the material for failure artifacts; nil unless
	// Config.KeepArtifacts.
	Artifacts *Artifacts
	// window says how checking the history in a window went ("": not
	// checked in one); for tests.
	window string
}

// Artifacts is what a run keeps for writing up a failure.
type Artifacts struct {
	// Trace is the world's event trace as text, one event per line.
	Trace []byte
	// History is the client history as text, one operation per line.
	History []byte
	// Visualization is porcupine's HTML visualisation of the checked
	// history (nil if the linearizability check did not run).
	Visualization []byte
	// Summary is a human-readable account of the run and its checks.
	Summary []byte
	// Ops is the checked client history; history.txt numbers its lines
	// by their index here, as the failure reasons do ("op 12").
	Ops []lin.Op
	// Faults are the nemesis's fault episodes in the order they began,
	// with virtual start and end times (those still active at the end of
	// the run end there).
	Faults []lin.Fault
	// Replicas is each replica's role, term, commit index and applied
	// revision over time, sampled every 50ms of virtual time and at every
	// client call and return.
	Replicas []ReplicaTimeline
	// End is the virtual time the run ended, in nanoseconds.
	End int64
}
