// Package deploy validates the Kubernetes manifests of deploy/. It is a
// module of its own so that the Kubernetes API types stay out of simrun's
// import graph. kubeconform would need its JSON schemas from the network,
// so the manifests are decoded strictly into the API types instead (an
// unknown or misspelt field fails) and checked for what the sweep needs;
// the Job's script is then run, shard by shard, with the real simrun.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const manifest = "sweep-job.yaml"

// sweep is the manifest decoded.
type sweep struct {
	job *batchv1.Job
	pvc *corev1.PersistentVolumeClaim
}

// loadSweep decodes every document of the manifest strictly into its API
// type.
func loadSweep(t *testing.T) sweep {
	t.Helper()
	data, err := os.ReadFile(manifest)
	require.NoError(t, err)
	var s sweep
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &tm), "document %d", i)
		switch tm.APIVersion + " " + tm.Kind {
		case "batch/v1 Job":
			s.job = &batchv1.Job{}
			require.NoError(t, decodeStrict(doc, s.job), "document %d: the Job", i)
		case "v1 PersistentVolumeClaim":
			s.pvc = &corev1.PersistentVolumeClaim{}
			require.NoError(t, decodeStrict(doc, s.pvc), "document %d: the claim", i)
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
	}
	require.NotNil(t, s.job, "the manifest holds a batch/v1 Job")
	require.NotNil(t, s.pvc, "the manifest holds the results claim")
	return s
}

// decodeStrict decodes a YAML document into obj as the API server does:
// field names match case-sensitively, and an unknown or duplicate field is
// an error (the API server would reject or drop it).
func decodeStrict(doc string, obj any) error {
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// container is the Job's one container.
func (s sweep) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := s.job.Spec.Template.Spec.Containers
	require.Len(t, cs, 1)
	return cs[0]
}

// env is the container's plain environment.
func env(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// script is the shell script the container runs.
func (s sweep) script(t *testing.T) string {
	t.Helper()
	c := s.container(t)
	require.Equal(t, []string{"/bin/sh", "-c"}, c.Command)
	require.Len(t, c.Args, 1)
	return c.Args[0]
}

func TestJobIsAnIndexedSweep(t *testing.T) {
	s := loadSweep(t)
	spec := s.job.Spec
	require.NotNil(t, spec.CompletionMode)
	require.Equal(t, batchv1.IndexedCompletion, *spec.CompletionMode)
	require.NotNil(t, spec.Completions)
	require.NotNil(t, spec.Parallelism)
	c := s.container(t)
	e := env(c)
	shards, err := strconv.Atoi(e["SHARDS"])
	require.NoError(t, err, "SHARDS is a number")
	require.Equal(t, int(*spec.Completions), shards, "one completion per shard")
	require.True(t, *spec.Parallelism >= 1 && *spec.Parallelism <= *spec.Completions, "parallelism in [1, completions]")
	for _, k := range []string{"SEEDS", "FIRST_SEED", "PARALLEL"} {
		n, err := strconv.ParseUint(e[k], 10, 64)
		require.NoError(t, err, k)
		require.Positive(t, n, k)
	}
	seeds, _ := strconv.Atoi(e["SEEDS"])
	require.GreaterOrEqual(t, seeds, shards, "every shard gets a seed")
	require.Equal(t, corev1.RestartPolicyNever, s.job.Spec.Template.Spec.RestartPolicy)

	script := s.script(t)
	require.Contains(t, script, "$((JOB_COMPLETION_INDEX + 1))", "the 0-based index becomes simrun's 1-based share")
	require.Contains(t, script, `-shard "$shard/$SHARDS"`)
	require.Contains(t, script, "simrun -json ")

	// The results volume is the claim, mounted where RESULTS points.
	vols := s.job.Spec.Template.Spec.Volumes
	require.Len(t, vols, 1)
	require.NotNil(t, vols[0].PersistentVolumeClaim)
	require.Equal(t, s.pvc.Name, vols[0].PersistentVolumeClaim.ClaimName)
	require.Len(t, c.VolumeMounts, 1)
	require.Equal(t, vols[0].Name, c.VolumeMounts[0].Name)
	require.Equal(t, e["RESULTS"], c.VolumeMounts[0].MountPath)
	require.Contains(t, s.pvc.Spec.AccessModes, corev1.ReadWriteMany, "all shards write to one volume")
	require.False(t, c.Resources.Requests.Cpu().IsZero(), "each shard asks for its CPU")
}

// TestStrictDecodingCatchesTypos: a misspelt, miscased or repeated field
// fails, so the test above cannot pass on a manifest the API server would
// reject or read differently.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	data, err := os.ReadFile(manifest)
	require.NoError(t, err)
	job := regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1)[1]
	require.NoError(t, decodeStrict(job, &batchv1.Job{}))
	for _, tc := range []struct{ from, to string }{
		{"completionMode: Indexed", "completionmode: Indexed"},
		{"completionMode: Indexed", "completionMod: Indexed"},
		{"  parallelism: 8\n", "  parallelism: 8\n  parallelism: 4\n"},
		{"restartPolicy: Never", "restartPolicy: [Never]"},
	} {
		bad := strings.Replace(job, tc.from, tc.to, 1)
		require.NotEqual(t, job, bad, tc.to)
		require.Error(t, decodeStrict(bad, &batchv1.Job{}), tc.to)
	}
}

