package compat

// A differential test of seedkv's mvcc package against etcd v3.7.3's own
// storage stack (mvccdiff_etcd_test.go): a rapid state machine drives the
// same random operations into both and requires every client-observable
// result to be equal: header revisions, key-values (key, value, create and
// mod revision, version, lease), counts, more, deleted counts, prev_kv,
// txn success and per-op responses with their header revisions, error
// classes, lease key sets, and watch event streams with prev_kv, across
// compactions and restarts.
//
// Run it alone:
//
//	cd compat && go test -run TestMVCCDiff -v .   # 1000 sequences of ~100 actions
//	cd compat && go test -run TestMVCCDiff -rapid.checks=10000 -rapid.steps=100 -timeout 2h .   # long run
//
// Keys come from a small alphabet (with "\x00" and "\xff" bytes) so that
// ops collide often; ranges include single keys, [key, end) with end at
// or below key, prefixes and "from key" ("\x00") ends.

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/server/v3/lease"
	emvcc "go.etcd.io/etcd/server/v3/storage/mvcc"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/mvcc"
)

// errClass is the shared enum both sides' errors map to.
type errClass string

const (
	errNone          errClass = ""
	errCompacted     errClass = "compacted"
	errFutureRev     errClass = "future revision"
	errLeaseNotFound errClass = "lease not found"
	errLeaseExists   errClass = "lease exists"
	errEmptyKey      errClass = "empty key"
	errTooManyOps    errClass = "too many ops"
	errDuplicateKey  errClass = "duplicate key"
	errInvalid       errClass = "invalid argument"
)

func seedErr(err error) errClass {
	for _, m := range []struct {
		err error
		c   errClass
	}{
		{mvcc.ErrCompacted, errCompacted}, {mvcc.ErrFutureRevision, errFutureRev},
		{mvcc.ErrLeaseNotFound, errLeaseNotFound}, {mvcc.ErrLeaseExists, errLeaseExists},
		{mvcc.ErrEmptyKey, errEmptyKey}, {mvcc.ErrTooManyOps, errTooManyOps},
		{mvcc.ErrDuplicateKey, errDuplicateKey}, {mvcc.ErrInvalidArgument, errInvalid},
	} {
		if errors.Is(err, m.err) {
			return m.c
		}
	}
	if err != nil {
		return errClass("seedkv: " + err.Error())
	}
	return errNone
}

func etcdErr(err error) errClass {
	for _, m := range []struct {
		err error
		c   errClass
	}{
		{emvcc.ErrCompacted, errCompacted}, {emvcc.ErrFutureRev, errFutureRev},
		{lease.ErrLeaseNotFound, errLeaseNotFound}, {lease.ErrLeaseExists, errLeaseExists},
		{rpctypes.ErrGRPCEmptyKey, errEmptyKey}, {rpctypes.ErrGRPCTooManyOps, errTooManyOps},
		{rpctypes.ErrGRPCDuplicateKey, errDuplicateKey}, {emvcc.ErrEmptyWatcherRange, errInvalid},
	} {
		if errors.Is(err, m.err) {
			return m.c
		}
	}
	if err != nil {
		return errClass("etcd: " + err.Error())
	}
	return errNone
}

// Normalised, comparable results. nil and empty values are the same on
// the wire (protobuf), so values are strings.
type nkv struct {
	Key, Value                    string
	Create, Mod, Version, LeaseID int64
}

type nrange struct {
	Rev   int64
	KVs   []nkv
	Count int64
	More  bool
}

type nput struct {
	Rev  int64
	Prev *nkv
}

type ndel struct {
	Rev     int64
	Deleted int64
	Prevs   []nkv
}

type nop struct {
	Range *nrange
	Put   *nput
	Del   *ndel
}

type ntxn struct {
	Rev       int64
	Succeeded bool
	Ops       []nop
}

type nevent struct {
	Delete bool
	KV     nkv
	Prev   *nkv
}

