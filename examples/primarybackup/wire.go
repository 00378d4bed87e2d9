package primarybackup

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire protocol: every message is one Msg, encoded as its kind byte,
// then uvarints ID and Version, the Status byte, and the value as a
// uvarint length and its bytes. Nothing follows.

// Kind is a message's type.
type Kind byte

// The message kinds.
const (
	// KindWrite asks the primary to write Value (client -> primary).
	KindWrite Kind = 1
	// KindRead asks a replica for the register (client -> any replica).
	KindRead Kind = 2
	// KindReply answers a write or a read (replica -> client): Status,
	// and for a read the Version and Value.
	KindReply Kind = 3
	// KindUpdate carries the primary's synced register to a backup
	// (primary -> backup): Version and Value.
	KindUpdate Kind = 4
)

// Status is a reply's outcome.
type Status byte

// The statuses.
const (
	// StatusOK: written (synced on the primary), or read.
	StatusOK Status = 0
	// StatusNotPrimary: a backup refuses to serve a read; ask the primary.
	StatusNotPrimary Status = 1
	// StatusFailed: the write was not made (the primary's disk failed).
	StatusFailed Status = 2
)

// MaxValue bounds a register value, in bytes.
const MaxValue = 256

// Msg is one message of the protocol.
type Msg struct {
	Kind    Kind
	ID      uint64 // the client's request ID (write, read, reply)
	Version uint64 // the register's version (reply to a read, update)
	Status  Status
	Value   string
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("primarybackup: malformed message")

// Encode returns m's bytes.
func (m Msg) Encode() []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+binary.MaxVarintLen16+len(m.Value))
	b = append(b, byte(m.Kind))
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendUvarint(b, m.Version)
	b = append(b, byte(m.Status))
	b = binary.AppendUvarint(b, uint64(len(m.Value)))
	return append(b, m.Value...)
}

// Decode parses one message; bytes that are not exactly one valid message
// give an error wrapping ErrMalformed.
func Decode(p []byte) (Msg, error) {
	var m Msg
	if len(p) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m.Kind, p = Kind(p[0]), p[1:]
	if m.Kind < KindWrite || m.Kind > KindUpdate {
		return m, fmt.Errorf("%w: kind %d", ErrMalformed, m.Kind)
	}
	var err error
	if m.ID, p, err = uvarint(p, "id"); err != nil {
		return m, err
	}
	if m.Version, p, err = uvarint(p, "version"); err != nil {
		return m, err
	}
	if len(p) == 0 {
		return m, fmt.Errorf("%w: no status", ErrMalformed)
	}
	m.Status, p = Status(p[0]), p[1:]
	if m.Status > StatusFailed {
		return m, fmt.Errorf("%w: status %d", ErrMalformed, m.Status)
	}
	n, p, err := uvarint(p, "value length")
	switch {
	case err != nil:
		return m, err
	case n > MaxValue:
		return m, fmt.Errorf("%w: value of %d bytes (at most %d)", ErrMalformed, n, MaxValue)
	case uint64(len(p)) != n:
		return m, fmt.Errorf("%w: value of %d bytes, %d follow", ErrMalformed, n, len(p))
	}
	m.Value = string(p)
	return m, nil
}

func uvarint(p []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad %s", ErrMalformed, what)
	}
	return v, p[n:], nil
}
