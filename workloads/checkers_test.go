package workloads

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/concurrency"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Each checker is shown failing on records with the fault planted, and
// passing on the same records without it.

func put(rev int64, kvs ...string) lin.LogEntry {
	e := lin.LogEntry{Revision: rev}
	for i := 0; i < len(kvs); i += 2 {
		e.Changes = append(e.Changes, lin.Change{Key: kvs[i], Type: lin.EventPut, Value: kvs[i+1]})
	}
	return e
}

func del(rev int64, keys ...string) lin.LogEntry {
	e := lin.LogEntry{Revision: rev}
	for _, k := range keys {
		e.Changes = append(e.Changes, lin.Change{Key: k, Type: lin.EventDelete})
	}
	return e
}

func TestResourceExclusion(t *testing.T) {
	for _, tc := range []struct {
		name string
		acc  []access
		bad  string
	}{
		{"one holder after another", []access{{client: 1, token: 5}, {client: 1, token: 5}, {client: 2, token: 9}}, ""},
		{"same client, new hold", []access{{client: 1, token: 5}, {client: 1, token: 7}}, ""},
		{"stale holder writes after the next", []access{{client: 1, token: 5}, {client: 2, token: 9}, {client: 1, token: 5}},
			"two holders: client 1 (token 5) wrote at 0s after client 2 (token 9) had written at 0s"},
		{"old hold of the same client comes back", []access{{client: 1, token: 5}, {client: 1, token: 7}, {client: 1, token: 5}},
			"client 1 (token 5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&resource{accepted: tc.acc}).exclusive()
			if tc.bad == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.bad)
		})
	}
}

// fakeWorld is a clock for the resource.
type fakeWorld struct{}

func (fakeWorld) Elapsed() time.Duration { return 0 }

// recHost records what a process sends.
type recHost struct {
	host.Host
	sent *[][]byte
}

func (h *recHost) Send(_ host.NodeID, p []byte) { *h.sent = append(*h.sent, p) }

func TestFencedResourceRefusesOldTokens(t *testing.T) {
	sent := [][]byte{}
	h := &recHost{sent: &sent}
	for _, fenced := range []bool{true, false} {
		rs := &resource{fenced: fenced, h: h, w: fakeWorld{}}
		rs.Receive(1001, encodeWrite(1, 5, 1))
		rs.Receive(1002, encodeWrite(2, 9, 1))
		rs.Receive(1001, encodeWrite(1, 5, 2)) // the stale holder
		rs.Receive(1001, []byte{auxEnvelope, 0xff})
		if fenced {
			require.Len(t, rs.accepted, 2)
			require.Equal(t, 1, rs.rejected)
			require.NoError(t, rs.exclusive())
		} else {
			require.Len(t, rs.accepted, 3)
			require.ErrorContains(t, rs.exclusive(), "two holders: client 1 (token 5)")
		}
	}
	require.Equal(t, []byte{auxEnvelope, 2, 0}, sent[2], "the fenced resource refuses the stale write")
}

func TestLockOwnership(t *testing.T) {
	log := []lin.LogEntry{put(2, "/lock/resource/a", ""), put(3, "/lock/resource/b", ""), del(4, "/lock/resource/a")}
	ok := &lockRun{claims: []claim{{client: 1, key: "/lock/resource/a", token: 2, at: 2}, {client: 2, key: "/lock/resource/b", token: 3, at: 4}}}
	require.NoError(t, ok.checkOwnership(log))
	early := &lockRun{claims: []claim{{client: 2, key: "/lock/resource/b", token: 3, at: 3}}} // b did not wait for a
	require.ErrorContains(t, early.checkOwnership(log), `client 2 took the lock at 0s (revision 3, token 3, key /lock/resource/b), but the lock's first key then was "/lock/resource/a"`)
}

func TestElectionOnePerTerm(t *testing.T) {
	r := &electionRun{owner: map[string]int{"/election/leader/a": 1, "/election/leader/b": 2}}
	r.wins = []win{{client: 1, key: "/election/leader/a", term: 2, at: 2}}
	r.reports = []report{{observer: 9, Owner: owner("/election/leader/a", 2, 2)}, {observer: 9, Owner: owner("/election/leader/b", 3, 4)}}
	require.NoError(t, r.onePerTerm())
	r.reports = append(r.reports, report{observer: 8, Owner: owner("/election/leader/b", 2, 5)})
	require.ErrorContains(t, r.onePerTerm(), "term 2 has two leaders: /election/leader/a (client 1")
	r.reports = []report{{observer: 9, Owner: owner("/election/leader/b", 3, 4)}, {observer: 9, Owner: owner("/election/leader/a", 2, 5)}}
	require.ErrorContains(t, r.onePerTerm(), "observer 9 saw term 2")
}

