package oshost_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/oshost"
	"github.com/seedkv/seedkv/wal"
	"github.com/stretchr/testify/require"
)

// member is one replica process on the OS host, with a client process
// on the same loop.
type member struct {
	id     host.NodeID
	dir    string
	addr   string
	loop   *oshost.Loop
	net    *oshost.Net
	node   *node.Node
	client *client.Client
}

var ids = []host.NodeID{1, 2, 3}

func startReplica(t *testing.T, id host.NodeID, dir, addr string, incarnation uint64) *member {
	t.Helper()
	fs, err := wal.OSDir(dir)
	require.NoError(t, err)
	m := &member{id: id, dir: dir, loop: oshost.NewLoop()}
	m.net, err = oshost.NewNet(m.loop, id, addr)
	require.NoError(t, err)
	m.addr = m.net.Addr()
	afs := oshost.AsyncSyncFS(fs, m.loop)
	m.loop.Do(func() {
		h := oshost.NewHost(id, m.loop, m.net, afs)
		m.node = node.Start(h, node.Config{Members: ids, TickInterval: 20 * time.Millisecond}).(*node.Node)
		m.net.Register(id, m.node)
		cid := oshost.ClientID(id, incarnation)
		m.client = client.New(oshost.NewHost(cid, m.loop, m.net, nil), ids, client.Options{RequestTimeout: 3 * time.Second})
		m.net.Register(cid, m.client)
	})
	return m
}

func (m *member) stop() {
	m.net.Close()
	m.loop.Close()
}

func connect(ms []*member) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.net.SetPeer(b.id, b.addr)
			}
		}
	}
}

// call runs a client call on m's loop and waits for its outcome.
func put(m *member, key, val string) error {
	ch := make(chan error, 1)
	m.loop.Post(func() {
		m.client.Put([]byte(key), []byte(val), client.PutOptions{}, func(_ *api.PutResponse, _ api.Header, err error) { ch <- err })
	})
	return <-ch
}

func get(m *member, key string) (string, error) {
	type res struct {
		v   string
		err error
	}
	ch := make(chan res, 1)
	m.loop.Post(func() {
		m.client.Get([]byte(key), client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
			if err != nil || len(r.KVs) == 0 {
				ch <- res{"", err}
				return
			}
			ch <- res{string(r.KVs[0].Value), nil}
		})
	})
	r := <-ch
	return r.v, r.err
}

// The replica code runs unchanged on the OS: three members over loopback
// TCP elect a leader, commit writes durably, and a member killed and
// restarted from its directory has every acknowledged write.
func TestClusterOnOS(t *testing.T) {
	ms := make([]*member, len(ids))
	for i, id := range ids {
		ms[i] = startReplica(t, id, t.TempDir(), "127.0.0.1:0", 1)
	}
	connect(ms)
	defer func() {
		for _, m := range ms {
			m.stop()
		}
	}()
	require.Eventually(t, func() bool { return put(ms[0], "k0", "v0") == nil }, 20*time.Second, 50*time.Millisecond)
	for i := 1; i <= 20; i++ {
		require.NoError(t, put(ms[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
	}
	// Crash member 3 and restart it from its directory with a new client
	// incarnation.
	old := ms[2]
	old.stop()
	ms[2] = startReplica(t, old.id, old.dir, old.addr, 2)
	connect(ms)
	var st node.Status
	ms[2].loop.Do(func() { st = ms[2].node.Status() })
	require.False(t, st.Stopped, st.Reason)
	require.GreaterOrEqual(t, st.Commit, uint64(21), "restarted replica read its commit index from its WAL")
	require.Eventually(t, func() bool {
		v, err := get(ms[2], "k20")
		return err == nil && v == "v20"
	}, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, put(ms[2], "after", "restart"))
}
