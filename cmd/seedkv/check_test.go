package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// memberEnv makes the test binary act as seedkv: the check and cluster
// commands start their members by running their own executable.
const memberEnv = "SEEDKV_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A short real-cluster check: three member processes, kills and pauses,
// a linearizable history and no lost write.
func TestCheckShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv(memberEnv, "1")
	var out, errb bytes.Buffer
	code := run([]string{"check", "-duration", "4s", "-fault-every", "1s", "-clients", "4"}, &out, &errb)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out.String(), errb.String())
	require.True(t, strings.Contains(out.String(), "verdict=pass"), out.String())
	require.Contains(t, out.String(), "lost=0")
}