func fromPB(kv *mvccpb.KeyValue) nkv {
	return nkv{string(kv.Key), string(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease}
}

func fromPBs(kvs []*mvccpb.KeyValue) []nkv {
	var out []nkv
	for _, kv := range kvs {
		out = append(out, fromPB(kv))
	}
	return out
}

func fromSeed(kv mvcc.KeyValue) nkv {
	return nkv{string(kv.Key), string(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease}
}

func fromSeeds(kvs []mvcc.KeyValue) []nkv {
	var out []nkv
	for _, kv := range kvs {
		out = append(out, fromSeed(kv))
	}
	return out
}

func pbRange(r *pb.RangeResponse) *nrange {
	return &nrange{Rev: r.Header.Revision, KVs: fromPBs(r.Kvs), Count: r.Count, More: r.More}
}

func seedRange(r mvcc.RangeResult) *nrange {
	return &nrange{Rev: r.Revision, KVs: fromSeeds(r.KVs), Count: r.Count, More: r.More}
}

func pbTxn(r *pb.TxnResponse) *ntxn {
	out := &ntxn{Rev: r.Header.Revision, Succeeded: r.Succeeded}
	for _, op := range r.Responses {
		var o nop
		switch {
		case op.GetResponseRange() != nil:
			o.Range = pbRange(op.GetResponseRange())
		case op.GetResponsePut() != nil:
			p := op.GetResponsePut()
			o.Put = &nput{Rev: p.Header.Revision}
			if p.PrevKv != nil {
				kv := fromPB(p.PrevKv)
				o.Put.Prev = &kv
			}
		case op.GetResponseDeleteRange() != nil:
			d := op.GetResponseDeleteRange()
			o.Del = &ndel{Rev: d.Header.Revision, Deleted: d.Deleted, Prevs: fromPBs(d.PrevKvs)}
		}
		out.Ops = append(out.Ops, o)
	}
	return out
}

func seedTxn(r mvcc.TxnResponse) *ntxn {
	out := &ntxn{Rev: r.Revision, Succeeded: r.Succeeded}
	for _, op := range r.Responses {
		var o nop
		switch op.Kind {
		case mvcc.OpRange:
			o.Range = seedRange(op.Range)
		case mvcc.OpPut:
			o.Put = &nput{Rev: op.Revision}
			if op.Prev != nil {
				kv := fromSeed(*op.Prev)
				o.Put.Prev = &kv
			}
		case mvcc.OpDeleteRange:
			o.Del = &ndel{Rev: op.Revision, Deleted: op.Deleted, Prevs: fromSeeds(op.Prevs)}
		}
		out.Ops = append(out.Ops, o)
	}
	return out
}

// The alphabets: few keys so that ops collide, with the bytes that
// break naive range code.
var (
	diffKeys   = []string{"a", "b", "c", "ab", "a\x00", "\x00", "\xff", "b\xff"}
	diffValues = []string{"", "x", "y", "\x00"}
	diffLeases = []int64{0, 0, 0, 1, 2, 3, -1}
	// diffLeaseIDs are the IDs granted: etcd's lessor takes negative IDs.
	diffLeaseIDs = []int64{-1, 1, 2, 3}
)

// diffFixedNow is the time seedkv's lease calls get; leases never expire
// in this test (etcd's lessor is not primary, so it never expires them).
var diffFixedNow = time.Unix(1_700_000_000, 0)

// diffMachine is the rapid state machine.
type diffMachine struct {
	e       *etcdStore
	s       *mvcc.Store
	watches []*diffWatch
	stats   map[string]int // outcomes compared, for the log (see note)
	// etcdNoCompact: revisions etcd cannot compact at (noteDeleteThenPut).
	etcdNoCompact map[int64]bool
}

// note counts one compared outcome: the action and its error class (or
// "ok"), so a run shows that compacted, future, duplicate-key, ... cases
// were reached, not only happy paths.
func (m *diffMachine) note(action string, c errClass) {
	if c == errNone {
		c = "ok"
	}
	m.stats[action+": "+string(c)]++
}

// diffWatch is one watch open on both sides with what each has delivered.
type diffWatch struct {
	desc string
	e    *etcdWatch
	s    *mvcc.Watcher
	sEvs []nevent
	sErr errClass
	// compared is how many events have been counted in the stats.
	compared int
}

const maxDiffWatches = 4

// key draws a key of the alphabet, rarely the empty key (refused by
// both, which checks the order of a Txn's validations).
func (m *diffMachine) key(rt *rapid.T, label string) []byte {
	// rapid favours the ends of a range: 50 of 0..99 is rare.
	if rapid.IntRange(0, 99).Draw(rt, label+"Empty") == 50 {
		return nil
	}
	return []byte(rapid.SampledFrom(diffKeys).Draw(rt, label))
}

// end draws a range end for key: none (the key alone), a key of the
// alphabet (possibly at or below key), the prefix end, or "\x00".
func (m *diffMachine) end(rt *rapid.T, key []byte, label string) []byte {
	switch rapid.IntRange(0, 3).Draw(rt, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []byte(rapid.SampledFrom(diffKeys).Draw(rt, label))
	case 2:
		return mvcc.PrefixEnd(key)
	default:
		return []byte{0}
	}
}

// revision draws a read revision: mostly 0 (latest), else anything from
// -1 to two past the current revision.
func (m *diffMachine) revision(rt *rapid.T, label string) int64 {
	if rapid.Bool().Draw(rt, label+"Latest") {
		return 0
	}
	return rapid.Int64Range(-1, m.s.CurrentRevision()+2).Draw(rt, label)
}

func (m *diffMachine) value(rt *rapid.T, label string) []byte {
	return []byte(rapid.SampledFrom(diffValues).Draw(rt, label))
}

// Put: with or without a lease (possibly missing or negative), prev_kv.
func (m *diffMachine) Put(rt *rapid.T) {
	key, val := m.key(rt, "key"), m.value(rt, "value")
	lid := rapid.SampledFrom(diffLeases).Draw(rt, "lease")
	prev := rapid.Bool().Draw(rt, "prevKV")
	er, eerr := m.e.put(&pb.PutRequest{Key: key, Value: val, Lease: lid, PrevKv: prev})
	srev, sprev, serr := m.s.Put(key, val, lid, prev)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "put error")
	m.note("put", etcdErr(eerr))
	if eerr != nil {
		return
	}
	want := nput{Rev: er.Header.Revision}
	if er.PrevKv != nil {
		kv := fromPB(er.PrevKv)
		want.Prev = &kv
	}
	got := nput{Rev: srev}
	if sprev != nil {
		kv := fromSeed(*sprev)
		got.Prev = &kv
	}
	require.Equal(rt, want, got, "put response")
}

// Delete: a key, a range, a prefix or from a key, with prev_kv.
func (m *diffMachine) Delete(rt *rapid.T) {
	key := m.key(rt, "key")
	end := m.end(rt, key, "end")
	prev := rapid.Bool().Draw(rt, "prevKV")
	er, eerr := m.e.deleteRange(&pb.DeleteRangeRequest{Key: key, RangeEnd: etcdEnd(end), PrevKv: prev})
	n, rev, prevs, serr := m.s.DeleteRange(key, end, prev)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "delete error")
	m.note("delete", etcdErr(eerr))
	if eerr != nil {
		return
	}
	require.Equal(rt, ndel{er.Header.Revision, er.Deleted, fromPBs(er.PrevKvs)},
		ndel{rev, n, fromSeeds(prevs)}, "delete response")
}

