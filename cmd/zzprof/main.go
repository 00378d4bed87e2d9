package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/seedkv/seedkv/harness"
)

func main() {
	d := flag.Duration("d", 160*time.Second, "")
	n := flag.Int("n", 5, "")
	seed := flag.Uint64("seed", 1, "")
	cpu := flag.String("cpu", "", "")
	flag.Parse()
	cfg := harness.DefaultConfig()
	cfg.Duration = *d
	cfg.Nodes = *n
	if *cpu != "" {
		f, _ := os.Create(*cpu)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var peak uint64
	stop := make(chan bool)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak {
					peak = m.HeapInuse
					if f, err := os.Create("/tmp/scale/heap.prof"); err == nil {
						pprof.WriteHeapProfile(f)
						f.Close()
					}
				}
			}
		}
	}()
	r := harness.Run(cfg, *seed)
	close(stop)
	fmt.Println(r.Verdict, r.Reason, r.Ops, r.Wall, r.CheckTime, "peak heap inuse MB", peak>>20)
}
