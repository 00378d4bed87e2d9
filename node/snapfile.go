package node

import (
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/snap"
)

// snapFiles keeps raft snapshots as durable, checksummed files through
// package snap: the file's data is the raft.Snapshot encoding (metadata
// with the configuration, then the state machine). snap writes a temp
// file, syncs it and renames it into place, so a snapshot file is either
// complete and synced or absent: a checksum mismatch is corruption, never
// a torn write.
type snapFiles struct {
	fs host.FS
}

// ErrSnapCorrupt: the snapshot the WAL says is durable is damaged,
// missing or inconsistent with the WAL.
var ErrSnapCorrupt = errors.New("node: snapshot corrupt or missing")

// save writes s durably and calls done.
func (sf *snapFiles) save(s raft.Snapshot, done func(error)) {
	// The raft encoding is appended straight into the file's buffer
	// (Marshal then Encode copied it twice). The metadata takes a few
	// bytes per member beside the state machine's data.
	hint := len(s.Data) + 64 + 10*(len(s.Meta.ConfState.Voters)+len(s.Meta.ConfState.Learners))
	snap.SaveEncoded(sf.fs, s.Meta.Index, s.Meta.Term, snap.EncodeAppend(s.Meta.Index, s.Meta.Term, hint, s.MarshalAppend), done)
}

// load reads the snapshot (term, index). Anything wrong with it is an
// error wrapping ErrSnapCorrupt.
func (sf *snapFiles) load(term, index uint64) (raft.Snapshot, error) {
	f, err := snap.Load(sf.fs, index, term)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("%w: %w", ErrSnapCorrupt, err)
	}
	var s raft.Snapshot
	if err := s.Unmarshal(f.Data); err != nil {
		return raft.Snapshot{}, fmt.Errorf("%w: %s: %w", ErrSnapCorrupt, f.File, err)
	}
	if s.Meta.Index != index || s.Meta.Term != term {
		return raft.Snapshot{}, fmt.Errorf("%w: %s holds (%d, %d)", ErrSnapCorrupt, f.File, s.Meta.Term, s.Meta.Index)
	}
	return s, nil
}

// releaseBelow removes snapshot files older than index (and the temp
// files of saves below it that are still in flight: those then fail, and
// their callers see that a newer snapshot superseded them).
func (sf *snapFiles) releaseBelow(index uint64) {
	_ = snap.Release(sf.fs, index)
}
