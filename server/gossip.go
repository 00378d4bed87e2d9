package server

import (
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
}

// Receive merges a table from another member.
func (g *gossip) Receive(_ host.NodeID, payload []byte) {
	msg, err := decodeMeta(payload)
	if err != nil {
		return
	}
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
	if g.client != nil {
		g.client.SetServers(live)
	}
	g.saveErr = saveMembersFile(g.dir, g.tab.encode(g.self))
}

// broadcast sends the table to every other live member.
func (g *gossip) broadcast() {
	b := g.tab.encode(g.self)
	for _, id := range g.tab.live() {
		if id != g.self {
			g.net.Send(oshost.MetaID(g.self), oshost.MetaID(id), b)
		}
	}
}

// tick broadcasts and schedules the next tick.
func (g *gossip) tick() {
	g.broadcast()
	g.loop.After(GossipInterval, g.tick)
}
