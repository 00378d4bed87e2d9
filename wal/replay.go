package wal

import (
	"errors"
	"fmt"
)

// Replay is the state read back by Open.
type Replay struct {
	// Metadata is the WAL's metadata.
	Metadata Metadata
	// HardState is the latest hard state saved (zero if none).
	HardState HardState
	// Snapshot is the latest snapshot marker saved, or nil.
	Snapshot *SnapshotMarker
	// Entries are the log entries after Snapshot.Index (or all of them),
	// consecutive, with Raft's truncation applied: an entry saved at an
	// index replaced the entry there and every entry after it. Their Data
	// aliases the WAL's read buffers, which the WAL never modifies.
	Entries []Entry
	// Repaired is non-nil when a torn tail was cut away. See the package
	// doc for what the caller must then assume.
	Repaired *RepairReport
}

// replayer folds records, in the order they were written, into a Replay.
type replayer struct {
	haveMeta bool
	rep      Replay
	marker   SnapshotMarker
}

// apply folds one record in. A non-nil error is a reason the record
// contradicts the ones before it.
func (r *replayer) apply(rec record) error {
	switch rec.typ {
	case TypeMetadata:
		m, err := decodeMetadata(rec.payload)
		if err != nil {
			return err
		}
		if r.haveMeta && m != r.rep.Metadata {
			return fmt.Errorf("metadata %+v differs from %+v", m, r.rep.Metadata)
		}
		r.rep.Metadata, r.haveMeta = m, true
	case TypeHardState:
		hs, err := decodeHardState(rec.payload)
		if err != nil {
			return err
		}
		r.rep.HardState = hs
	case TypeEntry:
		e, err := decodeEntry(rec.payload)
		if err != nil {
			return err
		}
		return r.applyEntry(e)
	case TypeSnapshot:
		m, err := decodeMarker(rec.payload)
		if err != nil {
			return err
		}
		r.applyMarker(m)
	}
	return nil
}

func (r *replayer) applyEntry(e Entry) error {
	if r.rep.Snapshot != nil && e.Index <= r.marker.Index {
		return fmt.Errorf("entry %d at or below snapshot %d", e.Index, r.marker.Index)
	}
	ents := r.rep.Entries
	if n := len(ents); n > 0 {
		first, last := ents[0].Index, ents[n-1].Index
		switch {
		case e.Index > last+1:
			return fmt.Errorf("entry %d after %d leaves a gap", e.Index, last)
		case e.Index < first:
			ents = ents[:0] // truncation below everything we hold
		default:
			ents = ents[:e.Index-first] // Raft log truncation
		}
	}
	r.rep.Entries = append(ents, e)
	return nil
}

func (r *replayer) applyMarker(m SnapshotMarker) {
	r.marker = m
	r.rep.Snapshot = &r.marker
	ents := r.rep.Entries
	i := 0
	for i < len(ents) && ents[i].Index <= m.Index {
		i++
	}
	r.rep.Entries = ents[i:]
}

// lastIndex is the index the log ends at: its last entry, or the
// snapshot's index when it holds none.
func (r *replayer) lastIndex() uint64 {
	if n := len(r.rep.Entries); n > 0 {
		return r.rep.Entries[n-1].Index
	}
	if r.rep.Snapshot != nil {
		return r.marker.Index
	}
	return 0
}

// finish checks what can only be checked at the end. first is the oldest
// segment left.
func (r *replayer) finish(first segment) error {
	if first.seq > 0 && (r.rep.Snapshot == nil || r.marker.Index+1 < first.first) {
		// Segments were released on the strength of a snapshot marker
		// that is gone (damage in the tail took it): the log has a hole.
		return fmt.Errorf("segments before %s were released but no snapshot marker covers them", first.name)
	}
	if r.rep.Snapshot != nil && len(r.rep.Entries) > 0 && r.rep.Entries[0].Index != r.marker.Index+1 {
		return fmt.Errorf("entries start at %d, after snapshot %d", r.rep.Entries[0].Index, r.marker.Index)
	}
	return nil
}

// segmentResult is what reading one segment found.
type segmentResult struct {
	records int   // valid records
	end     int64 // end of the last valid record
	size    int64 // the segment's size
	repair  *RepairReport
	zeros   bool // the dropped tail (if any) is all zero bytes
}

// readSegment decodes one segment's bytes into r. In the last segment a
// damaged tail with no valid record after it is reported as a repair (not
// yet applied); anything else damaged is a *CorruptionError.
func readSegment(name string, buf []byte, last bool, r *replayer) (segmentResult, error) {
	off := 0
	records := 0
	for off < len(buf) {
		rec, n, err := decodeRecord(buf[off:])
		if err != nil && allZero(buf[off:]) {
			// Preallocated space, or a write whose data never landed:
			// the end of the segment, nothing damaged.
			break
		}
		if err != nil {
			res, err := tailOrCorrupt(name, buf, off, records, last, err)
			res.size = int64(len(buf))
			return res, err
		}
		if records == 0 && rec.typ != TypeMetadata {
			return segmentResult{}, corrupt(name, int64(off), "segment does not begin with metadata")
		}
		if err := r.apply(rec); err != nil {
			return segmentResult{}, corrupt(name, int64(off), err.Error())
		}
		records++
		off += n
	}
	return segmentResult{records: records, end: int64(off), size: int64(len(buf))}, nil
}

func tailOrCorrupt(name string, buf []byte, off, records int, last bool, err error) (segmentResult, error) {
	if errors.Is(err, errType) {
		// A valid checksum: written as a record, never torn.
		return segmentResult{}, corrupt(name, int64(off), err.Error())
	}
	if !last {
		return segmentResult{}, corrupt(name, int64(off), err.Error()+" in a sealed segment")
	}
	if at, ok := validRecordAfter(buf, off+1); ok {
		return segmentResult{}, corrupt(name, int64(off), fmt.Sprintf("%v, followed by a valid record at %d", err, at))
	}
	return segmentResult{records: records, end: int64(off), zeros: allZero(buf[off:]), repair: &RepairReport{
		File:    name,
		Offset:  int64(off),
		Dropped: int64(len(buf) - off),
		Reason:  err.Error(),
	}}, nil
}

// validRecordAfter looks for a record with a good checksum starting
// anywhere at or after from. Damage followed by one cannot be a torn tail.
func validRecordAfter(buf []byte, from int) (int, bool) {
	for i := from; i+HeaderSize <= len(buf); i++ {
		// decodeRecord gives a record or errType exactly when the frame
		// checks out.
		if _, fault := checkFrame(buf[i:]); fault == frameOK {
			return i, true
		}
	}
	return 0, false
}

func corrupt(name string, off int64, reason string) error {
	return &CorruptionError{File: name, Offset: off, Reason: reason}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
