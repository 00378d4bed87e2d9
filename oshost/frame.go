package oshost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/seedkv/seedkv/host"
)

// A frame on a member-to-member TCP connection is
//
//	length(4, big endian) from(8) to(8) payload(length-16)
//
// where length counts everything after itself.
const (
	frameHeader = 4 + 8 + 8
	// MaxFrameSize bounds one frame (a raft snapshot travels as one
	// message, so this is generous).
	MaxFrameSize = 256 << 20
)

// ErrFrame: a frame's length is out of range.
var ErrFrame = errors.New("oshost: bad frame")

// appendFrame appends one frame to b.
func appendFrame(b []byte, from, to host.NodeID, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(16+len(payload)))
	b = binary.BigEndian.AppendUint64(b, uint64(from))
	b = binary.BigEndian.AppendUint64(b, uint64(to))
	return append(b, payload...)
}

// readFrame reads one frame. The payload is a fresh slice the caller owns.
func readFrame(r io.Reader, hdr *[frameHeader]byte) (from, to host.NodeID, payload []byte, err error) {
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n < 16 || n > MaxFrameSize {
		return 0, 0, nil, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	from = host.NodeID(binary.BigEndian.Uint64(hdr[4:12]))
	to = host.NodeID(binary.BigEndian.Uint64(hdr[12:20]))
	payload = make([]byte, n-16)
	if _, err = io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	return from, to, payload, nil
}
