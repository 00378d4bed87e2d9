package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seedkv/seedkv/linearizability"
)

// recorder is a history shared by the workload's goroutines; times are
// nanoseconds of the monotonic clock since the run began.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	h     linearizability.History
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) call(client int, in linearizability.Input) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h.Call(client, r.now(), in)
}

func (r *recorder) ret(id int, out linearizability.Output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.h.Return(id, r.now(), out)
}

func (r *recorder) fail(id int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.h.Fail(id, r.now(), reason)
}

func (r *recorder) unknown(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.h.Timeout(id)
}

// worker is one client of the workload: a gRPC connection to one member,
// moved to the next member when a request fails.
type worker struct {
	id        int
	endpoints []string
	ep        int
	conn      *grpc.ClientConn
	kv        pb.KVClient
	rnd       *rand.Rand
	rec       *recorder
	keys      []string
	n         int
	timeout   time.Duration
}

func (w *worker) connect() error {
	if w.conn != nil {
		w.conn.Close()
	}
	conn, err := grpc.NewClient(w.endpoints[w.ep%len(w.endpoints)], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	w.conn, w.kv = conn, pb.NewKVClient(conn)
	return nil
}

func (w *worker) rotate() {
	w.ep++
	_ = w.connect()
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

// step runs one random operation and records it.
func (w *worker) step(ctx context.Context) {
	key := w.keys[w.rnd.IntN(len(w.keys))]
	w.n++
	value := fmt.Sprintf("c%d-%d", w.id, w.n)
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	switch p := w.rnd.IntN(100); {
	case p < 35:
		w.get(cctx, key)
	case p < 65:
		w.put(cctx, key, value)
	case p < 70:
		w.del(cctx, key)
	case p < 90:
		w.cas(cctx, key, value)
	default:
		w.rangePrefix(cctx)
	}
}

// revBase is the revision of an empty store: the store (like etcd)
// starts at revision 1, the checker's model at 0, so the history records
// revisions less revBase (as the simulator's harness does).
const revBase = 1

// modelRev converts a store revision into the model's.
func modelRev(rev int64) int64 {
	if rev <= 0 {
		return rev
	}
	return rev - revBase
}

func kvsOf(kvs []*mvccpb.KeyValue) []linearizability.KV {
	out := make([]linearizability.KV, len(kvs))
	for i, kv := range kvs {
		out[i] = linearizability.KV{Key: string(kv.Key), Value: string(kv.Value), ModRevision: modelRev(kv.ModRevision),
			CreateRevision: modelRev(kv.CreateRevision), Version: kv.Version}
	}
	return out
}

// readFailed records a failed read: reads have no effect, so it is left
// out of the check.
func (w *worker) readFailed(id int, err error) {
	w.rec.fail(id, err.Error())
	w.rotate()
}

// writeFailed records a failed write as of unknown outcome: a killed or
// paused member may have applied it.
func (w *worker) writeFailed(id int) {
	w.rec.unknown(id)
	w.rotate()
}

func (w *worker) get(ctx context.Context, key string) {
	id := w.rec.call(w.id, linearizability.Get(key))
	r, err := w.kv.Range(ctx, &pb.RangeRequest{Key: []byte(key)})
	if err != nil {
		w.readFailed(id, err)
		return
	}
	w.rec.ret(id, linearizability.Output{KVs: kvsOf(r.Kvs), Revision: modelRev(r.Header.Revision)})
}

func (w *worker) rangePrefix(ctx context.Context) {
	id := w.rec.call(w.id, linearizability.Range(checkPrefix))
	r, err := w.kv.Range(ctx, &pb.RangeRequest{Key: []byte(checkPrefix), RangeEnd: []byte(checkPrefixEnd)})
	if err != nil {
		w.readFailed(id, err)
		return
	}
	w.rec.ret(id, linearizability.Output{KVs: kvsOf(r.Kvs), Revision: modelRev(r.Header.Revision)})
}

func (w *worker) put(ctx context.Context, key, value string) {
	id := w.rec.call(w.id, linearizability.Put(key, value))
	r, err := w.kv.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		w.writeFailed(id)
		return
	}
	w.rec.ret(id, linearizability.Output{Revision: modelRev(r.Header.Revision)})
}

func (w *worker) del(ctx context.Context, key string) {
	id := w.rec.call(w.id, linearizability.Delete(key))
	r, err := w.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte(key)})
	if err != nil {
		w.writeFailed(id)
		return
	}
	w.rec.ret(id, linearizability.Output{Revision: modelRev(r.Header.Revision), Deleted: r.Deleted})
}

// cas writes value if the key's version is what a fresh read said.
func (w *worker) cas(ctx context.Context, key, value string) {
	ver := int64(w.rnd.IntN(3))
	cmp := linearizability.Compare{Key: key, Target: linearizability.TargetVersion, Op: linearizability.CmpEqual, Num: ver}
	if w.rnd.IntN(2) == 0 {
		cmp = linearizability.Compare{Key: key, Target: linearizability.TargetVersion, Op: linearizability.CmpGreater, Num: ver}
	}
	pbCmp := &pb.Compare{Key: []byte(key), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_Version{Version: ver}}
	if cmp.Op == linearizability.CmpGreater {
		pbCmp.Result = pb.Compare_GREATER
	}
	id := w.rec.call(w.id, linearizability.CAS(cmp, value))
	r, err := w.kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{pbCmp},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key)}}}}})
	if err != nil {
		w.writeFailed(id)
		return
	}
	out := linearizability.Output{Revision: modelRev(r.Header.Revision), Succeeded: r.Succeeded, TxnKVs: [][]linearizability.KV{nil}}
	if !r.Succeeded && len(r.Responses) == 1 {
		out.TxnKVs[0] = kvsOf(r.Responses[0].GetResponseRange().Kvs)
	}
	w.rec.ret(id, out)
}
