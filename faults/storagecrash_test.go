package faults

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// TestCrashStorageCrashesAtTheMoment: crash-storage crashes the replica
// that reported a storage moment, at that very instant, and nothing else;
// without reports it never fires.
func TestCrashStorageCrashesAtTheMoment(t *testing.T) {
	w, n, trace := aimedWorld(t, CrashStorage, false)
	w.RunFor(2 * time.Second)
	require.Zero(t, count(*trace, "fault/"+CrashStorage), "no moment reported, no crash")
	reported := map[string]bool{} // "<time> node=N " of each report
	var report func()
	report = func() {
		id := host.NodeID(2 + w.Rand("pick").IntN(4))
		if w.Alive(id) {
			reported[fmt.Sprintf("%d node=%d ", int64(w.Elapsed()), id)] = true
			n.ObserveStorage(id, MomentFileChanged+Moment(w.Rand("m").IntN(2))-1)
		}
		w.Schedule(7*time.Millisecond, report)
	}
	w.Schedule(0, report)
	w.RunFor(3 * time.Second)
	crashes := 0
	for _, l := range *trace {
		if !strings.Contains(l, " fault/"+CrashStorage+" ") {
			continue
		}
		crashes++
		at, node := l[:strings.Index(l, " ")], l[strings.Index(l, "node="):]
		node = node[:strings.Index(node, " ")+1]
		require.True(t, reported[at+" "+node], "%s: crashed without a moment reported at that instant", l)
	}
	require.Positive(t, crashes)
	require.LessOrEqual(t, len(n.Unavailable()), 2)
	n.HealAll()
	for _, id := range w.Nodes() {
		require.True(t, w.Alive(id), "%d", id)
	}
}

// rotter is toyProtocol that rots a fixed file's last byte.
type rotter struct {
	toyProtocol
	rotted *int
}

func (r rotter) RotTail(d *sim.Disk, _ *rand.Rand) (string, bool) {
	b, err := d.DurableBytes("log")
	if err != nil || len(b) == 0 {
		return "", false
	}
	*r.rotted++
	return "log", d.Corrupt("log", int64(len(b)-1), 0) == nil
}

// TestCorruptTailRotsTheVoucher: disk-corrupt-tail crashes a replica right
// after it voted or acknowledged, rots its log's tail through the
// protocol's TailRotter, books it as tainted (a minority at most) and
// restarts it when healed; without a TailRotter it never injects.
func TestCorruptTailRotsTheVoucher(t *testing.T) {
	w, _, trace := aimedWorld(t, DiskCorruptTail, true) // toyProtocol: no TailRotter
	w.RunFor(3 * time.Second)
	require.Zero(t, count(*trace, "fault/"), "no TailRotter, no injection")

	w, ids := chattyWorld(t, 9, 5)
	var lines []string
	w.SetTraceWriter(writerFunc(func(p []byte) { lines = append(lines, string(p)) }))
	f, _ := Lookup(DiskCorruptTail)
	n, err := NewFromSpecs(w, ids, []Spec{DefaultSpec(f)}, w.Rand("n"))
	require.NoError(t, err)
	rotted := 0
	n.SetProtocol(rotter{rotted: &rotted})
	require.NoError(t, n.Start(5*time.Second))
	var probe func()
	probe = func() {
		require.LessOrEqual(t, len(n.Tainted()), 2)
		require.LessOrEqual(t, len(n.Unavailable()), 2)
		w.Schedule(time.Millisecond, probe)
	}
	w.Schedule(0, probe)
	w.RunFor(5 * time.Second)
	require.Positive(t, count(lines, "fault/"+DiskCorruptTail))
	require.Positive(t, rotted)
	hit := 0
	for _, id := range ids {
		if n.EverTainted(id) {
			hit++
		}
	}
	require.Positive(t, hit, "a rotted replica is remembered as damaged")
	n.HealAll()
	for _, id := range ids {
		require.True(t, w.Alive(id), "%d", id)
	}
}
