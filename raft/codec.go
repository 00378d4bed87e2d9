package raft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/seedkv/seedkv/internal/varint"
)

// Wire and storage formats. Every top-level encoding starts with a format
// byte so that a future change of layout is detected rather than misread.
// Integers are unsigned varints; byte strings are a varint length then the
// bytes. Decoders check every length against the limits below and against
// the remaining input before allocating, so a hostile or corrupt input
// gets a typed error, never a panic or a huge allocation.
const (
	formatV1 byte = 1

	// MaxMessageSize bounds an encoded Message (and an encoded Snapshot).
	MaxMessageSize = 256 << 20
	// MaxEntriesPerMessage bounds the entries of one Message.
	MaxEntriesPerMessage = 1 << 20
	// MaxEntryDataSize bounds the payload of one entry.
	MaxEntryDataSize = 64 << 20
	// MaxContextSize bounds Message.Context and ConfChange.Context.
	MaxContextSize = 1 << 20
	// MaxMembers bounds each of ConfState's voter and learner lists.
	MaxMembers = 1 << 12
)

// Decoding errors. A *DecodeError wraps one of them; test with errors.Is.
var (
	// ErrTruncated: the input ended in the middle of a field.
	ErrTruncated = errors.New("raft: encoded input truncated")
	// ErrMalformed: a field holds a value that no encoder produces.
	ErrMalformed = errors.New("raft: encoded input malformed")
	// ErrTooLarge: a length or count exceeds its Max limit.
	ErrTooLarge = errors.New("raft: encoded input exceeds a limit")
)

// DecodeError says what was being decoded, where, and why it failed.
type DecodeError struct {
	What   string // e.g. "Message.Entries"
	Offset int    // byte offset in the input
	Err    error  // ErrTruncated, ErrMalformed or ErrTooLarge
}

// Error describes the failure.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d", e.Err, e.What, e.Offset)
}

// Unwrap returns the sentinel cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// decoder reads fields sequentially; the first error sticks and makes
// every later read return zero values.
type decoder struct {
	b   []byte
	off int
	err error
	// private, when copyBytes is set, is a copy of b made at the first
	// non-empty byte field; byte fields then alias it instead of b.
	copyBytes bool
	private   []byte
}

func (d *decoder) fail(what string, err error) {
	if d.err == nil {
		d.err = &DecodeError{What: what, Offset: d.off, Err: err}
	}
}

// byte1 reads one byte. The usual case (no failure so far, a byte left)
// is small enough to be inlined; byte1Slow has the rest.
func (d *decoder) byte1(what string) byte {
	if d.err == nil && d.off < len(d.b) {
		v := d.b[d.off]
		d.off++
		return v
	}
	return d.byte1Slow(what)
}

func (d *decoder) byte1Slow(what string) byte {
	if d.err != nil {
		return 0
	}
	d.fail(what, ErrTruncated)
	return 0
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if v, n := varint.Short(d.b[d.off:]); n > 0 {
		d.off += n
		return v
	}
	v, n, err := varint.Uvarint(d.b[d.off:])
	if err != nil {
		d.varintFailed(what, err)
		return 0
	}
	d.off += n
	return v
}

// oneByte reads a one-byte varint if one is next and nothing failed so
// far; ok is false, and nothing is read, otherwise. Small enough to be
// inlined, it lets the hot readers (uvarints, bytes, count) take the
// usual one-byte varint without a call; uvarint reads the rest.
func (d *decoder) oneByte() (v uint64, ok bool) {
	if off := d.off; d.err == nil && off < len(d.b) {
		if c := d.b[off]; c < 0x80 {
			d.off = off + 1
			return uint64(c), true
		}
	}
	return 0, false
}

