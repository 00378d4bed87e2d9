package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// Commands are what the node proposes into the raft log: the payload of
// every EntryNormal entry (raft's own empty entries aside). Format:
//
//	version(1) kind(1) body
//	kindClient: uvarint proposer | uvarint client | varint stamp | api request payload
//	kindExpire: varint stamp | uvarint n | n x varint lease ID
//
// stamp is the proposer's clock (Unix nanoseconds) when it proposed: lease
// grants and keep-alives compute expiry from it, so every replica stores
// the same expiry whatever its own clock says.
const cmdVersion byte = 1

// Command kinds.
const (
	kindClient byte = 1
	kindExpire byte = 2
)

// MaxExpireBatch bounds the leases one expire command revokes.
const MaxExpireBatch = 1024

// ErrBadCommand: a log entry's payload is not a valid command. Every
// replica decodes the same bytes, so every replica rejects it the same way
// (it is skipped, deterministically).
var ErrBadCommand = errors.New("node: bad command")

// command is a decoded log command.
type command struct {
	kind     byte
	proposer host.NodeID
	client   host.NodeID
	stamp    int64
	req      *api.Request // kindClient
	leases   []int64      // kindExpire
}

// appendClientCmd frames an encoded client request as a command.
func appendClientCmd(b []byte, proposer, client host.NodeID, stamp int64, payload []byte) []byte {
	b = append(b, cmdVersion, kindClient)
	b = binary.AppendUvarint(b, uint64(proposer))
	b = binary.AppendUvarint(b, uint64(client))
	b = binary.AppendVarint(b, stamp)
	return append(b, payload...)
}

// appendExpireCmd frames a lease expiry decision.
func appendExpireCmd(b []byte, stamp int64, ids []int64) []byte {
	b = append(b, cmdVersion, kindExpire)
	b = binary.AppendVarint(b, stamp)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendVarint(b, id)
	}
	return b
}

// decodeCommand decodes a command; bad input gets an error wrapping
// ErrBadCommand.
func decodeCommand(b []byte) (command, error) { return decodeCommandFrom(b, api.Decode) }

// decodeEntryCommand is decodeCommand for the bytes of a log entry, which
// no one writes: the request's byte fields alias them (every replica
// decodes every entry it applies).
func decodeEntryCommand(b []byte) (command, error) { return decodeCommandFrom(b, api.DecodeShared) }

func decodeCommandFrom(b []byte, decode func([]byte) (api.Message, error)) (command, error) {
	var c command
	if len(b) < 2 || b[0] != cmdVersion {
		return c, fmt.Errorf("%w: header", ErrBadCommand)
	}
	c.kind = b[1]
	off := 2
	uv := func() uint64 {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			off = -1
			return 0
		}
		off += n
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b[off:])
		if n <= 0 {
			off = -1
			return 0
		}
		off += n
		return v
	}
	switch c.kind {
	case kindClient:
		c.proposer = host.NodeID(uv())
		if off > 0 {
			c.client = host.NodeID(uv())
		}
		if off > 0 {
			c.stamp = sv()
		}
		if off < 0 {
			return c, fmt.Errorf("%w: client header", ErrBadCommand)
		}
		m, err := decode(b[off:])
		if err != nil {
			return c, fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
		req, ok := m.(*api.Request)
		if !ok {
			return c, fmt.Errorf("%w: not a request", ErrBadCommand)
		}
		c.req = req
	case kindExpire:
		c.stamp = sv()
		var n uint64
		if off > 0 {
			n = uv()
		}
		if off < 0 || n > MaxExpireBatch {
			return c, fmt.Errorf("%w: expire header", ErrBadCommand)
		}
		for i := uint64(0); i < n && off > 0; i++ {
			c.leases = append(c.leases, sv())
		}
		if off != len(b) {
			return c, fmt.Errorf("%w: expire body", ErrBadCommand)
		}
	default:
		return c, fmt.Errorf("%w: kind %d", ErrBadCommand, c.kind)
	}
	return c, nil
}

// confContext is the ConfChange.Context of a membership change proposed
// for a client: who to answer once it is applied.
func appendConfContext(proposer, client host.NodeID, id api.RequestID) []byte {
	b := binary.AppendUvarint(nil, uint64(proposer))
	b = binary.AppendUvarint(b, uint64(client))
	return binary.AppendUvarint(b, uint64(id))
}

func decodeConfContext(b []byte) (proposer, client host.NodeID, id api.RequestID, ok bool) {
	var v [3]uint64
	off := 0
	for i := range v {
		x, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, 0, 0, false
		}
		v[i] = x
		off += n
	}
	return host.NodeID(v[0]), host.NodeID(v[1]), api.RequestID(v[2]), off == len(b)
}
