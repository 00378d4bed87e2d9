package workloads

import (
	"testing"
	"time"

	"github.com/seedkv/seedkv/harness"
)

// BenchmarkWorkloadSeedCost runs each seed under the built-in kv workload
// and under every other workload (the order rotating per seed, so that
// machine noise falls on all alike) and reports wall milliseconds per
// seed for each and its ratio to kv, measured in the same run:
//
//	go test ./workloads -run '^$' -bench WorkloadSeedCost -benchtime 40x
func BenchmarkWorkloadSeedCost(b *testing.B) {
	names := Names // "kv" first
	spent := make([]time.Duration, len(names))
	seed := uint64(1)
	for b.Loop() {
		for k := range names {
			i := (k + int(seed)) % len(names)
			w, err := New(names[i], DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			res := harness.Run(config(w, ""), seed)
			if res.Verdict == harness.Unknown {
				b.Logf("-workload %s -seed %d: unknown", names[i], seed)
			}
			spent[i] += res.Wall
		}
		seed++
	}
	n := float64(seed - 1)
	for i, name := range names {
		b.ReportMetric(float64(spent[i].Microseconds())/1000/n, name+"-ms/seed")
		if i > 0 {
			b.ReportMetric(spent[i].Seconds()/spent[0].Seconds(), name+"/kv")
		}
	}
}
