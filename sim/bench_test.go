package sim

import (
	"testing"
	"time"

	"github.com/seedkv/seedkv/host"
)

// BenchmarkKernelEvents measures the bare event loop: a timer whose
// callback schedules the next one. Schedule is the allocation-free path;
// After also allocates the cancellable *Timer handle.
func BenchmarkKernelEvents(b *testing.B) {
	b.Run("Schedule", func(b *testing.B) {
		w := NewWorld(1, DefaultConfig())
		var tick func()
		tick = func() { w.Schedule(time.Microsecond, tick) }
		w.Schedule(0, tick)
		b.ReportAllocs()
		b.ResetTimer()
		w.RunUntilIdle(b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("After", func(b *testing.B) {
		w := NewWorld(1, DefaultConfig())
		var tick func()
		tick = func() { w.After(time.Microsecond, tick) }
		w.After(0, tick)
		b.ReportAllocs()
		b.ResetTimer()
		w.RunUntilIdle(b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("NodeTimer", func(b *testing.B) {
		w := NewWorld(1, DefaultConfig())
		_ = w.AddNode(1, func(h host.Host) host.Process {
			var tick func()
			tick = func() { h.After(time.Microsecond, tick) }
			h.After(0, tick)
			return procFunc(nil)
		})
		b.ReportAllocs()
		b.ResetTimer()
		w.RunUntilIdle(b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("Queue1000", func(b *testing.B) {
		// 1000 interleaved timer chains: a deeper heap.
		w := NewWorld(1, DefaultConfig())
		r := w.Rand("bench")
		for range 1000 {
			var tick func()
			tick = func() { w.Schedule(time.Duration(1+r.IntN(1000))*time.Microsecond, tick) }
			w.Schedule(0, tick)
		}
		b.ReportAllocs()
		b.ResetTimer()
		w.RunUntilIdle(b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// relay forwards every message it receives to a random peer.
type relay struct {
	h     host.Host
	peers []host.NodeID
	msg   []byte
}

func (r *relay) Receive(host.NodeID, []byte) { r.send() }

func (r *relay) send() {
	to := r.peers[r.h.Rand().IntN(len(r.peers))]
	if to == r.h.ID() {
		to = r.peers[0]
	}
	r.h.Send(to, r.msg)
}

// BenchmarkNetworkMessages measures messages sent and delivered per wall
// second among 16 nodes with latency (base, jitter, tail), 1% loss, 1%
// duplication and a partition matrix (two one-way cuts, one isolated
// pair). Every delivery triggers a new send; a per-node 1ms timer refills
// what loss and cuts take away. One op is one message sent.
func BenchmarkNetworkMessages(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Net.Loss, cfg.Net.Duplicate = 0.01, 0.01
	w := NewWorld(1, cfg)
	var ids []host.NodeID
	for i := 1; i <= 16; i++ {
		ids = append(ids, host.NodeID(i))
	}
	for _, id := range ids {
		_ = w.AddNode(id, func(h host.Host) host.Process {
			r := &relay{h: h, peers: ids, msg: make([]byte, 64)}
			var refill func()
			refill = func() {
				for range 8 {
					r.send()
				}
				h.After(time.Millisecond, refill)
			}
			h.After(0, refill)
			return r
		})
	}
	w.Net().Cut(1, 2)
	w.Net().Cut(3, 4)
	w.Net().Split([]host.NodeID{15, 16}, ids[:14])
	w.RunFor(10 * time.Millisecond) // reach a steady state
	start := w.Net().Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for w.Net().Stats().Sent-start.Sent < uint64(b.N) {
		w.Step()
	}
	b.StopTimer()
	st := w.Net().Stats()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(st.Sent-start.Sent)/secs, "msgs/s")
	b.ReportMetric(float64(st.Delivered-start.Delivered)/secs, "delivered/s")
}
