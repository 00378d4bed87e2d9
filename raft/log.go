package raft

import (
	"errors"
	"fmt"
)

// unstableChunk is the minimum growth, in entries, of the unstable log's
// backing array.
const unstableChunk = 64

// unstable holds what raft has accepted but the node has not yet
// acknowledged as durable (via Advance): at most one snapshot and a run of
// entries starting at offset.
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	offset   uint64 // index of entries[0] (or where it would be)
}

func (u *unstable) lastIndex() (uint64, bool) {
	if n := len(u.entries); n > 0 {
		return u.offset + uint64(n) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Meta.Index, true
	}
	return 0, false
}

func (u *unstable) term(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Meta.Index == i {
			return u.snapshot.Meta.Term, true
		}
		return 0, false
	}
	if last, ok := u.lastIndex(); !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to i durable, provided entry i still has term
// t (it may have been overwritten since the Ready that carried it).
func (u *unstable) stableTo(i, t uint64) {
	if i < u.offset || i-u.offset >= uint64(len(u.entries)) {
		return
	}
	if u.entries[i-u.offset].Term != t {
		return
	}
	u.entries = u.entries[i+1-u.offset:]
	u.offset = i + 1
	if len(u.entries) == 0 && cap(u.entries) == 0 {
		u.entries = nil // drop the exhausted backing array
	}
}

func (u *unstable) truncateAndAppend(ents []Entry) {
	from := ents[0].Index
	switch {
	case from == u.offset+uint64(len(u.entries)):
		if cap(u.entries)-len(u.entries) < len(ents) {
			// Grow in chunks: stableTo keeps slicing the front off, so
			// plain append would reallocate on nearly every call.
			grown := make([]Entry, len(u.entries), len(u.entries)+max(len(ents), unstableChunk))
			copy(grown, u.entries)
			u.entries = grown
		}
		u.entries = append(u.entries, ents...)
	case from <= u.offset:
		// Replace everything unstable; the storage suffix from `from`
		// on will be overwritten when these are persisted.
		u.offset = from
		u.entries = append([]Entry(nil), ents...)
	default:
		// Truncate, into a fresh array: the old one may be held by an
		// outstanding Ready or an in-flight message.
		keep := u.entries[:from-u.offset]
		u.entries = append(keep[:len(keep):len(keep)], ents...)
	}
}

// raftLog is the log as raft sees it: the durable part in storage and the
// unstable tail.
type raftLog struct {
	storage   Storage
	unstable  unstable
	committed uint64
	applied   uint64
}

func newLog(s Storage) (*raftLog, error) {
	first, err := s.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := s.LastIndex()
	if err != nil {
		return nil, err
	}
	return &raftLog{storage: s, unstable: unstable{offset: last + 1},
		committed: first - 1, applied: first - 1}, nil
}

// must panics on a storage error raft cannot recover from: the log is
// then no longer trustworthy.
func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("raft: storage failed: %v", err))
	}
}

func (l *raftLog) firstIndex() uint64 {
	if s := l.unstable.snapshot; s != nil {
		return s.Meta.Index + 1
	}
	i, err := l.storage.FirstIndex()
	must(err)
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.lastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	must(err)
	return i
}

// stableLastIndex is the last index that is both durable and part of the
// log (0 while a received snapshot is not yet durable).
func (l *raftLog) stableLastIndex() uint64 {
	if l.unstable.snapshot != nil {
		return 0
	}
	return l.unstable.offset - 1
}

func (l *raftLog) lastTerm() uint64 {
	if n := len(l.unstable.entries); n > 0 {
		// The last unstable entry: the one term(lastIndex()) reads.
		return l.unstable.entries[n-1].Term
	}
	if l.unstable.snapshot == nil {
		// Nothing unstable: term(lastIndex()) reads the storage's last
		// entry, and any error of the storage is fatal here.
		i, err := l.storage.LastIndex()
		must(err)
		t, err := l.storage.Term(i)
		must(err)
		return t
	}
	t, err := l.term(l.lastIndex())
	must(err)
	return t
}

