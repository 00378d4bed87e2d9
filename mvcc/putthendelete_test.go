package mvcc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTxnPutThenDelete: with PutThenDelete a branch may delete a key an
// earlier op put (the path of etcd nested transactions): both run at one
// revision, the delete seeing the put. A put after a covering delete and
// a key put twice stay ErrDuplicateKey; without the flag the overlap is
// refused, as etcd's gRPC check refuses it in a flat transaction.
func TestTxnPutThenDelete(t *testing.T) {
	s := New(Config{})
	put(t, s, "a", "old") // rev 2
	ops := []Op{OpPutKV([]byte("a"), []byte("new"), 0, true), OpPutKV([]byte("b"), []byte("1"), 0, false),
		OpDelete([]byte("a"), []byte("c"), true)}
	_, err := s.Txn(TxnRequest{Success: ops})
	require.ErrorIs(t, err, ErrDuplicateKey)
	r, err := s.Txn(TxnRequest{Success: ops, PutThenDelete: true})
	require.NoError(t, err)
	require.Equal(t, int64(3), r.Revision)
	require.Equal(t, []byte("old"), r.Responses[0].Prev.Value)
	require.Equal(t, int64(2), r.Responses[2].Deleted)
	require.Equal(t, []KeyValue{
		{Key: []byte("a"), Value: []byte("new"), CreateRevision: 2, ModRevision: 3, Version: 2},
		{Key: []byte("b"), Value: []byte("1"), CreateRevision: 3, ModRevision: 3, Version: 1},
	}, r.Responses[2].Prevs)
	require.Nil(t, get(t, s, "a", 0))
	require.Nil(t, get(t, s, "b", 0))
	require.Equal(t, []byte("old"), get(t, s, "a", 2).Value)

	for _, bad := range [][]Op{
		{OpDelete([]byte("a"), nil, false), OpPutKV([]byte("a"), nil, 0, false)},
		{OpPutKV([]byte("a"), nil, 0, false), OpPutKV([]byte("a"), nil, 0, false)},
	} {
		_, err := s.Txn(TxnRequest{Success: bad, PutThenDelete: true})
		require.ErrorIs(t, err, ErrDuplicateKey)
	}
}
