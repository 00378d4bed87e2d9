package sim

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
)

// traceScript runs a small world that produces most built-in events (and
// a record and a note) and returns its final trace hash. tr may be nil.
func traceScript(t *testing.T, tr Tracer) uint64 {
	w := NewWorld(3, DefaultConfig())
	w.SetTracer(tr)
	start := func(h host.Host) host.Process {
		if h.ID() != 1 {
			return procFunc(nil)
		}
		fs := h.FS()
		f, err := fs.Create("wal.tmp")
		if err == nil { // a restart finds the file renamed
			_, _ = f.WriteAt([]byte("hello"), 0)
			_, _ = f.WriteAt([]byte("xy"), 10)
			f.Sync(func(error) { require.NoError(t, fs.Rename("wal.tmp", "wal")) })
		}
		h.Send(2, []byte("ping"))
		h.Send(9, []byte("nobody"))
		return procFunc(nil)
	}
	require.NoError(t, w.AddNode(2, start))
	require.NoError(t, w.AddNode(1, start))
	w.RunFor(10 * time.Millisecond)
	w.Record("fault/x", 1, []byte("detail 1"))
	w.Note("episode", 0, "x hold=1s")
	require.NoError(t, w.Crash(1))
	require.NoError(t, w.Disk(1).Corrupt("wal", 1, 3))
	require.NoError(t, w.Restart(1))
	require.NoError(t, w.Pause(2))
	w.RunFor(10 * time.Millisecond)
	w.Resume(2)
	w.RunFor(10 * time.Millisecond)
	return w.TraceHash()
}

func TestTraceLinesNameFilesRangesAndPeers(t *testing.T) {
	var buf bytes.Buffer
	traceScript(t, &TextTracer{W: &buf})
	text := buf.String()
	for _, want := range []string{
		`^0\.000000000s node=1 start$`,
		`^0\.000000000s node=2 start$`,
		`^0\.000000000s node=1 create file=wal\.tmp$`,
		`^0\.000000000s node=1 write file=wal\.tmp bytes=\[0,5\) h=[0-9a-f]{16}$`,
		`^0\.000000000s node=1 write file=wal\.tmp bytes=\[10,12\) h=[0-9a-f]{16}$`,
		`^0\.000000000s node=1 send to=2 len=4 h=[0-9a-f]{16}$`,
		`^0\.000000000s node=1 send to=9 len=6 h=[0-9a-f]{16}$`,
		`^0\.000000000s node=9 drop-unknown from=1 len=6 h=[0-9a-f]{16}$`,
		`^0\.00\d{7}s node=2 deliver from=1 len=4 h=[0-9a-f]{16}$`,
		`^0\.00\d{7}s node=1 sync file=wal\.tmp bytes=\[0,12\) durable=12$`,
		`^0\.00\d{7}s node=1 rename file=wal\.tmp to=wal$`,
		`^0\.010000000s node=1 fault/x detail 1$`,
		`^0\.010000000s node=0 episode x hold=1s$`,
		`^0\.010000000s node=1 crash inc=1$`,
		`^0\.010000000s node=1 disk-crash inc=1$`,
		`^0\.010000000s node=1 corrupt file=wal off=1 bit=3$`,
		`^0\.010000000s node=1 restart inc=1$`,
		`^0\.010000000s node=2 pause inc=0$`,
		`^0\.020000000s node=2 resume inc=0 backlog=\d+$`,
	} {
		require.Regexp(t, regexp.MustCompile(`(?m)`+want), text)
	}
}

func TestTracerLeavesHashAlone(t *testing.T) {
	plain := traceScript(t, nil)
	var buf bytes.Buffer
	require.Equal(t, plain, traceScript(t, &TextTracer{W: &buf}), "a tracer must not change the hash")
	require.Equal(t, plain, traceScript(t, &TextTracer{W: io.Discard, Filter: TraceFilter{Nodes: []host.NodeID{2}}}))
	require.Contains(t, buf.String(), "episode", "notes reach the tracer")
}

