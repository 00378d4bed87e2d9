package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
)

// TestCheckLeaseSteady: under the leader of the newest term, with no
// fault since quiet, a lease the leader still holds a latency and the
// margin after its bound fails the check; before that, after a later
// quiet, when only a follower or a leader of a stale term holds it, or
// for a lease no client was granted, it passes.
func TestCheckLeaseSteady(t *testing.T) {
	r, l := leaseRun()
	ids := []host.NodeID{1, 2}
	leader := fakeLessor{term: 3, leader: true, leases: []int64{7}}
	follower := fakeLessor{term: 3}
	lv, ok := r.leaseLivenessBase([]Inspector{leader}, 0)
	require.True(t, ok)
	due := lv.endBy(l) + int64(lv.latency+steadyMargin) // quiet since 0

	require.NoError(t, r.checkLeaseSteady(due-1, 0, ids, []Inspector{leader, follower}, 0))
	err := r.checkLeaseSteady(due, 0, ids, []Inspector{leader, follower}, 0)
	require.ErrorIs(t, err, errLeaseNeverExpired)
	require.ErrorContains(t, err, "lease 7 of client 0 (TTL 2s, 0 keep-alives acknowledged, last grant or keep-alive called at 1s): at ")
	require.ErrorContains(t, err, "its leader 1 still holds it")

	quiet := due // a fault held until then: the expiry may follow within a latency
	require.NoError(t, r.checkLeaseSteady(due, quiet, ids, []Inspector{leader, follower}, 0))
	require.Error(t, r.checkLeaseSteady(quiet+2*int64(lv.latency)+int64(steadyMargin), quiet, ids, []Inspector{leader, follower}, 0))

	later := due + int64(time.Minute)
	require.NoError(t, r.checkLeaseSteady(later, 0, ids, []Inspector{fakeLessor{term: 3, leader: true}, fakeLessor{term: 3, leases: []int64{7}}}, 0),
		"only the leader's store is judged")
	require.NoError(t, r.checkLeaseSteady(later, 0, ids, []Inspector{fakeLessor{term: 2, leader: true, leases: []int64{7}}, follower}, 0),
		"no replica leads in the newest term")
	require.NoError(t, r.checkLeaseSteady(later, 0, ids, []Inspector{fakeLessor{term: 3, leader: true, leases: []int64{9}}, follower}, 0),
		"lease 9 was never granted to a client")
}

// episodeSlice is an episode log in a slice (steadyQuiet's view of it).
type episodeSlice []faults.EpisodeLog

func (l episodeSlice) NumEpisodes() int                { return len(l) }
func (l episodeSlice) Episode(i int) faults.EpisodeLog { return l[i] }

// TestSteadyQuiet: the check's view of the episode log: quiet since the
// last end, not quiet while an episode is active, except an aimed
// episode that has not fired; entries seen ended are not read again.
func TestSteadyQuiet(t *testing.T) {
	var q steadyQuiet
	s := func(d int) time.Duration { return time.Duration(d) * time.Second }
	log := episodeSlice{
		{Name: faults.Crash, Start: s(1), End: s(2)},
		{Name: faults.IsolateExpirer, Detail: "armed", Start: s(1), End: -1},
		{Name: faults.Partition, Start: s(2), End: s(4)},
	}
	end, quiet := q.advance(log)
	require.True(t, quiet)
	require.Equal(t, int64(s(4)), end)
	require.Equal(t, []int{1}, q.open, "only the open entry is read again")

	log = append(log, faults.EpisodeLog{Name: faults.Packet, Start: s(5), End: -1})
	_, quiet = q.advance(log)
	require.False(t, quiet, "the packet fault is active")

	log[1] = faults.EpisodeLog{Name: faults.IsolateExpirer, Detail: "leader 2 after expiry append", Start: s(1), End: -1}
	log[3].End = s(6)
	_, quiet = q.advance(log)
	require.False(t, quiet, "the isolate-expirer episode fired")
	require.Equal(t, []int{1}, q.open)

	log[1].End = s(7)
	end, quiet = q.advance(log)
	require.True(t, quiet)
	require.Equal(t, int64(s(7)), end)
	require.Empty(t, q.open)
	end, quiet = q.advance(log)
	require.True(t, quiet)
	require.Equal(t, int64(s(7)), end)

	log = append(log,
		faults.EpisodeLog{Name: faults.IsolateExpirer, Detail: "armed", Start: s(8), End: s(10)},
		faults.EpisodeLog{Name: faults.CrashAck, Detail: "armed", Start: s(9), End: -1})
	end, quiet = q.advance(log)
	require.True(t, quiet, "an armed crash-ack episode has done nothing yet")
	require.Equal(t, int64(s(7)), end, "an episode that never fired did nothing")
	log[5].Detail = "3 after ack to 1"
	_, quiet = q.advance(log)
	require.False(t, quiet)
	log[5] = faults.EpisodeLog{Name: faults.Replay, Detail: "armed", Start: s(9), End: -1}
	_, quiet = q.advance(log)
	require.False(t, quiet, "the replay fault acts while armed")
	log[5].End = s(12)
	end, quiet = q.advance(log)
	require.True(t, quiet)
	require.Equal(t, int64(s(12)), end)
}
