package report

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestWitnessFromReason(t *testing.T) {
	for _, tc := range []struct {
		reason string
		n      int
		want   []int
	}{
		{"linearizability: op 3 (client 1, put(/k, v) -> rev 2) returned before op 7 (client 2, get(/k))", 10, []int{3, 7}},
		{"op 7 (client 2, x) then op 3 (client 1, y) and op 7 (client 2, x) again", 10, []int{7, 3}},
		{"op 12 (client 1, x) is past the history", 10, nil},
		{"shop 3 (client 1, x): not an op reference", 10, nil},
		{"op 3 without a client", 10, nil},
		{"convergence: replica 2 at revision 9, replica 3 at 10", 10, nil},
		{"op 99999999999999999999 (client 1, x)", 10, nil},
		{"", 0, nil},
	} {
		require.Equal(t, tc.want, WitnessFromReason(tc.reason, tc.n), tc.reason)
	}
}

func TestStateAtTable(t *testing.T) {
	rt := harness.ReplicaTimeline{ID: 1, Samples: []harness.ReplicaSample{
		{At: 10, Role: "follower", Term: 1},
		{At: 20, Role: "candidate", Term: 2},
		{At: 20, Role: "leader", Term: 2},
		{At: 30, Role: "down"},
	}}
	for _, tc := range []struct {
		t    int64
		ok   bool
		role string
	}{
		{5, false, ""}, {10, true, "follower"}, {15, true, "follower"},
		{20, true, "leader"}, {25, true, "leader"}, {30, true, "down"}, {99, true, "down"},
	} {
		s, ok := stateAt(rt, tc.t)
		require.Equal(t, tc.ok, ok, "t=%d", tc.t)
		require.Equal(t, tc.role, s.Role, "t=%d", tc.t)
	}
}

// TestStateAtMatchesLinearScan: the binary search agrees with the obvious
// definition (the last sample at or before t).
func TestStateAtMatchesLinearScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(t, "n")
		rt := harness.ReplicaTimeline{}
		at := int64(0)
		for i := range n {
			at += rapid.Int64Range(0, 3).Draw(t, "gap")
			rt.Samples = append(rt.Samples, harness.ReplicaSample{At: at, Term: uint64(i + 1)})
		}
		q := rapid.Int64Range(-1, at+2).Draw(t, "t")
		var want harness.ReplicaSample
		found := false
		for _, s := range rt.Samples {
			if s.At <= q {
				want, found = s, true
			}
		}
		got, ok := stateAt(rt, q)
		if ok != found || got != want {
			t.Fatalf("stateAt(%d) = %+v, %v; the last sample at or before it is %+v, %v", q, got, ok, want, found)
		}
	})
}

func TestWriteNeedsArtifacts(t *testing.T) {
	err := Write(&bytes.Buffer{}, Input{Result: harness.Result{Seed: 1}})
	require.ErrorIs(t, err, ErrNoArtifacts)
}

// synthetic is a small failing result: op 1 read a stale revision that
// only replica 2 held while the op ran, during a partition.
func synthetic(reason string) harness.Result {
	ms := int64(1e6)
	put := lin.Op{ClientID: 1, Call: 10 * ms, Return: 20 * ms,
		Input: lin.Input{Kind: lin.KindPut, Key: "/k", Value: "v2"}, Output: lin.Output{Revision: 6}}
	get := lin.Op{ClientID: 2, Call: 30 * ms, Return: 40 * ms,
		Input: lin.Input{Kind: lin.KindGet, Key: "/k"}, Output: lin.Output{Revision: 5,
			KVs: []lin.KV{{Key: "/k", Value: "v1", ModRevision: 5}}}}
	lost := lin.Op{ClientID: 3, Call: 35 * ms, Return: lin.UnknownReturn, Unknown: true,
		Input: lin.Input{Kind: lin.KindPut, Key: "/k", Value: "v3"}}
	reps := []harness.ReplicaTimeline{
		{ID: 1, Samples: []harness.ReplicaSample{{At: 0, Role: "leader", Term: 2, Commit: 9, Revision: 5}, {At: 15 * ms, Role: "leader", Term: 2, Commit: 10, Revision: 6}}},
		{ID: 2, Samples: []harness.ReplicaSample{{At: 0, Role: "follower", Term: 2, Commit: 9, Revision: 5}}},
		{ID: 3, Samples: []harness.ReplicaSample{{At: 0, Role: "follower", Term: 2, Commit: 9, Revision: 5}, {At: 16 * ms, Role: "down"}}},
	}
	return harness.Result{Seed: 7, Verdict: harness.Fail, Reason: reason, TraceHash: 0xabc, Faults: []string{"partition"},
		Artifacts: &harness.Artifacts{Ops: []lin.Op{put, get, lost}, End: 100 * ms, Replicas: reps,
			Faults: []lin.Fault{{Name: "crash", Detail: "3", Start: 16 * ms, End: 90 * ms}, {Name: "partition", Detail: "1|2,3", Start: 12 * ms, End: 50 * ms}}}}
}

