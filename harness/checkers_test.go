package harness

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func checkNames(res Result) []string {
	var names []string
	for _, o := range res.Checks {
		names = append(names, o.Name)
	}
	return names
}

// The default list runs in its documented order, after the run-phase
// checks, and sees the run's records.
func TestDefaultCheckList(t *testing.T) {
	cfg := fakeConfig(DefaultConfig(), false)
	cfg.Faults = "none"
	var seen *Records
	cfg.Checks = func(defaults []RunChecker) []RunChecker {
		var names []string
		for _, c := range defaults {
			names = append(names, c.Name())
		}
		require.Equal(t, slices.DeleteFunc(DefaultCheckNames(), func(s string) bool { return s == CheckWorkload }), names)
		return append(defaults, NewChecker("records", func(rec *Records) CheckResult {
			seen = rec
			return CheckResult{}
		}))
	}
	res := Run(cfg, 1)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	require.Equal(t, append([]string{"convergence", "log-agreement", "safety"},
		append(slices.DeleteFunc(DefaultCheckNames(), func(s string) bool { return s == CheckWorkload }), "records")...), checkNames(res))
	require.NotNil(t, seen)
	require.NotEmpty(t, seen.History)
	require.NotEmpty(t, seen.WriteLog)
	require.Len(t, seen.Replicas, 5)
	require.Equal(t, res.TraceHash, seen.TraceHash)
	require.Equal(t, CheckPassed, outcomeOf(t, res, CheckLinearizability).Status)
}

// An appended check decides the verdict with its name and witness; one
// that cannot decide makes a passing seed unknown; one that lacks input
// is reported skipped.
func TestAppendedChecks(t *testing.T) {
	tests := []struct {
		name    string
		result  CheckResult
		verdict Verdict
		reason  string
		status  CheckStatus
	}{
		{"fail", CheckResult{Err: errors.New("boom at revision 7")}, Fail, "mine: boom at revision 7", CheckFailed},
		{"unknown", CheckResult{Unknown: "out of steps"}, Unknown, "mine: out of steps", CheckUnknown},
		{"skipped", CheckResult{Skipped: "no trace"}, Pass, "", CheckSkipped},
		{"pass", CheckResult{}, Pass, "", CheckPassed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fakeConfig(DefaultConfig(), false)
			cfg.Faults = "none"
			cfg.Checks = func(d []RunChecker) []RunChecker {
				return append(d, NewChecker("mine", func(*Records) CheckResult { return tc.result }))
			}
			res := Run(cfg, 2)
			require.Equal(t, tc.verdict, res.Verdict, res.Reason)
			require.Equal(t, tc.reason, res.Reason)
			require.Equal(t, tc.status, outcomeOf(t, res, "mine").Status)
			require.Equal(t, tc.status == CheckSkipped, slices.Contains(res.Skipped(), "mine: no trace"))
		})
	}
}

// Dropping default checks removes them: stale serializable reads that the
// linearizability check catches (and the reads-of-the-past check, whose
// serializable reads of the latest state see the fake go back) pass
// without them.
func TestReplacedCheck(t *testing.T) {
	cfg := fakeConfig(DefaultConfig(), true)
	cfg.Faults, cfg.Reads = "none", ReadsSerializable
	require.Equal(t, Fail, Run(cfg, 1).Verdict)
	cfg.Checks = func(d []RunChecker) []RunChecker {
		return slices.DeleteFunc(d, func(c RunChecker) bool {
			return c.Name() == CheckLinearizability || c.Name() == CheckPastReads
		})
	}
	res := Run(cfg, 1)
	require.Equal(t, Pass, res.Verdict, res.Reason)
	require.NotContains(t, checkNames(res), CheckLinearizability)
	require.NotContains(t, checkNames(res), CheckPastReads)
}
