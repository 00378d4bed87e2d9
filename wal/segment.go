package wal

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/seedkv/seedkv/host"
)

const segmentSuffix = ".wal"

// segment names one segment file.
type segment struct {
	seq   uint64 // position in the WAL, consecutive
	first uint64 // index of the first entry it was started for
	name  string
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentSuffix)
}

// parseSegmentName parses a name made by segmentName; ok is false for any
// other name, which the WAL ignores.
func parseSegmentName(name string) (segment, bool) {
	base, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return segment{}, false
	}
	seq, err1 := strconv.ParseUint(base[:16], 16, 64)
	first, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil || segmentName(seq, first) != name {
		return segment{}, false
	}
	return segment{seq: seq, first: first, name: name}, true
}

// listSegments returns the WAL's segments in sequence order.
func listSegments(fs host.FS) ([]segment, error) {
	names, err := fs.List()
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, n := range names {
		if s, ok := parseSegmentName(n); ok {
			segs = append(segs, s)
		}
	}
	// Names are fixed-width hex, so List's sorted order is sequence order.
	return segs, nil
}

// readAll reads a whole file into memory.
func readAll(f host.File) ([]byte, error) {
	size := f.Size()
	if size < 0 {
		return nil, fmt.Errorf("wal: cannot size %s", f.Name())
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(err == io.EOF && int64(n) == size) {
		return nil, fmt.Errorf("wal: read %s: %w", f.Name(), err)
	}
	return buf[:n], nil
}
