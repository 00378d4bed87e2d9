package sim

import (
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/seedkv/seedkv/host"
)

// TraceEvent is one traced event as a Tracer sees it: everything the
// trace hash folds (time, kind, node, aux, payload hash) plus what makes
// the event readable (the other end of a message, the payload, the file
// and byte range of a disk event). The World builds it only when a Tracer
// is set, and reuses it: a Tracer must not keep the event or its slices
// after Trace returns.
type TraceEvent struct {
	// At is the virtual time since Epoch.
	At time.Duration
	// Kind names the event: "send", "write", "crash", or a Record's kind
	// ("call", "fault/partition", ...), or a Note's.
	Kind string
	// Node is where the event happened (0: the world itself). Messages
	// are traced at the sender (send, dup) or the receiver (deliver and
	// the drops).
	Node host.NodeID
	// Peer is the other end of a message event: the receiver of a send or
	// dup, the sender of a delivery or drop; 0 for other events.
	Peer host.NodeID
	// Aux and Hash are the event's integer and payload hash as folded
	// into the trace hash (their meaning depends on Kind).
	Aux, Hash uint64
	// Payload is the message of a message event, the bytes of a write,
	// or the payload of a Record; nil otherwise.
	Payload []byte
	// File names the file of a disk event (for rename: the old name);
	// To is the new name of a rename.
	File, To string
	// Off and Len are the byte range [Off, Off+Len) of a write, or of the
	// bytes a sync made durable (Len 0: none); for a truncate Off is the
	// new size, for a lose-synced the durable size left, for a corrupt the
	// flipped byte (and Len the bit).
	Off, Len int64
	// Text is the text of a Note.
	Text string
	// Note marks an event written by Note: it explains the run and is not
	// folded into the trace hash.
	Note bool
}

// Tracer receives every traced event of a World, in order.
type Tracer interface {
	Trace(e *TraceEvent)
}

// PayloadDecoder turns the payloads of message events and of Records into
// text for a TextTracer. The simulator knows no encoding; the harness
// registers one that knows the node's. Implementations must not panic on
// any bytes and must not keep the slices.
type PayloadDecoder interface {
	// AppendMessage appends a description of a network payload sent
	// from -> to.
	AppendMessage(dst []byte, from, to host.NodeID, payload []byte) []byte
	// AppendRecord appends a description of the payload of a Record of
	// the given kind at node.
	AppendRecord(dst []byte, kind string, node host.NodeID, payload []byte) []byte
}

// TraceFilter selects trace events by virtual time and node. The zero
// value selects everything.
type TraceFilter struct {
	// From and To bound the virtual time (since Epoch) to [From, To); To
	// zero means no upper bound.
	From, To time.Duration
	// Nodes, if not empty, keeps only the events at these nodes, the
	// messages to or from them, and the world's own events (node 0: fault
	// and heal records, notes), except the world's timers.
	Nodes []host.NodeID
}

// Match reports whether the filter selects e.
func (f *TraceFilter) Match(e *TraceEvent) bool {
	if e.At < f.From || f.To > 0 && e.At >= f.To {
		return false
	}
	if len(f.Nodes) == 0 {
		return true
	}
	if e.Node == 0 {
		return e.Kind != kindNames[kTimer]
	}
	return slices.Contains(f.Nodes, e.Node) || e.Peer != 0 && slices.Contains(f.Nodes, e.Peer)
}

// TextTracer writes the events its Filter selects as lines of text to W,
// decoding payloads with Decoder (nil: payloads show as length and hash).
type TextTracer struct {
	W       io.Writer
	Decoder PayloadDecoder
	Filter  TraceFilter
	buf     []byte
}

// Trace writes e's line if the filter selects it. A failing writer must
// not change the run, so its error is ignored (the hash still covers the
// event).
func (t *TextTracer) Trace(e *TraceEvent) {
	if !t.Filter.Match(e) {
		return
	}
	t.buf = AppendTraceLine(t.buf[:0], e, t.Decoder)
	_, _ = t.W.Write(t.buf)
}

// rawTracer writes the raw line of every hashed event (SetTraceWriter);
// notes are not hashed, so it skips them.
type rawTracer struct {
	w   io.Writer
	buf []byte
}

func (t *rawTracer) Trace(e *TraceEvent) {
	if e.Note {
		return
	}
	b := strconv.AppendInt(t.buf[:0], int64(e.At), 10)
	b = append(append(b, ' '), e.Kind...)
	b = appendUint(b, " node=", uint64(e.Node))
	b = appendUint(b, " aux=", e.Aux)
	b = appendHash(b, e.Hash)
	t.buf = append(b, '\n')
	_, _ = t.w.Write(t.buf) // as TextTracer: a failing writer must not change the run
}

// AppendTraceLine appends e as one line of text, ending in a newline:
// virtual time (seconds), node, kind, then the kind's details, with
// payloads decoded by dec (nil: length and hash only), for example
//
//	1.234567890s node=3 send to=1 MsgApp term=5 index=120 ... h=375448dcef30067e
//	1.236000000s node=3 write file=wal/0001.wal bytes=[4096,4200)
func AppendTraceLine(dst []byte, e *TraceEvent, dec PayloadDecoder) []byte {
	dst = appendSeconds(dst, e.At)
	dst = append(dst, " node="...)
	dst = strconv.AppendUint(dst, uint64(e.Node), 10)
	dst = append(dst, ' ')
	dst = append(dst, e.Kind...)
	if e.Note {
		dst = append(dst, ' ')
		dst = append(dst, e.Text...)
		return append(dst, '\n')
	}
	k, builtin := kindByName(e.Kind)
	if !builtin {
		return appendRecord(dst, e, dec)
	}
	return append(appendBuiltin(dst, k, e, dec), '\n')
}

