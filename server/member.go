package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"google.golang.org/grpc"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/oshost"
	"github.com/seedkv/seedkv/wal"
)

// MemberConfig configures one member process: a replica, its peer
// transport and its gRPC server.
type MemberConfig struct {
	// ID is this member's ID; Peers maps every member's ID (this one's
	// included) to its peer address host:port.
	ID    host.NodeID
	Peers map[host.NodeID]string
	// Members describes the cluster for MemberList.
	Members []MemberInfo
	// DataDir holds the WAL and snapshots.
	DataDir string
	// ListenPeer and ListenClient are host:port to listen on (port 0
	// picks a free one).
	ListenPeer, ListenClient string
	// ClusterID goes into every response header and the WAL.
	ClusterID uint64
	// Node tunes the replica; Members is filled in from Peers.
	Node node.Config
	// RequestTimeout: see Config.
	RequestTimeout time.Duration
	// Join starts a new member of an existing cluster (etcd's
	// --initial-cluster-state existing): it was added with MemberAdd and
	// waits for the leader to send it the state. Peers must name the
	// cluster's members (this one included).
	Join bool
	// AllowPeerRecovery lets a replica whose data dir is corrupt rebuild
	// from its peers (package node's protocol-aware recovery) instead of
	// refusing to start.
	AllowPeerRecovery bool
}

// Member is a running member.
type Member struct {
	id host.NodeID
	// removed is closed once the replica, having been a member, applied
	// its own removal; seenSelf is touched on the loop only.
	removed  chan struct{}
	seenSelf bool
	// stopped is closed once the replica stopped: halted on an I/O error
	// of its disk (a restart recovers) or stopped for good on damaged
	// state; stopReason (set before the close) says which and why.
	stopped    chan struct{}
	stopReason string
	loop       *oshost.Loop
	net        *oshost.Net
	node       *node.Node
	grpc       *grpc.Server
	ln         net.Listener
	served     chan struct{}
}

// ErrCorruptDataDir: the data directory holds damaged state; the error
// names the file.
var ErrCorruptDataDir = errors.New("corrupt data dir")

// StartMember starts a member. It fails with an error wrapping
// ErrCorruptDataDir, naming the damaged file, if the WAL or its snapshot
// is damaged and cfg.AllowPeerRecovery is off.
func StartMember(cfg MemberConfig) (*Member, error) {
	if err := oshost.CheckMemberID(cfg.ID); err != nil {
		return nil, err
	}
	fs, err := wal.OSDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	tab, err := loadMemberTable(&cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.AllowPeerRecovery {
		if err := CheckDataDir(fs); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrCorruptDataDir, cfg.DataDir, err)
		}
	}
	ln, err := net.Listen("tcp", cfg.ListenClient)
	if err != nil {
		return nil, fmt.Errorf("listen client: %w", err)
	}
	m := &Member{loop: oshost.NewLoop(), ln: ln, served: make(chan struct{}), removed: make(chan struct{}),
		stopped: make(chan struct{})}
	// fsyncs run beside the loop, so that a member keeps serving while its
	// disk flushes (the replica is written for asynchronous syncs).
	afs := oshost.AsyncSyncFS(fs, m.loop)
	m.net, err = oshost.NewNet(m.loop, cfg.ID, cfg.ListenPeer)
	if err != nil {
		ln.Close()
		m.loop.Close()
		return nil, fmt.Errorf("listen peer: %w", err)
	}
	ids := make([]host.NodeID, 0, len(cfg.Peers))
	for id := range cfg.Peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	ncfg := cfg.Node
	ncfg.Members, ncfg.ClusterID, ncfg.Join = ids, cfg.ClusterID, cfg.Join
	ncfg.PromoteCatchUp = true
	var cl *client.Client
	g := &gossip{self: cfg.ID, dir: cfg.DataDir, tab: tab, net: m.net, loop: m.loop, started: time.Now(),
		heard: make(map[host.NodeID]time.Time), atStart: make(map[host.NodeID]bool)}
	for _, id := range tab.live() {
		g.atStart[id] = true
	}
	m.loop.Do(func() {
		m.node = node.Start(oshost.NewHost(cfg.ID, m.loop, m.net, afs), ncfg).(*node.Node)
		m.net.Register(cfg.ID, m.node)
		cid := oshost.ClientID(cfg.ID, uint64(time.Now().UnixNano()))
		cl = client.New(oshost.NewHost(cid, m.loop, m.net, nil), tab.live(), client.Options{})
		m.net.Register(cid, cl)
		g.client = cl
		m.net.Register(oshost.MetaID(cfg.ID), g)
		g.apply()
		g.tick()
		m.watchRemoval(g)
		m.watchStopped(m.node.Stopped)
	})
	if g.saveErr != nil {
		ln.Close()
		m.net.Close()
		m.loop.Close()
		return nil, fmt.Errorf("members file: %w", g.saveErr)
	}
	// The replica drops every message until its start state is durable:
	// a client's write sent meanwhile would wait for its whole timeout.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		booting := true
		m.loop.Do(func() { booting = m.node.Booting() })
		if !booting {
			break
		}
	}
	srv := New(Config{Loop: m.loop, Node: m.node, Client: cl, ClusterID: cfg.ClusterID,
		Members: cfg.Members, RequestTimeout: cfg.RequestTimeout,
		MinLeaseTTL: minLeaseTTL(ncfg)})
	srv.gossip = g
	m.id = cfg.ID
	// etcd's limits: requests up to MaxRecvBytes, answers up to 2 GiB
	// (its maxSendBytes; seedkv's own stop at api.MaxResponseSize).
	m.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(MaxRecvBytes), grpc.MaxSendMsgSize(math.MaxInt32))
	srv.Register(m.grpc)
	go func() {
		defer close(m.served)
		_ = m.grpc.Serve(ln)
	}()
	return m, nil
}