// uvarints reads len(dst) unsigned varints into dst, whats[i] naming the
// i-th: uvarint's reads, one call for a run of fields instead of one
// each (a message's header, an entry's term and index), with one-byte
// varints read in the loop.
func (d *decoder) uvarints(dst []uint64, whats []string) {
	b, off := d.b, d.off // d.off is off between the calls to uvarint
	for i := range dst {
		if d.err == nil && off < len(b) && b[off] < 0x80 {
			dst[i] = uint64(b[off])
			off++
			continue
		}
		d.off = off
		dst[i] = d.uvarint(whats[i])
		off = d.off
	}
	d.off = off
}

// varintFailed records why a varint could not be decoded (errors.Is is
// called only on this path: it is not cheap enough for every varint).
func (d *decoder) varintFailed(what string, err error) {
	if errors.Is(err, varint.ErrTruncated) {
		d.fail(what, ErrTruncated)
		return
	}
	// Overflow, or a non-minimal encoding: only minimal encodings are
	// accepted, so that the encoding of a value is canonical.
	d.fail(what, ErrMalformed)
}

// bytes returns a length-prefixed byte string aliasing the input (callers
// that must not alias copy the input first), nil when the length is zero.
func (d *decoder) bytes(what string, limit uint64) []byte {
	n, ok := d.oneByte()
	if !ok {
		n = d.uvarint(what)
	}
	if d.err != nil {
		return nil
	}
	if n > limit {
		d.fail(what, ErrTooLarge)
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail(what, ErrTruncated)
		return nil
	}
	if n == 0 {
		return nil
	}
	src := d.b
	if d.copyBytes {
		if d.private == nil {
			d.private = cloneBytes(d.b)
		}
		src = d.private
	}
	v := src[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

// count reads an element count and checks it against limit and against the
// remaining input (each element takes at least minSize bytes).
func (d *decoder) count(what string, limit uint64, minSize int) int {
	n, ok := d.oneByte()
	if !ok {
		n = d.uvarint(what)
	}
	if d.err != nil {
		return 0
	}
	if n > limit {
		d.fail(what, ErrTooLarge)
		return 0
	}
	if n*uint64(minSize) > uint64(len(d.b)-d.off) {
		d.fail(what, ErrTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) format(what string) {
	if v := d.byte1(what); d.err == nil && v != formatV1 {
		d.fail(what, ErrMalformed)
	}
}

func (d *decoder) end(what string) error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(what+" (trailing bytes)", ErrMalformed)
	}
	return d.err
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// --- Entry ---

func (e *Entry) appendFields(b []byte) []byte {
	b = binary.AppendUvarint(b, e.Term)
	b = binary.AppendUvarint(b, e.Index)
	b = append(b, byte(e.Type))
	return appendBytes(b, e.Data)
}

// entryFields names an entry's leading varints for uvarints.
var entryFields = []string{"Entry.Term", "Entry.Index"}

func (e *Entry) decodeFields(d *decoder) {
	var ti [2]uint64
	d.uvarints(ti[:], entryFields)
	e.Term, e.Index = ti[0], ti[1]
	t := d.byte1("Entry.Type")
	if d.err == nil && t > byte(EntryConfChange) {
		d.fail("Entry.Type", ErrMalformed)
	}
	e.Type = EntryType(t)
	e.Data = d.bytes("Entry.Data", MaxEntryDataSize)
}

// MarshalAppend appends the encoding of e to b.
func (e *Entry) MarshalAppend(b []byte) []byte {
	return e.appendFields(append(b, formatV1))
}

// Marshal returns the encoding of e.
func (e *Entry) Marshal() []byte { return e.MarshalAppend(nil) }

// Unmarshal decodes b into e. e.Data is a copy: b may be reused.
func (e *Entry) Unmarshal(b []byte) error {
	d := decoder{b: b}
	d.format("Entry")
	var v Entry
	v.decodeFields(&d)
	if err := d.end("Entry"); err != nil {
		return err
	}
	v.Data = cloneBytes(v.Data)
	*e = v
	return nil
}

// --- HardState ---

// MarshalAppend appends the encoding of hs to b.
func (hs *HardState) MarshalAppend(b []byte) []byte {
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, hs.Term)
	b = binary.AppendUvarint(b, hs.Vote)
	return binary.AppendUvarint(b, hs.Commit)
}

// Marshal returns the encoding of hs.
func (hs *HardState) Marshal() []byte { return hs.MarshalAppend(nil) }

// Unmarshal decodes b into hs.
func (hs *HardState) Unmarshal(b []byte) error {
	d := decoder{b: b}
	d.format("HardState")
	v := HardState{Term: d.uvarint("HardState.Term"), Vote: d.uvarint("HardState.Vote"),
		Commit: d.uvarint("HardState.Commit")}
	if err := d.end("HardState"); err != nil {
		return err
	}
	*hs = v
	return nil
}

// --- ConfState ---

func appendIDs(b []byte, ids []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
	}
	return b
}

// decodeIDs reads a sorted, duplicate-free list of non-zero IDs.
func decodeIDs(d *decoder, what string) []uint64 {
	n := d.count(what, MaxMembers, 1)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.uvarint(what)
		if d.err == nil && (ids[i] == None || (i > 0 && ids[i] <= ids[i-1])) {
			d.fail(what, ErrMalformed)
		}
	}
	return ids
}