func render(t *testing.T, in Input) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Write(&b, in))
	return b.String()
}

func TestPageNamesTheOperationsTheReplicaAndTheFaults(t *testing.T) {
	res := synthetic("linearizability: op 0 (client 1, put) returned before op 1 (client 2, get) was called, yet saw a later revision")
	page := render(t, Input{Result: res, Replay: "go run ./cmd/simrun -seeds 1 -seed 7", Visualization: "history.html",
		Build: Build{Revision: "0123abc", Modified: true, GoVersion: "go1.26.8", Flags: []string{"-seeds", "1"}}})
	row := regexp.MustCompile(`(?s)<tr class="witness-op" id="op-1">.*?</tr>`).FindString(page)
	require.NotEmpty(t, row, "op 1 is highlighted")
	require.Contains(t, row, "<td>2</td>", "client 2")
	require.Contains(t, row, "rev 5, read [/k=v1@5]")
	require.Regexp(t, `<td>2</td><td>partition 1\|2,3; crash 3</td>`, row, "only replica 2 held revision 5 after 15ms; both faults were on")
	require.Contains(t, page, `id="op-0"`)
	require.NotContains(t, page, `id="op-2"`, "the reason does not name op 2")
	require.Contains(t, page, `<a id="porcupine" href="history.html">`)
	require.Contains(t, page, "0123abc</code> (with uncommitted changes), go1.26.8")
	require.Contains(t, page, "down") // replica 3's crash in the state table
	// Faults are listed in start order, both overlapping the operations.
	require.Less(t, strings.Index(page, "<td>partition</td>"), strings.Index(page, "<td>crash</td>"))
	require.Equal(t, 2, strings.Count(page, `class="during-witness"`))
}

func TestExplicitWitnessAndNeverReturned(t *testing.T) {
	res := synthetic("some failure that names no operation")
	page := render(t, Input{Result: res, Witness: []int{2, 99, -1}})
	require.Contains(t, page, `id="op-2"`)
	require.Contains(t, page, "<td>never</td>")
	require.Contains(t, page, "unknown outcome")
	require.NotContains(t, page, `id="op-99"`)

	page = render(t, Input{Result: res})
	require.Contains(t, page, "names no client operation")
}

// TestPageIsSelfContainedAndEscaped: nothing is loaded from elsewhere, and
// text from the run cannot inject markup.
func TestPageIsSelfContainedAndEscaped(t *testing.T) {
	res := synthetic(`op 1 (client 2, get) </pre><script>alert(1)</script>`)
	res.Artifacts.Ops[1].Input.Key = `"><img src=x onerror=alert(1)>`
	res.Artifacts.Faults[0].Detail = `</script><script>alert(2)</script>`
	page := render(t, Input{Result: res, Visualization: "history.html"})
	require.NotContains(t, page, "<script>alert")
	require.NotContains(t, page, "<img")
	for _, external := range []string{"<link", "@import", "url(", "<iframe", "<img"} {
		require.NotContains(t, page, external)
	}
	require.NotRegexp(t, `<[a-zA-Z]+[^>]*\ssrc=`, page, "no element loads a source")
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		require.Equal(t, "history.html", m[1], "the only link is to porcupine's page beside the report")
	}
	require.Equal(t, 2, strings.Count(page, "<script>"), "the data and the drawing script, both inline")
}

