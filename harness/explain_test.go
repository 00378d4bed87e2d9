package harness

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// A watch failure names the replica that served the delivery at fault
// and the write log's entry at its revision.
func TestWatchFailureNamesReplicaAndEntry(t *testing.T) {
	kv := func(key, value string, rev int64) api.KeyValue {
		return api.KeyValue{Key: []byte(key), Value: []byte(value), ModRevision: rev, CreateRevision: rev, Version: 1}
	}
	entries := []lin.LogEntry{
		{Revision: 2, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "a"}}},
		{Revision: 3, Changes: []lin.Change{{Key: "/k/2", Type: lin.EventPut, Value: "b"}}},
		{Revision: 4, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "c"}}},
	}
	// Replica 3 served revision 2, replica 5 the delivery that skipped 3.
	ws := &watchStream{client: 7, key: "/k/", start: 2,
		events:  []api.Event{{KV: kv("/k/1", "a", 2)}, {KV: kv("/k/1", "c", 4)}},
		batches: []int{1, 2}, members: []host.NodeID{3, 5}}
	r := &seedRun{watches: []*watchStream{ws}}
	err := r.checkWatches(entries)
	require.Error(t, err)
	require.Contains(t, err.Error(), `watch 0 (client 7, "/k/" from revision 2)`)
	require.Contains(t, err.Error(), `missed event at revision 3 key "/k/2"`)
	require.Contains(t, err.Error(), "delivery 2, which carried revision 4, came from replica 5")
	require.Contains(t, err.Error(), "the write log at revision 3: put /k/2=b")
}

// A liveness failure names the key it could not write, the replica that
// answered last, and every replica's state on the reason's second line.
func TestLivenessFailureNamesReplicas(t *testing.T) {
	requireNode(t)
	cfg := testConfig()
	cfg.Faults = "disk-corrupt-majority,crash"
	cfg.Adjust = func(s *Scenario) { s.Nodes = 3 }
	res := Run(cfg, 2)
	require.Equal(t, Fail, res.Verdict)
	lines := strings.Split(res.Reason, "\n")
	require.GreaterOrEqual(t, len(lines), 2, res.Reason)
	require.Contains(t, lines[0], "liveness: no write of key /k/0 succeeded")
	require.Regexp(t, `(no replica ever answered|last answer from replica \d)`, lines[0])
	require.Regexp(t, `^replicas: 1 .*; 2 .*; 3 `, lines[1])
	require.Regexp(t, `(leader|follower|candidate|precandidate|down|retired) `, lines[1])
	t.Log(res.Reason)
}

// logged is an Inspector with a raft log; unlogged has none.
type logged struct {
	applied uint64
	ents    []LogEntry
}

func (f logged) AppliedIndex() uint64           { return f.applied }
func (f logged) KVHash() (int64, uint64, error) { return 0, 0, nil }
func (f logged) RaftLog() ([]LogEntry, uint64)  { return f.ents, f.applied }

type unlogged struct{ applied uint64 }

func (u unlogged) AppliedIndex() uint64           { return u.applied }
func (u unlogged) KVHash() (int64, uint64, error) { return 0, 0, nil }

// A convergence failure names the laggard and the first entry it lacks.
func TestMissingEntry(t *testing.T) {
	ents := []LogEntry{{Index: 10, Term: 2, Data: make([]byte, 5)}, {Index: 11, Term: 3, Data: make([]byte, 40)}, {Index: 12, Term: 3}}
	ahead := logged{applied: 12, ents: ents}
	ids := []host.NodeID{1, 2, 3}
	ins := []Inspector{logged{applied: 11, ents: ents}, unlogged{10}, ahead}
	lo, hi := laggard(ids, ins)
	require.Equal(t, 1, lo)
	require.Equal(t, 2, hi)
	require.Equal(t, "; replica 2 lacks entry 11 (term 3, 40 bytes, replica 3's commit 12)", missingEntry(ids[lo], 10, ids[hi], ins[hi]))
	require.Equal(t, "; replica 2 lacks entry 9, which replica 3 no longer holds (compacted into a snapshot)", missingEntry(2, 8, 3, ahead))
	require.Empty(t, missingEntry(2, 8, 3, unlogged{12}))
}

// servedAt names the delivery carrying a revision; logEntryAt the
// committed changes there.
func TestWatchSpecifics(t *testing.T) {
	ev := func(rev int64) api.Event { return api.Event{KV: api.KeyValue{Key: []byte("/k/1"), ModRevision: rev}} }
	ws := &watchStream{events: []api.Event{ev(3), ev(5), ev(9)}, batches: []int{1, 1, 2}, members: []host.NodeID{4, 2}}
	require.Equal(t, "; delivery 1, which carried revision 5, came from replica 4", ws.servedAt(4))
	require.Equal(t, "; delivery 2, which carried revision 9, came from replica 2", ws.servedAt(9))
	require.Equal(t, "; the stream's last delivery (2) came from replica 2", ws.servedAt(10))
	require.Equal(t, "; the stream delivered nothing", (&watchStream{}).servedAt(1))
	log := []lin.LogEntry{{Revision: 5, Changes: []lin.Change{{Key: "/k/1", Type: lin.EventPut, Value: "v"}, {Key: "/k/2", Type: lin.EventDelete}}}}
	require.Equal(t, "; the write log at revision 5: put /k/1=v, delete /k/2", logEntryAt(log, 5))
	require.Equal(t, "; the write log holds no entry at revision 6", logEntryAt(log, 6))
}
