package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record framing, in the spirit of LevelDB/pebble's log format:
//
//	+----------+----------+------+-----------------+
//	| crc (4)  | len (4)  | type | payload (len)   |
//	+----------+----------+------+-----------------+
//
// crc is the CRC-32C (Castagnoli) of len, type and payload, so a record's
// checksummed bytes are contiguous. All integers are little-endian. A
// record never spans two segments.
const (
	// HeaderSize is the size of a record header.
	HeaderSize = 9
	// MaxRecordSize is the largest payload a record may carry. A longer
	// append is refused with ErrRecordTooLarge before anything is
	// written; a header announcing more is an impossible length.
	MaxRecordSize = 16 << 20
)

// RecordType says what a record's payload holds. Zero is never valid, so a
// zero-filled region never decodes as a record.
type RecordType uint8

// Record types.
const (
	// TypeMetadata holds a Metadata; every segment begins with one.
	TypeMetadata RecordType = 1
	// TypeEntry holds one Raft log Entry.
	TypeEntry RecordType = 2
	// TypeHardState holds a HardState.
	TypeHardState RecordType = 3
	// TypeSnapshot holds a SnapshotMarker.
	TypeSnapshot RecordType = 4
)

func (t RecordType) valid() bool { return t >= TypeMetadata && t <= TypeSnapshot }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Decoding errors. They say why a byte range is not a record; the reader
// turns them into a repair or a *CorruptionError depending on where they
// occur.
var (
	errShort    = errors.New("record extends past the end of the data")
	errChecksum = errors.New("record checksum mismatch")
	errLength   = errors.New("impossible record length")
	errType     = errors.New("unknown record type")
	errPayload  = errors.New("malformed record payload")
)

// record is one decoded frame. payload aliases the decoded buffer.
type record struct {
	typ     RecordType
	payload []byte
}

// appendRecord frames payload as a record of type typ onto buf.
// The caller has checked len(payload) <= MaxRecordSize.
func appendRecord(buf []byte, typ RecordType, payload []byte) []byte {
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, 0) // crc, filled below
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = append(buf, byte(typ))
	buf = append(buf, payload...)
	crc := crc32.Checksum(buf[start+4:], castagnoli)
	binary.LittleEndian.PutUint32(buf[start:], crc)
	return buf
}

// decodeRecord decodes the record at the start of b. It returns the record
// and the number of bytes it occupies, or an error saying why b does not
// start with a valid record. A returned record always has a matching
// checksum, a known type and a length within MaxRecordSize.
func decodeRecord(b []byte) (record, int, error) {
	end, fault := checkFrame(b)
	switch fault {
	case frameShort:
		return record{}, 0, errShort
	case frameLength:
		n := binary.LittleEndian.Uint32(b[4:8])
		return record{}, 0, fmt.Errorf("%w: %d > %d", errLength, n, MaxRecordSize)
	case frameChecksum:
		return record{}, 0, errChecksum
	}
	typ := RecordType(b[8])
	if !typ.valid() {
		// The checksum matched, so these bytes were written as a record:
		// a type from a newer format, never a torn write.
		return record{}, 0, fmt.Errorf("%w %d", errType, typ)
	}
	return record{typ: typ, payload: b[HeaderSize:end]}, end, nil
}

// Why checkFrame refused a frame (decodeRecord's errShort, errLength and
// errChecksum), without building an error: the search for a valid record
// after damage (validRecordAfter) checks a frame at every byte.
const (
	frameOK = iota
	frameShort
	frameLength
	frameChecksum
)