// buildSimrun builds the repository's simrun into dir.
func buildSimrun(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("go", "build", "-C", "..", "-o", filepath.Join(dir, "simrun"), "./cmd/simrun").CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// runShard runs the Job's script as pod index would, with env overriding
// the manifest's values, and returns its exit status and stdout.
func runShard(t *testing.T, script, bin string, base map[string]string, index int, over map[string]string) (int, string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "JOB_COMPLETION_INDEX=" + strconv.Itoa(index)}
	for k, v := range base {
		if o, ok := over[k]; ok {
			v = o
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "%s", stderr.String())
	}
	return code, stdout.String()
}

// TestJobScriptShardsTheSeeds runs the script of every pod index with the
// real simrun (on few, short seeds) and merges their results: every seed
// runs exactly once, a failing seed does not fail its pod, a bad flag
// does.
func TestJobScriptShardsTheSeeds(t *testing.T) {
	s := loadSweep(t)
	script := s.script(t)
	base := env(s.container(t))
	shards := int(*s.job.Spec.Completions)
	bin, results := t.TempDir(), t.TempDir()
	buildSimrun(t, bin)
	// Serializable reads under partitions fail some seeds (a stale read):
	// those pods must still succeed, with their artifacts written.
	seeds := shards + 3
	over := map[string]string{"RESULTS": results, "SEEDS": strconv.Itoa(seeds),
		"SIMRUN_FLAGS": "-reads serializable -faults partition"}
	var files []string
	for i := range shards {
		code, stdout := runShard(t, script, bin, base, i, over)
		require.Equal(t, 0, code, "pod %d", i)
		file := filepath.Join(results, fmt.Sprintf("shard-%d-of-%d", i+1, shards), "seeds.jsonl")
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, string(data), stdout, "pod %d logs its lines", i)
		files = append(files, file)
	}
	out, err := exec.Command(filepath.Join(bin, "simrun"), append([]string{"-merge"}, files...)...).CombinedOutput()
	require.Regexp(t, fmt.Sprintf(`(?m)^seeds=%d passed=\d+ failed=\d+ unknown=\d+ `, seeds), string(out))
	require.NotRegexp(t, `failed=0 unknown=0 `, string(out), "some seed failed (if none does any more, pick flags that fail one)")
	require.Error(t, err, "-merge exits 1 when a seed failed")
	arts, _ := filepath.Glob(filepath.Join(results, "shard-*", "artifacts", "seed-*", "report.html"))
	require.NotEmpty(t, arts, "failing seeds leave their report")
	var all []int
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, m := range regexp.MustCompile(`(?m)^\{"seed":(\d+),`).FindAllStringSubmatch(string(data), -1) {
			n, _ := strconv.Atoi(m[1])
			all = append(all, n)
		}
	}
	sort.Ints(all)
	want := make([]int, seeds)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, all, "every seed exactly once across the shards")

	over["SIMRUN_FLAGS"] = "-no-such-flag"
	code, _ := runShard(t, script, bin, base, 0, over)
	require.Equal(t, 2, code, "bad usage fails the pod")
}
