package mvcc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// The benchmarks use etcd-like Kubernetes keys and 128-byte values. Those
// with 1M keys run only with -bench (they are benchmarks, not tests):
//
//	go test -run='^$' -bench=. -benchtime=1000000x ./mvcc

const (
	benchKeys     = 1_000_000
	benchValueLen = 128
)

func benchKey(i int) []byte { return appendBenchKey(nil, i) }

// appendBenchKey formats key i into buf without fmt, so that a benchmark
// can build each key in a reused (cache-hot) buffer, as a server decoding
// a request would, instead of fetching it from a large slice of keys.
func appendBenchKey(buf []byte, i int) []byte {
	buf = append(buf[:0], "/registry/pods/default/pod-00000000"...)
	for j := len(buf) - 1; i > 0; j-- {
		buf[j] = byte('0' + i%10)
		i /= 10
	}
	return buf
}

// benchOrder is a seeded random permutation of 0..n-1.
func benchOrder(n int) []int32 {
	r := rand.New(rand.NewPCG(1, 2))
	p := make([]int32, n)
	for i, j := range r.Perm(n) {
		p[i] = int32(j)
	}
	return p
}

var benchValue = func() []byte {
	v := make([]byte, benchValueLen)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}()

// shuffledKeys returns the keys of 0..n-1 in a seeded random order.
func shuffledKeys(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, n)
	for i, j := range r.Perm(n) {
		keys[i] = benchKey(j)
	}
	return keys
}

// loadedStore returns a store holding keys, one version each.
func loadedStore(b *testing.B, keys [][]byte) *Store {
	s := New(Config{})
	for _, k := range keys {
		if _, _, err := s.Put(k, benchValue, 0, false); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// rate reports n operations per wall second and per CPU second since
// cpu0 as unit and "cpu-"+unit.
func rate(b *testing.B, n int, cpu0 time.Duration, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "cpu-"+unit)
	}
}

// BenchmarkPut inserts b.N new keys in random order into an empty store.
func BenchmarkPut(b *testing.B) {
	order := benchOrder(b.N)
	s := New(Config{})
	var key []byte
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		key = appendBenchKey(key, int(order[i]))
		if _, _, err := s.Put(key, benchValue, 0, false); err != nil {
			b.Fatal(err)
		}
	}
	rate(b, b.N, cpu0, "puts/s")
}

// BenchmarkPutUpdate overwrites random keys of a store with 1M keys.
func BenchmarkPutUpdate(b *testing.B) {
	keys := shuffledKeys(benchKeys)
	s := loadedStore(b, keys)
	r := rand.New(rand.NewPCG(3, 4))
	var key []byte
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		key = appendBenchKey(key, r.IntN(len(keys)))
		if _, _, err := s.Put(key, benchValue, 0, false); err != nil {
			b.Fatal(err)
		}
	}
	rate(b, b.N, cpu0, "puts/s")
}

// BenchmarkGet reads random single keys of a store with 1M keys.
func BenchmarkGet(b *testing.B) {
	keys := shuffledKeys(benchKeys)
	s := loadedStore(b, keys)
	r := rand.New(rand.NewPCG(5, 6))
	var key []byte
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		key = appendBenchKey(key, r.IntN(len(keys)))
		res, err := s.Range(key, nil, RangeOptions{})
		if err != nil || len(res.KVs) != 1 {
			b.Fatal(err)
		}
	}
	rate(b, b.N, cpu0, "gets/s")
}

// BenchmarkRangePrefix reads 100 keys by prefix from a store with 1M keys.
func BenchmarkRangePrefix(b *testing.B) {
	keys := shuffledKeys(benchKeys)
	s := loadedStore(b, keys)
	r := rand.New(rand.NewPCG(7, 8))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p := fmt.Appendf(nil, "/registry/pods/default/pod-%06d", r.IntN(benchKeys/100))
		res, err := s.Range(p, PrefixEnd(p), RangeOptions{})
		if err != nil || len(res.KVs) != 100 {
			b.Fatal(err, len(res.KVs))
		}
	}
	rate(b, 100*b.N, cpu0, "keys/s")
}

// BenchmarkMemoryPerKey measures the Go heap a store of 1M keys takes
// beyond the bytes of its keys and values. It measures one load whatever
// b.N is (a load takes seconds).
func BenchmarkMemoryPerKey(b *testing.B) {
	keys := shuffledKeys(benchKeys)
	var own int64
	for _, k := range keys {
		own += int64(len(k) + benchValueLen)
	}
	before := heapInUse()
	s := loadedStore(b, keys)
	after := heapInUse()
	b.ReportMetric(float64(after-before-own)/benchKeys, "bytes/key")
	b.ReportMetric(float64(after-before)/benchKeys, "heap-bytes/key")
	runtime.KeepAlive(s)
	runtime.KeepAlive(keys) // garbage before "after" would hide store bytes
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkCompact compacts a store of 1M keys with two versions each:
// half its records go.
func BenchmarkCompact(b *testing.B) {
	keys := shuffledKeys(benchKeys)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := loadedStore(b, keys)
		for _, k := range keys {
			if _, _, err := s.Put(k, benchValue, 0, false); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		cpu0 := cpuTime()
		if err := s.Compact(s.CurrentRevision()); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/compaction")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/compaction")
}

// BenchmarkSnapshot encodes a store of 1M keys.
func BenchmarkSnapshot(b *testing.B) {
	s := loadedStore(b, shuffledKeys(benchKeys))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.SetBytes(int64(len(s.Snapshot())))
	}
}
