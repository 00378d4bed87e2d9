package node

import (
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// This file exports decoders of the node's own encodings (log commands,
// control messages, membership-change contexts) for tools that explain a
// run, such as the harness's trace decoder. The node itself uses the
// unexported forms.

// Command is a decoded log command: the Data of an EntryNormal entry.
type Command struct {
	// Expire marks a lease-expiry decision (Leases); otherwise the
	// command carries a client request (Request).
	Expire bool
	// Proposer is the replica that proposed a client request, Client the
	// client that sent it.
	Proposer, Client host.NodeID
	// Stamp is the proposer's clock (Unix nanoseconds) at the proposal.
	Stamp int64
	// Request is the client request (nil for an expiry).
	Request *api.Request
	// Leases are the leases an expiry revokes.
	Leases []int64
}

// IsExpireCommand reports whether data, an EntryNormal entry's Data, is a
// lease-expiry decision, reading two bytes (cheap enough to call on every
// applied entry).
func IsExpireCommand(data []byte) bool {
	return len(data) >= 2 && data[0] == cmdVersion && data[1] == kindExpire
}

// DecodeCommand decodes a log command; bad input gets an error wrapping
// ErrBadCommand.
func DecodeCommand(data []byte) (Command, error) {
	c, err := decodeCommand(data)
	if err != nil {
		return Command{}, err
	}
	return Command{Expire: c.kind == kindExpire, Proposer: c.proposer, Client: c.client,
		Stamp: c.stamp, Request: c.req, Leases: c.leases}, nil
}

// ErrBadControl: a control message (api.EnvelopeControl) is malformed or
// of an unknown kind.
var ErrBadControl = errors.New("node: bad control message")

// SnapChunk describes one chunk of a snapshot stream, the only control
// message there is.
type SnapChunk struct {
	// Index and Term name the snapshot.
	Index, Term uint64
	// Size is the snapshot's data size, ChunkSize the stream's chunk size.
	Size, ChunkSize uint64
	// Offset is where this chunk's bytes go, Bytes how many it carries.
	Offset uint64
	Bytes  int
	// Header is set on the first chunk, which carries the MsgSnap header.
	Header bool
}

// DecodeControl decodes the body of a control message (the bytes after
// the envelope); bad input gets an error wrapping ErrBadControl.
func DecodeControl(body []byte) (SnapChunk, error) {
	if len(body) == 0 || body[0] != ctlSnapChunk {
		return SnapChunk{}, fmt.Errorf("%w: kind", ErrBadControl)
	}
	c, ok := decodeSnapChunk(body[1:])
	if !ok {
		return SnapChunk{}, fmt.Errorf("%w: snapshot chunk", ErrBadControl)
	}
	return SnapChunk{Index: c.id.index, Term: c.id.term, Size: c.id.size, ChunkSize: c.id.unit,
		Offset: c.off, Bytes: len(c.data), Header: len(c.header) > 0}, nil
}

// DecodeConfContext decodes the Context of a membership change proposed
// for a client: the proposing replica, the client and its request ID; ok
// is false for anything else.
func DecodeConfContext(b []byte) (proposer, client host.NodeID, id api.RequestID, ok bool) {
	return decodeConfContext(b)
}
