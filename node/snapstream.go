package node

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/limits"
	"github.com/seedkv/seedkv/raft"
)

// A snapshot larger than one peer message travels as a chunked stream:
// raft's MsgSnap without its data (the header) and the data cut into
// chunks of at most Config.SnapshotChunkBytes, each its own control
// message (EnvelopeControl, kind ctlSnapChunk):
//
//	ctlSnapChunk | uvarint snapIndex | uvarint snapTerm | uvarint dataLen |
//	uvarint chunkSize | crc32c(data) (4, big endian) | uvarint offset |
//	uvarint headerLen | header | chunk bytes
//
// The header rides on the chunk at offset 0 only; every chunk but the last
// is chunkSize long and starts at a multiple of it. A stream is named by
// (snapIndex, snapTerm, dataLen, chunkSize, crc): every stream with that name carries
// the same bytes, so the chunks of a resent snapshot fill the gaps that
// lost chunks left in an earlier stream. The receiver keeps one stream,
// replaced by any chunk of another; once every byte and the header are
// in and the checksum matches, it steps the rebuilt MsgSnap into raft as
// if it had arrived whole. A stream never completed costs nothing but
// memory: raft resends the snapshot when the follower keeps rejecting
// appends.
const ctlSnapChunk byte = 2

// snapStreamID names a stream.
type snapStreamID struct {
	index, term uint64
	size, unit  uint64 // data bytes, chunk bytes
	crc         uint32
}

// snapAssembly is the stream a follower is receiving.
type snapAssembly struct {
	id     snapStreamID
	from   host.NodeID
	header []byte // MsgSnap without data; nil until the first chunk arrives
	data   []byte
	have   []bool // per chunk: received
	left   int    // chunks not yet received
}

// chunkBytes is the configured chunk size.
func (n *Node) chunkBytes() int {
	if n.cfg.SnapshotChunkBytes > 0 {
		return n.cfg.SnapshotChunkBytes
	}
	return limits.SnapshotChunkBytes
}

// sendSnapshotStream sends m, a MsgSnap, as a chunked stream if its data
// is larger than one chunk, and reports whether it did.
func (n *Node) sendSnapshotStream(m *raft.Message) bool {
	chunk := n.chunkBytes()
	if m.Snapshot == nil || len(m.Snapshot.Data) <= chunk {
		return false
	}
	n.probes.Hit(probeSnapStreamed)
	data := m.Snapshot.Data
	hm := *m
	hs := *m.Snapshot
	hs.Data = nil
	hm.Snapshot = &hs
	header := hm.Marshal()
	id := snapStreamID{index: hs.Meta.Index, term: hs.Meta.Term, size: uint64(len(data)), unit: uint64(chunk),
		crc: crc32.Checksum(data, castagnoli)}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		var h []byte
		if off == 0 {
			h = header
		}
		n.h.Send(host.NodeID(m.To), appendSnapChunk(nil, id, uint64(off), h, data[off:end]))
	}
	return true
}

// awaitSnapshot waits for the outcome of the snapshot stream just sent to
// follower to: raft keeps the follower in snapshot state until the
// follower acknowledges the installed snapshot, which moves it on. If no
// acknowledgement has come within SnapshotTimeout, the stream is taken as
// failed (a chunk was lost, the receiver crashed or restarted mid-stream,
// it is cut off) and raft is told so (ReportSnapshot(to, false)), as etcd's
// sender does when its snapshot stream fails: the leader leaves snapshot
// state and probes the follower again, which asks for a new snapshot if
// it still needs one. A timeout after the snapshot did arrive costs
// nothing: raft ignores a report for a follower no longer in snapshot
// state. A snapshot small enough for one message is reported delivered at
// once (the network gives no delivery report; the follower's answer, or
// its silence, then drives raft).
func (n *Node) awaitSnapshot(to uint64) {
	n.snapSeq++
	seq := n.snapSeq
	if n.snapOut == nil {
		n.snapOut = make(map[uint64]uint64)
	}
	n.snapOut[to] = seq
	n.h.After(n.snapshotTimeout(), func() {
		if n.stopped || n.rn == nil || n.snapOut[to] != seq {
			return // superseded by a newer stream, or no raft to tell
		}
		delete(n.snapOut, to)
		n.rn.ReportSnapshot(to, false)
		n.process()
	})
}

