package faults

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// writer is a replica stand-in: it appends to a file, syncs and chats.
type writer struct {
	h host.Host
	f host.File
}

func startWriter(peers []host.NodeID) func(h host.Host) host.Process {
	return func(h host.Host) host.Process {
		p := &writer{h: h}
		f, err := h.FS().Open("log")
		if err != nil {
			f, _ = h.FS().Create("log")
		}
		p.f = f
		var tick func()
		tick = func() {
			_, _ = p.f.WriteAt(bytes.Repeat([]byte{byte(h.Rand().IntN(256))}, 64), p.f.Size())
			p.f.Sync(func(error) {})
			h.Send(peers[h.Rand().IntN(len(peers))], []byte("hi"))
			h.After(5*time.Millisecond, tick)
		}
		h.After(time.Millisecond, tick)
		return p
	}
}

func (p *writer) Receive(host.NodeID, []byte) {}

func newCluster(t testing.TB, seed uint64, size int) (*sim.World, []host.NodeID) {
	t.Helper()
	w := sim.NewWorld(seed, sim.DefaultConfig())
	var ids []host.NodeID
	for i := 1; i <= size; i++ {
		ids = append(ids, host.NodeID(i))
	}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, startWriter(ids)))
	}
	return w, ids
}

// runNemesis runs set on a cluster for d and samples Active every 10ms.
func runNemesis(t testing.TB, seed uint64, size int, set Set, d time.Duration, trace *bytes.Buffer) (*sim.World, *Nemesis, []string) {
	w, ids := newCluster(t, seed, size)
	if trace != nil {
		w.SetTraceWriter(trace)
	}
	n, err := New(w, ids, set, w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(d))
	var samples []string
	var sample func()
	sample = func() {
		samples = append(samples, strings.Join(n.ActiveDetail(), ";"))
		w.Schedule(10*time.Millisecond, sample)
	}
	w.Schedule(0, sample)
	w.RunFor(d)
	return w, n, samples
}

func TestNemesisDeterministic(t *testing.T) {
	everything := All.With(LoseSynced).With(DiskCorruptMajority)
	hashes := map[uint64]uint64{}
	for seed := uint64(1); seed <= 6; seed++ {
		set := All
		if seed%2 == 0 {
			set = everything
		}
		var ta, tb bytes.Buffer
		wa, _, sa := runNemesis(t, seed, 5, set, 5*time.Second, &ta)
		wb, _, sb := runNemesis(t, seed, 5, set, 5*time.Second, &tb)
		require.Equal(t, wa.TraceHash(), wb.TraceHash())
		require.True(t, ta.String() == tb.String(), "seed %d: traces differ", seed)
		require.Equal(t, sa, sb)
		_, dup := hashes[wa.TraceHash()]
		require.False(t, dup)
		hashes[wa.TraceHash()] = seed
		if set == All {
			require.True(t, strings.Contains(ta.String(), "fault/crash"), "seed %d: no crash", seed)
			require.True(t, strings.Contains(ta.String(), "fault/partition"), "seed %d: no partition", seed)
		}
	}
}

// TestMinorityInvariant: with in-model faults, never more than a minority
// of replicas is down (or recovering from corruption), nor corrupted.
func TestMinorityInvariant(t *testing.T) {
	seen := map[string]bool{}
	for _, size := range []int{3, 5, 7} {
		for seed := uint64(1); seed <= 6; seed++ {
			w, ids := newCluster(t, seed, size)
			n, err := New(w, ids, All, w.Rand("nemesis"))
			require.NoError(t, err)
			require.NoError(t, n.Start(6*time.Second))
			minority := (size - 1) / 2
			var probe func()
			probe = func() {
				down := 0
				for _, id := range ids {
					if !w.Alive(id) {
						down++
					}
				}
				require.LessOrEqual(t, down, minority, "size %d seed %d at %v", size, seed, w.Elapsed())
				require.LessOrEqual(t, len(n.Unavailable()), minority)
				require.LessOrEqual(t, len(n.Tainted()), minority)
				for _, a := range n.Active() {
					seen[a] = true
				}
				w.Schedule(time.Millisecond, probe)
			}
			w.Schedule(0, probe)
			w.RunFor(6 * time.Second)
		}
	}
	// Aimed faults need a Protocol, which writer lacks (aimed_test.go,
	// storagecrash_test.go).
	for _, f := range All.Without(Membership).Without(CrashAck).Without(CrashSnapshot).Without(IsolateLeader).Without(CrashSlowLeader).Without(Replay).Without(DiskCorruptTail).Without(DiskCorruptTailEcho).Without(DupRequest).Without(IsolateExpirer).Faults() {
		require.True(t, seen[f.Name()], "%s never injected", f.Name())
	}
}

