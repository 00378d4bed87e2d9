package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/oshost"
)

// Membership is split in two, as in etcd:
//
//   - which members exist and which are learners is raft's configuration,
//     changed by conf-change entries (node's MemberAdd/MemberRemove);
//   - what each member is called and where it listens (name, peer URLs,
//     client URLs) is metadata the replicated state machine does not hold.
//     Each member keeps a table of it in <data-dir>/members.json and
//     sends the table to the others every GossipInterval and on every
//     change; tables merge per member by version (a MemberAdd or
//     MemberUpdate bumps the peer version, a member publishing its own
//     name and client URLs at start bumps the attribute version), so they
//     converge. MemberList joins the two: raft's members, with their
//     metadata from the table.
//
// Member IDs are derived from the first peer URL (MemberIDFor), so every
// member computes the same ID for each entry of --initial-cluster, and a
// member joining an existing cluster knows its own ID and the others'
// without asking anyone.

// Limits of the metadata table.
const (
	// MaxMetaMembers bounds the entries of a table (removed ones included).
	MaxMetaMembers = 1024
	// MaxMetaURLs bounds the URLs of one member.
	MaxMetaURLs = 16
	// MaxMetaString bounds a name or URL.
	MaxMetaString = 1024
	// MaxMetaMessage bounds one encoded gossip message.
	MaxMetaMessage = 1 << 20
	// GossipInterval is how often a member sends its table to the others.
	GossipInterval = time.Second
	// membersFile is the table's file in the data dir.
	membersFile = "members.json"
)

// ErrBadMemberMeta: a metadata message or file that does not decode or
// breaks a limit.
var ErrBadMemberMeta = errors.New("bad member metadata")

// MemberIDFor derives a member's ID from its peer URL: FNV-1a 64 of the
// URL (scheme://host:port, lowercased, no trailing slash) reduced into
// [1, oshost.MaxMemberID). Two peer URLs may collide; MemberAdd refuses a
// URL whose ID is taken.
func MemberIDFor(peerURL string) host.NodeID {
	h := fnv.New64a()
	h.Write([]byte(normalizeURL(peerURL)))
	return host.NodeID(h.Sum64()%(oshost.MaxMemberID-1) + 1)
}

func normalizeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return strings.ToLower(strings.TrimRight(s, "/"))
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// PeerHostPort checks one peer or client URL (http, with a port) and
// returns its host:port.
func PeerHostPort(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return "", fmt.Errorf("%q is not a URL like http://127.0.0.1:2380", s)
	case u.Scheme != "http":
		return "", fmt.Errorf("%q: only http is supported (no TLS)", s)
	case u.Port() == "":
		return "", fmt.Errorf("%q has no port", s)
	}
	return u.Host, nil
}

// memberMeta is what the table knows of one member.
type memberMeta struct {
	ID uint64 `json:"id"`
	// Name and ClientURLs are published by the member itself.
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	AttrVer    uint64   `json:"attrVer"`
	// PeerURLs and Removed are set by MemberAdd, MemberUpdate and
	// MemberRemove.
	PeerURLs []string `json:"peerURLs,omitempty"`
	Removed  bool     `json:"removed,omitempty"`
	PeerVer  uint64   `json:"peerVer"`
}

func (m *memberMeta) peerKey() string {
	return fmt.Sprint(m.Removed, m.PeerURLs)
}

func (m *memberMeta) attrKey() string {
	return fmt.Sprint(m.Name, m.ClientURLs)
}

// metaMessage is a gossip message and the members file.
type metaMessage struct {
	// Self is the sender (or the file's owner).
	Self    uint64       `json:"self"`
	Members []memberMeta `json:"members"`
}

// memberTable is a member's metadata table. It is touched on the loop
// only.
type memberTable struct {
	m map[host.NodeID]*memberMeta
}

func newMemberTable() *memberTable {
	return &memberTable{m: make(map[host.NodeID]*memberMeta)}
}

// get returns the entry of id (nil if none).
func (t *memberTable) get(id host.NodeID) *memberMeta { return t.m[id] }

// merge takes in whatever of in is newer than the table's entry; it
// reports whether anything changed. Equal versions with different values
// (two changes made at once on different members) resolve the same way
// everywhere: the larger value wins.
func (t *memberTable) merge(in memberMeta) bool {
	cur := t.m[host.NodeID(in.ID)]
	if cur == nil {
		if len(t.m) >= MaxMetaMembers {
			return false
		}
		c := in
		c.PeerURLs, c.ClientURLs = slices.Clone(in.PeerURLs), slices.Clone(in.ClientURLs)
		t.m[host.NodeID(in.ID)] = &c
		return true
	}
	p := t.mergePeer(cur, in)
	a := t.mergeAttr(cur, in)
	return p || a
}

func (t *memberTable) mergePeer(cur *memberMeta, in memberMeta) bool {
	if in.PeerVer > cur.PeerVer || (in.PeerVer == cur.PeerVer && in.peerKey() > cur.peerKey()) {
		cur.PeerURLs, cur.Removed, cur.PeerVer = slices.Clone(in.PeerURLs), in.Removed, in.PeerVer
		return true
	}
	return false
}

