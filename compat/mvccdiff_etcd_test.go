package compat

// The etcd side of the differential test (mvccdiff_test.go): etcd v3.7.3's
// own storage stack, driven the way etcd's apply loop and gRPC layer drive
// it. Requests go through etcd's request validation (v3rpc), its request
// executor (etcdserver/txn, which adds prev_kv, limit/more, compares and
// per-op headers on top of the store) and its watchable mvcc store on a
// bbolt backend with a real lessor; watch events get prev_kv the way
// v3rpc's send loop adds it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
	_ "unsafe" // go:linkname, see below

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/pkg/v3/adt"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	_ "go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc" // linked for checkTxnRequest and checkIntervals
	etxn "go.etcd.io/etcd/server/v3/etcdserver/txn"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/proto"

	smvcc "github.com/seedkv/seedkv/mvcc"
)

// etcd validates a Txn in its gRPC handler (v3rpc/key.go) before it
// reaches raft: op counts, empty keys, and puts that overlap a put or a
// delete range of the same branch. Those checks are client-observable
// (ErrGRPCTooManyOps, ErrGRPCDuplicateKey) but unexported, so the test
// links to etcd's own functions instead of re-implementing them: their
// quirks (a delete with the "from key" end "\x00" overlaps nothing) are
// part of what seedkv must match.
//
//go:linkname etcdCheckTxnRequest go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.checkTxnRequest
func etcdCheckTxnRequest(r *pb.TxnRequest, maxTxnOps int) error

//go:linkname etcdCheckIntervals go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc.checkIntervals
func etcdCheckIntervals(reqs []*pb.RequestOp) (map[string]struct{}, adt.IntervalTree, error)

// watchResyncPeriod is how often etcd's watchable store catches up
// unsynced watchers (those started at a past revision): 100 ms in etcd.
// The test lowers it so that a watch from the past is served within about
// a millisecond; only timing changes, never which events are sent.
//
//go:linkname watchResyncPeriod go.etcd.io/etcd/server/v3/storage/mvcc.watchResyncPeriod
var watchResyncPeriod time.Duration

func init() { watchResyncPeriod = time.Millisecond }

// etcdMaxTxnOps is etcd's default --max-txn-ops.
const etcdMaxTxnOps = 128

// etcdStore is one etcd storage stack on a bbolt file.
type etcdStore struct {
	lg   *zap.Logger
	path string
	be   backend.Backend
	le   lease.Lessor
	kv   mvcc.WatchableKV
}

func openEtcd(dir string) *etcdStore {
	// etcd calls lg.Fatal on a broken invariant; make it a panic, which
	// rapid reports and shrinks, instead of a silent os.Exit(1).
	lg := zap.NewNop().WithOptions(zap.WithFatalHook(zapcore.WriteThenPanic))
	e := &etcdStore{lg: lg, path: filepath.Join(dir, "db")}
	e.open()
	return e
}

// open (re)opens the stack on e.path, recovering what a previous
// incarnation committed, as etcd does at boot.
func (e *etcdStore) open() {
	cfg := backend.DefaultBackendConfig(e.lg)
	cfg.Path = e.path
	cfg.UnsafeNoFsync = true // speed only: durability across a clean close is what is tested
	cfg.MmapSize = 1 << 20
	e.be = backend.New(cfg)
	e.le = lease.NewLessor(e.lg, e.be, nil, lease.LessorConfig{MinLeaseTTL: 1})
	e.kv = mvcc.New(e.lg, e.be, e.le, mvcc.StoreConfig{CompactionSleepInterval: time.Microsecond})
}

// restart closes the stack cleanly and opens it again on the same file.
func (e *etcdStore) restart() {
	e.close()
	e.open()
}

func (e *etcdStore) close() {
	_ = e.kv.Close()
	e.le.Stop()
	_ = e.be.Close()
}

// destroy closes the stack and removes its file.
func (e *etcdStore) destroy() {
	e.close()
	_ = os.RemoveAll(filepath.Dir(e.path))
}

func (e *etcdStore) rev() int64 {
	r := e.kv.Read(mvcc.ConcurrentReadTxMode, traceutil.TODO())
	defer r.End()
	return r.Rev()
}

// etcdEnd converts a seedkv-style range end (nil: one key; "\x00": every
// key from the key on) to what a gRPC request carries: etcd's handlers
// map "\x00" themselves, and protobuf makes an empty end nil.
func etcdEnd(end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	return end
}

func (e *etcdStore) put(r *pb.PutRequest) (*pb.PutResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	resp, _, err := etxn.Put(context.Background(), e.lg, e.le, e.kv, r)
	return resp, err
}

func (e *etcdStore) rangeReq(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	resp, _, err := etxn.Range(context.Background(), e.lg, e.kv, r, true)
	return resp, err
}

func (e *etcdStore) deleteRange(r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	resp, _, err := etxn.DeleteRange(context.Background(), e.lg, e.kv, r)
	return resp, err
}

// txn runs a Txn through v3rpc's checks and etcd's executor.
func (e *etcdStore) txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := etcdCheckTxnRequest(r, etcdMaxTxnOps); err != nil {
		return nil, err
	}
	if _, _, err := etcdCheckIntervals(r.Success); err != nil {
		return nil, err
	}
	if _, _, err := etcdCheckIntervals(r.Failure); err != nil {
		return nil, err
	}
	resp, _, err := etxn.Txn(context.Background(), e.lg, r, false, e.kv, e.le, false)
	return resp, err
}

