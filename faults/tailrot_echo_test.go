package faults

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
	"github.com/seedkv/seedkv/sim"
)

// echoProtocol is rotter (toy moments, replica 1 leads) that reads
// acknowledgements and replica states for disk-corrupt-tail-echo: every
// append response acknowledges index 9 in term 1; the leader's log ends at
// 20 with 4 committed; a replica reads as recovering on an empty log for
// its first reads after it was seen down, then as recovered (still empty,
// below the held acknowledgement).
type echoProtocol struct {
	rotter
	w     *sim.World
	reads map[host.NodeID]int // since it was last seen down
}

func (p echoProtocol) Ack(payload []byte) (uint64, uint64, bool) {
	return 1, 9, Moment(payload[0]) == MomentAppendResponse
}

func (p echoProtocol) LogState(id host.NodeID) (LogState, bool) {
	if !p.w.Alive(id) {
		p.reads[id] = 0
		return LogState{}, false
	}
	if id == 1 {
		return LogState{Term: 1, Last: 20, Commit: 4, Leader: true}, true
	}
	p.reads[id]++
	return LogState{Term: 1, Recovering: p.reads[id] <= 3}, true
}

// TestCorruptTailEchoDeliversTheLostAck: disk-corrupt-tail-echo cuts the
// leader off from a minority of the other voters, holds back a follower's
// acknowledgements, crashes it with its log's tail rotted (tainted, within
// the budget), restarts it, and once it has recovered below what it had
// acknowledged delivers the held acknowledgement to the leader; HealAll
// undoes every cut. Without ReplicaLogs it never injects.
func TestCorruptTailEchoDeliversTheLostAck(t *testing.T) {
	w, n, trace := aimedWorld(t, DiskCorruptTailEcho, false)
	rotted := 0
	n.SetProtocol(rotter{rotted: &rotted}) // a TailRotter, not ReplicaLogs
	w.RunFor(3 * time.Second)
	require.Zero(t, count(*trace, "fault/"), "no ReplicaLogs, no injection")

	w, ids := chattyWorld(t, 9, 5)
	var lines []string
	w.SetTraceWriter(writerFunc(func(p []byte) { lines = append(lines, string(p)) }))
	probes := probe.NewSet()
	w.SetProbes(probes)
	f, _ := Lookup(DiskCorruptTailEcho)
	n, err := NewFromSpecs(w, ids, []Spec{DefaultSpec(f)}, w.Rand("n"))
	require.NoError(t, err)
	n.SetProtocol(echoProtocol{rotter: rotter{rotted: &rotted}, w: w, reads: map[host.NodeID]int{}})
	require.NoError(t, n.Start(5*time.Second))
	maxCuts := 0
	var sample func()
	sample = func() {
		require.LessOrEqual(t, len(n.Tainted()), 2)
		require.LessOrEqual(t, len(n.Unavailable()), 2)
		maxCuts = max(maxCuts, len(w.Net().Cuts()))
		w.Schedule(time.Millisecond, sample)
	}
	w.Schedule(0, sample)
	w.RunFor(5 * time.Second)
	require.Positive(t, count(lines, "fault/"+DiskCorruptTailEcho))
	require.Positive(t, rotted)
	require.Positive(t, probes.Count(probeEchoCrashed))
	require.Positive(t, probes.Count(probeEchoed))
	require.Positive(t, count(lines, " dup "), "the held acknowledgement delivered again (the network duplicates nothing here)")
	require.GreaterOrEqual(t, maxCuts, 4, "the leader cut off from two voters, both ways")
	hit := 0
	for _, id := range ids {
		if n.EverTainted(id) {
			hit++
		}
	}
	require.Positive(t, hit)
	n.HealAll()
	require.Empty(t, w.Net().Cuts())
	for _, id := range ids {
		require.True(t, w.Alive(id), "%d", id)
	}
}
