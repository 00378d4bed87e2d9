package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
)

// The replicated state machine is mvcc plus two small tables of the node's
// own, both changed only by applying log entries (so identical on every
// replica at the same applied index) and both part of every snapshot:
//
//   - sessions: per client, the request IDs applied and the client's
//     FinishedBelow watermark, so that a write the network duplicates is
//     applied at most once;
//   - leaseDeadline: per lease, the expiry implied by its last grant or
//     keep-alive stamp. mvcc's own expiry is moved forward on a new leader
//     (LeasePromote, etcd's behaviour, local to the leader), so it is not
//     the same on every replica; this table is, and an expire command only
//     revokes leases that are past this deadline at the command's stamp.

// MaxSessionIDs bounds the applied request IDs remembered per client
// above its FinishedBelow watermark. A client that keeps more requests
// open than this loses duplicate protection for its oldest ones (the
// watermark is forced up, deterministically, and those IDs are refused).
const MaxSessionIDs = 1 << 16

type session struct {
	finishedBelow api.RequestID
	// applied holds the applied request IDs at or above finishedBelow
	// (and any a snapshot declared), ascending, without repeats: a
	// client has a few requests open, so a short sorted slice serves the
	// lookup and insert every applied write makes for less than a map,
	// and the snapshot needs them sorted anyway.
	applied []api.RequestID
}

// admit decides, at apply time, whether request id of this session may
// take effect, and records it. It is deterministic: every replica decides
// the same for the same log.
func (s *session) admit(id, finishedBelow api.RequestID) bool {
	if finishedBelow > s.finishedBelow {
		s.advance(finishedBelow)
	}
	if id < s.finishedBelow {
		return false // the client is done with it: a late duplicate
	}
	i, dup := slices.BinarySearch(s.applied, id)
	if dup {
		return false
	}
	s.applied = slices.Insert(s.applied, i, id)
	if len(s.applied) > MaxSessionIDs {
		s.advance(s.applied[len(s.applied)-MaxSessionIDs] + 1)
	}
	return true
}

// advance raises the watermark to fb and forgets the IDs below it.
func (s *session) advance(fb api.RequestID) {
	s.finishedBelow = fb
	i, _ := slices.BinarySearch(s.applied, fb)
	s.applied = s.applied[:copy(s.applied, s.applied[i:])]
}

// add records id as applied (decoding a snapshot).
func (s *session) add(id api.RequestID) {
	if i, dup := slices.BinarySearch(s.applied, id); !dup {
		s.applied = slices.Insert(s.applied, i, id)
	}
}

// sortedIDs is the applied IDs, ascending (not to be modified).
func (s *session) sortedIDs() []api.RequestID { return s.applied }

// stateMachine is everything applying the log changes.
type stateMachine struct {
	store         *mvcc.Store
	sessions      map[host.NodeID]*session
	leaseDeadline map[int64]int64 // lease ID -> Unix ns
	// encoded is the length of the last encoding: the next one's buffer
	// is sized from it (the store's hint, in quota units, is several
	// times the encoding, and the buffer is zeroed when allocated).
	encoded int
}

func newStateMachine(quota int64) *stateMachine {
	return &stateMachine{
		store:         mvcc.New(mvcc.Config{QuotaBytes: quota}),
		sessions:      make(map[host.NodeID]*session),
		leaseDeadline: make(map[int64]int64),
	}
}

func (sm *stateMachine) session(client host.NodeID) *session {
	s := sm.sessions[client]
	if s == nil {
		s = &session{}
		sm.sessions[client] = s
	}
	return s
}

const stateMagic = "SKVNODE1"

// MaxSessions bounds the client sessions a snapshot may declare.
const MaxSessions = 1 << 20

// ErrBadState: snapshot data that does not decode.
var ErrBadState = errors.New("node: corrupt state snapshot")

// encode serializes the state machine deterministically (sorted keys).
func (sm *stateMachine) encode() []byte {
	// One buffer for all of it: the store's encoding, most of the bytes,
	// is appended in place rather than built apart and copied.
	size := sm.encoded + sm.encoded/8 + 64
	if sm.encoded == 0 {
		size = len(stateMagic) + 32*(len(sm.sessions)+len(sm.leaseDeadline)) + sm.store.SnapshotSizeHint() + 8
	}
	b := make([]byte, 0, size)
	b = append(b, stateMagic...)
	clients := make([]host.NodeID, 0, len(sm.sessions))
	for c := range sm.sessions {
		clients = append(clients, c)
	}
	slices.Sort(clients)
	b = binary.AppendUvarint(b, uint64(len(clients)))
	for _, c := range clients {
		s := sm.sessions[c]
		b = binary.AppendUvarint(b, uint64(c))
		b = binary.AppendUvarint(b, uint64(s.finishedBelow))
		ids := s.sortedIDs()
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, uint64(id))
		}
	}
	leases := make([]int64, 0, len(sm.leaseDeadline))
	for id := range sm.leaseDeadline {
		leases = append(leases, id)
	}
	slices.Sort(leases)
	b = binary.AppendUvarint(b, uint64(len(leases)))
	for _, id := range leases {
		b = binary.AppendVarint(b, id)
		b = binary.AppendVarint(b, sm.leaseDeadline[id])
	}
	b = sm.store.AppendSnapshot(b)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	sm.encoded = len(b)
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// decodeState rebuilds a state machine from encode's bytes.
func decodeState(b []byte, quota int64) (*stateMachine, error) {
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: header", ErrBadState)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum", ErrBadState)
	}
	off := len(stateMagic)
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(body[off:])
		if n <= 0 {
			bad = true
			return 0
		}
		off += n
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(body[off:])
		if n <= 0 {
			bad = true
			return 0
		}
		off += n
		return v
	}
	sm := &stateMachine{sessions: make(map[host.NodeID]*session), leaseDeadline: make(map[int64]int64)}
	nc := uv()
	if nc > MaxSessions {
		return nil, fmt.Errorf("%w: %d sessions", ErrBadState, nc)
	}
	for i := uint64(0); i < nc && !bad; i++ {
		s := sm.session(host.NodeID(uv()))
		s.finishedBelow = api.RequestID(uv())
		ni := uv()
		if ni > MaxSessionIDs {
			return nil, fmt.Errorf("%w: %d session IDs", ErrBadState, ni)
		}
		for j := uint64(0); j < ni && !bad; j++ {
			s.add(api.RequestID(uv()))
		}
	}
	nl := uv()
	if nl > uint64(len(body)) {
		return nil, fmt.Errorf("%w: %d leases", ErrBadState, nl)
	}
	for i := uint64(0); i < nl && !bad; i++ {
		id := sv()
		sm.leaseDeadline[id] = sv()
	}
	if bad {
		return nil, fmt.Errorf("%w: truncated", ErrBadState)
	}
	store, err := mvcc.Restore(body[off:], mvcc.Config{QuotaBytes: quota})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	sm.store = store
	return sm, nil
}
