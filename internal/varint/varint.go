// Package varint decodes the varints of seedkv's binary formats (raft
// messages, the api wire protocol, mvcc snapshots) one way, so that the
// three decoders agree on what they accept: encoding/binary's encoding,
// minimal encodings only (a value has one encoding, so equal messages
// have equal bytes), and a typed reason when the input is not one.
package varint

import (
	"encoding/binary"
	"errors"
)

// Why a varint could not be decoded.
var (
	// ErrTruncated: the input ended inside the varint.
	ErrTruncated = errors.New("varint: truncated")
	// ErrOverflow: the varint does not fit in 64 bits.
	ErrOverflow = errors.New("varint: overflows 64 bits")
	// ErrNonMinimal: the varint has a trailing zero group, which no
	// encoder writes.
	ErrNonMinimal = errors.New("varint: non-minimal encoding")
)

// Uvarint decodes the unsigned varint at the start of b and returns it
// with the number of bytes it took.
func Uvarint(b []byte) (uint64, int, error) {
	if v, n := Short(b); n > 0 {
		return v, n, nil
	}
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, ErrTruncated
	case n < 0:
		return 0, 0, ErrOverflow
	case n > 1 && b[n-1] == 0:
		return 0, 0, ErrNonMinimal
	}
	return v, n, nil
}

// Short decodes the varint at the start of b if it takes one or two
// bytes (a value below 16384), as most varints of the formats do (types,
// counts, node IDs, terms, the indexes of a run): it returns the value
// and its length, or n == 0 for anything else (longer, truncated or not
// minimal), which Uvarint decodes or refuses. It is small enough to be
// inlined: a decoder's hot path tries it first.
func Short(b []byte) (v uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	// A second byte of 0 would be a non-minimal encoding.
	if len(b) > 1 && b[1]-1 < 0x7f {
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return 0, 0
}

// Varint decodes the signed (zig-zag) varint at the start of b, as
// binary.AppendVarint writes it, and returns it with its length.
func Varint(b []byte) (int64, int, error) {
	u, n, err := Uvarint(b)
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x, n, err
}