func (cs *ConfState) appendFields(b []byte) []byte {
	return appendIDs(appendIDs(b, cs.Voters), cs.Learners)
}

func (cs *ConfState) decodeFields(d *decoder) {
	cs.Voters = decodeIDs(d, "ConfState.Voters")
	cs.Learners = decodeIDs(d, "ConfState.Learners")
	for _, id := range cs.Learners {
		if d.err == nil && containsID(cs.Voters, id) {
			d.fail("ConfState.Learners", ErrMalformed)
		}
	}
}

// MarshalAppend appends the encoding of cs to b.
func (cs *ConfState) MarshalAppend(b []byte) []byte {
	return cs.appendFields(append(b, formatV1))
}

// Marshal returns the encoding of cs.
func (cs *ConfState) Marshal() []byte { return cs.MarshalAppend(nil) }

// Unmarshal decodes b into cs.
func (cs *ConfState) Unmarshal(b []byte) error {
	d := decoder{b: b}
	d.format("ConfState")
	var v ConfState
	v.decodeFields(&d)
	if err := d.end("ConfState"); err != nil {
		return err
	}
	*cs = v
	return nil
}

// --- ConfChange ---

// MarshalAppend appends the encoding of cc to b.
func (cc *ConfChange) MarshalAppend(b []byte) []byte {
	b = append(b, formatV1, byte(cc.Type))
	b = binary.AppendUvarint(b, cc.NodeID)
	return appendBytes(b, cc.Context)
}

// Marshal returns the encoding of cc.
func (cc *ConfChange) Marshal() []byte { return cc.MarshalAppend(nil) }

// Unmarshal decodes b into cc. cc.Context is a copy.
func (cc *ConfChange) Unmarshal(b []byte) error {
	d := decoder{b: b}
	d.format("ConfChange")
	var v ConfChange
	t := d.byte1("ConfChange.Type")
	if d.err == nil && t > byte(ConfChangeRemoveNode) {
		d.fail("ConfChange.Type", ErrMalformed)
	}
	v.Type = ConfChangeType(t)
	v.NodeID = d.uvarint("ConfChange.NodeID")
	if d.err == nil && v.NodeID == None {
		d.fail("ConfChange.NodeID", ErrMalformed)
	}
	v.Context = d.bytes("ConfChange.Context", MaxContextSize)
	if err := d.end("ConfChange"); err != nil {
		return err
	}
	v.Context = cloneBytes(v.Context)
	*cc = v
	return nil
}

// --- Snapshot ---

func (s *Snapshot) appendFields(b []byte) []byte {
	b = binary.AppendUvarint(b, s.Meta.Index)
	b = binary.AppendUvarint(b, s.Meta.Term)
	b = s.Meta.ConfState.appendFields(b)
	return appendBytes(b, s.Data)
}

