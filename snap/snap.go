// Package snap stores a replica's snapshots as durable, checksummed files
// in a flat host.FS shared with the WAL.
//
// A snapshot at (index, term) lives in "%016x-%016x.snap". Save writes it
// under a ".tmp" name, syncs it and only then renames it into place, so a
// crash leaves either the old set of snapshots or the new one, plus maybe a
// stray temp file that LoadNewest ignores and Release cleans up.
//
// File format (little-endian):
//
//	magic "SKVSNAP1" | index u64 | term u64 | length u64 | data | crc32c u32
//
// The CRC-32C (Castagnoli) covers everything before it. LoadNewest returns
// the newest snapshot that decodes and reports the ones it skipped as
// corrupt: a damaged newer snapshot is never served as valid, and the
// caller learns that it lost it.
package snap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/seedkv/seedkv/probe"
	"hash/crc32"
	"io"
	"strconv"
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/limits"
)

// Limits and format constants.
const (
	// MaxDataSize is the largest snapshot payload Save writes and a
	// decoder accepts; a header announcing more is corrupt. A store at its
	// quota fits (see package limits).
	MaxDataSize = limits.MaxSnapshotBytes
	magic       = "SKVSNAP1"
	headerSize  = len(magic) + 24
	trailerSize = 4
	suffix      = ".snap"
	tmpSuffix   = ".snap.tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors.
var (
	// ErrNoSnapshot: there is no valid snapshot. Joined with the
	// *CorruptError of every snapshot file that failed to decode.
	ErrNoSnapshot = errors.New("snap: no snapshot")
	// ErrCorrupt is matched by every *CorruptError.
	ErrCorrupt = errors.New("snap: corrupt")
	// ErrTooLarge: the data exceeds MaxDataSize.
	ErrTooLarge = errors.New("snap: snapshot too large")
)

// CorruptError says why a snapshot file is not a valid snapshot.
type CorruptError struct {
	File   string
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string { return fmt.Sprintf("snap: corrupt %s: %s", e.File, e.Reason) }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Snapshot is a loaded snapshot.
type Snapshot struct {
	Index, Term uint64
	Data        []byte
	// File is the snapshot's file name.
	File string
	// Skipped lists newer snapshot files that were corrupt and skipped.
	// Non-empty means state the replica once saved was lost.
	Skipped []*CorruptError
}

// Name is the file name of the snapshot at (index, term): the same as
// fmt.Sprintf("%016x-%016x.snap", index, term), without fmt (every Save
// and snapshot listing names files).
func Name(index, term uint64) string {
	var b [16 + 1 + 16 + len(suffix)]byte
	putHex16(b[:16], index)
	b[16] = '-'
	putHex16(b[17:33], term)
	copy(b[33:], suffix)
	return string(b[:])
}

// putHex16 writes v as 16 lower-case hex digits, zero-padded, into b.
func putHex16(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
}

// parseName parses a snapshot file name; ok is false for any other name.
func parseName(name string) (index, term uint64, ok bool) {
	base, found := strings.CutSuffix(name, suffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(base[:16], 16, 64)
	term, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil || Name(index, term) != name {
		return 0, 0, false
	}
	return index, term, true
}

// Encode frames a snapshot as the bytes of its file.
func Encode(index, term uint64, data []byte) []byte {
	return EncodeAppend(index, term, len(data), func(b []byte) []byte { return append(b, data...) })
}

// EncodeAppend is Encode for data that appendData appends to the file's
// buffer (sizeHint bytes of it expected): the data is built in place
// rather than apart and then copied.
func EncodeAppend(index, term uint64, sizeHint int, appendData func([]byte) []byte) []byte {
	b := make([]byte, headerSize, headerSize+sizeHint+trailerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint64(b[len(magic):], index)
	binary.LittleEndian.PutUint64(b[len(magic)+8:], term)
	b = appendData(b)
	binary.LittleEndian.PutUint64(b[len(magic)+16:], uint64(len(b)-headerSize))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses the bytes of a snapshot file. Data aliases b. Any damage
// gives an error saying what is wrong; it never panics.
func Decode(b []byte) (index, term uint64, data []byte, err error) {
	if len(b) < headerSize+trailerSize {
		return 0, 0, nil, fmt.Errorf("file of %d bytes is shorter than a header", len(b))
	}
	if string(b[:len(magic)]) != magic {
		return 0, 0, nil, errors.New("bad magic")
	}
	n := binary.LittleEndian.Uint64(b[len(magic)+16:])
	if n > MaxDataSize || n != uint64(len(b)-headerSize-trailerSize) {
		return 0, 0, nil, fmt.Errorf("length %d does not match file size %d", n, len(b))
	}
	end := len(b) - trailerSize
	if crc32.Checksum(b[:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return 0, 0, nil, errors.New("checksum mismatch")
	}
	index = binary.LittleEndian.Uint64(b[len(magic):])
	term = binary.LittleEndian.Uint64(b[len(magic)+8:])
	return index, term, b[headerSize:end:end], nil
}

// Save writes a snapshot durably: to a temp file, synced, then renamed to
// its final name. done runs (on the disk's event loop) once the snapshot
// is durable under its name, or with the error that prevented it; the
// temp file is then removed. Data must not be modified until done runs.
func Save(fs host.FS, index, term uint64, data []byte, done func(error)) {
	if len(data) > MaxDataSize {
		done(fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(data), MaxDataSize))
		return
	}
	SaveEncoded(fs, index, term, Encode(index, term, data), done)
}

// SaveEncoded is Save for the file EncodeAppend built for (index, term).
// The file must not be modified until done runs.
func SaveEncoded(fs host.FS, index, term uint64, file []byte, done func(error)) {
	if n := len(file) - headerSize - trailerSize; n > MaxDataSize {
		done(fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, n, MaxDataSize))
		return
	}
	final := Name(index, term)
	tmp := strings.TrimSuffix(final, suffix) + tmpSuffix
	ps := probe.Of(fs)
	err := fs.Remove(tmp)
	ps.If(err == nil, probeLeftover)
	if err != nil && !errors.Is(err, host.ErrNotExist) {
		done(err) // a leftover of a crashed Save that cannot be cleared
		return
	}
	f, err := fs.Create(tmp)
	if err != nil {
		done(err)
		return
	}
	fail := func(err error) {
		ps.Hit(probeSaveError)
		f.Close()
		fs.Remove(tmp)
		done(err)
	}
	if _, err := f.WriteAt(file, 0); err != nil {
		fail(err)
		return
	}
	f.Sync(func(err error) {
		if err != nil {
			fail(err)
			return
		}
		if err := f.Close(); err != nil {
			fs.Remove(tmp)
			done(err)
			return
		}
		if err := fs.Rename(tmp, final); err != nil {
			done(err)
			return
		}
		// The rename is durable only with the directory (etcd's
		// snapshotter fsyncs it too); until then a crash may lose it.
		ps.Hit(probeSaved)
		fs.SyncDir(done)
	})
}

// entry is a snapshot file name found in the FS.
type entry struct {
	name        string
	index, term uint64
}

// list returns the snapshot files, newest (highest index, then term) first.
func list(fs host.FS) ([]entry, error) {
	names, err := fs.List()
	if err != nil {
		return nil, err
	}
	var es []entry
	for _, n := range names {
		if i, t, ok := parseName(n); ok {
			es = append(es, entry{n, i, t})
		}
	}
	// Fixed-width hex names sort by index then term; reverse.
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es, nil
}

// LoadNewest returns the newest snapshot that is intact. Newer ones that
// are damaged are skipped and listed in Snapshot.Skipped. With none intact
// it returns an error matching ErrNoSnapshot (and ErrCorrupt, with every
// *CorruptError, when there were damaged files).
func LoadNewest(fs host.FS) (Snapshot, error) {
	es, err := list(fs)
	if err != nil {
		return Snapshot{}, err
	}
	var skipped []*CorruptError
	for _, e := range es {
		s, err := load(fs, e)
		var ce *CorruptError
		if errors.As(err, &ce) {
			skipped = append(skipped, ce)
			continue
		}
		if err != nil {
			return Snapshot{}, err
		}
		s.Skipped = skipped
		return s, nil
	}
	errs := []error{ErrNoSnapshot}
	for _, ce := range skipped {
		errs = append(errs, ce)
	}
	return Snapshot{}, errors.Join(errs...)
}

// Load returns the snapshot at (index, term): ErrNoSnapshot if there is no
// such file, a *CorruptError if it is damaged.
func Load(fs host.FS, index, term uint64) (Snapshot, error) {
	s, err := load(fs, entry{Name(index, term), index, term})
	if errors.Is(err, host.ErrNotExist) {
		return Snapshot{}, fmt.Errorf("%w: %s", ErrNoSnapshot, Name(index, term))
	}
	return s, err
}

func load(fs host.FS, e entry) (Snapshot, error) {
	f, err := fs.Open(e.name)
	if err != nil {
		return Snapshot{}, err
	}
	defer f.Close()
	size := f.Size()
	if size < 0 || size > int64(MaxDataSize+headerSize+trailerSize) {
		return Snapshot{}, &CorruptError{File: e.name, Reason: fmt.Sprintf("size %d out of range", size)}
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return Snapshot{}, fmt.Errorf("snap: read %s: %w", e.name, err)
	}
	index, term, data, err := Decode(buf)
	if err != nil {
		probe.Of(fs).Hit(probeCorrupt)
		return Snapshot{}, &CorruptError{File: e.name, Reason: err.Error()}
	}
	if index != e.index || term != e.term {
		return Snapshot{}, &CorruptError{File: e.name, Reason: fmt.Sprintf("holds index %d term %d", index, term)}
	}
	return Snapshot{Index: index, Term: term, Data: data, File: e.name}, nil
}

// Release removes the snapshot files, and temp files of unfinished Saves,
// with an index below keepIndex. The newest intact snapshot should be at
// or above keepIndex: Release does not check.
func Release(fs host.FS, keepIndex uint64) error {
	names, err := fs.List()
	if err != nil {
		return err
	}
	for _, n := range names {
		index, ok := indexOf(n)
		if !ok || index >= keepIndex {
			continue
		}
		if err := fs.Remove(n); err != nil && !errors.Is(err, host.ErrNotExist) {
			return err
		}
		probe.Of(fs).Hit(probeReleased)
	}
	return nil
}

// indexOf returns the index of a snapshot or temp file name.
func indexOf(name string) (uint64, bool) {
	if base, ok := strings.CutSuffix(name, tmpSuffix); ok {
		name = base + suffix
	}
	index, _, ok := parseName(name)
	return index, ok
}