func (m *diffMachine) rangeOptions(rt *rapid.T) mvcc.RangeOptions {
	o := mvcc.RangeOptions{
		Revision:  m.revision(rt, "rev"),
		Limit:     rapid.Int64Range(-1, 3).Draw(rt, "limit"),
		CountOnly: rapid.Float64Range(0, 1).Draw(rt, "countOnly") < 0.15,
		KeysOnly:  rapid.Float64Range(0, 1).Draw(rt, "keysOnly") < 0.25,
	}
	if rapid.Bool().Draw(rt, "sorted") {
		o.SortOrder = mvcc.SortOrder(rapid.IntRange(0, 2).Draw(rt, "sortOrder"))
		o.SortTarget = mvcc.SortTarget(rapid.IntRange(0, 4).Draw(rt, "sortTarget"))
	}
	if rapid.Float64Range(0, 1).Draw(rt, "filtered") < 0.3 {
		bound := func(label string) int64 {
			if rapid.Bool().Draw(rt, label+"Set") {
				return rapid.Int64Range(-1, m.s.CurrentRevision()+1).Draw(rt, label)
			}
			return 0
		}
		o.MinModRevision, o.MaxModRevision = bound("minMod"), bound("maxMod")
		o.MinCreateRevision, o.MaxCreateRevision = bound("minCreate"), bound("maxCreate")
	}
	return o
}

func pbRangeReq(key, end []byte, o mvcc.RangeOptions, serializable bool) *pb.RangeRequest {
	return &pb.RangeRequest{Key: key, RangeEnd: etcdEnd(end), Revision: o.Revision, Limit: o.Limit,
		CountOnly: o.CountOnly, KeysOnly: o.KeysOnly, Serializable: serializable,
		SortOrder: pb.RangeRequest_SortOrder(o.SortOrder), SortTarget: pb.RangeRequest_SortTarget(o.SortTarget),
		MinModRevision: o.MinModRevision, MaxModRevision: o.MaxModRevision,
		MinCreateRevision: o.MinCreateRevision, MaxCreateRevision: o.MaxCreateRevision}
}

