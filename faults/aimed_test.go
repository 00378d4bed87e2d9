package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
	"github.com/seedkv/seedkv/sim"
)

// chatty is a replica stand-in that speaks a toy protocol: the first byte
// of a payload is the Moment it marks. Every 5ms it sends each peer a
// message of each moment in turn; every other time it writes and syncs
// first.
type chatty struct {
	h     host.Host
	f     host.File
	peers []host.NodeID
	k     int
}

func startChatty(peers []host.NodeID) func(h host.Host) host.Process {
	return func(h host.Host) host.Process {
		c := &chatty{h: h, peers: peers}
		f, err := h.FS().Open("log")
		if err != nil {
			f, _ = h.FS().Create("log")
		}
		c.f = f
		var tick func()
		tick = func() {
			c.k++
			if c.k%2 == 0 { // a sync in flight at every other round of sends
				_, _ = c.f.WriteAt([]byte("x"), c.f.Size())
				c.f.Sync(func(error) {})
			}
			for _, p := range peers {
				if p != h.ID() {
					h.Send(p, []byte{byte(1 + c.k%4)})
				}
			}
			h.After(5*time.Millisecond, tick)
		}
		h.After(time.Millisecond, tick)
		return c
	}
}

func (c *chatty) Receive(host.NodeID, []byte) {}

// toyProtocol reads the toy moments; replica 1 leads.
type toyProtocol struct{}

func (toyProtocol) Classify(p []byte) Moment { return Moment(p[0]) }
func (toyProtocol) Leader() host.NodeID      { return 1 }

// chattyWorld is a world of seed with chatty replicas 1..size.
func chattyWorld(t *testing.T, seed uint64, size int) (*sim.World, []host.NodeID) {
	t.Helper()
	w := sim.NewWorld(seed, sim.DefaultConfig())
	ids := make([]host.NodeID, size)
	for i := range ids {
		ids[i] = host.NodeID(i + 1)
	}
	for _, id := range ids {
		require.NoError(t, w.AddNode(id, startChatty(ids)))
	}
	return w, ids
}

