package raft

import "github.com/seedkv/seedkv/internal/varint"

// decodeMessageFast is decodeMessage for a message without a snapshot,
// decoded shared (byte fields alias b): one pass with the offset in a
// local instead of a decoder's fields loaded and stored for every field
// (every replica decodes every message it receives, and the harness's
// nemesis peeks at them too). Each field is checked as decodeMessage
// checks it; on anything it does not handle (a snapshot) or that
// decodeMessage would refuse it reports false having written nothing,
// and the caller runs decodeMessage, which gives the answer and its
// error. When it reports true, v and sum are what decodeMessage gives.
func decodeMessageFast(b []byte, v *Message, sum *Summary) bool {
	if len(b) < 3 || len(b) > MaxMessageSize || b[0] != formatV1 {
		return false
	}
	t, flags := b[1], b[2]
	if t >= byte(numMessageTypes) || MessageType(t).isLocal() ||
		flags&^msgFlagsKnown != 0 || flags&msgFlagSnapshot != 0 {
		return false
	}
	off := 3
	var h [8]uint64 // the header's seven varints, then the epoch
	nh := 7
	if flags&msgFlagEpoch != 0 {
		nh = 8
	}
	var ok bool
	hs := h[:nh]
	for i := range hs {
		if off < len(b) && b[off] < 0x80 { // most are one byte: inline
			hs[i] = uint64(b[off])
			off++
			continue
		}
		if hs[i], off, ok = fastUvarint(b, off); !ok {
			return false
		}
	}
	if nh == 8 && h[7] == 0 {
		return false // one encoding per message: no zero epoch
	}
	var ctx []byte
	if ctx, off, ok = fastBytes(b, off, MaxContextSize); !ok {
		return false
	}
	var n uint64
	if off < len(b) && b[off] < 0x80 {
		n = uint64(b[off])
		off++
	} else if n, off, ok = fastUvarint(b, off); !ok {
		return false
	}
	// An entry takes at least 4 bytes: term, index, type, data length.
	if n > MaxEntriesPerMessage || n*4 > uint64(len(b)-off) {
		return false
	}
	var ents []Entry
	if n > 0 && sum == nil {
		ents = make([]Entry, n)
	}
	conf := false
	for i := range int(n) {
		var e Entry
		if off < len(b) && b[off] < 0x80 {
			e.Term = uint64(b[off])
			off++
		} else if e.Term, off, ok = fastUvarint(b, off); !ok {
			return false
		}
		if off < len(b) && b[off] < 0x80 {
			e.Index = uint64(b[off])
			off++
		} else if e.Index, off, ok = fastUvarint(b, off); !ok {
			return false
		}
		if off >= len(b) || b[off] > byte(EntryConfChange) {
			return false
		}
		e.Type = EntryType(b[off])
		off++
		if e.Data, off, ok = fastBytes(b, off, MaxEntryDataSize); !ok {
			return false
		}
		if ents != nil {
			ents[i] = e
		}
		conf = conf || e.Type == EntryConfChange
	}
	if off != len(b) {
		return false // trailing bytes
	}
	v.Type, v.Reject = MessageType(t), flags&msgFlagReject != 0
	v.To, v.From, v.Term, v.LogTerm, v.Index, v.Commit, v.RejectHint = h[0], h[1], h[2], h[3], h[4], h[5], h[6]
	if nh == 8 {
		v.Epoch = h[7]
	}
	v.Context = ctx
	if sum == nil {
		v.Entries = ents
	} else if n > 0 {
		sum.Entries, sum.ConfChange = int(n), conf
	}
	return true
}

// fastUvarint reads the varint at b[off:] as decoder.uvarint does, and
// returns it with the offset after it; ok is false where uvarint fails.
func fastUvarint(b []byte, off int) (v uint64, next int, ok bool) {
	if off < len(b) && b[off] < 0x80 {
		return uint64(b[off]), off + 1, true
	}
	v, n, err := varint.Uvarint(b[off:])
	if err != nil {
		return 0, off, false
	}
	return v, off + n, true
}

// fastBytes reads a length-prefixed byte string at b[off:] as
// decoder.bytes does without copying (nil when empty, capped to its
// length); ok is false where bytes fails.
func fastBytes(b []byte, off int, limit uint64) (v []byte, next int, ok bool) {
	var n uint64
	if off < len(b) && b[off] < 0x80 {
		n = uint64(b[off])
		off++
	} else if n, off, ok = fastUvarint(b, off); !ok {
		return nil, off, false
	}
	if n > limit || n > uint64(len(b)-off) {
		return nil, off, false
	}
	if n == 0 {
		return nil, off, true
	}
	end := off + int(n)
	return b[off:end:end], end, true
}