// Range: at the latest or a past, compacted or future revision, with
// limit, count only, keys only (serializable changes nothing in a store).
func (m *diffMachine) Range(rt *rapid.T) {
	key := m.key(rt, "key")
	end := m.end(rt, key, "end")
	o := m.rangeOptions(rt)
	er, eerr := m.e.rangeReq(pbRangeReq(key, end, o, rapid.Bool().Draw(rt, "serializable")))
	sr, serr := m.s.Range(key, end, o)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "range error")
	m.note("range", etcdErr(eerr))
	if eerr != nil {
		return
	}
	require.Equal(rt, pbRange(er), seedRange(sr), "range response")
}

func (m *diffMachine) compare(rt *rapid.T, i int) (mvcc.Compare, *pb.Compare) {
	l := fmt.Sprintf("cmp%d", i)
	key := m.key(rt, l+"key")
	var end []byte
	if rapid.Float64Range(0, 1).Draw(rt, l+"ranged") < 0.3 {
		end = m.end(rt, key, l+"end")
	}
	target := mvcc.CompareTarget(rapid.IntRange(int(mvcc.CompareVersion), int(mvcc.CompareLease)).Draw(rt, l+"target"))
	result := mvcc.CompareResult(rapid.IntRange(int(mvcc.Equal), int(mvcc.Greater)).Draw(rt, l+"result"))
	sc := mvcc.Compare{Key: key, RangeEnd: end, Target: target, Result: result}
	pc := &pb.Compare{Key: key, RangeEnd: etcdEnd(end)}
	pc.Result = map[mvcc.CompareResult]pb.Compare_CompareResult{mvcc.Equal: pb.Compare_EQUAL,
		mvcc.NotEqual: pb.Compare_NOT_EQUAL, mvcc.Less: pb.Compare_LESS, mvcc.Greater: pb.Compare_GREATER}[result]
	switch target {
	case mvcc.CompareValue:
		sc.Value = m.value(rt, l+"value")
		pc.Target, pc.TargetUnion = pb.Compare_VALUE, &pb.Compare_Value{Value: sc.Value}
	case mvcc.CompareLease:
		sc.Number = rapid.Int64Range(-1, 3).Draw(rt, l+"lease")
		pc.Target, pc.TargetUnion = pb.Compare_LEASE, &pb.Compare_Lease{Lease: sc.Number}
	default:
		sc.Number = rapid.Int64Range(-1, m.s.CurrentRevision()+1).Draw(rt, l+"number")
		switch target {
		case mvcc.CompareVersion:
			pc.Target, pc.TargetUnion = pb.Compare_VERSION, &pb.Compare_Version{Version: sc.Number}
		case mvcc.CompareCreateRevision:
			pc.Target, pc.TargetUnion = pb.Compare_CREATE, &pb.Compare_CreateRevision{CreateRevision: sc.Number}
		default:
			pc.Target, pc.TargetUnion = pb.Compare_MOD, &pb.Compare_ModRevision{ModRevision: sc.Number}
		}
	}
	return sc, pc
}

func (m *diffMachine) txnOp(rt *rapid.T, l string) (mvcc.Op, *pb.RequestOp) {
	key := m.key(rt, l+"key")
	switch rapid.IntRange(0, 2).Draw(rt, l+"kind") {
	case 0:
		end := m.end(rt, key, l+"end")
		o := m.rangeOptions(rt)
		return mvcc.OpGet(key, end, o), &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: pbRangeReq(key, end, o, false)}}
	case 1:
		val := m.value(rt, l+"value")
		lid := rapid.SampledFrom(diffLeases).Draw(rt, l+"lease")
		prev := rapid.Bool().Draw(rt, l+"prevKV")
		return mvcc.OpPutKV(key, val, lid, prev), &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: key, Value: val, Lease: lid, PrevKv: prev}}}
	default:
		end := m.end(rt, key, l+"end")
		prev := rapid.Bool().Draw(rt, l+"prevKV")
		return mvcc.OpDelete(key, end, prev), &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
			RequestDeleteRange: &pb.DeleteRangeRequest{Key: key, RangeEnd: etcdEnd(end), PrevKv: prev}}}
	}
}

