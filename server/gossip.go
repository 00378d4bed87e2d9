package server

import (
	"slices"
	"time"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/oshost"
)

// gossip is the process (at oshost.MetaID of its member) that keeps the
// member table: it sends the table to every live member each
// GossipInterval and on every local change, merges the tables it
// receives, and after a change points the transport at every member's
// peer address, gives the member's client the new list of servers and
// saves the table in the data dir. It runs on the member's loop.
type gossip struct {
	self   host.NodeID
	dir    string
	tab    *memberTable
	net    *oshost.Net
	loop   *oshost.Loop
	client *client.Client
	// saveErr is the last error saving the table (reported in Status).
	saveErr error
	// heard is when each member's table last arrived (wall clock: the
	// real path only).
	heard map[host.NodeID]time.Time
	// started is when the member started, atStart the members it knew.
	started time.Time
	atStart map[host.NodeID]bool
	// servers is what the client was last given.
	servers []host.NodeID
}

// ActiveWindow: a member whose table arrived this recently is active
// (its process runs and reaches this one); reconfigurations count active
// members, as etcd's strict reconfiguration check does.
const ActiveWindow = 3 * GossipInterval

// active reports whether member id is active as this member sees it. In
// its first ActiveWindow a member takes the members it knew of at start
// and has not heard from yet for active (they may be starting too).
func (g *gossip) active(id host.NodeID) bool {
	t, ok := g.heard[id]
	if !ok {
		return id == g.self || (g.atStart[id] && time.Since(g.started) < ActiveWindow)
	}
	return time.Since(t) < ActiveWindow
}

// Receive merges a table from another member.
func (g *gossip) Receive(from host.NodeID, payload []byte) {
	msg, err := decodeMeta(payload)
	if err != nil {
		return
	}
	if g.heard == nil {
		g.heard = make(map[host.NodeID]time.Time)
	}
	g.heard[oshost.Home(from)] = time.Now()
	g.refreshServers()
	changed := false
	for _, m := range msg.Members {
		if g.tab.merge(m) {
			changed = true
		}
	}
	if changed {
		g.apply()
	}
}

// changed is called after a local change of the table: apply it and tell
// the others at once.
func (g *gossip) changed() {
	g.apply()
	g.broadcast()
}

// apply makes the member act on the table.
func (g *gossip) apply() {
	live := g.tab.live()
	for _, id := range live {
		m := g.tab.get(id)
		if id == g.self || len(m.PeerURLs) == 0 {
			continue
		}
		if addr, err := PeerHostPort(m.PeerURLs[0]); err == nil {
			g.net.SetPeer(id, addr)
		}
	}
	g.refreshServers()
	g.saveErr = saveMembersFile(g.dir, g.tab.encode(g.self))
}

// refreshServers gives the member's client the live members that are
// active (this one always is): a write sent to a member that is down, or
// added but not started, would wait for the whole request timeout.
func (g *gossip) refreshServers() {
	var servers []host.NodeID
	for _, id := range g.tab.live() {
		if g.active(id) {
			servers = append(servers, id)
		}
	}
	if !slices.Equal(servers, g.servers) && g.client != nil {
		g.client.SetServers(servers)
		g.servers = servers
	}
}

// broadcast sends the table to every other member, removed ones
// included: a removed member learns of its removal from it (the leader
// no longer sends it raft messages).
func (g *gossip) broadcast() {
	b := g.tab.encode(g.self)
	for id := range g.tab.m {
		if id != g.self {
			g.net.Send(oshost.MetaID(g.self), oshost.MetaID(id), b)
		}
	}
}

// selfRemoved reports whether the table says this member was removed.
func (g *gossip) selfRemoved() bool {
	m := g.tab.get(g.self)
	return m != nil && m.Removed
}

// tick broadcasts and schedules the next tick.
func (g *gossip) tick() {
	g.refreshServers()
	g.broadcast()
	g.loop.After(GossipInterval, g.tick)
}