func TestTraceFilterMatch(t *testing.T) {
	ev := func(at time.Duration, kind string, node, peer host.NodeID) *TraceEvent {
		return &TraceEvent{At: at, Kind: kind, Node: node, Peer: peer}
	}
	s := time.Second
	for _, tc := range []struct {
		name string
		f    TraceFilter
		e    *TraceEvent
		want bool
	}{
		{"zero filter keeps all", TraceFilter{}, ev(5*s, "timer", 0, 0), true},
		{"before from", TraceFilter{From: 2 * s}, ev(s, "crash", 1, 0), false},
		{"at from", TraceFilter{From: 2 * s}, ev(2*s, "crash", 1, 0), true},
		{"before to", TraceFilter{To: 2 * s}, ev(2*s-1, "crash", 1, 0), true},
		{"at to excluded", TraceFilter{To: 2 * s}, ev(2*s, "crash", 1, 0), false},
		{"node listed", TraceFilter{Nodes: []host.NodeID{1, 3}}, ev(s, "write", 3, 0), true},
		{"node not listed", TraceFilter{Nodes: []host.NodeID{1, 3}}, ev(s, "write", 2, 0), false},
		{"message to a listed node", TraceFilter{Nodes: []host.NodeID{3}}, ev(s, "send", 2, 3), true},
		{"message from a listed node", TraceFilter{Nodes: []host.NodeID{3}}, ev(s, "deliver", 2, 3), true},
		{"message between others", TraceFilter{Nodes: []host.NodeID{3}}, ev(s, "send", 1, 2), false},
		{"world fault record kept", TraceFilter{Nodes: []host.NodeID{3}}, ev(s, "fault/partition", 0, 0), true},
		{"world timer dropped", TraceFilter{Nodes: []host.NodeID{3}}, ev(s, "timer", 0, 0), false},
		{"time and node both", TraceFilter{From: s, To: 2 * s, Nodes: []host.NodeID{3}}, ev(3*s, "send", 3, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.f.Match(tc.e))
		})
	}
}

func TestTraceLineFormat(t *testing.T) {
	for _, tc := range []struct {
		e    TraceEvent
		want string
	}{
		{TraceEvent{At: 1500 * time.Millisecond, Kind: "timer", Node: 3}, "1.500000000s node=3 timer"},
		{TraceEvent{At: 12*time.Second + 5, Kind: "truncate", Node: 1, File: "a.wal", Off: 64}, "12.000000005s node=1 truncate file=a.wal size=64"},
		{TraceEvent{Kind: "sync", Node: 1, File: "a", Aux: 7}, "0.000000000s node=1 sync file=a durable=7"},
		{TraceEvent{Kind: "sync-lost", Node: 1, File: "a"}, "0.000000000s node=1 sync-lost file=a"},
		{TraceEvent{Kind: "lose-synced", Node: 1, File: "a", Off: 512}, "0.000000000s node=1 lose-synced file=a durable=512"},
		{TraceEvent{Kind: "sync-dir", Node: 1, Aux: 4}, "0.000000000s node=1 sync-dir files=4"},
		{TraceEvent{Kind: "lose-dirents", Node: 1, Aux: 2}, "0.000000000s node=1 lose-dirents changed=2"},
		{TraceEvent{Kind: "dup", Node: 1, Peer: 2, Payload: []byte("ab"), Hash: 0xff}, "0.000000000s node=1 dup to=2 len=2 h=00000000000000ff"},
		{TraceEvent{Kind: "call", Node: 1001, Payload: []byte{1, 2}, Hash: 1}, "0.000000000s node=1001 call len=2 h=0000000000000001"},
		{TraceEvent{Kind: "heal/all"}, "0.000000000s node=0 heal/all"},
	} {
		require.Equal(t, tc.want+"\n", string(AppendTraceLine(nil, &tc.e, nil)))
	}
}

// BenchmarkTraceEvent is the cost of one traced event (a message send's
// fold) without a tracer and with an undecoded text tracer to io.Discard.
func BenchmarkTraceEvent(b *testing.B) {
	p := []byte(strings.Repeat("x", 64))
	for _, tc := range []struct {
		name string
		tr   Tracer
	}{{"none", nil}, {"text", &TextTracer{W: io.Discard}}} {
		b.Run(tc.name, func(b *testing.B) {
			w := NewWorld(1, DefaultConfig())
			w.SetTracer(tc.tr)
			b.ReportAllocs()
			for b.Loop() {
				w.traceMsg(kSend, 1, 2, 42, p)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}

// fmtTracer writes the raw line format as the world wrote it before
// tracers existed (fmt, one line per hashed event).
type fmtTracer struct{ buf bytes.Buffer }

func (t *fmtTracer) Trace(e *TraceEvent) {
	if !e.Note {
		fmt.Fprintf(&t.buf, "%d %s node=%d aux=%d h=%016x\n", int64(e.At), e.Kind, e.Node, e.Aux, e.Hash)
	}
}

func TestRawTraceLinesUnchanged(t *testing.T) {
	var want fmtTracer
	var got bytes.Buffer
	traceScript(t, &want)
	traceScript(t, &rawTracer{w: &got})
	require.NotEmpty(t, got.String())
	require.Equal(t, want.buf.String(), got.String())
}