// TestMinimalWitnessWins: the result's minimal witness is highlighted (not
// the ops the reason names), with the replica that answered each.
func TestMinimalWitnessWins(t *testing.T) {
	res := synthetic("linearizability: op 0 (client 1, put) returned before op 1 (client 2, get) was called")
	res.Witness = []harness.WitnessOp{{ID: 1, Client: 2, Replica: 2}, {ID: 2, Client: 3}}
	res.WitnessReason = "op 1 read revision 5 after op 2 could have written"
	page := render(t, Input{Result: res})
	require.NotContains(t, page, `id="op-0"`)
	require.Regexp(t, `(?s)id="op-1">.*?<td>replica 2</td>`, page)
	require.Regexp(t, `(?s)id="op-2">.*?<td>no answer</td>`, page)
	require.Contains(t, page, "The minimal witness: 2 operations")
	require.Contains(t, page, `<pre class="witness-reason">op 1 read revision 5 after op 2 could have written</pre>`)
}

func TestFocusOf(t *testing.T) {
	end := int64(10 * time.Second)
	for _, tc := range []struct {
		reason   string
		replicas []uint64
		at       time.Duration
		none     bool
	}{
		{reason: "lost synced data: replica 1 restarted at 7.88106021s with term 2, but it had synced term 5", replicas: []uint64{1}, at: 7881060210},
		{reason: "liveness: no write within 10s after heal; 3 of 3 replicas [1 2 3] are recovering", replicas: []uint64{1, 2, 3}, at: -1},
		{reason: "election safety: replica 2 became leader of term 4 at 1m2s, which replica 3 led already", replicas: []uint64{2, 3}, at: -1},
		{reason: "convergence: replica 4 at 350ms behind replica 4", replicas: []uint64{4}, at: 350 * time.Millisecond},
		{reason: "a check at 9.5s", at: 9500 * time.Millisecond},
		{reason: "liveness: no write succeeded within 10s after heal", none: true},
		{reason: "", none: true},
	} {
		f := focusOf(tc.reason, end)
		if tc.none {
			require.Nil(t, f, tc.reason)
			continue
		}
		require.NotNil(t, f, tc.reason)
		require.Equal(t, tc.replicas, f.Replicas, tc.reason)
		require.Equal(t, int64(tc.at), f.At, tc.reason)
	}
}

// TestFailureWithoutOperationsFocusesOnWhatItNames: the page names the
// replicas and moment of a reason without operations, and the timeline
// opens around that moment.
func TestFailureWithoutOperationsFocusesOnWhatItNames(t *testing.T) {
	res := synthetic("lost synced data: replica 3 restarted at 0.06s with term 1, but it had synced term 2")
	page := render(t, Input{Result: res})
	require.Contains(t, page, `<strong class="named-replica">3</strong>`)
	require.Contains(t, page, "It names the moment 0.060s")
	require.Regexp(t, `<tr class="named"><td>3</td>`, page)
	require.NotRegexp(t, `<tr class="named"><td>[12]</td>`, page)
	require.Contains(t, page, `"window":[0,100000000],"focused":true,"named":[3]`, "1s before 60ms is clipped at 0, 500ms after at the end")
	require.Contains(t, page, ">the failure</button>")
}

// TestSamplesThinnedOutsideTheWindow: a long run's page carries every
// sample around the operations and every role or term change, but at
// most about maxPoints commit samples per replica elsewhere.
func TestSamplesThinnedOutsideTheWindow(t *testing.T) {
	end := int64(time.Hour)
	rt := harness.ReplicaTimeline{ID: 1}
	for at := int64(0); at < end; at += int64(10 * time.Millisecond) {
		role, term := "follower", uint64(1)
		if at >= int64(30*time.Minute) {
			role, term = "leader", 2
		}
		rt.Samples = append(rt.Samples, harness.ReplicaSample{At: at, Role: role, Term: term, Commit: uint64(at / 1e6)})
	}
	full := [2]int64{int64(10 * time.Minute), int64(10*time.Minute + 2*time.Second)}
	got := replicaSamples([]harness.ReplicaTimeline{rt}, end, full)[0].Samples
	require.Less(t, len(got), maxPoints+300, "from %d samples", len(rt.Samples))
	inFull, leaderFrom := 0, int64(-1)
	for i, s := range got {
		if s[0] >= full[0] && s[0] <= full[1] {
			inFull++
		}
		if s[1] == int64(slices.Index(roles, "leader")) && leaderFrom < 0 {
			leaderFrom = s[0]
		}
		if i > 0 {
			require.Less(t, got[i-1][0], s[0])
		}
	}
	require.Equal(t, 201, inFull, "every sample of the window")
	require.Equal(t, int64(30*time.Minute), leaderFrom, "the change of role kept")
	require.Equal(t, rt.Samples[len(rt.Samples)-1].At, got[len(got)-1][0], "the last sample kept")
}