// txnUnchecked runs a Txn through etcd's executor only (the caller has
// checked it).
func (e *etcdStore) txnUnchecked(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	resp, _, err := etxn.Txn(context.Background(), e.lg, r, false, e.kv, e.le, false)
	return resp, err
}

// compact compacts and waits for the (asynchronous) compaction to finish,
// as etcd's apply of a physical compaction would.
func (e *etcdStore) compact(rev int64) error {
	ch, err := e.kv.Compact(traceutil.TODO(), rev)
	if err != nil {
		return err
	}
	<-ch
	return nil
}

// historyHash is seedkv's HashKV (mvcc.Store.HashKV) computed over the
// revisions etcd's backend really holds after its compactions: every
// record up to rev in revision order (a tombstone at exactly the
// compaction revision included: etcd's compaction keeps it for watches).
// Equal hashes mean seedkv keeps, drops and numbers history exactly as
// etcd does.
func (e *etcdStore) historyHash(rev int64) uint64 {
	e.be.ForceCommit() // compaction's deletes, visible to a read transaction
	tx := e.be.ReadTx()
	tx.RLock()
	defer tx.RUnlock()
	var h smvcc.HistoryHasher
	err := tx.UnsafeForEach(schema.Key, func(k, v []byte) error {
		r := mvcc.BytesToRev(k)
		if r.Main > rev {
			return nil
		}
		var kv mvccpb.KeyValue
		if err := proto.Unmarshal(v, &kv); err != nil {
			return err
		}
		h.Add(string(kv.Key), kv.Value, r.Main, uint32(r.Sub), kv.CreateRevision, kv.Version)
		return nil
	})
	if err != nil {
		panic(err)
	}
	return h.Sum()
}

func (e *etcdStore) leaseGrant(id int64) error {
	_, err := e.le.Grant(lease.LeaseID(id), 3600)
	return err
}

func (e *etcdStore) leaseRevoke(id int64) error {
	return e.le.Revoke(lease.LeaseID(id))
}

// leaseKeys returns the keys attached to lease id, sorted.
func (e *etcdStore) leaseKeys(id int64) ([]string, error) {
	l := e.le.Lookup(lease.LeaseID(id))
	if l == nil {
		return nil, lease.ErrLeaseNotFound
	}
	keys := l.Keys()
	sort.Strings(keys)
	return keys, nil
}

// leases returns the IDs of all leases, sorted.
func (e *etcdStore) leases() []int64 {
	var ids []int64
	for _, l := range e.le.Leases() {
		ids = append(ids, int64(l.ID))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// etcdWatch is one watcher on its own stream.
type etcdWatch struct {
	ws     mvcc.WatchStream
	id     mvcc.WatchID
	prevKV bool
	start  int64
	events []*mvccpb.Event
	// compacted is the CompactRevision of the response that canceled the
	// watch because its start revision was compacted (0: none).
	compacted int64
}

// watch starts a watch as v3rpc does: a negative start revision is
// answered with a compacted cancel, and end "\x00" becomes the empty
// non-nil end that means "every key from key on".
func (e *etcdStore) watch(key, end []byte, startRev int64, prevKV bool) (*etcdWatch, error) {
	if startRev < 0 {
		return nil, mvcc.ErrCompacted
	}
	switch {
	case len(end) == 0:
		end = nil
	case len(end) == 1 && end[0] == 0:
		end = []byte{}
	}
	ws := e.kv.NewWatchStream()
	id, err := ws.Watch(context.Background(), 0, key, end, startRev)
	if err != nil {
		ws.Close()
		return nil, err
	}
	return &etcdWatch{ws: ws, id: id, prevKV: prevKV, start: startRev}, nil
}

// errWatchStuck: a watcher did not catch up within the drain timeout.
var errWatchStuck = errors.New("etcd watcher did not catch up")

// drain collects every event the watcher has been sent so far, waiting
// until it has caught up with the store (a progress notification, which
// etcd sends only to a synced watcher, after all its earlier events) or
// was canceled by compaction. prev_kv is filled in as v3rpc's send loop
// does, by reading the key at the event's revision - 1 now.
func (e *etcdStore) drain(w *etcdWatch) error {
	if w.compacted != 0 {
		return nil
	}
	rev := e.rev()
	deadline := time.Now().Add(5 * time.Second)
	needProgress := rev >= w.start // a future watcher gets no progress notifications
	asked := false
	for {
		select {
		case resp := <-w.ws.Chan():
			if resp.CompactRevision != 0 {
				w.compacted = resp.CompactRevision
				return nil
			}
			if len(resp.Events) == 0 {
				if resp.Revision >= rev {
					return nil
				}
				asked = false
				continue
			}
			for _, ev := range resp.Events {
				w.events = append(w.events, e.withPrevKV(w, ev))
			}
		default:
			if !needProgress {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: start %d, rev %d, %d events so far", errWatchStuck, w.start, rev, len(w.events))
			}
			if !asked {
				w.ws.RequestProgress(w.id)
				asked = true
			} else {
				time.Sleep(200 * time.Microsecond)
				asked = false
			}
		}
	}
}

func (e *etcdStore) withPrevKV(w *etcdWatch, ev *mvccpb.Event) *mvccpb.Event {
	if !w.prevKV || (ev.Type == mvccpb.Event_PUT && ev.Kv.CreateRevision == ev.Kv.ModRevision) {
		return ev
	}
	out := &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
	r, err := e.kv.Range(context.Background(), ev.Kv.Key, nil, mvcc.RangeOptions{Rev: ev.Kv.ModRevision - 1})
	if err == nil && len(r.KVs) != 0 {
		out.PrevKv = r.KVs[0]
	}
	return out
}