// checkFrame checks the frame at the start of b (length within
// MaxRecordSize and within b, matching checksum) and returns its end.
func checkFrame(b []byte) (end, fault int) {
	if len(b) < HeaderSize {
		return 0, frameShort
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if n > MaxRecordSize {
		return 0, frameLength
	}
	end = HeaderSize + int(n)
	if end > len(b) {
		return 0, frameShort
	}
	want := binary.LittleEndian.Uint32(b[0:4])
	if crc32.Checksum(b[4:end], castagnoli) != want {
		return 0, frameChecksum
	}
	return end, frameOK
}

// Metadata identifies the replica a WAL belongs to. Every segment begins
// with it; all copies must agree.
type Metadata struct {
	NodeID, ClusterID uint64
}

// Entry is one Raft log entry as the WAL stores it. The node converts to
// and from its Raft package's type.
type Entry struct {
	Index, Term uint64
	Type        uint8
	Data        []byte
}

// HardState is Raft's persistent state besides the log.
type HardState struct {
	Term, Vote, Commit uint64
}

// IsEmpty reports whether hs is the zero HardState, which Save does not
// write.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// SnapshotMarker records that a snapshot at (Index, Term) is durable
// elsewhere (package snap): replay ignores entries at or below Index.
// ConfState is opaque to the WAL; the caller encodes it.
type SnapshotMarker struct {
	Index, Term uint64
	ConfState   []byte
}

const (
	metadataSize  = 16
	hardStateSize = 24
	entryFixed    = 17 // index, term, type
	markerFixed   = 16 // index, term
)

func appendMetadata(buf []byte, m Metadata) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, m.NodeID)
	return binary.LittleEndian.AppendUint64(buf, m.ClusterID)
}

func decodeMetadata(p []byte) (Metadata, error) {
	if len(p) != metadataSize {
		return Metadata{}, fmt.Errorf("%w: metadata of %d bytes", errPayload, len(p))
	}
	return Metadata{
		NodeID:    binary.LittleEndian.Uint64(p[0:]),
		ClusterID: binary.LittleEndian.Uint64(p[8:]),
	}, nil
}

func appendHardState(buf []byte, hs HardState) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, hs.Term)
	buf = binary.LittleEndian.AppendUint64(buf, hs.Vote)
	return binary.LittleEndian.AppendUint64(buf, hs.Commit)
}

func decodeHardState(p []byte) (HardState, error) {
	if len(p) != hardStateSize {
		return HardState{}, fmt.Errorf("%w: hard state of %d bytes", errPayload, len(p))
	}
	return HardState{
		Term:   binary.LittleEndian.Uint64(p[0:]),
		Vote:   binary.LittleEndian.Uint64(p[8:]),
		Commit: binary.LittleEndian.Uint64(p[16:]),
	}, nil
}

func appendEntry(buf []byte, e Entry) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, e.Index)
	buf = binary.LittleEndian.AppendUint64(buf, e.Term)
	buf = append(buf, e.Type)
	return append(buf, e.Data...)
}

// decodeEntry decodes an entry payload. Data aliases p.
func decodeEntry(p []byte) (Entry, error) {
	if len(p) < entryFixed {
		return Entry{}, fmt.Errorf("%w: entry of %d bytes", errPayload, len(p))
	}
	e := Entry{
		Index: binary.LittleEndian.Uint64(p[0:]),
		Term:  binary.LittleEndian.Uint64(p[8:]),
		Type:  p[16],
	}
	if len(p) > entryFixed {
		e.Data = p[entryFixed:len(p):len(p)]
	}
	if e.Index == 0 {
		return Entry{}, fmt.Errorf("%w: entry index 0", errPayload)
	}
	return e, nil
}

func appendMarker(buf []byte, m SnapshotMarker) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, m.Index)
	buf = binary.LittleEndian.AppendUint64(buf, m.Term)
	return append(buf, m.ConfState...)
}

// decodeMarker decodes a snapshot marker payload. ConfState aliases p.
func decodeMarker(p []byte) (SnapshotMarker, error) {
	if len(p) < markerFixed {
		return SnapshotMarker{}, fmt.Errorf("%w: snapshot marker of %d bytes", errPayload, len(p))
	}
	m := SnapshotMarker{
		Index: binary.LittleEndian.Uint64(p[0:]),
		Term:  binary.LittleEndian.Uint64(p[8:]),
	}
	if len(p) > markerFixed {
		m.ConfState = p[markerFixed:len(p):len(p)]
	}
	return m, nil
}

// crcOf is the record checksum of b (length, type and payload).
func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