// Txn: up to three compares (value, version, create and mod revision,
// lease; single key or range) and up to three ops per branch.
func (m *diffMachine) Txn(rt *rapid.T) {
	var st mvcc.TxnRequest
	et := &pb.TxnRequest{}
	for i := range rapid.IntRange(0, 3).Draw(rt, "compares") {
		sc, pc := m.compare(rt, i)
		st.Compares = append(st.Compares, sc)
		et.Compare = append(et.Compare, pc)
	}
	for i := range rapid.IntRange(0, 3).Draw(rt, "success") {
		so, po := m.txnOp(rt, fmt.Sprintf("then%d", i))
		st.Success = append(st.Success, so)
		et.Success = append(et.Success, po)
	}
	for i := range rapid.IntRange(0, 3).Draw(rt, "failure") {
		so, po := m.txnOp(rt, fmt.Sprintf("else%d", i))
		st.Failure = append(st.Failure, so)
		et.Failure = append(et.Failure, po)
	}
	er, eerr := m.e.txn(et)
	sr, serr := m.s.Txn(st)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "txn error")
	if eerr != nil {
		m.note("txn", etcdErr(eerr))
		return
	}
	m.note(map[bool]string{true: "txn success branch", false: "txn failure branch"}[er.Succeeded], errNone)
	require.Equal(rt, pbTxn(er), seedTxn(sr), "txn response")
	ops := st.Success
	if !sr.Succeeded {
		ops = st.Failure
	}
	m.noteDeleteThenPut(rt, ops, sr.Revision)
}

// NestedPath: the path a nested transaction takes when each op of a
// branch sits in a nested transaction of its own, so that etcd's gRPC
// check (checkIntervals) lets a nested transaction delete a key an
// earlier sibling put, and refuses a key put twice or put after a
// covering delete. etcd's store then runs the ops in order as one
// branch; seedkv's server sends the path to its store as one flat Txn
// with PutThenDelete. etcd checks the nested form and executes the flat
// one (its executor runs a nested transaction's ops in the same write
// transaction, in the same order).
func (m *diffMachine) NestedPath(rt *rapid.T) {
	st := mvcc.TxnRequest{PutThenDelete: true}
	et := &pb.TxnRequest{}
	var nested []*pb.RequestOp
	for i := range rapid.IntRange(1, 4).Draw(rt, "ops") {
		so, po := m.txnOp(rt, fmt.Sprintf("path%d", i))
		st.Success = append(st.Success, so)
		et.Success = append(et.Success, po)
		nested = append(nested, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{
			RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{po}}}})
	}
	var er *pb.TxnResponse
	eerr := etcdCheckTxnRequest(&pb.TxnRequest{Success: nested}, etcdMaxTxnOps)
	if eerr == nil {
		_, _, eerr = etcdCheckIntervals(nested)
	}
	if eerr == nil {
		er, eerr = m.e.txnUnchecked(et)
	}
	sr, serr := m.s.Txn(st)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "nested path error")
	if eerr != nil {
		m.note("nested path", etcdErr(eerr))
		return
	}
	m.note("nested path", errNone)
	if putThenDelete(st.Success) {
		m.note("nested path, a put then a delete covering it", errNone)
	}
	require.Equal(rt, pbTxn(er), seedTxn(sr), "nested path response")
	m.noteDeleteThenPut(rt, st.Success, sr.Revision)
}

// putThenDelete reports whether a delete of ops covers a key an op
// before it put.
func putThenDelete(ops []mvcc.Op) bool {
	var puts []string
	for _, op := range ops {
		switch op.Kind {
		case mvcc.OpPut:
			puts = append(puts, string(op.Key))
		case mvcc.OpDeleteRange:
			for _, k := range puts {
				end := string(op.End)
				if (end == "" && k == string(op.Key)) || (end == "\x00" && k >= string(op.Key)) ||
					(end != "" && k >= string(op.Key) && k < end) {
					return true
				}
			}
		}
	}
	return false
}

// noteDeleteThenPut records the revision of a Txn whose branch deleted a
// live key with a "from key" delete and then put it again (etcd's gRPC
// check lets that through, see checkIntervals). etcd v3.7.3 cannot
// compact at exactly that revision: its keyIndex.compact marks only the
// tombstone (first generation) as kept, the backend drops the new put,
// and the next read of the key hits lg.Fatal("range failed to find
// revision pair"). seedkv keeps the put. The test does not compact etcd
// there (an etcd bug, not a behaviour to copy).
func (m *diffMachine) noteDeleteThenPut(rt *rapid.T, ops []mvcc.Op, rev int64) {
	var from []byte // key of the first "from key" delete so far
	for _, op := range ops {
		switch {
		case op.Kind == mvcc.OpDeleteRange && len(op.End) == 1 && op.End[0] == 0 && from == nil:
			from = op.Key
		case op.Kind == mvcc.OpPut && from != nil && string(op.Key) >= string(from):
			r, err := m.s.Range(op.Key, nil, mvcc.RangeOptions{Revision: rev - 1, CountOnly: true})
			require.NoError(rt, err)
			if r.Count > 0 {
				m.etcdNoCompact[rev] = true
			}
		}
	}
}

