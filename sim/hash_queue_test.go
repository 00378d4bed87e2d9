package sim

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// hashBytesRef is hashBytes's plain definition: the trace hashes of every
// seed depend on it, so the faster hashBytes and hashString must agree
// with it on every input.
func hashBytesRef(b []byte) uint64 {
	h := uint64(len(b)) ^ 0x243f6a8885a308d3
	for len(b) >= 8 {
		v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		h = (h ^ v) * 0x9e3779b97f4a7c15
		h ^= h >> 29
		b = b[8:]
	}
	var v uint64
	for i, c := range b {
		v |= uint64(c) << (8 * i)
	}
	return mix64(h ^ v)
}

// Every length up to 64 (all tail sizes, at every word count) and
// random inputs hash as the reference does, as bytes and as a string.
func TestHashBytesAgreesWithReference(t *testing.T) {
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = byte(i*37 + 11)
	}
	for n := 0; n <= len(buf); n++ {
		require.Equal(t, hashBytesRef(buf[:n]), hashBytes(buf[:n]), "length %d", n)
		require.Equal(t, hashBytesRef(buf[:n]), hashString(string(buf[:n])), "length %d", n)
	}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "b")
		require.Equal(t, hashBytesRef(b), hashBytes(b))
		require.Equal(t, hashBytesRef(b), hashString(string(b)))
	})
}

// The event queue pops events in (at, seq) order whatever was pushed and
// removed before, from near or from the heap: a model keeps the queued
// keys sorted.
func TestEventQueueOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// mkey is a queued event in the model: (at, seq), and its timer.
		type mkey struct {
			at    int64
			seq   uint64
			timer int
		}
		var q eventQueue
		var model []mkey     // queued events
		timers := []*Timer{} // one per queued-or-done event
		seq := uint64(0)
		for range rapid.IntRange(1, 400).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 5 || len(model) == 0:
				// Many ties on at; times on both sides of nearSpan after
				// the last pop, so events go to near and to the heap.
				at := rapid.Int64Range(0, 20).Draw(t, "at") +
					rapid.SampledFrom([]int64{0, nearSpan - 10, 3 * nearSpan}).Draw(t, "far")
				tm := &Timer{}
				q.push(event{at: at, seq: seq, timer: tm})
				model = append(model, mkey{at: at, seq: seq, timer: len(timers)})
				timers = append(timers, tm)
				seq++
			case op < 8:
				slices.SortFunc(model, func(a, b mkey) int {
					if a.at < b.at || (a.at == b.at && a.seq < b.seq) {
						return -1
					}
					return 1
				})
				want := model[0]
				model = model[1:]
				require.Equal(t, want.at, q.nextAt())
				e := q.pop()
				require.Equal(t, want.at, e.at)
				require.Equal(t, want.seq, e.seq)
				require.Equal(t, int32(-1), timers[want.timer].slot)
			default:
				i := rapid.IntRange(0, len(model)-1).Draw(t, "cancel")
				tm := timers[model[i].timer]
				require.GreaterOrEqual(t, tm.slot, int32(0))
				q.removeSlot(tm.slot)
				model = slices.Delete(model, i, i+1)
			}
			require.Equal(t, len(model), q.len())
		}
	})
}

// BenchmarkHashBytes hashes payloads of the sizes a seed sends and writes
// (acks and heartbeats, appends, WAL records), in ns/payload, against
// hashBytesRef.
func BenchmarkHashBytes(b *testing.B) {
	var bufs [][]byte
	for _, n := range []int{21, 27, 45, 93, 150, 301, 1100} {
		bufs = append(bufs, make([]byte, n))
	}
	for _, c := range []struct {
		name string
		f    func([]byte) uint64
	}{{"ref", hashBytesRef}, {"hashBytes", hashBytes}} {
		b.Run(c.name, func(b *testing.B) {
			var x uint64
			for b.Loop() {
				for _, p := range bufs {
					x ^= c.f(p)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bufs)), "ns/payload")
			sink = x
		})
	}
}

var sink uint64
