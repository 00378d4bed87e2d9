package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// writeMany writes n keys prefix0..prefix(n-1) and returns the acknowledged
// values.
func (c *cluster) writeMany(prefix string, n int) map[string]string {
	acked := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("v%d", i)
		if _, err := c.put(k, v); err == nil {
			acked[k] = v
		}
	}
	return acked
}

func (c *cluster) checkAcked(acked map[string]string) {
	for k, v := range acked {
		require.Equal(c.t, v, c.mustGet(k), "acknowledged write %s lost", k)
	}
}

func followerOf(c *cluster, leader host.NodeID) host.NodeID {
	for _, id := range c.ids {
		if id != leader {
			return id
		}
	}
	return 0
}

func lastSegment(t *testing.T, disk *sim.Disk) string {
	names, err := disk.List()
	require.NoError(t, err)
	var seg string
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			seg = n
		}
	}
	require.NotEmpty(t, seg)
	return seg
}

func TestRestartFollowerRecoversFromDisk(t *testing.T) {
	c := newCluster(t, 3, 11, Config{SnapshotEntries: 40, CatchUpEntries: 5})
	l := c.waitLeader(5 * time.Second)
	require.NotZero(t, l)
	acked := c.writeMany("a", 60) // past one snapshot
	f := followerOf(c, l)
	require.NoError(t, c.w.Crash(f))
	for k, v := range c.writeMany("b", 30) {
		acked[k] = v
	}
	require.NoError(t, c.w.Restart(f))
	n := c.nodes[f]
	stopped, why := n.Stopped()
	require.False(t, stopped, why)
	require.NotZero(t, n.snapIndex, "restarted from a snapshot")
	c.converged(10 * time.Second)
	c.checkAcked(acked)
	require.Len(t, acked, 90)
}

func TestRestartLeaderLosesNoAckedWrite(t *testing.T) {
	c := newCluster(t, 3, 12, Config{SnapshotEntries: 25, CatchUpEntries: 5})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("a", 40)
	require.NoError(t, c.w.Crash(l))
	l2 := c.waitLeader(5 * time.Second)
	require.NotZero(t, l2)
	require.NotEqual(t, l, l2)
	for k, v := range c.writeMany("b", 20) {
		acked[k] = v
	}
	require.NoError(t, c.w.Restart(l))
	c.converged(10 * time.Second)
	c.checkAcked(acked)
	// Every replica crashes at once and comes back: everything acked is
	// still there (durable on a quorum before it was acknowledged).
	for _, id := range c.ids {
		require.NoError(t, c.w.Crash(id))
	}
	for _, id := range c.ids {
		require.NoError(t, c.w.Restart(id))
	}
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// TestCrashAtRandomInstants crashes a replica at many instants while
// writes are in flight: whatever was acknowledged survives.
func TestCrashAtRandomInstants(t *testing.T) {
	c := newCluster(t, 3, 13, Config{SnapshotEntries: 30, CatchUpEntries: 5})
	c.waitLeader(5 * time.Second)
	acked := map[string]string{}
	r := c.w.Rand("test")
	for round := range 8 {
		// Fire off writes without waiting, then crash someone mid-flight.
		for i := range 10 {
			k, v := fmt.Sprintf("r%d-%d", round, i), "x"
			c.cl.Put([]byte(k), []byte(v), putOpts(), func(_ *putResp, _ hdr, err error) {
				if err == nil {
					acked[k] = v
				}
			})
		}
		c.w.RunFor(time.Duration(r.IntN(8)) * time.Millisecond)
		victim := c.ids[r.IntN(len(c.ids))]
		require.NoError(t, c.w.Crash(victim))
		c.w.RunFor(time.Duration(r.IntN(300)) * time.Millisecond)
		require.NoError(t, c.w.Restart(victim))
		c.w.RunFor(3 * time.Second)
	}
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.checkAcked(acked)
	c.converged(10 * time.Second)
	require.NotEmpty(t, acked)
}

func TestNewLeaderWithinBoundAfterLeaderCrash(t *testing.T) {
	for seed := uint64(20); seed < 25; seed++ {
		c := newCluster(t, 5, seed, Config{})
		l := c.waitLeader(5 * time.Second)
		c.mustPut("k", "v")
		require.NoError(t, c.w.Crash(l))
		start := c.w.Elapsed()
		l2 := c.waitLeader(10 * time.Second)
		require.NotZero(t, l2)
		took := c.w.Elapsed() - start
		// Election timeout is 10 ticks of 100ms, randomized up to 2x;
		// with PreVote one more round trip. 3s is a generous bound.
		require.Less(t, took, 3*time.Second, "seed %d: new leader took %v", seed, took)
		c.mustPut("k", "v2")
		require.Equal(t, "v2", c.mustGet("k"))
		c.converged(5 * time.Second)
	}
}

func TestPartitionedFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, 14, Config{SnapshotEntries: 20, CatchUpEntries: 5})
	l := c.waitLeader(5 * time.Second)
	f := followerOf(c, l)
	c.w.Net().Isolate(f)
	// Keep the client talking to the majority.
	c.w.Net().Connect(c.clID, f)
	c.w.Net().Connect(f, c.clID)
	acked := c.writeMany("p", 100)
	require.Len(t, acked, 100)
	first, _ := c.nodes[l].ms.FirstIndex()
	require.Greater(t, first, c.nodes[f].applied+1, "the leader compacted past the follower")
	before := c.nodes[f].snapIndex
	c.w.Net().Heal()
	c.converged(10 * time.Second)
	require.Greater(t, c.nodes[f].snapIndex, before, "caught up by snapshot")
	c.checkAcked(acked)
}

