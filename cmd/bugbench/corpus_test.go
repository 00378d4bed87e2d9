package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCopyCorpusLeavesOutTheMeasuredBug: the copy holds every entry but
// the measured bug's own, byte for byte; an empty corpus is an error.
func TestCopyCorpusLeavesOutTheMeasuredBug(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "loo")
	files := map[string]string{
		"a-1.json": `{"bug": "a", "seed": 1, "scenario": {}}`,
		"a-2.json": `{"bug": "a", "seed": 2, "scenario": {}}`,
		"b-3.json": `{"bug": "b", "seed": 3, "scenario": {}}`,
		"x.json":   `{"seed": 4, "scenario": {}}`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(src, name), []byte(body), 0o644))
	}
	require.NoError(t, copyCorpusWithout(src, dst, "a"))
	got, err := filepath.Glob(filepath.Join(dst, "*.json"))
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dst, "b-3.json"), filepath.Join(dst, "x.json")}, got)
	b, err := os.ReadFile(filepath.Join(dst, "b-3.json"))
	require.NoError(t, err)
	require.Equal(t, files["b-3.json"], string(b))

	require.Error(t, copyCorpusWithout(t.TempDir(), dst, "a"), "no entries")
	require.NoError(t, os.WriteFile(filepath.Join(src, "bad.json"), []byte("{"), 0o644))
	require.Error(t, copyCorpusWithout(src, filepath.Join(t.TempDir(), "x"), "a"))
}

func TestParseCorpusNeedsExplore(t *testing.T) {
	o, err := parseArgs([]string{"-explore", "-corpus", "d"})
	require.NoError(t, err)
	require.Equal(t, "d", o.corpus)
	_, err = parseArgs([]string{"-corpus", "d"})
	require.ErrorContains(t, err, "-corpus needs -explore")
}
