package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsThisModule(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, gomod string
		want        bool
	}{
		{"this module", "module github.com/seedkv/seedkv\n\ngo 1.26\n", true},
		{"quoted", "// comment\nmodule \"github.com/seedkv/seedkv\"\n", true},
		{"another module", "module example.com/other\n", false},
		{"a submodule", "module github.com/seedkv/seedkv/compat\n", false},
		{"no module line", "go 1.26\n", false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".mod")
		require.NoError(t, os.WriteFile(path, []byte(tc.gomod), 0o644))
		require.Equal(t, tc.want, isThisModule(path), tc.name)
	}
	require.False(t, isThisModule(filepath.Join(dir, "missing.mod")))
}

// TestGitRevisionOnlyInThisCheckout: in a checkout of another module (one
// with a commit) the revision is "unknown"; in this one (the test runs in
// cmd/simrun) it is git's HEAD.
func TestGitRevisionOnlyInThisCheckout(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on PATH: the fallback has nothing to ask")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not run from a git checkout: %v", err)
	}
	rev, _ := gitRevision()
	require.Equal(t, strings.TrimSpace(string(head)), rev)

	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644))
	for _, args := range [][]string{{"init", "-q"}, {"add", "go.mod"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "other"}} {
		out, err := exec.Command("git", append([]string{"-C", other}, args...)...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	t.Chdir(other)
	rev, modified := gitRevision()
	require.Equal(t, "unknown", rev)
	require.False(t, modified)
}