// corruptFile flips a bit of name's durable bytes at fraction frac of its
// length (the replica must be down).
func corruptFile(t *testing.T, disk *sim.Disk, name string, frac float64) {
	data, err := disk.DurableBytes(name)
	require.NoError(t, err)
	require.NotEmpty(t, data)
	off := int64(float64(len(data)-1) * frac)
	require.NoError(t, disk.Corrupt(name, off, 3))
}

// crashWithRottenWAL crashes replica id and flips a bit of its last WAL
// segment at fraction frac of its durable length; it returns the disk.
func crashWithRottenWAL(t *testing.T, c *cluster, id host.NodeID, frac float64) *sim.Disk {
	t.Helper()
	disk := c.w.Disk(id)
	seg := lastSegment(t, disk)
	require.NoError(t, c.w.Crash(id))
	corruptFile(t, disk, seg, frac)
	return disk
}

// waitRecovered runs until id has been through a recovery and left it.
func (c *cluster) waitRecovered(id host.NodeID) {
	ok := c.runUntil(10*time.Second, func() bool {
		n := c.nodes[id]
		return n.recovered > 0 && !n.recovering
	})
	require.True(c.t, ok, "replica %d did not recover: %s", id, c.describe())
}

func TestCorruptWALRecoversFromPeersWithoutVotingEarly(t *testing.T) {
	c := newCluster(t, 3, 15, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("c", 20)
	victim := followerOf(c, l)
	other := 6 - l - victim
	crashWithRottenWAL(t, c, victim, 0.5) // in the middle of synced records
	// The victim comes back cut off from the leader: it cannot catch up.
	c.w.Net().Cut(l, victim)
	c.w.Net().Cut(victim, l)
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(100 * time.Millisecond)
	n := c.nodes[victim]
	stopped, why := n.Stopped()
	require.False(t, stopped, why)
	recovering, cause := n.Recovering()
	require.True(t, recovering)
	require.Contains(t, cause, "corrupt")
	// The leader dies: the other follower cannot win, because the
	// recovering replica (which may have lost acknowledged entries and
	// its vote) grants no vote.
	require.NoError(t, c.w.Crash(l))
	c.w.RunFor(5 * time.Second)
	require.Zero(t, c.leader(), "a leader was elected with a recovering replica's vote: %s", c.describe())
	require.NotEqual(t, raft.RoleLeader, c.nodes[other].Status().Role)
	// The old leader returns: an election without the victim's vote,
	// then the victim catches up, leaves recovery and agrees.
	require.NoError(t, c.w.Restart(l))
	c.w.Net().Heal()
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.waitRecovered(victim)
	c.checkAcked(acked)
	c.mustPut("after", "x")
	c.converged(10 * time.Second)
	// It votes again: with the old leader down, the two others elect.
	require.NoError(t, c.w.Crash(c.leader()))
	require.NotZero(t, c.waitLeader(5*time.Second), c.describe())
}

func TestCompleteBadFinalRecordIsNotATornWrite(t *testing.T) {
	c := newCluster(t, 3, 16, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("t", 10)
	victim := followerOf(c, l)
	crashWithRottenWAL(t, c, victim, 1) // the last byte: a complete final record
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(10 * time.Millisecond)
	recovering, cause := c.nodes[victim].Recovering()
	require.True(t, recovering)
	require.Contains(t, cause, "not a torn write")
	t.Log(cause)
	c.waitRecovered(victim)
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

func TestMajorityCorruptedOneAtATimeStaysAvailable(t *testing.T) {
	c := newCluster(t, 3, 21, Config{SnapshotEntries: 15, CatchUpEntries: 5})
	c.waitLeader(5 * time.Second)
	acked := map[string]string{}
	for round, id := range []host.NodeID{1, 2, 3, 1} {
		for k, v := range c.writeMany(fmt.Sprintf("r%d-", round), 20) {
			acked[k] = v
		}
		disk := c.w.Disk(id)
		seg := lastSegment(t, disk)
		require.NoError(t, c.w.Crash(id))
		corruptFile(t, disk, seg, 0.3)
		require.NoError(t, c.w.Restart(id))
		require.NotZero(t, c.waitLeader(5*time.Second))
		c.waitRecovered(id)
		c.checkAcked(acked)
	}
	c.converged(10 * time.Second)
}

func TestNoIntactHardStateCopyStopsForGood(t *testing.T) {
	c, victim, why := stopFollowerForGood(t, 22)
	require.Contains(t, why, "no intact copy")
	// wal.Open already cut or refused the damage; a later restart must
	// not take the WAL at its word.
	c.w.RunFor(100 * time.Millisecond)
	require.NoError(t, c.w.Crash(victim))
	require.NoError(t, c.w.Restart(victim))
	stopped, _ := c.nodes[victim].Stopped()
	require.True(t, stopped)
	c.mustPut("still", "works")
	c.converged(5 * time.Second)
}

func TestTornWritesRecover(t *testing.T) {
	c := newCluster(t, 3, 17, Config{SnapshotEntries: 30, CatchUpEntries: 5})
	for _, id := range c.ids {
		c.w.Disk(id).SetTornWrites(true)
	}
	c.waitLeader(5 * time.Second)
	acked := map[string]string{}
	r := c.w.Rand("torn")
	repairs := 0
	for round := range 10 {
		for i := range 10 {
			k := fmt.Sprintf("t%d-%d", round, i)
			c.cl.Put([]byte(k), []byte("v"), putOpts(), func(_ *putResp, _ hdr, err error) {
				if err == nil {
					acked[k] = "v"
				}
			})
		}
		c.w.RunFor(time.Duration(r.IntN(6)) * time.Millisecond)
		victim := c.ids[r.IntN(len(c.ids))]
		require.NoError(t, c.w.Crash(victim))
		require.NoError(t, c.w.Restart(victim))
		stopped, why := c.nodes[victim].Stopped()
		require.False(t, stopped, "a torn write must not stop a replica: %s", why)
		if c.nodes[victim].repaired != nil {
			repairs++
		}
		c.w.RunFor(2 * time.Second)
	}
	require.NotZero(t, c.waitLeader(5*time.Second))
	c.checkAcked(acked)
	c.converged(10 * time.Second)
	t.Logf("%d of 10 restarts cut a torn tail", repairs)
}

func TestCorruptSnapshotRecovers(t *testing.T) {
	c := newCluster(t, 3, 18, Config{SnapshotEntries: 20, CatchUpEntries: 5})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("s", 50)
	victim := followerOf(c, l)
	require.NotZero(t, c.nodes[victim].snapIndex)
	disk := c.w.Disk(victim)
	names, err := disk.List()
	require.NoError(t, err)
	var snapFile string
	for _, n := range names {
		if strings.HasSuffix(n, ".snap") {
			snapFile = n
		}
	}
	require.NotEmpty(t, snapFile)
	require.NoError(t, c.w.Crash(victim))
	corruptFile(t, disk, snapFile, 0.5)
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(10 * time.Millisecond)
	_, cause := c.nodes[victim].Recovering()
	require.Contains(t, cause, "snapshot")
	c.waitRecovered(victim)
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

func TestFullDiskFailsCleanlyAndRecovers(t *testing.T) {
	c := newCluster(t, 3, 19, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("d", 10)
	// Fill every disk: nothing can commit, nothing is acknowledged.
	for _, id := range c.ids {
		d := c.w.Disk(id)
		require.NoError(t, d.SetCapacity(d.Used()))
	}
	var outcomes []error
	for i := range 5 {
		c.cl.Put(fmt.Appendf(nil, "full%d", i), []byte("v"), putOpts(), func(_ *putResp, _ hdr, err error) {
			outcomes = append(outcomes, err)
		})
	}
	c.w.RunFor(3 * time.Second)
	for _, err := range outcomes {
		require.Error(t, err, "nothing is acknowledged while no disk can write")
	}
	for _, id := range c.ids {
		stopped, why := c.nodes[id].Stopped()
		require.False(t, stopped, "a full disk must not stop a replica: %s", why)
	}
	// Free space: the cluster recovers and loses nothing acknowledged.
	for _, id := range c.ids {
		require.NoError(t, c.w.Disk(id).SetCapacity(1<<40))
	}
	_ = l
	require.NotZero(t, c.waitLeader(10*time.Second))
	c.mustPut("after", "full")
	c.checkAcked(acked)
	c.converged(10 * time.Second)
}

// damageBeforeFirstElection crashes replica 1 of a fresh cluster once its
// bootstrap is durable but before any election, corrupts its bootstrap
// snapshot, lets before (replica up) and after (down) do what they like
// to the hard state copy, and restarts it.
func damageBeforeFirstElection(t *testing.T, seed uint64, before, after func(disk *sim.Disk)) *cluster {
	c := newCluster(t, 3, seed, Config{})
	const victim = host.NodeID(1)
	require.True(t, c.runUntil(time.Second, func() bool { return !c.nodes[victim].booting }))
	require.Zero(t, c.nodes[victim].Status().Term-1, "an election already happened")
	disk := c.w.Disk(victim)
	names, err := disk.List()
	require.NoError(t, err)
	before(disk)
	require.NoError(t, c.w.Crash(victim))
	for _, name := range names {
		if strings.HasSuffix(name, ".snap") {
			corruptFile(t, disk, name, 0.5)
		}
	}
	after(disk)
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(10 * time.Millisecond)
	stopped, why := c.nodes[victim].Stopped()
	require.False(t, stopped, why)
	_, cause := c.nodes[victim].Recovering()
	require.Contains(t, cause, "snapshot")
	return c
}

func nothing(*sim.Disk) {}

// TestDamageBeforeFirstElectionRecovers: a replica damaged before it ever
// changed its term or vote recovers from its peers even if a bit of its
// hard state copy flipped too (the copy holds its record in every slot),
// instead of stopping for good.
func TestDamageBeforeFirstElectionRecovers(t *testing.T) {
	for slot := range 2 {
		c := damageBeforeFirstElection(t, 23, nothing, func(disk *sim.Disk) {
			require.NoError(t, disk.Corrupt(HardStateFile, int64(slot*hsSlotSize+20), 2))
		})
		c.waitRecovered(1)
		c.mustPut("k", "v")
		c.converged(10 * time.Second)
	}
}

// TestEmptyHardStateCopyMeansNoPromise: an empty copy (never
// written; every vote and acknowledgement waits for a synced copy) lets a
// damaged replica recover with a vote floor of 0.
func TestEmptyHardStateCopyMeansNoPromise(t *testing.T) {
	c := damageBeforeFirstElection(t, 24, func(disk *sim.Disk) {
		// Under the replica, which does not write it before the crash.
		require.NoError(t, disk.Remove(HardStateFile))
		f, err := disk.Create(HardStateFile)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}, nothing)
	c.waitRecovered(1)
	require.Zero(t, c.nodes[1].voteFloor)
	c.mustPut("k", "v")
	c.converged(10 * time.Second)
}

// TestStopReasonIsChecksummed: the reason a stopped replica leaves on disk
// survives restarts intact, and a bit flip in it is reported as damage
// instead of shown garbled; the replica stays stopped either way.
func TestStopReasonIsChecksummed(t *testing.T) {
	c, victim, why := stopFollowerForGood(t, 25)
	disk := c.w.Disk(victim)
	c.w.RunFor(100 * time.Millisecond) // the stop file is synced
	require.NoError(t, c.w.Crash(victim))
	require.NoError(t, c.w.Restart(victim))
	stopped, again := c.nodes[victim].Stopped()
	require.True(t, stopped)
	require.Equal(t, "stopped in an earlier run: "+why, again)
	require.NoError(t, c.w.Crash(victim))
	require.NoError(t, disk.Corrupt(StopFile, 3, 2))
	require.NoError(t, c.w.Restart(victim))
	stopped, damaged := c.nodes[victim].Stopped()
	require.True(t, stopped)
	require.Contains(t, damaged, "reason damaged")
}

// stopFollowerForGood builds a 3-node cluster from seed, damages a
// follower's WAL and every slot of its hard state copy while it is down,
// restarts it and requires that it stopped; it returns the cluster, the
// follower and the reason it gave.
func stopFollowerForGood(t *testing.T, seed uint64) (*cluster, host.NodeID, string) {
	t.Helper()
	c := newCluster(t, 3, seed, Config{})
	l := c.waitLeader(5 * time.Second)
	c.writeMany("h", 10)
	victim := followerOf(c, l)
	disk := crashWithRottenWAL(t, c, victim, 0.5)
	for slot := range int64(hsSlots) {
		require.NoError(t, disk.Corrupt(HardStateFile, slot*hsSlotSize+10, 1))
	}
	require.NoError(t, c.w.Restart(victim))
	stopped, why := c.nodes[victim].Stopped()
	require.True(t, stopped)
	return c, victim, why
}

// The epoch (raft.Config.Epoch) grows with each recovery the replica
// starts and survives restarts, and the loss of the recovery mark (the
// hard state copy keeps it too): acknowledgements of an earlier
// incarnation must stay recognisable as such.
func TestEpochGrowsWithEachRecoveryAndSurvives(t *testing.T) {
	c := newCluster(t, 3, 21, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("e", 10)
	victim := followerOf(c, l)
	disk := c.w.Disk(victim)
	require.Zero(t, c.nodes[victim].epoch)
	restart := func() {
		require.NoError(t, c.w.Crash(victim))
		require.NoError(t, c.w.Restart(victim))
	}

	seg := lastSegment(t, disk)
	require.NoError(t, c.w.Crash(victim))
	corruptFile(t, disk, seg, 0.5)
	require.NoError(t, c.w.Restart(victim))
	c.waitRecovered(victim)
	require.Equal(t, uint64(1), c.nodes[victim].epoch)
	restart()
	c.w.RunFor(time.Second)
	require.Equal(t, uint64(1), c.nodes[victim].epoch, "a plain restart keeps the epoch")

	// A damaged mark: recovery again, the epoch from the hard state copy.
	require.NoError(t, c.w.Crash(victim))
	corruptFile(t, disk, RecoveringFile, 0.5)
	require.NoError(t, c.w.Restart(victim))
	c.waitRecovered(victim)
	require.Equal(t, uint64(2), c.nodes[victim].epoch)
	restart()
	c.w.RunFor(time.Second)
	require.Equal(t, uint64(2), c.nodes[victim].epoch)
	c.checkAcked(acked)
	c.mustPut("after", "x")
	c.converged(10 * time.Second)
}

// A recovery that meets a full disk waits for room and starts again; it
// must not stop the replica for good (a transient disk-full used to lose
// the replica for the rest of the run).
func TestRecoveryOnAFullDiskWaitsForRoom(t *testing.T) {
	c := newCluster(t, 3, 15, Config{})
	l := c.waitLeader(5 * time.Second)
	acked := c.writeMany("r", 20)
	victim := followerOf(c, l)
	disk := crashWithRottenWAL(t, c, victim, 0.5)
	require.NoError(t, disk.SetCapacity(disk.Used())) // no room for the recovery's marker
	require.NoError(t, c.w.Restart(victim))
	c.w.RunFor(2 * time.Second)
	n := c.nodes[victim]
	stopped, why := n.Stopped()
	require.False(t, stopped, "a full disk during recovery stopped the replica: %s", why)
	require.True(t, n.booting, "the recovery waits for room")
	require.NoError(t, disk.SetCapacity(1<<40))
	c.waitRecovered(victim)
	c.checkAcked(acked)
	c.mustPut("after", "room")
	c.converged(10 * time.Second)
}
