package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/seedkv/seedkv/api"
)

// kvs for the range post-processing tables: key order, with create, mod,
// version and value chosen so each sort target gives a different order.
var sample = []api.KeyValue{
	{Key: []byte("a"), CreateRevision: 5, ModRevision: 9, Version: 3, Value: []byte("z")},
	{Key: []byte("b"), CreateRevision: 2, ModRevision: 2, Version: 1, Value: []byte("x")},
	{Key: []byte("c"), CreateRevision: 7, ModRevision: 8, Version: 2, Value: []byte("y")},
	{Key: []byte("d"), CreateRevision: 3, ModRevision: 4, Version: 2, Value: []byte("w")},
}

func keysOf(r *pb.RangeResponse) string {
	s := ""
	for _, kv := range r.Kvs {
		s += string(kv.Key)
	}
	return s
}

func TestFinishRange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		req   *pb.RangeRequest
		keys  string
		more  bool
		count int64
	}{
		{"plain", &pb.RangeRequest{}, "abcd", false, 4},
		{"key descend", &pb.RangeRequest{SortOrder: pb.RangeRequest_DESCEND}, "dcba", false, 4},
		{"create ascend", &pb.RangeRequest{SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_CREATE}, "bdac", false, 4},
		{"target without order means ascend", &pb.RangeRequest{SortTarget: pb.RangeRequest_MOD}, "bdca", false, 4},
		{"mod descend limit 2", &pb.RangeRequest{SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD, Limit: 2}, "ac", true, 4},
		{"version ascend, ties in key order", &pb.RangeRequest{SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_VERSION}, "bcda", false, 4},
		{"value ascend", &pb.RangeRequest{SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_VALUE}, "dbca", false, 4},
		{"max create (etcd's WithMaxCreateRev)", &pb.RangeRequest{MaxCreateRevision: 4}, "bd", false, 4},
		{"min create", &pb.RangeRequest{MinCreateRevision: 5}, "ac", false, 4},
		{"min and max mod", &pb.RangeRequest{MinModRevision: 3, MaxModRevision: 8}, "cd", false, 4},
		{"last create below a revision (Mutex waitDeletes)", &pb.RangeRequest{SortOrder: pb.RangeRequest_DESCEND,
			SortTarget: pb.RangeRequest_CREATE, MaxCreateRevision: 6, Limit: 1}, "a", true, 4},
		{"first create (Mutex owner)", &pb.RangeRequest{SortOrder: pb.RangeRequest_ASCEND,
			SortTarget: pb.RangeRequest_CREATE, Limit: 1}, "b", true, 4},
		{"filters leave fewer than limit", &pb.RangeRequest{MinModRevision: 9, Limit: 2}, "a", false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &api.RangeResponse{KVs: append([]api.KeyValue(nil), sample...), Count: 4}
			out := finishRange(tc.req, body)
			require.Equal(t, tc.keys, keysOf(out))
			require.Equal(t, tc.more, out.More)
			require.Equal(t, tc.count, out.Count)
		})
	}
}

// A sorted or filtered range asks the store for everything; a plain one
// passes its limit through.
func TestAPIRangeLimit(t *testing.T) {
	require.Equal(t, int64(4), apiRange(&pb.RangeRequest{Key: []byte("a"), Limit: 3}).Limit, "one more, to tell More")
	require.Equal(t, int64(4), apiRange(&pb.RangeRequest{Key: []byte("a"), Limit: 3, SortTarget: pb.RangeRequest_VALUE}).Limit,
		"a target without an order reads in key order (etcd's IsDefaultOrdering)")
	require.Zero(t, apiRange(&pb.RangeRequest{Key: []byte("a"), Limit: 3, SortOrder: pb.RangeRequest_DESCEND}).Limit)
	require.Zero(t, apiRange(&pb.RangeRequest{Key: []byte("a"), Limit: 3, MaxCreateRevision: 9}).Limit)
}

func TestCheckRange(t *testing.T) {
	require.Error(t, checkRange(&pb.RangeRequest{}))
	require.Error(t, checkRange(&pb.RangeRequest{Key: []byte("a"), SortOrder: 7}))
	require.Error(t, checkRange(&pb.RangeRequest{Key: []byte("a"), SortTarget: 9}))
	require.NoError(t, checkRange(&pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_VALUE}))
}