// BigTxn: a Txn at or just past etcd's limit of 128 compares or ops per
// branch.
func (m *diffMachine) BigTxn(rt *rapid.T) {
	n := rapid.IntRange(127, 129).Draw(rt, "n")
	where := rapid.IntRange(0, 2).Draw(rt, "where")
	var st mvcc.TxnRequest
	et := &pb.TxnRequest{}
	for i := range n {
		switch where {
		case 0:
			key := []byte(diffKeys[i%len(diffKeys)])
			sc := mvcc.Compare{Key: key, Target: mvcc.CompareVersion, Result: mvcc.Greater, Number: -1}
			pc := &pb.Compare{Key: key, Target: pb.Compare_VERSION, Result: pb.Compare_GREATER,
				TargetUnion: &pb.Compare_Version{Version: -1}}
			st.Compares = append(st.Compares, sc)
			et.Compare = append(et.Compare, pc)
		default:
			key := []byte(diffKeys[i%len(diffKeys)])
			so := mvcc.OpGet(key, nil, mvcc.RangeOptions{})
			po := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: pbRangeReq(key, nil, so.Range, false)}}
			if where == 1 {
				st.Success, et.Success = append(st.Success, so), append(et.Success, po)
			} else {
				st.Failure, et.Failure = append(st.Failure, so), append(et.Failure, po)
			}
		}
	}
	er, eerr := m.e.txn(et)
	sr, serr := m.s.Txn(st)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "big txn error")
	m.note("big txn", etcdErr(eerr))
	if eerr == nil {
		require.Equal(rt, pbTxn(er), seedTxn(sr), "big txn response")
	}
}

// Compact at any revision from -1 to one past the current. Watchers are
// drained first: etcd pushes events to a synced watcher as they happen,
// seedkv's watchers pull, and the node above pulls after every apply, so
// a seedkv watcher that is up to date at compaction time is the faithful
// model of an etcd watcher that has been sent its events.
func (m *diffMachine) Compact(rt *rapid.T) {
	rev := rapid.Int64Range(-1, m.s.CurrentRevision()+1).Draw(rt, "rev")
	if m.etcdNoCompact[rev] {
		m.note("compact skipped: etcd bug", errNone)
		rt.Skip("etcd v3.7.3 loses a put when compacting at this revision")
	}
	m.drainWatches(rt)
	eerr := m.e.compact(rev)
	serr := m.s.Compact(rev)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "compact(%d) error", rev)
	m.note("compact", etcdErr(eerr))
}

func (m *diffMachine) LeaseGrant(rt *rapid.T) {
	id := rapid.SampledFrom(diffLeaseIDs).Draw(rt, "id")
	eerr := m.e.leaseGrant(id)
	serr := m.s.LeaseGrant(id, time.Hour, diffFixedNow)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "lease grant error")
	m.note("lease grant", etcdErr(eerr))
}

func (m *diffMachine) LeaseRevoke(rt *rapid.T) {
	id := rapid.SampledFrom(diffLeaseIDs).Draw(rt, "id")
	eerr := m.e.leaseRevoke(id)
	srev, serr := m.s.LeaseRevoke(id)
	require.Equal(rt, etcdErr(eerr), seedErr(serr), "lease revoke error")
	m.note("lease revoke", etcdErr(eerr))
	if serr == nil {
		require.Equal(rt, m.e.rev(), srev, "revision after lease revoke")
	}
}

// Restart: etcd closes its store, lessor and bbolt file and opens them
// again; seedkv's recovery path is its snapshot: Restore(Snapshot()).
// Watchers do not survive a restart on either side (clients re-create
// them); they are drained and compared first.
func (m *diffMachine) Restart(rt *rapid.T) {
	m.drainWatches(rt)
	m.cancelWatches()
	m.e.restart()
	s, err := mvcc.Restore(m.s.Snapshot(), mvcc.Config{})
	require.NoError(rt, err)
	m.s = s
	m.note("restart", errNone)
}

// Watch: a key, range, prefix or from-key watch from the next revision,
// a past, compacted, negative or future one, with or without prev_kv.
func (m *diffMachine) Watch(rt *rapid.T) {
	if len(m.watches) >= maxDiffWatches {
		rt.Skip("enough watchers")
	}
	key := m.key(rt, "key")
	end := m.end(rt, key, "end")
	start := int64(0)
	if !rapid.Bool().Draw(rt, "fromNext") {
		start = rapid.Int64Range(-2, m.s.CurrentRevision()+2).Draw(rt, "start")
	}
	prev := rapid.Bool().Draw(rt, "prevKV")
	desc := fmt.Sprintf("watch(%q, %q, start %d, prevKV %v)", key, end, start, prev)
	ew, eerr := m.e.watch(key, end, start, prev)
	sw, serr := m.s.Watch(key, end, start, prev)
	if eerr == nil {
		// etcd reports a compacted start revision in the first response.
		require.NoError(rt, m.e.drain(ew), desc)
		if ew.compacted != 0 {
			eerr = emvcc.ErrCompacted
			ew.ws.Close()
		}
	}
	require.Equal(rt, etcdErr(eerr), seedErr(serr), desc)
	m.note("watch", etcdErr(eerr))
	if eerr != nil {
		return
	}
	w := &diffWatch{desc: desc, e: ew, s: sw}
	m.watches = append(m.watches, w)
	m.drainWatch(rt, w)
}