func aimedWorld(t *testing.T, fault string, proto bool) (*sim.World, *Nemesis, *[]string) {
	t.Helper()
	w, ids := chattyWorld(t, 7, 5)
	var trace []string
	w.SetTraceWriter(writerFunc(func(p []byte) { trace = append(trace, string(p)) }))
	f, ok := Lookup(fault)
	require.True(t, ok)
	spec := DefaultSpec(f)
	n, err := NewFromSpecs(w, ids, []Spec{spec}, w.Rand("n"))
	require.NoError(t, err)
	if proto {
		n.SetProtocol(toyProtocol{})
	}
	require.NoError(t, n.Start(5*time.Second))
	return w, n, &trace
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func count(trace []string, word string) int {
	c := 0
	for _, l := range trace {
		if containsWord(l, word) {
			c++
		}
	}
	return c
}

func containsWord(l, w string) bool {
	for i := 0; i+len(w) <= len(l); i++ {
		if l[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

// TestAimedFaultsNeedAProtocol: without a Protocol they never inject.
func TestAimedFaultsNeedAProtocol(t *testing.T) {
	for _, f := range []string{CrashAck, CrashSnapshot, IsolateLeader, CrashSlowLeader} {
		w, _, trace := aimedWorld(t, f, false)
		w.RunFor(5 * time.Second)
		require.Zero(t, count(*trace, "fault/"), f)
	}
}

// TestAimedFaultsHitTheirMoment: each aimed fault fires at its moment and
// stays within the budget; after HealAll everyone runs again.
func TestAimedFaultsHitTheirMoment(t *testing.T) {
	for _, f := range []string{CrashAck, CrashSnapshot, IsolateLeader, CrashSlowLeader, Pause} {
		w, n, trace := aimedWorld(t, f, true)
		var probe func()
		probe = func() {
			require.LessOrEqual(t, len(n.Unavailable()), 2, f)
			w.Schedule(time.Millisecond, probe)
		}
		w.Schedule(0, probe)
		w.RunFor(5 * time.Second)
		require.Positive(t, count(*trace, "fault/"+f), "%s never fired", f)
		n.HealAll()
		for _, id := range w.Nodes() {
			require.True(t, w.Alive(id) && !w.Paused(id), "%s: %d", f, id)
		}
		require.Empty(t, w.Net().Cuts(), f)
	}
}

// TestCrashAckCrashesTheSender: the replica crashed by crash-ack sent a
// message at the very instant of the crash (its ack: nothing ran in
// between but events of that same instant), with a sync of its own in
// flight then.
func TestCrashAckCrashesTheSender(t *testing.T) {
	w, _, trace := aimedWorld(t, CrashAck, true)
	inflight := map[string]bool{} // "<time> node=N " of each send -> sync in flight
	w.Net().OnSend(func(from, _ host.NodeID, p []byte) {
		if m := Moment(p[0]); m == MomentVoteResponse || m == MomentAppendResponse {
			key := fmt.Sprintf("%d node=%d ", int64(w.Elapsed()), from)
			inflight[key] = inflight[key] || w.Disk(from).SyncsInFlight() > 0
		}
	})
	w.RunFor(5 * time.Second)
	crashes := 0
	for _, l := range *trace {
		if !strings.Contains(l, " fault/crash-ack ") {
			continue
		}
		crashes++
		at := l[:strings.Index(l, " ")]
		node := l[strings.Index(l, "node="):]
		node = node[:strings.Index(node, " ")+1]
		require.True(t, inflight[at+" "+node], "%s: no ack with a sync in flight from %s at %s", l, node, at)
	}
	require.Positive(t, crashes)
}

// TestOverlappingFaultsHealToBaseline: disk-slow and crash-slow-leader
// both change the leader's disk speed; whichever heals last must not leave
// the other's value behind. HealAll restores every replica's baseline.
func TestOverlappingFaultsHealToBaseline(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		w, ids := chattyWorld(t, seed, 5)
		fast := Duration(50 * time.Millisecond)
		specs := []Spec{{Name: DiskSlow, Gap: fast, Hold: Duration(300 * time.Millisecond)},
			{Name: CrashSlowLeader, Gap: fast, Hold: Duration(300 * time.Millisecond)},
			{Name: ClockDrift, Gap: fast, Hold: fast}, {Name: DiskFull, Gap: fast, Hold: fast}}
		n, err := NewFromSpecs(w, ids, specs, w.Rand("n"))
		require.NoError(t, err)
		n.SetProtocol(toyProtocol{})
		require.NoError(t, n.Start(3*time.Second))
		w.RunFor(time.Duration(1+seed%3) * time.Second)
		n.HealAll()
		for _, id := range ids {
			require.Equal(t, 1.0, w.Disk(id).Slow(), "seed %d replica %d", seed, id)
			require.Equal(t, 1.0, w.ClockRate(id), "seed %d replica %d", seed, id)
			require.Zero(t, w.Disk(id).Capacity(), "seed %d replica %d", seed, id)
		}
	}
}

// TestIsolateLeaderCutsLeadersInTurn: with chain 3 an isolate-leader
// episode cuts off up to three senders of appends in turn, reconnecting
// the previous one each time, so at most one replica is cut off at any
// instant; every mode (on send, on delivery, on a membership-change
// append, on send with a few followers) fires across the seeds, and
// HealAll leaves no cut.
func TestIsolateLeaderCutsLeadersInTurn(t *testing.T) {
	details := map[string]bool{}
	chained := 0
	for seed := uint64(1); seed <= 12; seed++ {
		w, ids := chattyWorld(t, seed, 5)
		spec := Spec{Name: IsolateLeader, Gap: Duration(50 * time.Millisecond), Hold: Duration(time.Second),
			Params: map[string]float64{"chain": 3}}
		n, err := NewFromSpecs(w, ids, []Spec{spec}, w.Rand("n"))
		require.NoError(t, err)
		n.SetProtocol(confToy{})
		require.NoError(t, n.Start(3*time.Second))
		var probe func()
		probe = func() {
			isolated := map[host.NodeID]int{}
			for _, l := range w.Net().Cuts() {
				isolated[l[0]]++
			}
			full := 0
			for _, c := range isolated {
				if c == len(ids)-1 {
					full++
				}
			}
			require.LessOrEqual(t, full, 1, "seed %d: two replicas cut off at once: %v", seed, w.Net().Cuts())
			for _, d := range n.ActiveDetail() {
				if i := strings.Index(d, " after "); i >= 0 {
					details[strings.SplitN(d[i+1:], ",", 2)[0]] = true
					if strings.Contains(d, "with followers") {
						details["with followers"] = true
					}
					if strings.Contains(d, ", then leader") {
						chained++
					}
				}
			}
			w.Schedule(time.Millisecond, probe)
		}
		w.Schedule(0, probe)
		w.RunFor(3 * time.Second)
		n.HealAll()
		require.Empty(t, w.Net().Cuts())
	}
	require.True(t, details["after append"] && details["after append delivered"] && details["after membership change delivered"] && details["with followers"], "modes seen: %v", details)
	require.Positive(t, chained, "no episode cut off a second leader")
}

// confToy is toyProtocol with membership-change appends: a payload's
// first byte is its Moment, and the chatty replicas send moments 1..4, so
// the toy reads a snapshot (4) as a membership-change append.
type confToy struct{ toyProtocol }

func (confToy) Classify(p []byte) Moment {
	if m := Moment(p[0]); m != MomentSnapshot {
		return m
	}
	return MomentConfAppend
}

// TestReplayDeliversKeptAnswersAgain: the replay fault keeps the answers
// sent while it holds (toy moments 1 and 2: votes and acks, never appends
// or snapshots) and delivers each once more when it heals, as network
// duplicates; without a Protocol it keeps nothing.
func TestReplayDeliversKeptAnswersAgain(t *testing.T) {
	w, n, _ := aimedWorld(t, Replay, true)
	w.RunFor(5 * time.Second)
	n.HealAll()
	require.Positive(t, w.Net().Stats().Duplicated, "nothing delivered again")

	w, n, _ = aimedWorld(t, Replay, false)
	w.RunFor(5 * time.Second)
	n.HealAll()
	require.Zero(t, w.Net().Stats().Duplicated, "replayed without a Protocol")
}

// campaignToy is toyProtocol where the chatty replicas' fourth moment is
// a vote request: each replica starts a new election every 20ms.
type campaignToy struct{ toyProtocol }

func (campaignToy) Classify(p []byte) Moment {
	if m := Moment(p[0]); m != MomentSnapshot {
		return m
	}
	return MomentVoteRequest
}

// TestReplayAtCampaign: the votes and acks kept for a replica go to it
// again as soon as it asks for votes, before the heal; with no vote
// request in the toy protocol, they wait for the heal.
func TestReplayAtCampaign(t *testing.T) {
	for _, campaigns := range []bool{false, true} {
		w, n, trace := aimedWorld(t, Replay, false)
		probes := probe.NewSet()
		w.SetProbes(probes)
		if campaigns {
			n.SetProtocol(campaignToy{})
		} else {
			n.SetProtocol(toyProtocol{})
		}
		w.RunFor(5 * time.Second)
		n.HealAll()
		require.Positive(t, count(*trace, "replay"), "no replay episode")
		require.Equal(t, campaigns, probes.Count(probeReplayedAtCampaign) > 0, "campaigns %v", campaigns)
		require.Positive(t, probes.Count(probeReplayed)+probes.Count(probeReplayedAtCampaign))
	}
}

// pinger is a client stand-in: every 5ms it sends replica 1 a toy client
// write (MomentClientWrite).
type pinger struct{}

func (pinger) Receive(host.NodeID, []byte) {}

func startPinger(h host.Host) host.Process {
	var tick func()
	tick = func() {
		h.Send(1, []byte{byte(MomentClientWrite)})
		h.After(5*time.Millisecond, tick)
	}
	h.After(time.Millisecond, tick)
	return pinger{}
}

// TestDupRequestDeliversClientWritesTwice: while dup-request holds, some
// client writes reach their replica twice (network duplicates); the
// replicas' own traffic is never duplicated, and nothing is without a
// Protocol.
func TestDupRequestDeliversClientWritesTwice(t *testing.T) {
	for _, client := range []bool{true, false} {
		w, ids := chattyWorld(t, 7, 3)
		if client {
			require.NoError(t, w.AddNode(1001, startPinger))
		}
		f, _ := Lookup(DupRequest)
		n, err := NewFromSpecs(w, ids, []Spec{DefaultSpec(f)}, w.Rand("n"))
		require.NoError(t, err)
		n.SetProtocol(toyProtocol{})
		require.NoError(t, n.Start(5*time.Second))
		w.RunFor(5 * time.Second)
		n.HealAll()
		if client {
			require.Positive(t, w.Net().Stats().Duplicated, "no client write delivered twice")
		} else {
			require.Zero(t, w.Net().Stats().Duplicated, "replica traffic duplicated")
		}
	}
}
