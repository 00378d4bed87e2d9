package compat

// clientv3's concurrency package against etcd and seedkv: the same
// sequence of sessions, mutexes, elections and software transactions,
// each observable outcome compared (values, errors, revisions; not the
// lease IDs in the keys).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestGRPCDiffConcurrency runs the same concurrency script against etcd
// and a one-member seedkv and requires the same transcript.
func TestGRPCDiffConcurrency(t *testing.T) {
	p := newDiffPair(t, startEmbedEtcd(t), startSeedkv(t, 1))
	p.syncStart()
	e, s := concurrencyScript(t, p.e), concurrencyScript(t, p.s)
	require.Equal(t, strings.Join(e, "\n"), strings.Join(s, "\n"))
	t.Logf("transcript (both):\n%s", strings.Join(e, "\n"))
}

// concurrencyScript runs the script against one server and returns what
// it observed. Both servers start at the same revision, so revisions
// compare.
func concurrencyScript(t *testing.T, c *clientv3.Client) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	errText := func(err error) string {
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	s1, err := concurrency.NewSession(c, concurrency.WithTTL(60))
	require.NoError(t, err)
	defer s1.Close()
	s2, err := concurrency.NewSession(c, concurrency.WithTTL(60))
	require.NoError(t, err)
	defer s2.Close()

	// Mutexes: lock, TryLock held (ErrLocked), unlock, TryLock free.
	m1, m2 := concurrency.NewMutex(s1, "/cc/lock"), concurrency.NewMutex(s2, "/cc/lock")
	note("m1 lock: %s", errText(m1.Lock(ctx)))
	note("m1 header rev %d", m1.Header().Revision)
	err = m2.TryLock(ctx)
	note("m2 trylock: %s is ErrLocked %v", errText(err), errors.Is(err, concurrency.ErrLocked))
	note("m1 unlock: %s", errText(m1.Unlock(ctx)))
	note("m2 trylock: %s", errText(m2.TryLock(ctx)))
	note("m2 header rev %d", m2.Header().Revision)
	note("m2 unlock: %s", errText(m2.Unlock(ctx)))
	r, err := c.Get(ctx, "/cc/lock", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	note("lock keys left %d at rev %d", r.Count, r.Header.Revision)

	// Elections: campaign, a second campaigner waits, proclaim, resign,
	// the second leads; an observer sees the leaders' values.
	e1, e2 := concurrency.NewElection(s1, "/cc/elect"), concurrency.NewElection(s2, "/cc/elect")
	_, err = e1.Leader(ctx)
	note("leader before any: %s", errText(err))
	note("e1 campaign: %s", errText(e1.Campaign(ctx, "one")))
	obsCtx, obsCancel := context.WithCancel(ctx)
	defer obsCancel()
	obs := concurrency.NewElection(s2, "/cc/elect").Observe(obsCtx)
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "two") }()
	select {
	case err := <-won:
		note("e2 won early: %s", errText(err))
	case <-time.After(300 * time.Millisecond):
		note("e2 waits")
	}
	note("e1 proclaim: %s", errText(e1.Proclaim(ctx, "one again")))
	lr, err := e1.Leader(ctx)
	require.NoError(t, err)
	note("leader %q version %d", lr.Kvs[0].Value, lr.Kvs[0].Version)
	note("e1 resign: %s", errText(e1.Resign(ctx)))
	note("e2 campaign: %s", errText(<-won))
	lr, err = e2.Leader(ctx)
	require.NoError(t, err)
	note("leader %q create rev %d", lr.Kvs[0].Value, lr.Kvs[0].CreateRevision)
	var seen []string
	for len(seen) == 0 || seen[len(seen)-1] != "two" {
		select {
		case o := <-obs:
			seen = append(seen, string(o.Kvs[0].Value))
		case <-ctx.Done():
			t.Fatalf("observer saw %v", seen)
		}
	}
	note("observer: last %q", seen[len(seen)-1])
	note("e2 resign: %s", errText(e2.Resign(ctx)))

	// Software transactions: every isolation level, a transfer between
	// two keys, and a read of a missing key.
	_, err = c.Put(ctx, "/cc/acct/a", "10")
	require.NoError(t, err)
	_, err = c.Put(ctx, "/cc/acct/b", "0")
	require.NoError(t, err)
	for _, iso := range []concurrency.Isolation{concurrency.SerializableSnapshot, concurrency.Serializable,
		concurrency.RepeatableReads, concurrency.ReadCommitted} {
		resp, err := concurrency.NewSTM(c, func(stm concurrency.STM) error {
			var a, b int
			fmt.Sscan(stm.Get("/cc/acct/a"), &a)
			fmt.Sscan(stm.Get("/cc/acct/b"), &b)
			stm.Put("/cc/acct/a", fmt.Sprint(a-1))
			stm.Put("/cc/acct/b", fmt.Sprint(b+1))
			if stm.Get("/cc/acct/missing") != "" {
				return errors.New("missing key has a value")
			}
			return nil
		}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
		var rev int64
		if resp != nil {
			rev = resp.Header.Revision
		}
		note("stm isolation %d: %s succeeded %v rev %d", iso, errText(err), resp != nil && resp.Succeeded, rev)
	}
	r, err = c.Get(ctx, "/cc/acct/", clientv3.WithPrefix())
	require.NoError(t, err)
	for _, kv := range r.Kvs {
		note("%s = %s (mod %d, version %d)", kv.Key, kv.Value, kv.ModRevision, kv.Version)
	}
	return out
}
