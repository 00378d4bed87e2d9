package oshost

import (
	"sync"
	"testing"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/stretchr/testify/require"
)

// recorder is a process that records what it receives (on its loop).
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Receive(from host.NodeID, payload []byte) {
	r.mu.Lock()
	r.got = append(r.got, string(payload))
	r.mu.Unlock()
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g == s {
			return true
		}
	}
	return false
}

type testMember struct {
	loop *Loop
	net  *Net
	rec  *recorder
}

func startMember(t *testing.T, id host.NodeID, addr string) *testMember {
	t.Helper()
	l := NewLoop()
	n, err := NewNet(l, id, addr)
	require.NoError(t, err)
	m := &testMember{loop: l, net: n, rec: &recorder{}}
	l.Do(func() { n.Register(id, m.rec) })
	return m
}

func (m *testMember) stop() {
	m.net.Close()
	m.loop.Close()
}

// sendUntil re-sends until the message arrives (the transport may lose
// messages while a connection is being set up).
func sendUntil(t *testing.T, from *testMember, fromID, to host.NodeID, rec *recorder, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		from.loop.Post(func() { from.net.Send(fromID, to, []byte(msg)) })
		time.Sleep(5 * time.Millisecond)
		return rec.has(msg)
	}, 10*time.Second, 10*time.Millisecond, "message %q never arrived", msg)
}

// Members exchange messages over loopback TCP; a client process hosted by
// a member gets answers routed by its ID; a restarted member is reached
// again after the connection broke.
func TestNetDeliversAndReconnects(t *testing.T) {
	a := startMember(t, 1, "127.0.0.1:0")
	defer a.stop()
	b := startMember(t, 2, "127.0.0.1:0")
	bAddr := b.net.Addr()
	a.net.SetPeer(2, bAddr)
	b.net.SetPeer(1, a.net.Addr())

	sendUntil(t, a, 1, 2, b.rec, "a->b")
	sendUntil(t, b, 2, 1, a.rec, "b->a")

	// A client process on member 2, reached from member 1 by its ID.
	cl := &recorder{}
	cid := ClientID(2, 42)
	b.loop.Do(func() { b.net.Register(cid, cl) })
	sendUntil(t, a, 1, cid, cl, "to client")
	// Local delivery: member 2 to its own client, without TCP.
	sendUntil(t, b, 2, cid, cl, "local")

	// Member 2 crashes and comes back on the same address.
	b.stop()
	b = startMember(t, 2, bAddr)
	defer b.stop()
	b.net.SetPeer(1, a.net.Addr())
	sendUntil(t, a, 1, 2, b.rec, "after restart")
}

// A frame for a process the member does not host is dropped, and so is
// a message to an unknown member.
func TestNetDropsUnroutable(t *testing.T) {
	a := startMember(t, 1, "127.0.0.1:0")
	defer a.stop()
	b := startMember(t, 2, "127.0.0.1:0")
	defer b.stop()
	a.net.SetPeer(2, b.net.Addr())
	a.loop.Do(func() { a.net.Send(1, 9, []byte("nowhere")) }) // no such member
	sendUntil(t, a, 1, 2, b.rec, "ok")
	a.loop.Do(func() { a.net.Send(1, ClientID(2, 5), []byte("no client")) })
	sendUntil(t, a, 1, 2, b.rec, "ok2")
	require.False(t, b.rec.has("no client"))
	require.False(t, b.rec.has("nowhere"))
}