func TestBeyondModelGoesBeyond(t *testing.T) {
	w, ids := newCluster(t, 3, 5)
	n, err := New(w, ids, Of(DiskCorruptMajority), w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(5*time.Second))
	most := 0
	var probe func()
	probe = func() {
		most = max(most, len(n.Tainted()))
		w.Schedule(time.Millisecond, probe)
	}
	w.Schedule(0, probe)
	w.RunFor(5 * time.Second)
	require.Greater(t, most, 2, "disk-corrupt-majority must corrupt a majority")
}

func TestScheduleEndsHealed(t *testing.T) {
	w, n, _ := runNemesis(t, 4, 5, All.Without(DiskCorrupt), 4*time.Second, nil)
	w.RunFor(time.Millisecond)
	require.Empty(t, n.Active())
	require.Empty(t, n.Down())
	for _, id := range w.Nodes() {
		require.True(t, w.Alive(id))
	}
	require.Empty(t, w.Net().Cuts())
}

func TestHealAllLeavesCleanWorld(t *testing.T) {
	everything := All.With(LoseSynced).With(DiskCorruptMajority)
	for seed := uint64(1); seed <= 6; seed++ {
		w, ids := newCluster(t, seed, 5)
		orig := w.Net().Config()
		var trace bytes.Buffer
		w.SetTraceWriter(&trace)
		n, err := New(w, ids, everything, w.Rand("nemesis"))
		require.NoError(t, err)
		require.NoError(t, n.Start(20*time.Second))
		w.RunFor(time.Duration(500+w.Rand("t").IntN(3000)) * time.Millisecond)
		n.HealAll()
		n.HealAll() // idempotent
		require.Empty(t, n.Active())
		require.Empty(t, n.Down())
		require.Empty(t, n.Tainted())
		require.Empty(t, n.Unavailable())
		require.Empty(t, w.Net().Cuts())
		require.Equal(t, orig, w.Net().Config())
		for _, id := range ids {
			require.True(t, w.Alive(id), "seed %d node %d", seed, id)
			d := w.Disk(id)
			require.Zero(t, d.Capacity())
			require.Equal(t, 1.0, d.Slow())
			require.False(t, d.TornWrites())
			require.Equal(t, 1.0, w.ClockRate(id))
		}
		mark := trace.Len()
		w.RunFor(5 * time.Second)
		require.False(t, strings.Contains(trace.String()[mark:], "fault/"), "seed %d: fault after HealAll", seed)
	}
}

func TestNewBadInput(t *testing.T) {
	w, ids := newCluster(t, 1, 3)
	r := w.Rand("n")
	_, err := New(w, ids, SwarmSet, r)
	require.ErrorIs(t, err, ErrUnresolved)
	_, err = New(w, nil, All, r)
	require.ErrorIs(t, err, ErrNoReplicas)
	_, err = New(w, []host.NodeID{1, 9}, All, r)
	require.ErrorIs(t, err, ErrNoReplicas)
	n, err := New(w, slices.Clone(ids), All, r)
	require.NoError(t, err)
	require.ErrorIs(t, n.SetTiming(Timing{Recover: -1}), ErrBadTiming)
	require.NoError(t, n.SetTiming(DefaultTiming()))
	require.NoError(t, n.Start(time.Second))
	require.ErrorIs(t, n.Start(time.Second), ErrRunning)
}

