package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

func newClient(t *testing.T, eps ...string) *clientv3.Client {
	t.Helper()
	if len(eps) == 0 {
		eps = endpoints
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientKV(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	_, err := c.Put(ctx, "/kv/a", "1")
	require.NoError(t, err)
	_, err = c.Put(ctx, "/kv/b", "2")
	require.NoError(t, err)
	put, err := c.Put(ctx, "/kv/a", "3", clientv3.WithPrevKV())
	require.NoError(t, err)
	require.Equal(t, "1", string(put.PrevKv.Value))

	get, err := c.Get(ctx, "/kv/a")
	require.NoError(t, err)
	require.Equal(t, "3", string(get.Kvs[0].Value))
	require.Equal(t, int64(2), get.Kvs[0].Version)

	pfx, err := c.Get(ctx, "/kv/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	require.NoError(t, err)
	require.Len(t, pfx.Kvs, 2)
	require.Equal(t, "/kv/b", string(pfx.Kvs[0].Key))

	cnt, err := c.Get(ctx, "/kv/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Equal(t, int64(2), cnt.Count)

	// The past, then compaction makes it unreadable.
	old, err := c.Get(ctx, "/kv/a", clientv3.WithRev(put.Header.Revision-2))
	require.NoError(t, err)
	require.Equal(t, "1", string(old.Kvs[0].Value))
	_, err = c.Compact(ctx, put.Header.Revision)
	require.NoError(t, err)
	_, err = c.Get(ctx, "/kv/a", clientv3.WithRev(put.Header.Revision-2))
	require.ErrorIs(t, err, rpctypes.ErrCompacted)

	del, err := c.Delete(ctx, "/kv/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	require.NoError(t, err)
	require.Equal(t, int64(2), del.Deleted)
}

func TestClientTxn(t *testing.T) {
	c := newClient(t)
	ctx := testCtx(t)
	_, err := c.Put(ctx, "/txn/k", "v1")
	require.NoError(t, err)
	resp, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("/txn/k"), "=", "v1"), clientv3.Compare(clientv3.Version("/txn/k"), ">", 0)).
		Then(clientv3.OpPut("/txn/k", "v2"), clientv3.OpGet("/txn/k")).
		Else(clientv3.OpGet("/txn/k")).
		Commit()
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.Equal(t, "v2", string(resp.Responses[1].GetResponseRange().Kvs[0].Value))
	resp, err = c.Txn(ctx).If(clientv3.Compare(clientv3.Value("/txn/k"), "=", "v1")).
		Then(clientv3.OpPut("/txn/k", "v3")).Else(clientv3.OpGet("/txn/k")).Commit()
	require.NoError(t, err)
	require.False(t, resp.Succeeded)
	require.Equal(t, "v2", string(resp.Responses[0].GetResponseRange().Kvs[0].Value))

	// A nested transaction.
	resp, err = c.Txn(ctx).Then(clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value("/txn/k"), "=", "v2")},
		[]clientv3.Op{clientv3.OpPut("/txn/n", "yes")},
		[]clientv3.Op{clientv3.OpPut("/txn/n", "no")})).Commit()
	require.NoError(t, err)
	require.True(t, resp.Responses[0].GetResponseTxn().Succeeded)
	get, err := c.Get(ctx, "/txn/n")
	require.NoError(t, err)
	require.Equal(t, "yes", string(get.Kvs[0].Value))
}

