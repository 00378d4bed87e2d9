package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// fakeLessor is an Inspector of a replica for the lease-liveness check:
// its leases and its leadership.
type fakeLessor struct {
	leases []int64
	term   uint64
	leader bool
}

func (f fakeLessor) AppliedIndex() uint64                   { return 0 }
func (f fakeLessor) KVHash() (int64, uint64, error)         { return 0, 0, nil }
func (f fakeLessor) Leases() []int64                        { return f.leases }
func (f fakeLessor) Leadership() (term uint64, leader bool) { return f.term, f.leader }

// leaseRun is a run with a fixed scenario (1 ms network, no duplicates,
// 100 ms ticks) and one lease of client 0, TTL 2s, last called at 1s,
// under key /l/c0.1, with the leadership of term 3 begun at 2s.
func leaseRun() (*seedRun, *leaseRecord) {
	r := &seedRun{cfg: DefaultConfig()}
	r.sc.Net = NetParams{Base: Duration(time.Millisecond)}
	r.sc.Raft = RaftParams{Tick: Duration(100 * time.Millisecond), ElectionTicks: 10}
	l := r.leases.granted(7, 0, 2*time.Second, int64(time.Second))
	r.leases.keyed(7, "/l/c0.1")
	r.leases.putValue("c0.1", 7)
	r.leases.leaderStarts = []leaderStart{{at: int64(2 * time.Second), term: 3}}
	return r, l
}

func replicas(views ...fakeLessor) []ReplicaView {
	var out []ReplicaView
	for i, v := range views {
		out = append(out, ReplicaView{ID: host.NodeID(i + 1), Inspector: v})
	}
	return out
}

// TestLeaseEndBy: the bound is the later of the renewal's latest effect
// and the final leader's election, plus the TTL, skew and latency; a
// pause moves it past the pause; it is no earlier than the end of the
// last transfer and than heal.
func TestLeaseEndBy(t *testing.T) {
	r, l := leaseRun()
	ins := []Inspector{fakeLessor{term: 3, leader: true}}
	lv, ok := r.leaseLiveness(ins, 0)
	require.True(t, ok)
	renew := time.Second + r.cfg.RequestTimeout + 5*time.Millisecond
	require.Equal(t, int64(max(renew, 2*time.Second)+2*time.Second+lv.latency), lv.endBy(l))

	l.lastCall = int64(3 * time.Second) // renewed after the election
	require.Equal(t, int64(3*time.Second+r.cfg.RequestTimeout+5*time.Millisecond+2*time.Second+lv.latency), lv.endBy(l))

	lv.pauses = []lin.Fault{{Name: "pause", Start: int64(5 * time.Second), End: int64(6 * time.Second)}}
	require.Equal(t, int64(6*time.Second+lv.netMax+lv.latency), lv.endBy(l), "the expiry fell in a pause of the leader")

	lv.pauses, lv.transfersUntil = nil, int64(10*time.Second)
	require.Equal(t, int64(10*time.Second+lv.latency), lv.endBy(l), "a transfer may drop the expiry until it ends")
	lv.healedAt = int64(11 * time.Second)
	require.Equal(t, int64(11*time.Second+lv.latency), lv.endBy(l), "a fault may hold the expiry up until heal")

	_, ok = r.leaseLiveness([]Inspector{fakeLessor{term: 2, leader: true}}, 0)
	require.False(t, ok, "no replica leads in the newest term: no bound")
}

// TestCheckLeaseEnds: a lease past its bound whose key is still live, or
// which a replica still holds, fails the check; before its bound, or gone,
// it passes.
func TestCheckLeaseEnds(t *testing.T) {
	r, l := leaseRun()
	put := []lin.LogEntry{{Revision: 2, Changes: []lin.Change{{Key: "/l/c0.1", Type: lin.EventPut, Value: "c0.1"}}}}
	lv, _ := r.leaseLiveness([]Inspector{fakeLessor{term: 3, leader: true}}, 0)
	by := time.Duration(lv.endBy(l))

	rec := &Records{WriteLog: put, End: by - 1, Replicas: replicas(fakeLessor{term: 3, leader: true, leases: []int64{7}})}
	require.NoError(t, r.checkLeaseEnds(rec, 0), "not yet past its bound")

	rec.End = by
	err := r.checkLeaseEnds(rec, 0)
	require.ErrorIs(t, err, errLeaseNeverExpired)
	require.ErrorContains(t, err, `lease 7 of client 0 (TTL 2s, 0 keep-alives acknowledged, last grant or keep-alive called at 1s): its key "/l/c0.1" is still live in the write log`)

	gone := append(put, lin.LogEntry{Revision: 3, Changes: []lin.Change{{Key: "/l/c0.1", Type: lin.EventDelete}}})
	rec.WriteLog = gone
	require.NoError(t, r.checkLeaseEnds(rec, 0), "its key is gone; the replica may not have applied the expiry yet")
	rec.End = by + time.Duration(lv.latency)
	require.ErrorContains(t, r.checkLeaseEnds(rec, 0), "replica 1 still holds it")

	rec.Replicas = replicas(fakeLessor{term: 3, leader: true}, fakeLessor{term: 3})
	require.NoError(t, r.checkLeaseEnds(rec, 0))

	// Moved under another lease by a later put: no longer lease 7's key.
	rec.WriteLog = append(put, lin.LogEntry{Revision: 3, Changes: []lin.Change{{Key: "/l/c0.1", Type: lin.EventPut, Value: "c0.9"}}})
	require.NoError(t, r.checkLeaseEnds(rec, 0))
}