// The header revision of each op inside a transaction, as etcd gives it.
func TestOpRevisions(t *testing.T) {
	rng := api.TxnOpResponse{Range: &api.RangeResponse{}}
	put := api.TxnOpResponse{Put: &api.PutResponse{}}
	del0 := api.TxnOpResponse{DeleteRange: &api.DeleteRangeResponse{}}
	del1 := api.TxnOpResponse{DeleteRange: &api.DeleteRangeResponse{Deleted: 1}}
	for _, tc := range []struct {
		name string
		ops  []api.TxnOpResponse
		top  int64
		want []int64
	}{
		{"read only", []api.TxnOpResponse{rng, rng}, 5, []int64{5, 5}},
		{"range before and after a put", []api.TxnOpResponse{rng, put, rng}, 10, []int64{9, 10, 10}},
		{"delete of nothing changes nothing", []api.TxnOpResponse{del0, rng}, 5, []int64{5, 5}},
		{"delete of a key", []api.TxnOpResponse{rng, del1, rng}, 6, []int64{5, 6, 6}},
		{"delete of nothing after a change", []api.TxnOpResponse{rng, del0, put, del0}, 8, []int64{7, 7, 8, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, opRevisions(&api.TxnResponse{Responses: tc.ops}, tc.top))
		})
	}
}

// The guard of a range compare keeps its outcome: the compare itself when
// it held, the violating key's mod revision when a key failed it, the
// range staying empty when it failed on no keys.
func TestRangeCompareGuards(t *testing.T) {
	kvs := []api.KeyValue{{Key: []byte("a1"), Value: []byte("x"), ModRevision: 4, CreateRevision: 4, Version: 1},
		{Key: []byte("a2"), Value: []byte("y"), ModRevision: 6, CreateRevision: 5, Version: 2}}
	snap := &txnSnapshot{ranges: map[keyRange][]api.KeyValue{{"a", "b"}: kvs, {"c", "d"}: nil}}
	value := func(key, end string, res pb.Compare_CompareResult, v string) *pb.Compare {
		return &pb.Compare{Key: []byte(key), RangeEnd: []byte(end), Target: pb.Compare_VALUE, Result: res,
			TargetUnion: &pb.Compare_Value{Value: []byte(v)}}
	}
	for name, tc := range map[string]struct {
		c     *pb.Compare
		holds bool
		guard api.Compare
	}{
		"held": {value("a", "b", pb.Compare_LESS, "z"), true,
			api.Compare{Result: api.CompareLess, Target: api.TargetValue, Key: []byte("a"), End: []byte("b"), Value: []byte("z")}},
		"failed on a2": {value("a", "b", pb.Compare_EQUAL, "x"), false,
			api.Compare{Result: api.CompareEqual, Target: api.TargetMod, Key: []byte("a2"), ModRevision: 6}},
		"value on empty": {value("c", "d", pb.Compare_EQUAL, "x"), false,
			api.Compare{Result: api.CompareLess, Target: api.TargetCreate, Key: []byte("c"), End: []byte("d"), CreateRevision: 1}},
		"version on empty": {&pb.Compare{Key: []byte("c"), RangeEnd: []byte("d"), Target: pb.Compare_VERSION,
			Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: 0}}, true,
			api.Compare{Result: api.CompareEqual, Target: api.TargetVersion, Key: []byte("c"), End: []byte("d")}},
	} {
		ok, guard, err := snap.holds(tc.c)
		require.NoError(t, err, name)
		require.Equal(t, tc.holds, ok, name)
		require.Equal(t, tc.guard, *guard, name)
	}
}

// etcd sorts by a target given without an order only over the limit+1 keys
// it read in key order (executeRange's rangeLimit); found by the
// differential test of compat/mvccdiff against etcd's executeRange.
func TestFinishRangeTargetWithoutOrderSortsWhatWasRead(t *testing.T) {
	req := &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_VALUE, Limit: 2}
	require.Equal(t, int64(3), apiRange(req).Limit)
	body := &api.RangeResponse{KVs: append([]api.KeyValue(nil), sample[:3]...), Count: 4, More: true}
	out := finishRange(req, body)
	require.Equal(t, "bc", keysOf(out)) // x, y of a=z b=x c=y; d (w) was never read
	require.True(t, out.More)
}

// Keys only with a sort by value: the store reads values and leases
// (etcd's FastKeysOnly is off), the answer is sorted by them and carries
// neither values nor anything else lost.
func TestKeysOnlySortedByValue(t *testing.T) {
	req := &pb.RangeRequest{Key: []byte("a"), KeysOnly: true, SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_VALUE}
	require.False(t, apiRange(req).KeysOnly)
	kvs := append([]api.KeyValue(nil), sample...)
	kvs[0].Lease = 7
	out := finishRange(req, &api.RangeResponse{KVs: kvs, Count: 4})
	require.Equal(t, "dbca", keysOf(out))
	for _, kv := range out.Kvs {
		require.Nil(t, kv.Value)
	}
	require.Equal(t, int64(7), out.Kvs[3].Lease)
	require.True(t, apiRange(&pb.RangeRequest{Key: []byte("a"), KeysOnly: true}).KeysOnly)
}
