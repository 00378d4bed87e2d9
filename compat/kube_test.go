package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// What kube-apiserver's etcd3 storage does, call for call: create only if
// absent (mod_revision == 0), updates guarded by the mod revision read,
// paginated lists at one revision continued from the last key + "\x00",
// a watch from the list's revision with prev_kv and progress notify under
// WithRequireLeader, leases on events, client-driven compaction, and a
// watch from a compacted revision failing with ErrCompacted.
func TestKubernetesStorageShape(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	const prefix = "/registry/pods/default/"
	key := func(i int) string { return fmt.Sprintf("%spod-%02d", prefix, i) }

	create := func(k, v string, lease clientv3.LeaseID) (*clientv3.TxnResponse, error) {
		var opts []clientv3.OpOption
		if lease != 0 {
			opts = append(opts, clientv3.WithLease(lease))
		}
		return c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, v, opts...)).Else(clientv3.OpGet(k)).Commit()
	}
	for i := range 7 {
		r, err := create(key(i), "v0", 0)
		require.NoError(t, err)
		require.True(t, r.Succeeded)
	}
	again, err := create(key(3), "other", 0)
	require.NoError(t, err)
	require.False(t, again.Succeeded, "already exists")
	existing := again.Responses[0].GetResponseRange().Kvs[0]
	require.Equal(t, "v0", string(existing.Value))

	// GuaranteedUpdate: a stale mod revision fails and returns the
	// current object; the fresh one succeeds.
	update := func(k, v string, rev int64) (*clientv3.TxnResponse, error) {
		return c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, v)).Else(clientv3.OpGet(k)).Commit()
	}
	up, err := update(key(3), "v1", existing.ModRevision)
	require.NoError(t, err)
	require.True(t, up.Succeeded)
	stale, err := update(key(3), "v2", existing.ModRevision)
	require.NoError(t, err)
	require.False(t, stale.Succeeded)
	cur := stale.Responses[0].GetResponseRange().Kvs[0]
	require.Equal(t, "v1", string(cur.Value))
	require.Equal(t, up.Header.Revision, cur.ModRevision)

	// List in pages of 3 at one revision; writes in between are not seen.
	first, err := c.Get(ctx, prefix, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithLimit(3))
	require.NoError(t, err)
	listRev := first.Header.Revision
	require.True(t, first.More)
	require.Equal(t, int64(7), first.Count)
	_, err = c.Put(ctx, key(0), "after-list")
	require.NoError(t, err)
	keys := []string{}
	page := first
	for {
		for _, kv := range page.Kvs {
			keys = append(keys, string(kv.Key))
			if string(kv.Key) == key(0) {
				require.Equal(t, "v0", string(kv.Value), "the list's revision, not the later write")
			}
		}
		if !page.More {
			break
		}
		next := string(page.Kvs[len(page.Kvs)-1].Key) + "\x00"
		page, err = c.Get(ctx, next, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)),
			clientv3.WithLimit(3), clientv3.WithRev(listRev))
		require.NoError(t, err)
	}
	require.Len(t, keys, 7)
	for i, k := range keys {
		require.Equal(t, key(i), k)
	}
	cnt, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Equal(t, int64(7), cnt.Count)

	// Watch from the list's revision + 1: sees the write made after the
	// list, then new ones, with prev_kv; a progress notification comes on
	// request.
	wctx := clientv3.WithRequireLeader(ctx)
	wc := c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(listRev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	lease, err := c.Grant(ctx, 30)
	require.NoError(t, err)
	r, err := create(key(9), "leased", lease.ID)
	require.NoError(t, err)
	require.True(t, r.Succeeded)
	_, err = c.KeepAliveOnce(ctx, lease.ID)
	require.NoError(t, err)
	_, err = c.Delete(ctx, key(1))
	require.NoError(t, err)
	var evs []*clientv3.Event
	for len(evs) < 3 {
		select {
		case wr := <-wc:
			require.NoError(t, wr.Err())
			evs = append(evs, wr.Events...)
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: %d events", len(evs))
		}
	}
	require.Equal(t, key(0), string(evs[0].Kv.Key))
	require.Equal(t, "v0", string(evs[0].PrevKv.Value))
	require.True(t, evs[1].IsCreate())
	require.Equal(t, int64(lease.ID), evs[1].Kv.Lease)
	require.Equal(t, mvccpb.DELETE, evs[2].Type)
	require.Equal(t, "v0", string(evs[2].PrevKv.Value))
	require.NoError(t, c.RequestProgress(wctx))
	select {
	case wr := <-wc:
		require.True(t, wr.IsProgressNotify())
		require.GreaterOrEqual(t, wr.Header.Revision, evs[2].Kv.ModRevision)
	case <-time.After(10 * time.Second):
		t.Fatal("no progress notification")
	}

	// The apiserver compacts by revision; a watch from before it fails.
	last, err := c.Put(ctx, key(2), "v1")
	require.NoError(t, err)
	_, err = c.Compact(ctx, last.Header.Revision)
	require.NoError(t, err)
	_, err = c.Get(ctx, key(2), clientv3.WithRev(listRev))
	require.ErrorIs(t, err, rpctypes.ErrCompacted)
	require.Eventually(t, func() bool {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		for wr := range c.Watch(cctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(listRev)) {
			if wr.Err() != nil {
				return wr.Err() == rpctypes.ErrCompacted && wr.CompactRevision == last.Header.Revision
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond)
	_, err = c.Revoke(ctx, lease.ID)
	require.NoError(t, err)
	gone, err := c.Get(ctx, key(9))
	require.NoError(t, err)
	require.Empty(t, gone.Kvs)
}
