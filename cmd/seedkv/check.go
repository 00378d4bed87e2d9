package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seedkv/seedkv/linearizability"
)

// The check's keys live under one prefix.
const (
	checkPrefix    = "/check/"
	checkPrefixEnd = "/check0"
)

type checkFlags struct {
	duration  time.Duration
	clients   int
	keys      int
	faultGap  time.Duration
	think     time.Duration
	timeout   time.Duration
	seed      uint64
	dir       string
	checkTime time.Duration
}

func parseCheck(args []string, stderr io.Writer) (checkFlags, error) {
	var f checkFlags
	fs := flag.NewFlagSet("seedkv check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&f.duration, "duration", 2*time.Minute, "how long the workload and the faults run")
	fs.IntVar(&f.clients, "clients", 8, "concurrent clients")
	fs.IntVar(&f.keys, "keys", 8, "keys the clients contend on")
	fs.DurationVar(&f.faultGap, "fault-every", 3*time.Second, "mean time between faults (a SIGKILL and restart, or a SIGSTOP pause)")
	fs.DurationVar(&f.think, "think", 5*time.Millisecond, "pause between a client's operations")
	fs.DurationVar(&f.timeout, "timeout", 3*time.Second, "per-request timeout (then the outcome is unknown)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the fault schedule and the workload's choices (0: from the clock)")
	fs.StringVar(&f.dir, "dir", "", "data directory (default: temporary, removed at exit)")
	fs.DurationVar(&f.checkTime, "check-timeout", 5*time.Minute, "wall time bound of the linearizability check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, errHelp
		}
		return f, usageErr("%v", err)
	}
	switch {
	case fs.NArg() > 0:
		return f, usageErr("check: unexpected argument %q", fs.Arg(0))
	case f.duration <= 0:
		return f, usageErr("check: -duration must be positive")
	case f.clients < 1 || f.clients > 256:
		return f, usageErr("check: -clients between 1 and 256")
	case f.keys < 1 || f.keys > 1000:
		return f, usageErr("check: -keys between 1 and 1000")
	case f.faultGap <= 0 || f.timeout <= 0 || f.think < 0 || f.checkTime <= 0:
		return f, usageErr("check: -fault-every, -timeout and -check-timeout must be positive, -think not negative")
	}
	if f.seed == 0 {
		f.seed = uint64(time.Now().UnixNano())
	}
	return f, nil
}

// checkStats counts what happened in a check run.
type checkStats struct {
	kills, pauses int
}

// runCheck runs the workload against a 3-process cluster while killing
// and pausing members, then checks the history for linearizability and
// that every acknowledged write is in the store.
func runCheck(args []string, stdout, stderr io.Writer) error {
	f, err := parseCheck(args, stderr)
	if err != nil {
		return err
	}
	dir := f.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "seedkv-check-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	c, err := newProcCluster(3, dir, io.Discard, nil)
	if err != nil {
		return err
	}
	defer c.StopAll()
	for i := range 3 {
		if err := c.Start(i); err != nil {
			return err
		}
	}
	ready, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ready); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "seedkv check: seed=%d cluster=%s duration=%v\n", f.seed, c.Endpoints(), f.duration)
	rec := &recorder{start: time.Now()}
	wall := time.Now()
	st := runFaultsAndLoad(c, f, rec, stderr)
	fmt.Fprintf(stderr, "seedkv check: workload done (%d ops, %d kills, %d pauses); healing\n", rec.h.Len(), st.kills, st.pauses)
	if err := heal(c); err != nil {
		return err
	}
	// Final linearizable reads of every key, recorded like the rest, so a
	// lost write contradicts them.
	final := &worker{id: f.clients, endpoints: clientAddrs(c), rnd: rand.New(rand.NewPCG(f.seed, 99)),
		rec: rec, keys: keyNames(f.keys), timeout: 10 * time.Second}
	if err := final.connect(); err != nil {
		return err
	}
	defer final.close()
	for range 3 {
		final.rangePrefix(context.Background())
	}
	ops := rec.h.Ops()
	log, err := readWriteLog(c)
	if err != nil {
		return err
	}
	settled := settleUnknown(ops, log)
	fmt.Fprintf(stderr, "seedkv check: settled %d writes of unknown outcome from the write log; checking %d ops\n", settled, len(ops))
	checkStart := time.Now()
	res := checkHistory(ops, f.checkTime)
	fmt.Fprintf(stderr, "seedkv check: %s in %v\n", res.Verdict, time.Since(checkStart).Round(time.Millisecond))
	lost, acked := lostWrites(ops, log)
	unknown := 0
	for i := range ops {
		if ops[i].Unknown {
			unknown++
		}
	}
	verdict := res.Verdict.String()
	if lost > 0 && res.Verdict == linearizability.Pass {
		verdict = "fail"
	}
	fmt.Fprintf(stdout, "ops=%d acked_writes=%d settled=%d unknown=%d kills=%d pauses=%d lost=%d linearizable=%s verdict=%s wall=%v seed=%d\n",
		len(ops), acked, settled, unknown, st.kills, st.pauses, lost, res.Verdict, verdict, time.Since(wall).Round(time.Second), f.seed)
	if verdict != "pass" {
		if res.Reason != "" {
			fmt.Fprintln(stdout, "  reason:", res.Reason)
		}
		return fmt.Errorf("check failed (replay the fault schedule with -seed %d)", f.seed)
	}
	return nil
}

func keyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%sk%d", checkPrefix, i)
	}
	return keys
}

func clientAddrs(c *procCluster) []string { return append([]string(nil), c.client...) }

// runFaultsAndLoad runs the clients for f.duration while a nemesis kills
// or pauses one member at a time (never more: a majority stays up).
func runFaultsAndLoad(c *procCluster, f checkFlags, rec *recorder, stderr io.Writer) checkStats {
	ctx, cancel := context.WithTimeout(context.Background(), f.duration)
	defer cancel()
	var wg sync.WaitGroup
	keys := keyNames(f.keys)
	for i := range f.clients {
		w := &worker{id: i, endpoints: clientAddrs(c), ep: i, rnd: rand.New(rand.NewPCG(f.seed, uint64(i)+1)),
			rec: rec, keys: keys, timeout: f.timeout}
		if err := w.connect(); err != nil {
			fmt.Fprintln(stderr, "seedkv check:", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			for ctx.Err() == nil {
				w.step(ctx)
				if f.think > 0 {
					time.Sleep(f.think)
				}
			}
		}()
	}
	st := nemesis(ctx, c, f, stderr)
	wg.Wait()
	return st
}

// nemesis injects faults until ctx ends: each one SIGKILLs a member and
// restarts it after a moment, or SIGSTOPs it and SIGCONTs it later.
func nemesis(ctx context.Context, c *procCluster, f checkFlags, stderr io.Writer) checkStats {
	rnd := rand.New(rand.NewPCG(f.seed, 0))
	var st checkStats
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(rnd.Int64N(int64(d))) }
	for sleep(jitter(f.faultGap)) {
		i := rnd.IntN(3)
		hold := jitter(time.Second)
		if rnd.IntN(3) < 2 {
			st.kills++
			c.Kill(i)
			sleep(hold)
			if err := c.Start(i); err != nil {
				fmt.Fprintln(stderr, "seedkv check: restart:", err)
			}
		} else {
			st.pauses++
			c.Signal(i, syscall.SIGSTOP)
			sleep(hold)
			c.Signal(i, syscall.SIGCONT)
		}
	}
	return st
}

