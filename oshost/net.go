package oshost

import (
	"bufio"
	"net"
	"sync"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Limits and timing of the TCP transport.
const (
	// PeerQueue bounds the frames waiting for one outgoing connection;
	// past it frames are dropped (raft re-sends what matters).
	PeerQueue = 4096
	// DialTimeout bounds one connection attempt.
	DialTimeout = time.Second
	// MaxRedialBackoff caps the pause between failed dials.
	MaxRedialBackoff = time.Second
	// flushBytes: a writer flushes once this much is buffered even if
	// more frames wait.
	flushBytes = 1 << 20
)

// Net carries messages for the processes of one member: between them
// directly through the loop, and to other members over TCP.
type Net struct {
	loop *Loop
	self host.NodeID
	ln   net.Listener

	mu     sync.Mutex
	peers  map[host.NodeID]*peer
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	procs map[host.NodeID]host.Process // touched on the loop only
}

// NewNet starts the transport of member self: it listens on listen (a
// host:port; port 0 picks one, see Addr) for frames from other members.
func NewNet(loop *Loop, self host.NodeID, listen string) (*Net, error) {
	if err := CheckMemberID(self); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	n := &Net{loop: loop, self: self, ln: ln, peers: make(map[host.NodeID]*peer),
		conns: make(map[net.Conn]struct{}), procs: make(map[host.NodeID]host.Process)}
	n.wg.Add(1)
	go n.accept()
	return n, nil
}

// Addr is the address the transport listens on.
func (n *Net) Addr() string { return n.ln.Addr().String() }

// SetPeer tells the transport where member id listens.
func (n *Net) SetPeer(id host.NodeID, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if p := n.peers[id]; p != nil {
		if p.addr == addr {
			return
		}
		close(p.stop)
	}
	p := &peer{addr: addr, q: make(chan []byte, PeerQueue), stop: make(chan struct{})}
	n.peers[id] = p
	n.wg.Add(1)
	go p.run(&n.wg)
}

// Register makes p the process that receives messages addressed to id.
// It must be called on the loop.
func (n *Net) Register(id host.NodeID, p host.Process) { n.procs[id] = p }

// Unregister forgets the process id. It must be called on the loop.
func (n *Net) Unregister(id host.NodeID) { delete(n.procs, id) }

// Send delivers payload from process from to process to, at most once.
// It must be called on the loop (it is host.Host.Send).
func (n *Net) Send(from, to host.NodeID, payload []byte) {
	if Home(to) == n.self {
		n.loop.Post(func() { n.deliver(from, to, payload) })
		return
	}
	n.mu.Lock()
	p := n.peers[Home(to)]
	n.mu.Unlock()
	if p == nil {
		return // unknown member: lost
	}
	select {
	case p.q <- appendFrame(make([]byte, 0, frameHeader+len(payload)), from, to, payload):
	default: // queue full: lost
	}
}

func (n *Net) deliver(from, to host.NodeID, payload []byte) {
	if p := n.procs[to]; p != nil {
		p.Receive(from, payload)
	}
}

// Close stops the listener, every connection and every writer, and waits
// for their goroutines.
func (n *Net) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	_ = n.ln.Close()
	for c := range n.conns {
		_ = c.Close()
	}
	for _, p := range n.peers {
		close(p.stop)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *Net) accept() {
	defer n.wg.Done()
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return // closed
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			_ = c.Close()
			return
		}
		n.conns[c] = struct{}{}
		n.wg.Add(1)
		n.mu.Unlock()
		go n.read(c)
	}
}

// read delivers the frames of one inbound connection until it breaks.
func (n *Net) read(c net.Conn) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		delete(n.conns, c)
		n.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [frameHeader]byte
	for {
		from, to, payload, err := readFrame(r, &hdr)
		if err != nil {
			return
		}
		if Home(to) != n.self {
			continue // misrouted: not ours
		}
		if !n.loop.Post(func() { n.deliver(from, to, payload) }) {
			return
		}
	}
}

// peer is the outgoing side towards one member: a queue of frames and a
// writer goroutine that (re)dials as needed.
type peer struct {
	addr string
	q    chan []byte
	stop chan struct{}
}

func (p *peer) run(wg *sync.WaitGroup) {
	defer wg.Done()
	var c net.Conn
	var w *bufio.Writer
	backoff := 10 * time.Millisecond
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for {
		var f []byte
		select {
		case <-p.stop:
			return
		case f = <-p.q:
		}
		if c == nil {
			var err error
			c, err = net.DialTimeout("tcp", p.addr, DialTimeout)
			if err != nil {
				c = nil
				// Lost, like a message to a crashed process. Wait a
				// little before the next attempt, dropping what queues
				// meanwhile would only be stale.
				if !p.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, MaxRedialBackoff)
				continue
			}
			backoff = 10 * time.Millisecond
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			w = bufio.NewWriterSize(c, 256<<10)
		}
		if err := p.write(c, w, f); err != nil {
			_ = c.Close()
			c, w = nil, nil
		}
	}
}

// write writes f and whatever else is queued, then flushes.
func (p *peer) write(c net.Conn, w *bufio.Writer, f []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.Write(f); err != nil {
		return err
	}
	for w.Buffered() < flushBytes {
		select {
		case f = <-p.q:
			if _, err := w.Write(f); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	return w.Flush()
}

// sleep waits d unless stopped; it reports false if stopped.
func (p *peer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.stop:
		return false
	case <-t.C:
		return true
	}
}
