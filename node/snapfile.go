package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
)

// snapFiles keeps raft snapshots as durable, checksummed files:
//
//	"%016x-%016x.snap" (term, index) holding
//	magic "SKVSNAP1" | raft.Snapshot encoding | CRC-32C of all before
//
// A snapshot is written to a ".tmp" name, synced, then renamed into place
// (rename is atomic and durable on host.FS), so a ".snap" file is either
// complete and synced or absent; a checksum mismatch is therefore
// corruption, never a torn write.
type snapFiles struct {
	fs host.FS
}

const snapMagic = "SKVSNAP1"

// MaxSnapshotSize bounds a snapshot file.
const MaxSnapshotSize = 1 << 30

// ErrSnapCorrupt: a snapshot file is damaged or missing while the WAL says
// it is durable.
var ErrSnapCorrupt = errors.New("node: snapshot corrupt or missing")

func snapName(term, index uint64) string { return fmt.Sprintf("%016x-%016x.snap", term, index) }

// save writes s durably and calls done.
func (sf *snapFiles) save(s raft.Snapshot, done func(error)) {
	name := snapName(s.Meta.Term, s.Meta.Index)
	tmp := name + ".tmp"
	_ = sf.fs.Remove(tmp) // leftovers of an earlier attempt
	f, err := sf.fs.Create(tmp)
	if err != nil {
		done(err)
		return
	}
	b := append([]byte(snapMagic), s.Marshal()...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		_ = sf.fs.Remove(tmp)
		done(err)
		return
	}
	f.Sync(func(err error) {
		f.Close()
		if err == nil {
			err = sf.fs.Rename(tmp, name)
		}
		if err != nil {
			_ = sf.fs.Remove(tmp)
		}
		done(err)
	})
}

// load reads the snapshot (term, index). Anything wrong with it is an
// error wrapping ErrSnapCorrupt.
func (sf *snapFiles) load(term, index uint64) (raft.Snapshot, error) {
	name := snapName(term, index)
	f, err := sf.fs.Open(name)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: %w", ErrSnapCorrupt, name, err)
	}
	defer f.Close()
	size := f.Size()
	if size < int64(len(snapMagic))+4 || size > MaxSnapshotSize {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: size %d", ErrSnapCorrupt, name, size)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n != len(b) && err != nil && !errors.Is(err, io.EOF) {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: %w", ErrSnapCorrupt, name, err)
	}
	body := b[:len(b)-4]
	if string(body[:len(snapMagic)]) != snapMagic ||
		crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: checksum mismatch", ErrSnapCorrupt, name)
	}
	var s raft.Snapshot
	if err := s.Unmarshal(body[len(snapMagic):]); err != nil {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: %w", ErrSnapCorrupt, name, err)
	}
	if s.Meta.Index != index || s.Meta.Term != term {
		return raft.Snapshot{}, fmt.Errorf("%w: %s holds (%d, %d)", ErrSnapCorrupt, name, s.Meta.Term, s.Meta.Index)
	}
	return s, nil
}

// releaseBelow removes snapshot files older than index and stray temps.
func (sf *snapFiles) releaseBelow(index uint64) {
	names, err := sf.fs.List()
	if err != nil {
		return
	}
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, ".snap.tmp"):
			// Only ever present mid-save; a save in flight recreates it
			// if needed, so removing one here is harmless... except for
			// the save in flight itself: keep those above index.
			var term, idx uint64
			if _, err := fmt.Sscanf(name, "%016x-%016x.snap.tmp", &term, &idx); err == nil && idx < index {
				_ = sf.fs.Remove(name)
			}
		case strings.HasSuffix(name, ".snap"):
			var term, idx uint64
			if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &term, &idx); err == nil && idx < index {
				_ = sf.fs.Remove(name)
			}
		}
	}
}