// snapshotTimeout is how long a snapshot stream may take to be
// acknowledged: Config.SnapshotTimeout, or two election timeouts.
func (n *Node) snapshotTimeout() time.Duration {
	if n.cfg.SnapshotTimeout > 0 {
		return n.cfg.SnapshotTimeout
	}
	return 2 * time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
}

// appendSnapChunk encodes one chunk, envelope included.
func appendSnapChunk(b []byte, id snapStreamID, off uint64, header, chunk []byte) []byte {
	b = append(b, byte(api.EnvelopeControl), ctlSnapChunk)
	b = binary.AppendUvarint(b, id.index)
	b = binary.AppendUvarint(b, id.term)
	b = binary.AppendUvarint(b, id.size)
	b = binary.AppendUvarint(b, id.unit)
	b = binary.BigEndian.AppendUint32(b, id.crc)
	b = binary.AppendUvarint(b, off)
	b = binary.AppendUvarint(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, chunk...)
}

// snapChunk is one decoded chunk.
type snapChunk struct {
	id     snapStreamID
	off    uint64
	header []byte
	data   []byte
}

// decodeSnapChunk decodes a chunk's body (after the kind byte); ok is
// false for anything malformed or beyond the limits.
func decodeSnapChunk(b []byte) (c snapChunk, ok bool) {
	u := func() uint64 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			ok = false
			return 0
		}
		b = b[k:]
		return v
	}
	ok = true
	c.id.index, c.id.term, c.id.size, c.id.unit = u(), u(), u(), u()
	if !ok || len(b) < 4 {
		return c, false
	}
	c.id.crc = binary.BigEndian.Uint32(b)
	b = b[4:]
	c.off = u()
	hl := u()
	switch {
	case !ok, hl > uint64(len(b)), hl > raft.MaxMessageSize,
		c.id.size == 0, c.id.size > limits.MaxSnapshotBytes, c.off >= c.id.size,
		c.id.unit == 0, c.id.unit > raft.MaxMessageSize, c.off%c.id.unit != 0:
		return c, false
	}
	// A chunk without a header must leave header nil, not empty: add
	// keeps the stream's header from the first chunk only if later ones
	// carry none.
	if hl > 0 {
		c.header = b[:hl]
	}
	c.data = b[hl:]
	want := min(c.id.unit, c.id.size-c.off) // every chunk is whole
	return c, uint64(len(c.data)) == want && (c.off == 0) == (hl > 0)
}

// onSnapChunk takes one chunk of a snapshot stream from a peer.
func (n *Node) onSnapChunk(from host.NodeID, body []byte) {
	c, ok := decodeSnapChunk(body)
	if !ok {
		return
	}
	a := n.snapIn
	if a == nil || a.id != c.id || a.from != from {
		chunks := (c.id.size + c.id.unit - 1) / c.id.unit
		a = &snapAssembly{id: c.id, from: from, data: make([]byte, c.id.size), have: make([]bool, chunks), left: int(chunks)}
		n.snapIn = a
	}
	a.add(&c)
	if a.left > 0 || a.header == nil {
		return
	}
	n.snapIn = nil
	if crc32.Checksum(a.data, castagnoli) != a.id.crc {
		return
	}
	var m raft.Message
	if m.Unmarshal(a.header) != nil || m.Type != raft.MsgSnap || m.From != uint64(from) || m.Snapshot == nil ||
		m.Snapshot.Meta.Index != a.id.index || m.Snapshot.Meta.Term != a.id.term {
		return
	}
	m.Snapshot.Data = a.data
	_ = n.rn.Step(m)
}

// add copies a chunk in (once).
func (a *snapAssembly) add(c *snapChunk) {
	if c.header != nil {
		a.header = append(a.header[:0], c.header...)
	}
	if i := c.off / a.id.unit; !a.have[i] {
		a.have[i] = true
		a.left--
		copy(a.data[c.off:], c.data)
	}
}