// CancelWatch cancels one watcher on both sides, after a last comparison.
func (m *diffMachine) CancelWatch(rt *rapid.T) {
	if len(m.watches) == 0 {
		rt.Skip("no watchers")
	}
	i := rapid.IntRange(0, len(m.watches)-1).Draw(rt, "watcher")
	w := m.watches[i]
	m.drainWatch(rt, w)
	w.e.ws.Close()
	w.s.Cancel()
	m.watches = append(m.watches[:i], m.watches[i+1:]...)
}

// CheckWatches drains every watcher and compares the streams so far.
func (m *diffMachine) CheckWatches(rt *rapid.T) { m.drainWatches(rt) }

func (m *diffMachine) drainWatches(rt *rapid.T) {
	for _, w := range m.watches {
		m.drainWatch(rt, w)
	}
}

func seedEvent(ev mvcc.Event) nevent {
	out := nevent{Delete: ev.Type == mvcc.EventDelete, KV: fromSeed(ev.KV)}
	if ev.PrevKV != nil {
		kv := fromSeed(*ev.PrevKV)
		out.Prev = &kv
	}
	return out
}

func pbEvent(ev *mvccpb.Event) nevent {
	out := nevent{Delete: ev.Type == mvccpb.Event_DELETE, KV: fromPB(ev.Kv)}
	if ev.PrevKv != nil {
		kv := fromPB(ev.PrevKv)
		out.Prev = &kv
	}
	return out
}

func (m *diffMachine) drainWatch(rt *rapid.T, w *diffWatch) {
	require.NoError(rt, m.e.drain(w.e), w.desc)
	for w.sErr == errNone {
		evs, err := w.s.Events(1000)
		if err != nil {
			w.sErr = seedErr(err)
			break
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			w.sEvs = append(w.sEvs, seedEvent(ev))
		}
	}
	var eEvs []nevent
	for _, ev := range w.e.events {
		eEvs = append(eEvs, pbEvent(ev))
	}
	eErr := errNone
	if w.e.compacted != 0 {
		eErr = errCompacted
	}
	require.Equal(rt, eErr, w.sErr, "%s: cancellation", w.desc)
	require.Equal(rt, eEvs, w.sEvs, "%s: events", w.desc)
	m.stats["watch events compared"] += len(eEvs) - w.compared
	w.compared = len(eEvs)
}

func (m *diffMachine) cancelWatches() {
	for _, w := range m.watches {
		w.e.ws.Close()
		w.s.Cancel()
	}
	m.watches = nil
}