func TestSetReplicas(t *testing.T) {
	w, ids := newCluster(t, 2, 5)
	n, err := New(w, ids[:3], All, w.Rand("nemesis"))
	require.NoError(t, err)
	require.ErrorIs(t, n.SetReplicas(nil), ErrNoReplicas)
	require.ErrorIs(t, n.SetReplicas([]host.NodeID{1, 42}), ErrNoReplicas)
	require.NoError(t, n.SetReplicas([]host.NodeID{5, 4, 3, 2, 1, 1}))
	require.NoError(t, n.Start(3*time.Second))
	w.RunFor(2 * time.Second)
	n.HealAll()
	for _, id := range ids {
		require.True(t, w.Alive(id))
		require.Zero(t, w.Disk(id).Capacity())
	}
}

// TestLearnersDoNotWidenTheBudget: a learner added to a 4-voter cluster
// must not raise the budget to 2 faulty replicas (4 voters tolerate 1).
// Regression for `simrun -nodes 4 -faults disk-corrupt,membership -seed 1`,
// which lost its quorum for good.
func TestLearnersDoNotWidenTheBudget(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		w, ids := newCluster(t, seed, 5)
		voters, learner := ids[:4], ids[4]
		n, err := New(w, ids, All, w.Rand("nemesis"))
		require.NoError(t, err)
		require.ErrorIs(t, n.SetLearners([]host.NodeID{42}), ErrNoReplicas)
		require.NoError(t, n.SetLearners([]host.NodeID{learner}))
		require.NoError(t, n.Start(6*time.Second))
		var probe func()
		probe = func() {
			down := 0
			for _, id := range voters {
				if !w.Alive(id) {
					down++
				}
			}
			require.LessOrEqual(t, down, 1, "seed %d at %v", seed, w.Elapsed())
			require.LessOrEqual(t, len(n.Unavailable()), 1)
			require.LessOrEqual(t, len(n.Tainted()), 1)
			w.Schedule(time.Millisecond, probe)
		}
		w.Schedule(0, probe)
		w.RunFor(6 * time.Second)
		// Once promoted, 5 voters would tolerate 2 again, but the budget
		// never grows within a run (the promotion may not be everywhere
		// yet); a removed learner is forgotten.
		require.NoError(t, n.SetLearners(nil))
		require.Equal(t, 1, n.minority())
		require.NoError(t, n.SetLearners([]host.NodeID{learner}))
		require.NoError(t, n.SetReplicas(voters))
		require.Empty(t, n.learners)
	}
}

// The episode log agrees with what ActiveDetail said while the run went
// on, and HealAll closes every entry.
func TestEpisodesLogWhatRan(t *testing.T) {
	w, ids := newCluster(t, 3, 5)
	n, err := New(w, ids, All.Without(DiskCorrupt), w.Rand("nemesis"))
	require.NoError(t, err)
	require.NoError(t, n.Start(6*time.Second))
	type sample struct {
		at     time.Duration
		active []string
	}
	var samples []sample
	var tick func()
	tick = func() {
		samples = append(samples, sample{w.Elapsed(), n.ActiveDetail()})
		w.Schedule(10*time.Millisecond, tick)
	}
	w.Schedule(0, tick)
	w.RunFor(4 * time.Second)
	log := n.Episodes()
	require.NotEmpty(t, log)
	covers := func(d string, at time.Duration) bool {
		for _, e := range log {
			if e.Name+" "+e.Detail == d && e.Start <= at && (e.End < 0 || at <= e.End) {
				return true
			}
		}
		return false
	}
	for _, s := range samples {
		for _, d := range s.active {
			require.True(t, covers(d, s.at), "%q active at %v is not in the log %+v", d, s.at, log)
		}
	}
	n.HealAll()
	for _, e := range n.Episodes() {
		require.GreaterOrEqual(t, e.End, e.Start, "%+v", e)
	}
}
