package compat

import (
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// clientv3's nested transactions (OpTxn) with compares over key ranges:
// every compare sees the store before the transaction.
func TestClientNestedTxnRangeCompare(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	for _, k := range []string{"/nest/a", "/nest/b"} {
		_, err := c.Put(ctx, k, "1")
		require.NoError(t, err)
	}
	allOne := clientv3.Compare(clientv3.Value("/nest/"), "=", "1").WithPrefix()
	resp, err := c.Txn(ctx).If(allOne).Then(
		clientv3.OpPut("/nest/b", "2"),
		clientv3.OpTxn([]clientv3.Cmp{allOne},
			[]clientv3.Op{clientv3.OpPut("/nest/seen", "all-one")},
			[]clientv3.Op{clientv3.OpPut("/nest/seen", "changed")}),
	).Commit()
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.True(t, resp.Responses[1].GetResponseTxn().Succeeded, "the inner compare saw the store before the outer put")
	seen, err := c.Get(ctx, "/nest/seen")
	require.NoError(t, err)
	require.Equal(t, "all-one", string(seen.Kvs[0].Value))

	resp, err = c.Txn(ctx).If(allOne).Then(clientv3.OpPut("/nest/x", "y")).Else(
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Version("/nest/"), ">", 0).WithPrefix()},
			[]clientv3.Op{clientv3.OpDelete("/nest/", clientv3.WithPrefix())}, nil),
	).Commit()
	require.NoError(t, err)
	require.False(t, resp.Succeeded, "/nest/b is 2 now")
	require.True(t, resp.Responses[0].GetResponseTxn().Succeeded)
	left, err := c.Get(ctx, "/nest/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, left.Count)
}