// Check runs after every action: the revisions, the whole key space and
// the leases with their keys must agree.
func (m *diffMachine) Check(rt *rapid.T) {
	require.Equal(rt, m.e.rev(), m.s.CurrentRevision(), "current revision")
	all := mvcc.RangeOptions{}
	er, eerr := m.e.rangeReq(pbRangeReq([]byte{0}, []byte{0}, all, false))
	require.NoError(rt, eerr)
	sr, serr := m.s.Range([]byte{0}, []byte{0}, all)
	require.NoError(rt, serr)
	require.Equal(rt, pbRange(er), seedRange(sr), "whole key space")
	sh, compact, err := m.s.HashKV(0)
	require.NoError(rt, err)
	require.Equal(rt, m.e.historyHash(m.s.CurrentRevision()), sh,
		"HashKV: the history kept (compacted at %d) differs from etcd's backend", compact)
	ids := m.e.leases()
	require.Equal(rt, ids, nilIfEmpty(m.s.Leases()), "lease IDs")
	for _, id := range ids {
		ekeys, err := m.e.leaseKeys(id)
		require.NoError(rt, err)
		info, err := m.s.LeaseTimeToLive(id, diffFixedNow)
		require.NoError(rt, err)
		var skeys []string
		for _, k := range info.Keys {
			skeys = append(skeys, string(k))
		}
		require.Equal(rt, nilIfEmpty(ekeys), skeys, "keys of lease %d", id)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestMVCCDiff is the differential test. Unless -rapid.checks and
// -rapid.steps say otherwise it runs 1000 op sequences of about 100 actions
// (some 15 s; rapid's defaults of 100 sequences of 30 reach little watch
// history). Long run: -rapid.checks=10000 -rapid.steps=100.
func TestMVCCDiff(t *testing.T) {
	setDefaultFlag(t, "rapid.checks", "1000")
	setDefaultFlag(t, "rapid.steps", "100")
	stats := map[string]int{}
	defer func() { logDiffStats(t, stats) }()
	rapid.Check(t, func(rt *rapid.T) {
		m := &diffMachine{e: openEtcd(t.TempDir()), s: mvcc.New(mvcc.Config{}), stats: stats,
			etcdNoCompact: map[int64]bool{}}
		defer func() {
			m.cancelWatches()
			m.e.destroy()
		}()
		// rapid picks actions uniformly: writes are listed several
		// times so that watches and reads have history to see, and
		// the rarer actions skip most of the time.
		rt.Repeat(map[string]func(*rapid.T){
			"Put":          m.Put,
			"Put2":         m.Put,
			"Put3":         m.Put,
			"Delete":       m.Delete,
			"Delete2":      m.Delete,
			"Range":        m.Range,
			"Range2":       m.Range,
			"Txn":          m.Txn,
			"Txn2":         m.Txn,
			"Txn3":         m.Txn,
			"BigTxn":       rarely(m.BigTxn),
			"NestedPath":   m.NestedPath,
			"Compact":      m.Compact,
			"LeaseGrant":   m.LeaseGrant,
			"LeaseRevoke":  m.LeaseRevoke,
			"Restart":      rarely(m.Restart),
			"Watch":        m.Watch,
			"CancelWatch":  rarely(m.CancelWatch),
			"CheckWatches": m.CheckWatches,
			"":             m.Check,
		})
		m.drainWatches(rt)
	})
}

// setDefaultFlag sets flag name to value for this test unless the command
// line set it.
func setDefaultFlag(t *testing.T, name, value string) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	f := flag.Lookup(name)
	if set || f == nil {
		return
	}
	old := f.Value.String()
	require.NoError(t, flag.Set(name, value))
	t.Cleanup(func() { _ = flag.Set(name, old) })
}

// rarely runs action one time in four.
func rarely(action func(*rapid.T)) func(*rapid.T) {
	return func(rt *rapid.T) {
		if rapid.IntRange(0, 3).Draw(rt, "rarely") != 0 {
			rt.Skip("not this time")
		}
		action(rt)
	}
}

// logDiffStats logs how often each outcome was compared (shrinking runs
// included), so that a green run also shows what it reached.
func logDiffStats(t *testing.T, stats map[string]int) {
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %d", k, stats[k])
	}
	t.Logf("outcomes compared:%s", b.String())
}

// TestEtcdCompactDeleteThenPutBug pins the etcd v3.7.3 bug the
// differential test steps around (noteDeleteThenPut): a Txn that deletes a
// live key with a "from key" delete and puts it again, then a compaction
// at exactly that revision, and etcd's next read of the key fails its
// index/backend invariant (lg.Fatal, a panic here). seedkv keeps the put.
// If an etcd upgrade fixes this, the test fails: drop the workaround.
func TestEtcdCompactDeleteThenPutBug(t *testing.T) {
	e := openEtcd(t.TempDir())
	defer e.destroy()
	s := mvcc.New(mvcc.Config{})
	_, err := e.put(&pb.PutRequest{Key: []byte("b"), Value: []byte("old")})
	require.NoError(t, err)
	_, _, err = s.Put([]byte("b"), []byte("old"), 0, false)
	require.NoError(t, err)
	_, err = e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}}},
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b"), Value: []byte("new")}}},
	}})
	require.NoError(t, err)
	_, err = s.Txn(mvcc.TxnRequest{Success: []mvcc.Op{
		mvcc.OpDelete([]byte("a"), []byte{0}, false), mvcc.OpPutKV([]byte("b"), []byte("new"), 0, false)}})
	require.NoError(t, err)

	require.NoError(t, e.compact(3))
	require.NoError(t, s.Compact(3))
	r, err := s.Range([]byte("b"), nil, mvcc.RangeOptions{})
	require.NoError(t, err)
	require.Equal(t, "new", string(r.KVs[0].Value), "seedkv keeps the put")
	require.Panics(t, func() { _, _ = e.rangeReq(&pb.RangeRequest{Key: []byte("b")}) },
		"etcd v3.7.3 dropped the put from its backend but not from its index")
}
