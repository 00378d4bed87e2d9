package harness

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/stretchr/testify/require"
)

// taps builds the tapped events of one replica from a script: "a1" is
// request 1 arriving, "ok1" its OK answer, "no1" a refusal.
func taps(script ...string) *confTaps {
	t := &confTaps{}
	for i, s := range script {
		e := confEvent{seq: i, member: 3, op: api.OpMemberAdd}
		switch s[0] {
		case 'a':
			e.req = api.RequestID(s[1] - '0')
		case 'o':
			e.answer, e.req = true, api.RequestID(s[2]-'0')
		case 'n':
			e.answer, e.code, e.req = true, api.CodeUnavailable, api.RequestID(s[2]-'0')
		}
		t.events = append(t.events, e)
	}
	return t
}

func TestConfChangeOverlap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []string
		bad    bool
	}{
		{"one after the other", []string{"a1", "ok1", "a2", "ok2"}, false},
		{"second refused while the first is pending", []string{"a1", "a2", "no2", "ok1"}, false},
		{"second refused, retried after the first applied", []string{"a1", "a2", "no2", "ok1", "a2", "ok2"}, false},
		{"duplicate of the first while pending", []string{"a1", "a1", "ok1"}, false},
		{"both applied, the second arrived while the first was pending", []string{"a1", "a2", "ok1", "ok2"}, true},
		{"both applied in the other order", []string{"a1", "a2", "ok2", "ok1"}, true},
		{"first refused as not leader, then both applied in turn", []string{"a1", "no1", "a2", "ok2", "a1", "ok1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := taps(tc.script...).check()
			if tc.bad {
				require.ErrorIs(t, err, errConfOverlap)
				t.Log(err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// The operator's overlapping attempts reach the pending-change refusal in
// real runs, and the runs pass.
func TestOverlappingMembershipChanges(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "membership"
	cfg.KeepArtifacts = true
	refused, overlapped := 0, 0
	for seed := uint64(1); seed <= 12; seed++ {
		res := Run(cfg, seed)
		require.Equal(t, Pass, res.Verdict, "seed %d: %s", seed, firstLine(res.Reason))
		overlapped += bytes.Count(res.Artifacts.Summary, []byte("right behind the previous add"))
		var n int
		for _, l := range bytes.Split(res.Artifacts.Summary, []byte("\n")) {
			if _, err := fmt.Sscanf(string(l[bytes.IndexByte(l, ' ')+1:]), "membership: %d changes refused while another was pending", &n); err == nil {
				refused += n
			}
		}
	}
	t.Logf("%d overlapping attempts, %d refusals while a change was pending", overlapped, refused)
	require.Positive(t, refused, "no overlapping change met a pending one")
}

var _ host.Process = (*tapped)(nil)
