package bugbench

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// moduleRoot is the module this package belongs to (the package's test
// runs in its own directory).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root not found")
	return root
}

// TestEveryBugApplies is the guard against code moving under the
// catalogue: every bug's Old snippet must occur exactly once in the
// current code, and its mutation must change the file. A failure names the
// bug; repair its snippet (or the code change) in the same commit.
func TestEveryBugApplies(t *testing.T) {
	root := moduleRoot(t)
	for _, b := range All() {
		t.Run(b.Name, func(t *testing.T) {
			require.NoError(t, b.Check(root))
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(b.File)))
			require.NoError(t, err)
			out, err := b.Mutate(src)
			require.NoError(t, err)
			require.NotEqual(t, string(src), string(out), "mutation changes nothing")
		})
	}
}

var namePattern = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)+$`)

// TestCatalogueShape checks the catalogue's own rules: at least 30 bugs,
// unique well-formed names starting with their package, a known group,
// every target package covered, every group used, a description, and a
// recorded unit result that is one of the known values.
func TestCatalogueShape(t *testing.T) {
	all := All()
	require.GreaterOrEqual(t, len(all), 30)
	names := map[string]bool{}
	pkgs := map[string]int{}
	groups := map[Group]int{}
	for _, b := range all {
		require.Regexp(t, namePattern, b.Name)
		require.False(t, names[b.Name], "duplicate bug name %s", b.Name)
		names[b.Name] = true
		pkg := b.Package()
		require.True(t, strings.HasPrefix(b.Name, pkg+"-"), "bug %s mutates package %s", b.Name, pkg)
		pkgs[pkg]++
		require.Contains(t, Groups, b.Group, "bug %s", b.Name)
		groups[b.Group]++
		require.NotEmpty(t, b.Description, "bug %s", b.Name)
		require.NotEqual(t, b.Old, b.New, "bug %s", b.Name)
		require.Contains(t, []string{"", UnitCaught, UnitMissed}, b.Unit, "bug %s", b.Name)
		for _, f := range b.Flags {
			require.NotContains(t, []string{"-seeds", "-seed", "-json", "-parallel", "-out"}, f,
				"bug %s: the runner sets %s itself", b.Name, f)
		}
	}
	for _, p := range []string{"raft", "node", "wal", "snap", "mvcc", "client"} {
		require.Positive(t, pkgs[p], "no bug in package %s", p)
	}
	for _, g := range Groups {
		require.Positive(t, groups[g], "no bug in group %s", g)
	}
}

func TestMutateSingleLine(t *testing.T) {
	b := Bug{Name: "x-y", File: "x/y.go", Old: "a < b", New: "a <= b"}
	out, err := b.Mutate([]byte("if a < b {\n}\n"))
	require.NoError(t, err)
	require.Equal(t, "if a <= b {\n}\n", string(out))

	_, err = b.Mutate([]byte("if a < b && a < b {\n}\n"))
	require.ErrorIs(t, err, ErrSnippet)
	require.ErrorContains(t, err, "x-y")
	require.ErrorContains(t, err, "2 times")

	_, err = b.Mutate([]byte("if a > b {\n}\n"))
	require.ErrorIs(t, err, ErrSnippet)
	require.ErrorContains(t, err, "0 times")
}

func TestMutateMultiLineIgnoresIndentation(t *testing.T) {
	src := "func f() {\n\tfor {\n\t\tif x {\n\t\t\treturn\n\t\t}\n\t}\n}\n"
	b := Bug{Name: "x-y", File: "x/y.go",
		Old: "\nif x {\n    return\n}\n",
		New: "\nif x {\n    y()\n    return\n}\n"}
	out, err := b.Mutate([]byte(src))
	require.NoError(t, err)
	require.Equal(t, "func f() {\n\tfor {\n\t\tif x {\n\t\t\ty()\n\t\t\treturn\n\t\t}\n\t}\n}\n", string(out))

	// Deleting lines: an empty New removes the window.
	b.New = ""
	out, err = b.Mutate([]byte(src))
	require.NoError(t, err)
	require.Equal(t, "func f() {\n\tfor {\n\t}\n}\n", string(out))

	// A partial line does not match a multi-line snippet.
	b.Old = "\nx {\nreturn\n"
	_, err = b.Mutate([]byte(src))
	require.ErrorIs(t, err, ErrSnippet)
}

func TestApplyWritesTheMutant(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "p"), 0o755))
	path := filepath.Join(dir, "p", "f.go")
	require.NoError(t, os.WriteFile(path, []byte("x := 1\n"), 0o644))
	b := Bug{Name: "p-one", File: "p/f.go", Old: "x := 1", New: "x := 2"}
	require.NoError(t, b.Check(dir))
	require.NoError(t, b.Apply(dir))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "x := 2\n", string(got))
	require.ErrorIs(t, b.Check(dir), ErrSnippet) // applied: the old text is gone
	require.ErrorIs(t, (&Bug{Name: "p-two", File: "p/missing.go", Old: "a"}).Check(dir), ErrSnippet)
}

func TestLookup(t *testing.T) {
	all, err := Lookup(nil)
	require.NoError(t, err)
	require.Equal(t, len(All()), len(all))

	first, last := All()[0].Name, All()[len(All())-1].Name
	got, err := Lookup([]string{last, first})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, first, got[0].Name, "catalogue order")

	_, err = Lookup([]string{"no-such-bug"})
	require.ErrorContains(t, err, "no-such-bug")
}

// TestEquivalentMutantsAreArgued: a bug scored apart as an equivalent
// mutant must be named in RESULTS.md, where its argument is written out,
// and must stay the exception.
func TestEquivalentMutantsAreArgued(t *testing.T) {
	results, err := os.ReadFile(filepath.Join(moduleRoot(t), "bugbench", "RESULTS.md"))
	require.NoError(t, err)
	n := 0
	for _, b := range All() {
		if b.Equivalent == "" {
			continue
		}
		n++
		require.Contains(t, string(results), "**"+b.Name, "bug %s: argue it in RESULTS.md", b.Name)
	}
	require.LessOrEqual(t, n, len(All())/20, "equivalent mutants are the exception")
}
