package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// TestRecoveryScenarios runs the scripts in testdata/recovery/*.txt: a
// seeded three-replica cluster on the simulated world, driven step by
// step (write, crash, damage a file on the durable disk, restart, cut
// links) to pin how a replica recovers from corrupt storage. Rewrite the
// expected output with
//
//	go test ./node -run TestRecoveryScenarios -rewrite
//
// and read the diff: every output line is a behaviour to keep.
func TestRecoveryScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/recovery", func(t *testing.T, path string) {
		env := &recoveryEnv{acked: map[string]string{}, files: map[host.NodeID][]string{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "cluster" && env.c != nil {
				env.c.t = t
			}
			return env.handle(t, d)
		})
	})
}

// recoveryEnv is the state of one script: the cluster and the writes it
// acknowledged (which must all survive).
type recoveryEnv struct {
	c      *cluster
	acked  map[string]string
	victim host.NodeID // the replica crashed last
	// files lists each crashed replica's files as of its crash (a down
	// replica's disk cannot be listed).
	files map[host.NodeID][]string
}

func (env *recoveryEnv) handle(t *testing.T, d *datadriven.TestData) string {
	var b strings.Builder
	switch d.Cmd {
	case "cluster":
		env.newCluster(t, d)
	case "wait-leader":
		if l := env.c.waitLeader(5 * time.Second); l != 0 {
			fmt.Fprintf(&b, "leader: %d\n", l)
		} else {
			b.WriteString("no leader within 5s\n")
		}
	case "put":
		env.put(t, d, &b)
	case "put-async":
		env.putAsync(t, d)
	case "run":
		var dur string
		d.ScanArgs(t, "for", &dur)
		pd, err := time.ParseDuration(dur)
		require.NoError(t, err)
		env.c.w.RunFor(pd)
	case "crash":
		id := env.id(t, d, 0)
		disk := env.c.w.Disk(id)
		names, err := disk.List()
		require.NoError(t, err)
		env.files[id] = names
		unsynced := 0
		for _, name := range names {
			all, err1 := disk.Contents(name)
			durable, err2 := disk.DurableBytes(name)
			require.NoError(t, err1)
			require.NoError(t, err2)
			unsynced += max(0, len(all)-len(durable))
		}
		require.NoError(t, env.c.w.Crash(id))
		env.victim = id
		fmt.Fprintf(&b, "crashed %d with %d bytes written but not synced\n", id, unsynced)
	case "restart":
		id := env.id(t, d, 0)
		require.NoError(t, env.c.w.Restart(id))
		env.c.w.RunFor(10 * time.Millisecond)
		env.writeState(&b, id)
	case "corrupt":
		env.corrupt(t, d, &b)
	case "cut":
		a, c := env.id(t, d, 0), env.id(t, d, 1)
		env.c.w.Net().Cut(a, c)
		env.c.w.Net().Cut(c, a)
	case "heal":
		env.c.w.Net().Heal()
	case "state":
		for i := range d.CmdArgs {
			env.writeState(&b, env.id(t, d, i))
		}
	case "wait-recovered":
		id := env.id(t, d, 0)
		env.c.waitRecovered(id)
		env.writeState(&b, id)
	case "check":
		env.c.checkAcked(env.acked)
		env.c.converged(10 * time.Second)
		fmt.Fprintf(&b, "%d acknowledged writes read back; live replicas %v converged\n",
			len(env.acked), env.c.live())
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	if b.Len() == 0 {
		return "ok"
	}
	return b.String()
}

func (env *recoveryEnv) newCluster(t *testing.T, d *datadriven.TestData) {
	var seed uint64
	d.ScanArgs(t, "seed", &seed)
	var cfg Config
	d.MaybeScanArgs(t, "snapshot-entries", &cfg.SnapshotEntries)
	d.MaybeScanArgs(t, "catch-up-entries", &cfg.CatchUpEntries)
	env.c = newCluster(t, 3, seed, cfg)
	torn := false
	d.MaybeScanArgs(t, "torn-writes", &torn)
	for _, id := range env.c.ids {
		env.c.w.Disk(id).SetTornWrites(torn)
	}
}

// put writes n keys prefix0.. one at a time, waiting for each answer.
func (env *recoveryEnv) put(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	var prefix string
	var n int
	d.ScanArgs(t, "prefix", &prefix)
	d.ScanArgs(t, "n", &n)
	got := 0
	for i := range n {
		k, v := fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("v%d", i)
		// A timed-out put of the same value may be retried: the script
		// knows that is harmless (a client library does not).
		for range 5 {
			_, err := env.c.put(k, v)
			if errors.Is(err, client.ErrTimeout) {
				continue
			}
			if err == nil {
				env.acked[k] = v
				got++
			}
			break
		}
	}
	fmt.Fprintf(b, "acknowledged %d of %d\n", got, n)
}

// putAsync issues n puts at once without waiting: the replicas are in the
// middle of writing them when the next command runs.
func (env *recoveryEnv) putAsync(t *testing.T, d *datadriven.TestData) {
	var prefix string
	var n int
	d.ScanArgs(t, "prefix", &prefix)
	d.ScanArgs(t, "n", &n)
	for i := range n {
		k, v := fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("v%d", i)
		env.c.cl.Put([]byte(k), []byte(v), putOpts(), func(_ *api.PutResponse, _ api.Header, err error) {
			if err == nil {
				env.acked[k] = v
			}
		})
	}
}

// corrupt flips bits in a file on the durable disk of a crashed replica:
// file=wal (the last segment, at fraction at of its length), file=snap
// (the newest snapshot file) or file=hardstate (slot=N or slot=all).
func (env *recoveryEnv) corrupt(t *testing.T, d *datadriven.TestData, b *strings.Builder) {
	id := env.id(t, d, 0)
	require.False(t, env.c.w.Alive(id), "corrupt a crashed replica's disk")
	disk := env.c.w.Disk(id)
	var file string
	d.ScanArgs(t, "file", &file)
	at := 0.5
	d.MaybeScanArgs(t, "at", &at)
	switch file {
	case "wal":
		seg := lastWithSuffix(env.files[id], ".wal")
		require.NotEmpty(t, seg, "no WAL segment")
		corruptFile(t, disk, seg, at)
		fmt.Fprintf(b, "%d: flipped a bit of WAL segment %s at %.0f%% of its length\n", id, seg, at*100)
	case "snap":
		snap := lastWithSuffix(env.files[id], ".snap")
		require.NotEmpty(t, snap, "no snapshot file")
		corruptFile(t, disk, snap, at)
		fmt.Fprintf(b, "%d: flipped a bit of snapshot file %s\n", id, snap)
	case "hardstate":
		var slot string
		d.ScanArgs(t, "slot", &slot)
		slots := []int64{}
		if slot == "all" {
			for s := range int64(hsSlots) {
				slots = append(slots, s)
			}
		} else {
			s, err := strconv.ParseInt(slot, 10, 64)
			require.NoError(t, err)
			slots = append(slots, s)
		}
		for _, s := range slots {
			require.NoError(t, disk.Corrupt(HardStateFile, s*hsSlotSize+10, 1))
		}
		fmt.Fprintf(b, "%d: flipped a bit in hard state copy slot(s) %v of %d\n", id, slots, hsSlots)
	default:
		t.Fatalf("%s: unknown file %q", d.Pos, file)
	}
}

// writeState prints what a replica is doing: stopped for good,
// recovering (and why), or serving, with its role and term, and whether
// its boot cut a torn WAL tail.
func (env *recoveryEnv) writeState(b *strings.Builder, id host.NodeID) {
	c := env.c
	if !c.w.Alive(id) {
		fmt.Fprintf(b, "%d: down\n", id)
		return
	}
	n := c.nodes[id]
	st := n.Status()
	switch {
	case n.stopped:
		fmt.Fprintf(b, "%d: stopped: %s\n", id, n.stopReason)
		return
	case n.recovering:
		fmt.Fprintf(b, "%d: recovering (%s), vote floor %d, %s term %d\n", id, n.recoverCause, n.voteFloor, st.Role, st.Term)
	default:
		fmt.Fprintf(b, "%d: serving, %s term %d, recoveries %d\n", id, st.Role, st.Term, n.recovered)
	}
	if n.repaired != nil {
		fmt.Fprintf(b, "%d: boot cut a torn WAL tail: %s\n", id, n.repaired.Reason)
	}
}

// id resolves the i-th argument: a replica number, "leader", or
// "follower" (the lowest-numbered follower of the current leader), or
// "victim" (the replica crashed last).
func (env *recoveryEnv) id(t *testing.T, d *datadriven.TestData, i int) host.NodeID {
	require.Greater(t, len(d.CmdArgs), i, "%s: replica missing", d.Pos)
	arg := d.CmdArgs[i].Key
	switch arg {
	case "leader":
		l := env.c.leader()
		require.NotZero(t, l, "%s: no leader", d.Pos)
		return l
	case "victim":
		require.NotZero(t, env.victim, "%s: nothing crashed yet", d.Pos)
		return env.victim
	case "follower":
		l := env.c.leader()
		require.NotZero(t, l, "%s: no leader", d.Pos)
		return followerOf(env.c, l)
	}
	v, err := strconv.ParseUint(arg, 10, 64)
	require.NoError(t, err, "%s", d.Pos)
	return host.NodeID(v)
}

// lastWithSuffix returns the last of the (sorted) names ending in suffix.
func lastWithSuffix(names []string, suffix string) string {
	last := ""
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			last = n
		}
	}
	return last
}
