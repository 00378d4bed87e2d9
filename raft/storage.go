package raft

import "fmt"

// Storage is how raft reads the durable log. The node implements it (or
// uses MemoryStorage fed from WAL replay). raft only reads it; the node
// writes what each Ready asks it to persist, before calling Advance.
//
// If any method returns an error other than the documented ones, raft
// treats it as fatal and panics: the log can no longer be trusted.
type Storage interface {
	// InitialState returns the persisted HardState and the configuration
	// as of Config.Applied (for a node that rebuilds its state machine
	// from the latest snapshot: the snapshot's ConfState).
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries in [lo, hi), at most maxSize bytes of
	// them but always at least one if any are in range. ErrCompacted if
	// lo <= the snapshot index; ErrUnavailable if hi > LastIndex()+1.
	Entries(lo, hi, maxSize uint64) ([]Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()] (the term of the snapshot index is
	// retained). ErrCompacted below, ErrUnavailable above.
	Term(i uint64) (uint64, error)
	// FirstIndex is the index of the first entry that may be available
	// via Entries (the snapshot index plus one).
	FirstIndex() (uint64, error)
	// LastIndex is the index of the last stored entry.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot. It may return
	// ErrSnapshotTemporarilyUnavailable; raft then retries later.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage kept in memory. Tests use it as the whole
// durable state; the node can rebuild one from its WAL on restart and keep
// it up to date from each Ready. It is not safe for concurrent use.
type MemoryStorage struct {
	hardState HardState
	snapshot  Snapshot
	// ents[0] is a dummy entry carrying the snapshot's index and term;
	// ents[i] has index ents[0].Index+i.
	ents []Entry
}

// NewMemoryStorage returns an empty storage (no snapshot, no entries).
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1, 64)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	return ms.hardState, ms.snapshot.Meta.ConfState, nil
}

// HardState returns the stored hard state.
func (ms *MemoryStorage) HardState() HardState { return ms.hardState }

// SetHardState stores hs.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.hardState = hs
	return nil
}

func (ms *MemoryStorage) offset() uint64 { return ms.ents[0].Index }
func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	off := ms.offset()
	if lo <= off {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("%w: hi %d > last index %d + 1", ErrUnavailable, hi, ms.lastIndex())
	}
	if lo >= hi {
		return nil, nil
	}
	ents := ms.ents[lo-off : hi-off]
	ents = limitSize(ents, maxSize)
	// The caller may append to the result; cap it so that it cannot
	// overwrite our backing array.
	return ents[:len(ents):len(ents)], nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	off := ms.offset()
	if i < off {
		return 0, ErrCompacted
	}
	if i-off >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-off].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) { return ms.lastIndex(), nil }

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) { return ms.offset() + 1, nil }

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) { return ms.snapshot, nil }

// ApplySnapshot replaces the storage's contents with snap (received from
// the leader, or restored on restart). ErrSnapOutOfDate if snap is older
// than the current snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	if snap.Meta.Index <= ms.snapshot.Meta.Index && !ms.snapshot.IsEmpty() {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.ents = append(ms.ents[:0:0], Entry{Term: snap.Meta.Term, Index: snap.Meta.Index})
	if ms.hardState.Commit < snap.Meta.Index {
		ms.hardState.Commit = snap.Meta.Index
	}
	if ms.hardState.Term < snap.Meta.Term {
		ms.hardState.Term = snap.Meta.Term
	}
	return nil
}

// CreateSnapshot records a snapshot of the application state as of index
// i (which must be applied, hence stored) with configuration cs, and
// returns it. It does not compact: call Compact for that.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) (Snapshot, error) {
	if i <= ms.snapshot.Meta.Index && !ms.snapshot.IsEmpty() {
		return Snapshot{}, ErrSnapOutOfDate
	}
	if i > ms.lastIndex() {
		return Snapshot{}, fmt.Errorf("%w: snapshot index %d > last index %d", ErrUnavailable, i, ms.lastIndex())
	}
	off := ms.offset()
	if i < off {
		return Snapshot{}, ErrCompacted
	}
	ms.snapshot = Snapshot{Meta: SnapshotMeta{Index: i, Term: ms.ents[i-off].Term,
		ConfState: cloneConfState(cs)}, Data: data}
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex, which must not be past
// the last snapshot's index (the log before it is then only available as
// that snapshot). ErrCompacted if already compacted past compactIndex.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	off := ms.offset()
	if compactIndex <= off {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("%w: compact %d > last index %d", ErrUnavailable, compactIndex, ms.lastIndex())
	}
	i := compactIndex - off
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Append stores entries, which must follow on from the stored log or
// overwrite a suffix of it (entries after the first new index are
// discarded). Entries older than the snapshot are ignored.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := ms.offset() + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	off := entries[0].Index - ms.offset()
	switch {
	case uint64(len(ms.ents)) > off:
		// Overwriting a suffix: copy into a fresh array, because slices
		// of the old entries may still be held (in messages, in Readys).
		ms.ents = append(ms.ents[:off:off], entries...)
	case uint64(len(ms.ents)) == off:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("%w: missing log entries: last %d, append at %d",
			ErrUnavailable, ms.lastIndex(), entries[0].Index)
	}
	return nil
}

// limitSize returns the longest prefix of ents whose total size is within
// maxSize, but at least one entry.
func limitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].size()
	for n := 1; n < len(ents); n++ {
		size += ents[n].size()
		if size > maxSize {
			return ents[:n]
		}
	}
	return ents
}

func cloneConfState(cs ConfState) ConfState {
	return ConfState{Voters: append([]uint64(nil), cs.Voters...),
		Learners: append([]uint64(nil), cs.Learners...)}
}