// minLeaseTTL is etcd's minimum lease TTL for the replica's raft timing.
func minLeaseTTL(c node.Config) int64 {
	tick, ticks := c.TickInterval, c.ElectionTicks
	if tick <= 0 {
		tick = node.DefaultTickInterval
	}
	if ticks <= 0 {
		ticks = node.DefaultElectionTicks
	}
	return MinLeaseTTLFor(tick, ticks)
}

// ID is the member's ID (from its data dir's members file if it has one,
// else MemberConfig.ID).
func (m *Member) ID() host.NodeID { return m.id }

// Removed is closed once this member has been removed from the cluster
// (a MemberRemove of it applied): etcd's member then stops, and so does
// `seedkv`.
func (m *Member) Removed() <-chan struct{} { return m.removed }

// watchRemoval checks every GossipInterval whether this member was
// removed: its replica's configuration, which once held it, no longer
// does, or (as a removed member rarely hears of the commit of its own
// removal) the member table the others send says so.
func (m *Member) watchRemoval(g *gossip) {
	cs := m.node.RaftStatus().ConfState
	in := slices.Contains(cs.Voters, uint64(m.id)) || slices.Contains(cs.Learners, uint64(m.id))
	switch {
	case in && !g.selfRemoved():
		m.seenSelf = true
	case m.seenSelf || g.selfRemoved():
		close(m.removed)
		return
	}
	m.loop.After(GossipInterval, func() { m.watchRemoval(g) })
}

// Stopped is closed once this member's replica stopped: after a failed
// fsync it halts, as etcd panics, and only a new process recovers it from
// what is durable; after damage it cannot recover from, it stops for good.
// Either way it serves nothing more, and `seedkv` exits non-zero so that
// its supervisor restarts it (StopReason says why).
func (m *Member) Stopped() <-chan struct{} { return m.stopped }

// StopReason is why the replica stopped, once Stopped is closed.
func (m *Member) StopReason() string {
	select {
	case <-m.stopped:
		return m.stopReason
	default:
		return ""
	}
}

// watchStopped checks every GossipInterval, on the loop, whether the
// replica stopped (stopped is node.Node.Stopped).
func (m *Member) watchStopped(stopped func() (bool, string)) {
	select {
	case <-m.stopped:
		return // another watcher saw it
	default:
	}
	if ok, why := stopped(); ok {
		m.stopReason = why
		close(m.stopped)
		return
	}
	m.loop.After(GossipInterval, func() { m.watchStopped(stopped) })
}

// ClientAddr is the address of the gRPC server.
func (m *Member) ClientAddr() string { return m.ln.Addr().String() }

// PeerAddr is the address of the peer transport.
func (m *Member) PeerAddr() string { return m.net.Addr() }

// Status is the replica's status.
func (m *Member) Status() node.Status {
	var st node.Status
	m.loop.Do(func() { st = m.node.Status() })
	return st
}

// Stop stops serving clients, then the replica and its transport. What
// was acknowledged is on disk already (every acknowledgement waits for
// an fsync), so stopping needs no flush.
func (m *Member) Stop() {
	stopped := make(chan struct{})
	go func() { m.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		m.grpc.Stop() // streams (watches, keep-alives) do not end by themselves
	}
	<-m.served
	m.net.Close()
	m.loop.Close()
}

// loadMemberTable builds the member table from the data dir's members
// file, then the configuration (at version 0, so that what the file or
// the other members know wins), then this member's own name and client
// URLs. A members file names this member's ID, which wins over cfg.ID (a
// MemberUpdate may have changed the peer URL the ID was derived from).
func loadMemberTable(cfg *MemberConfig) (*memberTable, error) {
	tab := newMemberTable()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	msg, ok, err := loadMembersFile(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptDataDir, err)
	}
	if wals, _ := filepath.Glob(filepath.Join(cfg.DataDir, "*.wal")); !ok && len(wals) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrLegacyDataDir, cfg.DataDir)
	}
	if ok {
		for _, m := range msg.Members {
			tab.merge(m)
		}
		if msg.Self != 0 && host.NodeID(msg.Self) != cfg.ID {
			cfg.Peers[host.NodeID(msg.Self)] = cfg.Peers[cfg.ID]
			delete(cfg.Peers, cfg.ID)
			cfg.ID = host.NodeID(msg.Self)
		}
	}
	var self MemberInfo
	for _, info := range cfg.Members {
		if info.ID == cfg.ID {
			self = info
		}
		tab.merge(memberMeta{ID: uint64(info.ID), Name: info.Name, PeerURLs: info.PeerURLs, ClientURLs: info.ClientURLs})
	}
	for id, addr := range cfg.Peers {
		if tab.get(id) == nil {
			tab.merge(memberMeta{ID: uint64(id), PeerURLs: []string{"http://" + addr}})
		}
	}
	if self.ID != 0 {
		tab.publish(cfg.ID, self.Name, self.ClientURLs)
	}
	// Saved before the replica writes anything: a data dir with a WAL and
	// no members file is one made before members.json existed.
	if err := saveMembersFile(cfg.DataDir, tab.encode(cfg.ID)); err != nil {
		return nil, fmt.Errorf("members file: %w", err)
	}
	return tab, nil
}

// ErrLegacyDataDir: a data dir with a WAL but no members.json, made by a
// seedkv that numbered members by their position in --initial-cluster
// (IDs are now derived from peer URLs, so its raft configuration names
// none of them).
var ErrLegacyDataDir = errors.New("data dir made by an older seedkv (member IDs by position, no members.json): start this member with an empty data dir")