// term returns the term of entry i: ErrCompacted below the first
// retained index, ErrUnavailable past the last.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.term(i); ok {
		return t, nil
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if l.unstable.snapshot != nil {
		return 0, ErrCompacted // below a pending snapshot
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(fmt.Sprintf("raft: storage failed: %v", err))
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	tt, err := l.term(i)
	return err == nil && tt == t
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up to date as ours: the vote restriction of Raft §5.4.1.
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

// findConflict returns the index of the first entry of ents that is not
// already in the log with the same term (0 if all are).
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term: the fast back-off hint. Where the log is compacted
// it returns (index, 0).
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// maybeAppend appends ents after entry (index, logTerm) if the log holds
// that entry, and advances the commit index to min(committed, last new).
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew := index + uint64(len(ents))
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
		}
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

func (l *raftLog) commitTo(i uint64) {
	if i > l.committed {
		if last := l.lastIndex(); i > last {
			panic(fmt.Sprintf("raft: commit %d past last index %d", i, last))
		}
		l.committed = i
	}
}

// maybeCommit commits up to i if entry i has term t (only entries of the
// leader's current term are committed by counting: Figure 8).
func (l *raftLog) maybeCommit(i, t uint64) bool {
	if i > l.committed && l.matchTerm(i, t) {
		l.commitTo(i)
		return true
	}
	return false
}

func (l *raftLog) appliedTo(i uint64) {
	if i > l.applied {
		// Invariant: applied <= committed: only committed entries are
		// handed to the state machine.
		if i > l.committed {
			panic(fmt.Sprintf("raft: applied %d past committed %d", i, l.committed))
		}
		l.applied = i
	}
}

func (l *raftLog) unstableEntries() []Entry {
	e := l.unstable.entries
	return e[:len(e):len(e)]
}

func (l *raftLog) hasPendingSnapshot() bool { return l.unstable.snapshot != nil }

// hasNextCommittedEnts reports whether committed entries await applying.
// While a snapshot is pending they wait: it must be applied first.
func (l *raftLog) hasNextCommittedEnts() bool {
	if l.hasPendingSnapshot() {
		return false
	}
	return l.committed > max(l.applied, l.firstIndex()-1)
}

func (l *raftLog) nextCommittedEnts(maxSize uint64) []Entry {
	if !l.hasNextCommittedEnts() {
		return nil
	}
	lo := max(l.applied+1, l.firstIndex())
	ents, err := l.slice(lo, l.committed+1, maxSize)
	must(err)
	return ents
}

// entries returns entries from lo on, at most maxSize bytes (at least one).
func (l *raftLog) entries(lo, maxSize uint64) ([]Entry, error) {
	last := l.lastIndex()
	if lo > last {
		return nil, nil
	}
	return l.slice(lo, last+1, maxSize)
}

// slice returns entries [lo, hi), at most maxSize bytes but at least one.
// The result is capped: appending to it never writes into the log.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if last := l.lastIndex(); hi > last+1 {
		panic(fmt.Sprintf("raft: slice [%d,%d) out of bound [%d,%d]", lo, hi, l.firstIndex(), last))
	}
	u := &l.unstable
	var ents []Entry
	if lo < u.offset {
		stored, err := l.storage.Entries(lo, min(hi, u.offset), maxSize)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		must(err)
		if uint64(len(stored)) < min(hi, u.offset)-lo || hi <= u.offset {
			// Size-limited (or nothing unstable requested).
			return stored[:len(stored):len(stored)], nil
		}
		ents = stored
	}
	if hi > u.offset {
		tail := u.entries[max(lo, u.offset)-u.offset : hi-u.offset]
		if len(ents) > 0 {
			joined := make([]Entry, 0, len(ents)+len(tail))
			ents = append(append(joined, ents...), tail...)
		} else {
			ents = tail
		}
	}
	ents = limitSize(ents, maxSize)
	return ents[:len(ents):len(ents)], nil
}

func (l *raftLog) snapshot() (Snapshot, error) {
	if s := l.unstable.snapshot; s != nil {
		return *s, nil
	}
	return l.storage.Snapshot()
}

// restore replaces the log with snapshot s (received from the leader).
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Meta.Index
	l.unstable.snapshot = &s
	l.unstable.offset = s.Meta.Index + 1
	l.unstable.entries = nil
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) {
	if s := l.unstable.snapshot; s != nil && s.Meta.Index == i {
		l.unstable.snapshot = nil
	}
}