func (t *memberTable) mergeAttr(cur *memberMeta, in memberMeta) bool {
	if in.AttrVer > cur.AttrVer || (in.AttrVer == cur.AttrVer && in.attrKey() > cur.attrKey()) {
		cur.Name, cur.ClientURLs, cur.AttrVer = in.Name, slices.Clone(in.ClientURLs), in.AttrVer
		return true
	}
	return false
}

// setPeer records a MemberAdd or MemberUpdate of id (a new peer version).
func (t *memberTable) setPeer(id host.NodeID, peerURLs []string) {
	cur := t.m[id]
	if cur == nil {
		t.merge(memberMeta{ID: uint64(id), PeerURLs: peerURLs, PeerVer: 1})
		return
	}
	t.mergePeer(cur, memberMeta{PeerURLs: peerURLs, PeerVer: cur.PeerVer + 1})
}

// remove records a MemberRemove of id.
func (t *memberTable) remove(id host.NodeID) {
	if cur := t.m[id]; cur != nil {
		t.mergePeer(cur, memberMeta{PeerURLs: cur.PeerURLs, Removed: true, PeerVer: cur.PeerVer + 1})
	}
}

// publish records this member's own name and client URLs, if they differ
// from the table's.
func (t *memberTable) publish(id host.NodeID, name string, clientURLs []string) bool {
	cur := t.m[id]
	if cur != nil && cur.Name == name && slices.Equal(cur.ClientURLs, clientURLs) {
		return false
	}
	if cur == nil {
		return t.merge(memberMeta{ID: uint64(id), Name: name, ClientURLs: clientURLs, AttrVer: 1})
	}
	return t.mergeAttr(cur, memberMeta{Name: name, ClientURLs: clientURLs, AttrVer: cur.AttrVer + 1})
}

// live lists the IDs of the members not removed, sorted.
func (t *memberTable) live() []host.NodeID {
	var ids []host.NodeID
	for id, m := range t.m {
		if !m.Removed {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// peerWithURL is the live member other than except that has url among
// its peer URLs (0: none).
func (t *memberTable) peerWithURL(url string, except host.NodeID) host.NodeID {
	n := normalizeURL(url)
	for _, id := range t.live() {
		if id == except {
			continue
		}
		for _, u := range t.m[id].PeerURLs {
			if normalizeURL(u) == n {
				return id
			}
		}
	}
	return 0
}

// encode is the table as a message from self.
func (t *memberTable) encode(self host.NodeID) []byte {
	msg := metaMessage{Self: uint64(self)}
	ids := make([]host.NodeID, 0, len(t.m))
	for id := range t.m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		msg.Members = append(msg.Members, *t.m[id])
	}
	b, _ := json.Marshal(msg) // plain data: cannot fail
	return b
}

// decodeMeta decodes and checks a gossip message or members file.
func decodeMeta(b []byte) (metaMessage, error) {
	var msg metaMessage
	if len(b) > MaxMetaMessage {
		return msg, fmt.Errorf("%w: %d bytes", ErrBadMemberMeta, len(b))
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		return msg, fmt.Errorf("%w: %v", ErrBadMemberMeta, err)
	}
	if len(msg.Members) > MaxMetaMembers {
		return msg, fmt.Errorf("%w: %d members", ErrBadMemberMeta, len(msg.Members))
	}
	if msg.Self != 0 && oshost.CheckMemberID(host.NodeID(msg.Self)) != nil {
		return msg, fmt.Errorf("%w: self ID %d", ErrBadMemberMeta, msg.Self)
	}
	for _, m := range msg.Members {
		if err := checkMeta(&m); err != nil {
			return msg, err
		}
	}
	return msg, nil
}

func checkMeta(m *memberMeta) error {
	if oshost.CheckMemberID(host.NodeID(m.ID)) != nil {
		return fmt.Errorf("%w: member ID %d", ErrBadMemberMeta, m.ID)
	}
	if len(m.PeerURLs) > MaxMetaURLs || len(m.ClientURLs) > MaxMetaURLs {
		return fmt.Errorf("%w: member %d: too many URLs", ErrBadMemberMeta, m.ID)
	}
	for _, s := range append(append([]string{m.Name}, m.PeerURLs...), m.ClientURLs...) {
		if len(s) > MaxMetaString {
			return fmt.Errorf("%w: member %d: string of %d bytes", ErrBadMemberMeta, m.ID, len(s))
		}
	}
	for _, u := range m.PeerURLs {
		if _, err := PeerHostPort(u); err != nil {
			return fmt.Errorf("%w: member %d: peer URL %v", ErrBadMemberMeta, m.ID, err)
		}
	}
	return nil
}

// loadMembersFile reads the table kept in dir (ok false if there is none).
func loadMembersFile(dir string) (metaMessage, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, membersFile))
	if errors.Is(err, os.ErrNotExist) {
		return metaMessage{}, false, nil
	}
	if err != nil {
		return metaMessage{}, false, err
	}
	msg, err := decodeMeta(b)
	if err != nil {
		return msg, false, fmt.Errorf("%s: %w", filepath.Join(dir, membersFile), err)
	}
	return msg, true, nil
}

// saveMembersFile writes the table to dir atomically (temporary file,
// fsync, rename).
func saveMembersFile(dir string, b []byte) error {
	tmp := filepath.Join(dir, membersFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, membersFile))
}