// appendBuiltin appends the details of a simulator event.
func appendBuiltin(dst []byte, k kind, e *TraceEvent, dec PayloadDecoder) []byte {
	switch k {
	case kSend, kDup:
		dst = appendUint(dst, " to=", uint64(e.Peer))
		return appendMessage(dst, e.Node, e.Peer, e, dec)
	case kDeliver, kDropCut, kDropLoss, kDropDown, kDropUnknown:
		dst = appendUint(dst, " from=", uint64(e.Peer))
		return appendMessage(dst, e.Peer, e.Node, e, dec)
	case kWrite:
		dst = appendFile(dst, e.File)
		dst = appendRange(dst, e.Off, e.Len)
		return appendHash(dst, e.Hash)
	case kSync:
		dst = appendFile(dst, e.File)
		if e.Len > 0 {
			dst = appendRange(dst, e.Off, e.Len)
		}
		return appendUint(dst, " durable=", e.Aux)
	case kTruncate:
		return appendUint(appendFile(dst, e.File), " size=", uint64(e.Off))
	case kSyncLost, kCreate, kRemove:
		return appendFile(dst, e.File)
	case kSyncFailed:
		dst = appendFile(dst, e.File)
		if e.Len > 0 {
			dst = appendRange(dst, e.Off, e.Len)
		}
		return appendUint(dst, " dropped-ops=", e.Aux)
	case kRename:
		dst = appendFile(dst, e.File)
		return append(append(dst, " to="...), e.To...)
	case kCorrupt:
		dst = appendFile(dst, e.File)
		dst = appendUint(dst, " off=", uint64(e.Off))
		return appendUint(dst, " bit=", uint64(e.Len))
	case kLoseSynced:
		return appendUint(appendFile(dst, e.File), " durable=", uint64(e.Off))
	case kCrash, kRestart, kPause, kDiskCrash:
		return appendUint(dst, " inc=", e.Aux)
	case kResume:
		dst = appendUint(dst, " inc=", e.Aux)
		return appendUint(dst, " backlog=", e.Hash)
	case kSyncDir:
		return appendUint(dst, " files=", e.Aux)
	case kLoseDirents:
		return appendUint(dst, " changed=", e.Aux)
	}
	return dst // timer, start: the kind says it all
}

// appendMessage appends a message's decoded payload (or its size) and its
// hash, which ties a send to its delivery.
func appendMessage(dst []byte, from, to host.NodeID, e *TraceEvent, dec PayloadDecoder) []byte {
	dst = append(dst, ' ')
	if dec != nil {
		dst = dec.AppendMessage(dst, from, to, e.Payload)
	} else {
		dst = appendUint(dst, "len=", uint64(len(e.Payload)))
	}
	return appendHash(dst, e.Hash)
}

// appendRecord appends the payload of a Record: decoded by dec, else as
// text when it is printable, else as length and hash.
func appendRecord(dst []byte, e *TraceEvent, dec PayloadDecoder) []byte {
	if len(e.Payload) == 0 && dec == nil {
		return append(dst, '\n')
	}
	dst = append(dst, ' ')
	switch n := len(dst); {
	case dec != nil:
		dst = dec.AppendRecord(dst, e.Kind, e.Node, e.Payload)
		if len(dst) == n {
			dst = dst[:n-1] // nothing to say: no trailing space
		}
	case printable(e.Payload):
		dst = append(dst, e.Payload...)
	default:
		dst = appendUint(dst, "len=", uint64(len(e.Payload)))
		dst = appendHash(dst, e.Hash)
	}
	return append(dst, '\n')
}

// printable reports whether b is valid UTF-8 text without control
// characters (so it cannot break a line).
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// appendSeconds appends d as seconds with nine decimals and an "s".
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		dst = append(dst, '-')
		d = -d
	}
	dst = strconv.AppendInt(dst, int64(d/time.Second), 10)
	dst = append(dst, '.')
	frac := int64(d % time.Second)
	for div := int64(100_000_000); div > 0; div /= 10 {
		dst = append(dst, byte('0'+frac/div%10))
	}
	return append(dst, 's')
}

func appendUint(dst []byte, label string, v uint64) []byte {
	return strconv.AppendUint(append(dst, label...), v, 10)
}

func appendFile(dst []byte, name string) []byte {
	return append(append(dst, " file="...), name...)
}

// appendRange appends the half-open byte range [off, off+n).
func appendRange(dst []byte, off, n int64) []byte {
	dst = strconv.AppendInt(append(dst, " bytes=["...), off, 10)
	dst = strconv.AppendInt(append(dst, ','), off+n, 10)
	return append(dst, ')')
}

func appendHash(dst []byte, h uint64) []byte {
	dst = append(dst, " h="...)
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hex[h>>uint(shift)&0xf])
	}
	return dst
}

// kindByName finds a built-in kind by name (false: a Record's kind).
func kindByName(name string) (kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return kind(k), true
		}
	}
	return 0, false
}