func TestElectionLeaderByTheStore(t *testing.T) {
	log := []lin.LogEntry{put(2, "/election/leader/a", "x"), put(3, "/election/leader/b", "y"),
		put(4, electionWork, "term=2 client=1 seq=0"), del(5, "/election/leader/a"), put(6, electionWork, "term=3 client=2 seq=0")}
	r := &electionRun{owner: map[string]int{}, wins: []win{{client: 1, key: "/election/leader/a", term: 2, at: 3}, {client: 2, key: "/election/leader/b", term: 3, at: 5}}}
	require.NoError(t, r.checkStore(log))
	r.wins = append(r.wins, win{client: 2, key: "/election/leader/b", term: 3, at: 3})
	require.ErrorContains(t, r.checkStore(log), `client 2's election says the leader at revision 3 was "/election/leader/b" (term 3); the store's leader then was "/election/leader/a" (term 2`)
	r.wins = r.wins[:2]
	stale := append(log, put(7, electionWork, "term=2 client=1 seq=1")) // a deposed leader's write got through
	require.ErrorContains(t, r.checkStore(stale), `leader-only write "term=2 client=1 seq=1"`)
}

func owner(key string, term, rev int64) concurrency.Owner {
	return concurrency.Owner{Key: key, CreateRevision: term, Revision: rev}
}

func confOf(gen string, fields ...string) map[string]string {
	m := map[string]string{configGen: gen}
	for i, f := range configFields {
		m[f] = fields[i]
	}
	return m
}

func TestConfigOrderAndConvergence(t *testing.T) {
	c1 := confOf("1", "gen=1 writer=0 seq=1", "gen=1 writer=0 seq=1", "gen=1 writer=0 seq=1")
	c2 := confOf("2", "gen=2 writer=3 seq=4", "gen=2 writer=3 seq=4", "gen=2 writer=3 seq=4")
	log := []lin.LogEntry{
		put(2, configGen, "1", configFields[0], c1[configFields[0]], configFields[1], c1[configFields[1]], configFields[2], c1[configFields[2]]),
		put(3, configGen, "2", configFields[0], c2[configFields[0]], configFields[1], c2[configFields[1]], configFields[2], c2[configFields[2]]),
	}
	good := &configRun{watchers: []*configWatcher{{id: 5, applied: []applied{{1, map[string]string{}}, {2, c1}, {3, c2}}}}}
	require.NoError(t, good.checkOrder())
	require.NoError(t, good.checkConverged(log))

	partial := confOf("2", "gen=1 writer=0 seq=1", "gen=1 writer=0 seq=1", "gen=1 writer=0 seq=1")
	bad := &configRun{watchers: []*configWatcher{{id: 5, applied: []applied{{2, c1}, {3, partial}}}}}
	require.ErrorContains(t, bad.checkOrder(), "watcher 5 applied a partial configuration at revision 3")
	back := &configRun{watchers: []*configWatcher{{id: 5, applied: []applied{{3, c2}, {4, c1}}}}}
	require.ErrorContains(t, back.checkOrder(), "watcher 5 applied generation 1 (revision 4) after generation 2")
	lagging := &configRun{watchers: []*configWatcher{{id: 6, applied: []applied{{2, c1}}}}}
	require.NoError(t, lagging.checkOrder())
	require.ErrorContains(t, lagging.checkConverged(log), "watcher 6 did not converge (its last revision 2, the store's 3)")
	wrong := &configRun{watchers: []*configWatcher{{id: 7, applied: []applied{{2, c2}}}}}
	require.ErrorContains(t, wrong.checkConverged(log), "watcher 7 at revision 2")
}

func TestKubernetesChecks(t *testing.T) {
	log := []lin.LogEntry{put(2, "/registry/pods/default/pod-0", "a"), put(3, "/registry/configmaps/default/cm-0", "c"),
		put(4, "/registry/pods/default/pod-0", "b"), del(5, "/registry/pods/default/pod-0")}
	kv := func(key, val string, create, mod int64) api.KeyValue {
		return api.KeyValue{Key: []byte(key), Value: []byte(val), CreateRevision: create, ModRevision: mod}
	}
	in := &informer{id: 3, prefix: "/registry/pods/", lists: []listed{{rev: 2, kvs: []api.KeyValue{kv("/registry/pods/default/pod-0", "a", 2, 2)}}}}
	in.lists[0].events = []lin.Change{{Key: "/registry/pods/default/pod-0", Type: lin.EventPut, Value: "b"}, {Key: "/registry/pods/default/pod-0", Type: lin.EventDelete}}
	in.lists[0].revs = []int64{4, 5}
	r := &k8sRun{informers: []*informer{in}}
	require.NoError(t, r.checkLists(log))
	require.NoError(t, r.checkEvents(log))

	in.lists[0].kvs[0].ModRevision = 1 // a list that is not the store at its revision
	require.ErrorContains(t, r.checkLists(log), "informer 3: list of /registry/pods/ at revision 2: /registry/pods/default/pod-0: has mod revision 1")
	in.lists[0].kvs[0].ModRevision = 2
	in.lists[0].events, in.lists[0].revs = in.lists[0].events[1:], in.lists[0].revs[1:] // missed the update at 4
	require.ErrorContains(t, r.checkEvents(log), "applied delete /registry/pods/default/pod-0 at revision 5 where the store had put /registry/pods/default/pod-0 at revision 4")
}