func (s *Snapshot) decodeFields(d *decoder) {
	s.Meta.Index = d.uvarint("Snapshot.Index")
	s.Meta.Term = d.uvarint("Snapshot.Term")
	s.Meta.ConfState.decodeFields(d)
	s.Data = d.bytes("Snapshot.Data", MaxMessageSize)
}

// MarshalAppend appends the encoding of s to b.
func (s *Snapshot) MarshalAppend(b []byte) []byte {
	return s.appendFields(append(b, formatV1))
}

// Marshal returns the encoding of s.
func (s *Snapshot) Marshal() []byte { return s.MarshalAppend(nil) }

// Unmarshal decodes b into s. s.Data is a copy.
func (s *Snapshot) Unmarshal(b []byte) error {
	if len(b) > MaxMessageSize {
		return &DecodeError{What: "Snapshot", Err: ErrTooLarge}
	}
	d := decoder{b: b}
	d.format("Snapshot")
	var v Snapshot
	v.decodeFields(&d)
	if err := d.end("Snapshot"); err != nil {
		return err
	}
	v.Data = cloneBytes(v.Data)
	*s = v
	return nil
}

// --- Message ---

const (
	msgFlagReject   = 1 << 0
	msgFlagSnapshot = 1 << 1
	// msgFlagEpoch: a non-zero Epoch follows the header (absent when
	// zero, so that nodes that never recovered send the same bytes).
	msgFlagEpoch  = 1 << 2
	msgFlagsKnown = msgFlagReject | msgFlagSnapshot | msgFlagEpoch
)

// MarshalAppend appends the wire encoding of m to b.
func (m *Message) MarshalAppend(b []byte) []byte {
	var flags byte
	if m.Reject {
		flags |= msgFlagReject
	}
	if m.Snapshot != nil {
		flags |= msgFlagSnapshot
	}
	if m.Epoch != 0 {
		flags |= msgFlagEpoch
	}
	b = append(b, formatV1, byte(m.Type), flags)
	b = binary.AppendUvarint(b, m.To)
	b = binary.AppendUvarint(b, m.From)
	b = binary.AppendUvarint(b, m.Term)
	b = binary.AppendUvarint(b, m.LogTerm)
	b = binary.AppendUvarint(b, m.Index)
	b = binary.AppendUvarint(b, m.Commit)
	b = binary.AppendUvarint(b, m.RejectHint)
	if m.Epoch != 0 {
		b = binary.AppendUvarint(b, m.Epoch)
	}
	b = appendBytes(b, m.Context)
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for i := range m.Entries {
		b = m.Entries[i].appendFields(b)
	}
	if m.Snapshot != nil {
		b = m.Snapshot.appendFields(b)
	}
	return b
}

// Marshal returns the wire encoding of m.
func (m *Message) Marshal() []byte { return m.MarshalAppend(nil) }

// Unmarshal decodes the wire encoding b into m. The byte fields of m
// (entry data, context, snapshot data) share one private copy of b, so b
// may be reused by the caller. Local message types are rejected: they
// never travel on the wire.
func (m *Message) Unmarshal(b []byte) error {
	// The byte fields alias a private copy of b, made only when the
	// first of them is decoded: one allocation for a message with byte
	// fields instead of one per field, none for a message without (most
	// of them: heartbeats, votes, acknowledgements), and b stays the
	// caller's.
	return m.unmarshal(b, true)
}

// UnmarshalShared is Unmarshal without the copy: the byte fields of m
// (entry data, context, snapshot data) alias b. The caller must never
// modify b afterwards, nor let anyone else; a payload delivered by the
// network (host.Send's contract: read-only once sent) qualifies.
func (m *Message) UnmarshalShared(b []byte) error { return m.unmarshal(b, false) }

// UnmarshalSharedInto is UnmarshalShared with the entries decoded into
// ents's array when it has room for them (a new one otherwise): a caller
// that steps one message at a time reuses one array for their entries.
// The caller must know that no one kept the entries of the message
// decoded there before (raft copies a MsgApp's entries into its log).
func (m *Message) UnmarshalSharedInto(b []byte, ents []Entry) error {
	v := Message{Entries: ents[:0]}
	if err := decodeMessage(b, false, &v, nil); err != nil {
		return err
	}
	if len(v.Entries) == 0 {
		v.Entries = nil // as UnmarshalShared gives
	}
	*m = v
	return nil
}

