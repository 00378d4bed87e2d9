package wal

// Inspection helpers for tools that look at a WAL's bytes from outside
// (fault injectors aiming bit rot at the log's tail, debugging): they read
// the framing, never the payloads.

// LengthField is where a record's length field lies within the record
// (crc(4) | length(4) | type(1) | payload): offset and size in bytes, the
// length little-endian.
const (
	LengthFieldOffset = 4
	LengthFieldSize   = 4
)

// IsSegmentName reports whether name is a WAL segment file's name.
func IsSegmentName(name string) bool {
	_, ok := parseSegmentName(name)
	return ok
}

// LastRecord finds the last valid record of a segment's bytes, scanning
// from the start: its offset and size. ok is false if b holds no valid
// record. Bytes after the last valid record (a torn tail, zero fill) are
// ignored.
func LastRecord(b []byte) (off, size int64, ok bool) {
	pos := 0
	for pos < len(b) {
		_, n, err := decodeRecord(b[pos:])
		if err != nil {
			break
		}
		off, size, ok = int64(pos), int64(n), true
		pos += n
	}
	return off, size, ok
}