// heal resumes every member, restarts any that is down, and waits for a
// leader.
func heal(c *procCluster) error {
	for i := range c.procs {
		c.Signal(i, syscall.SIGCONT)
		if c.Exited(i) {
			if err := c.Start(i); err != nil {
				return err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.WaitReady(ctx)
}

// checkHistory runs the revision checker (each op at the revision it
// reported), the one the simulator uses by default.
func checkHistory(ops []linearizability.Op, bound time.Duration) linearizability.Result {
	return linearizability.CheckRevisionsVerbose(ops, 0, bound)
}

// writeLogOf is the committed write log of the check's keys: where each
// value was put, by (key, revision) and by value (values are unique).
type writeLogOf struct {
	put   map[logKey]string
	putAt map[string]int64
}

type logKey struct {
	key string
	rev int64
}

// readWriteLog streams the committed write log of the check's keys: a
// watch from revision 1 up to the current revision (nothing is compacted
// during a check).
func readWriteLog(c *procCluster) (*writeLogOf, error) {
	conn, err := grpc.NewClient(c.client[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cur, err := pb.NewKVClient(conn).Range(ctx, &pb.RangeRequest{Key: []byte(checkPrefix), RangeEnd: []byte(checkPrefixEnd), CountOnly: true})
	if err != nil {
		return nil, fmt.Errorf("final revision: %w", err)
	}
	last := cur.Header.Revision
	ws, err := pb.NewWatchClient(conn).Watch(ctx)
	if err != nil {
		return nil, err
	}
	defer ws.CloseSend()
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(checkPrefix), RangeEnd: []byte(checkPrefixEnd), StartRevision: 1}}}); err != nil {
		return nil, err
	}
	log := &writeLogOf{put: map[logKey]string{}, putAt: map[string]int64{}}
	var seen int64
	for seen < last {
		r, err := ws.Recv()
		if err != nil {
			return nil, fmt.Errorf("reading the write log: %w", err)
		}
		if r.Canceled {
			return nil, fmt.Errorf("reading the write log: watch canceled: %s", r.CancelReason)
		}
		for _, ev := range r.Events {
			seen = max(seen, ev.Kv.ModRevision)
			if ev.Type == mvccpb.PUT {
				log.put[logKey{string(ev.Kv.Key), ev.Kv.ModRevision}] = string(ev.Kv.Value)
				log.putAt[string(ev.Kv.Value)] = ev.Kv.ModRevision
			}
		}
	}
	return log, nil
}

// settleUnknown settles, from the committed write log, writes whose
// answer the client never got (a killed or paused member), as the
// simulator's harness and etcd's robustness tests do: every put carries a
// unique value, so a put (or a CAS putting a value) found in the log
// happened at that revision (it keeps no return time: it may sit
// anywhere after its call), and one not found changed nothing and is left
// out. Deletes stay unknown. It returns how many it settled.
func settleUnknown(ops []linearizability.Op, log *writeLogOf) int {
	n := 0
	for i := range ops {
		op := &ops[i]
		if !op.Unknown {
			continue
		}
		_, value, ok := putOf(&op.Input)
		if !ok {
			continue
		}
		n++
		if rev, found := log.putAt[value]; found {
			op.Unknown = false
			op.Return = linearizability.UnknownReturn
			op.Output = linearizability.Output{Revision: modelRev(rev), Succeeded: true}
		} else {
			op.Unknown, op.Failed = false, true
			op.Output = linearizability.Output{Err: "settled: not in the committed write log"}
		}
	}
	return n
}

// lostWrites counts the acknowledged writes that put a value (a Put, a
// successful CAS) whose value is not in the log at the revision the store
// acknowledged: writes the cluster acknowledged and then lost.
func lostWrites(ops []linearizability.Op, log *writeLogOf) (lost, acked int) {
	for i := range ops {
		op := &ops[i]
		if op.Unknown || op.Failed || op.Return == linearizability.UnknownReturn {
			continue // not acknowledged (settled ones were not)
		}
		key, value, ok := putOf(&op.Input)
		if !ok || (op.Input.Kind == linearizability.KindTxn && !op.Output.Succeeded) {
			continue
		}
		acked++
		if log.put[logKey{key, op.Output.Revision + revBase}] != value {
			lost++
		}
	}
	return lost, acked
}

// putOf reports the key and value a write puts: a Put, or a CAS's Then.
func putOf(in *linearizability.Input) (key, value string, ok bool) {
	switch in.Kind {
	case linearizability.KindPut:
		return in.Key, in.Value, true
	case linearizability.KindTxn:
		if len(in.Then) == 1 && in.Then[0].Kind == linearizability.KindPut {
			return in.Then[0].Key, in.Then[0].Value, true
		}
	}
	return "", "", false
}