func TestClientWatch(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	first, err := c.Put(ctx, "/watch/a", "0")
	require.NoError(t, err)
	wc := c.Watch(ctx, "/watch/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(first.Header.Revision+1))
	_, err = c.Put(ctx, "/watch/a", "1")
	require.NoError(t, err)
	_, err = c.Delete(ctx, "/watch/a")
	require.NoError(t, err)
	var evs []*clientv3.Event
	for len(evs) < 2 {
		select {
		case wr := <-wc:
			require.NoError(t, wr.Err())
			evs = append(evs, wr.Events...)
		case <-ctx.Done():
			t.Fatal("no events")
		}
	}
	require.True(t, evs[0].IsModify())
	require.Equal(t, "0", string(evs[0].PrevKv.Value))
	require.Equal(t, clientv3.EventTypeDelete, evs[1].Type)

	// A progress request is answered on the watch channel.
	require.NoError(t, c.RequestProgress(ctx))
	select {
	case wr := <-wc:
		require.True(t, wr.IsProgressNotify())
	case <-ctx.Done():
		t.Fatal("no progress notification")
	}

	// Watching from a compacted revision ends with ErrCompacted.
	last, err := c.Put(ctx, "/watch/b", "x")
	require.NoError(t, err)
	_, err = c.Compact(ctx, last.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		defer wcancel()
		for wr := range c.Watch(wctx, "/watch/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision)) {
			if wr.Err() != nil {
				return wr.CompactRevision == last.Header.Revision
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond)
}

func TestClientLease(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	g, err := c.Grant(ctx, 3)
	require.NoError(t, err)
	_, err = c.Put(ctx, "/lease/k", "v", clientv3.WithLease(g.ID))
	require.NoError(t, err)
	ka, err := c.KeepAlive(ctx, g.ID)
	require.NoError(t, err)
	// Kept alive past its TTL, the key stays.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case r := <-ka:
			require.NotNil(t, r)
			require.Equal(t, int64(3), r.TTL)
		case <-time.After(time.Second):
		}
	}
	get, err := c.Get(ctx, "/lease/k")
	require.NoError(t, err)
	require.Len(t, get.Kvs, 1)
	ttl, err := c.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
	require.NoError(t, err)
	require.Equal(t, int64(3), ttl.GrantedTTL)
	require.Len(t, ttl.Keys, 1)
	_, err = c.Revoke(ctx, g.ID)
	require.NoError(t, err)
	get, err = c.Get(ctx, "/lease/k")
	require.NoError(t, err)
	require.Empty(t, get.Kvs)

	// A lease left alone expires and takes its key with it.
	g2, err := c.Grant(ctx, 1)
	require.NoError(t, err)
	_, err = c.Put(ctx, "/lease/gone", "v", clientv3.WithLease(g2.ID))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		get, err := c.Get(ctx, "/lease/gone")
		return err == nil && len(get.Kvs) == 0
	}, 10*time.Second, 100*time.Millisecond)
}

// Two clients contend for a concurrency.Mutex: never both inside.
func TestConcurrencyMutex(t *testing.T) {
	ctx := testCtx(t)
	var mu sync.Mutex
	inside, entries := 0, 0
	var wg sync.WaitGroup
	for i := range 2 {
		c := newClient(t, endpoints[i])
		s, err := concurrency.NewSession(c, concurrency.WithTTL(5))
		require.NoError(t, err)
		defer s.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := concurrency.NewMutex(s, "/lock/mutex")
			for range 5 {
				if err := m.Lock(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				entries++
				if inside != 1 {
					t.Errorf("%d holders at once", inside)
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				if err := m.Unlock(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 10, entries)
}

// Two clients campaign in a concurrency.Election: one leads, the other
// takes over when it resigns, and an observer sees both.
func TestConcurrencyElection(t *testing.T) {
	ctx := testCtx(t)
	var sessions []*concurrency.Session
	for i := range 2 {
		s, err := concurrency.NewSession(newClient(t, endpoints[i]), concurrency.WithTTL(5))
		require.NoError(t, err)
		defer s.Close()
		sessions = append(sessions, s)
	}
	e1 := concurrency.NewElection(sessions[0], "/election/e")
	e2 := concurrency.NewElection(sessions[1], "/election/e")
	obs := concurrency.NewElection(sessions[1], "/election/e").Observe(ctx)
	require.NoError(t, e1.Campaign(ctx, "one"))
	second := make(chan error, 1)
	go func() { second <- e2.Campaign(ctx, "two") }()
	select {
	case err := <-second:
		t.Fatalf("second campaign won while the first leads: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	lead, err := e1.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, "one", string(lead.Kvs[0].Value))
	require.NoError(t, e1.Proclaim(ctx, "one again"))
	require.NoError(t, e1.Resign(ctx))
	require.NoError(t, <-second)
	lead, err = e2.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, "two", string(lead.Kvs[0].Value))
	seen := map[string]bool{}
	for !seen["two"] {
		select {
		case r := <-obs:
			seen[string(r.Kvs[0].Value)] = true
		case <-ctx.Done():
			t.Fatalf("observer saw only %v", seen)
		}
	}
	require.True(t, seen["one"] || seen["one again"], fmt.Sprint(seen))
}
