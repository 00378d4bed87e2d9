package harness

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain runs the tests with the garbage collector tuned as cmd/simrun
// tunes it (see GCPercent), unless GOGC says otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	os.Exit(m.Run())
}