func (m *Message) unmarshal(b []byte, copyBytes bool) error {
	var v Message
	if err := decodeMessage(b, copyBytes, &v, nil); err != nil {
		return err
	}
	*m = v
	return nil
}

// Summary is what Peek tells of an encoded Message.
type Summary struct {
	Type       MessageType
	Entries    int  // how many entries it carries
	ConfChange bool // one of them is an EntryConfChange
}

// Peek checks the wire encoding b of a Message exactly as UnmarshalShared
// does (it fails on the same inputs, with the same error) and summarises
// it without building the Message: no entries slice is allocated (only a
// snapshot's configuration is, as decoding it needs). Observers that only
// need a message's type and the kinds of its entries (the harness's
// nemesis, for every message sent) use it instead of a full decode.
func Peek(b []byte) (Summary, error) {
	var v Message
	var s Summary
	if err := decodeMessage(b, false, &v, &s); err != nil {
		return Summary{}, err
	}
	s.Type = v.Type
	return s, nil
}

// messageFields names a message's header varints for uvarints, in their
// order on the wire (MarshalAppend).
var messageFields = []string{"Message.To", "Message.From", "Message.Term", "Message.LogTerm",
	"Message.Index", "Message.Commit", "Message.RejectHint"}

// decodeMessage decodes b into v (its entries too, unless sum is set:
// then they are only checked and summarised into sum, and a snapshot is
// checked but not kept).
func decodeMessage(b []byte, copyBytes bool, v *Message, sum *Summary) error {
	if len(b) > MaxMessageSize {
		return &DecodeError{What: "Message", Err: ErrTooLarge}
	}
	d := decoder{b: b, copyBytes: copyBytes}
	d.format("Message")
	t := d.byte1("Message.Type")
	if d.err == nil && (t >= byte(numMessageTypes) || MessageType(t).isLocal()) {
		d.fail("Message.Type", ErrMalformed)
	}
	v.Type = MessageType(t)
	flags := d.byte1("Message.Flags")
	if d.err == nil && flags&^msgFlagsKnown != 0 {
		d.fail("Message.Flags", ErrMalformed)
	}
	v.Reject = flags&msgFlagReject != 0
	var h [7]uint64
	d.uvarints(h[:], messageFields)
	v.To, v.From, v.Term, v.LogTerm, v.Index, v.Commit, v.RejectHint = h[0], h[1], h[2], h[3], h[4], h[5], h[6]
	if flags&msgFlagEpoch != 0 {
		v.Epoch = d.uvarint("Message.Epoch")
		if d.err == nil && v.Epoch == 0 {
			d.fail("Message.Epoch", ErrMalformed) // one encoding per message
		}
	}
	v.Context = d.bytes("Message.Context", MaxContextSize)
	// An entry takes at least 4 bytes: term, index, type, data length.
	if n := d.count("Message.Entries", MaxEntriesPerMessage, 4); n > 0 {
		if sum == nil {
			if cap(v.Entries) >= n {
				v.Entries = v.Entries[:n] // UnmarshalSharedInto's array
				clear(v.Entries)
			} else {
				v.Entries = make([]Entry, n)
			}
			for i := range v.Entries {
				v.Entries[i].decodeFields(&d)
			}
		} else {
			sum.Entries = n
			for range n {
				var e Entry
				e.decodeFields(&d)
				sum.ConfChange = sum.ConfChange || e.Type == EntryConfChange
			}
		}
	}
	if flags&msgFlagSnapshot != 0 && d.err == nil {
		if sum == nil {
			v.Snapshot = new(Snapshot)
			v.Snapshot.decodeFields(&d)
		} else {
			var s Snapshot
			s.decodeFields(&d)
		}
	}
	return d.end("Message")
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
