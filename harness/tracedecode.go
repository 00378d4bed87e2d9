package harness

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/sim"
)

// TraceDecoder is the sim.PayloadDecoder of seedkv's runs: it knows the
// node's envelopes (raft messages, client requests and responses, watch
// events, snapshot chunks), the log commands inside raft entries and the
// harness's own call/return records, and turns them into one line of
// key=value words. It never panics: bytes it cannot decode are shown as
// "undecodable" with their length.
type TraceDecoder struct{}

var _ sim.PayloadDecoder = TraceDecoder{}

// Limits that keep a decoded line short, whatever the message holds.
const (
	traceMaxItems = 4  // entries, kvs, events, ops shown per list
	traceMaxBytes = 40 // bytes of a key or value shown
)

// AppendMessage appends a description of a network payload.
func (TraceDecoder) AppendMessage(dst []byte, from, to host.NodeID, payload []byte) []byte {
	env, body, err := api.SplitEnvelope(payload)
	if err != nil {
		return appendUndecodable(dst, "envelope", len(payload))
	}
	switch env {
	case api.EnvelopePeer:
		return appendRaftMessage(dst, body)
	case api.EnvelopeControl:
		return appendControl(dst, body)
	}
	return appendClientMessage(dst, body)
}

// AppendRecord appends a description of a Record's payload: the
// harness's call, return and timeout records are decoded; others (the
// nemesis's fault/... and heal/... records) are text, shown as is when
// printable.
func (TraceDecoder) AppendRecord(dst []byte, kind string, _ host.NodeID, payload []byte) []byte {
	switch kind {
	case "call", "return", "timeout":
		if out, ok := appendClientRecord(dst, kind, payload); ok {
			return out
		}
	}
	if len(payload) == 0 {
		return dst
	}
	if printableText(payload) {
		return append(dst, payload...)
	}
	return appendUndecodable(dst, "record", len(payload))
}

func appendUndecodable(dst []byte, what string, n int) []byte {
	dst = append(dst, "undecodable "...)
	dst = append(dst, what...)
	return appendInt(dst, " len=", int64(n))
}

// ---- raft ----

// appendRaftMessage describes a raft message: type, term, index, log
// term, commit, rejection, entries (with the commands they carry) and
// snapshot.
func appendRaftMessage(dst []byte, body []byte) []byte {
	var m raft.Message
	if m.UnmarshalShared(body) != nil {
		return appendUndecodable(dst, "raft", len(body))
	}
	dst = append(dst, m.Type.String()...)
	dst = appendUint(dst, " term=", m.Term)
	dst = appendUint(dst, " index=", m.Index)
	dst = appendUint(dst, " logterm=", m.LogTerm)
	dst = appendUint(dst, " commit=", m.Commit)
	if m.Reject {
		dst = appendUint(dst, " reject hint=", m.RejectHint)
	}
	if len(m.Context) > 0 {
		dst = appendInt(dst, " ctx=", int64(len(m.Context)))
		dst = append(dst, 'B')
	}
	if len(m.Entries) > 0 {
		dst = appendInt(dst, " entries=", int64(len(m.Entries)))
		dst = appendList(append(dst, " ["...), len(m.Entries), ", ", func(dst []byte, i int) []byte {
			return appendEntry(dst, &m.Entries[i])
		})
		dst = append(dst, ']')
	}
	if s := m.Snapshot; s != nil {
		dst = appendUint(dst, " snapshot=", s.Meta.Index)
		dst = appendUint(dst, "@", s.Meta.Term)
		dst = appendInt(dst, " data=", int64(len(s.Data)))
		dst = append(dst, 'B')
	}
	return dst
}

// appendEntry describes one entry as index@term and its command.
func appendEntry(dst []byte, e *raft.Entry) []byte {
	dst = strconv.AppendUint(dst, e.Index, 10)
	dst = appendUint(dst, "@", e.Term)
	switch {
	case e.Type == raft.EntryConfChange:
		var cc raft.ConfChange
		if cc.Unmarshal(e.Data) != nil {
			return append(dst, " bad-confchange"...)
		}
		dst = append(dst, ' ')
		dst = append(dst, cc.Type.String()...)
		return appendUint(dst, " ", cc.NodeID)
	case e.Type != raft.EntryNormal:
		return append(dst, " unknown-type"...)
	case len(e.Data) == 0:
		return append(dst, " empty"...)
	}
	c, err := node.DecodeCommand(e.Data)
	switch {
	case err != nil:
		return append(dst, " bad-command"...)
	case c.Expire:
		dst = append(dst, " expire leases="...)
		return appendInts(dst, c.Leases)
	}
	dst = append(dst, ' ')
	return appendRequestBody(dst, c.Request.Body)
}

// appendControl describes a control message (a snapshot chunk).
func appendControl(dst []byte, body []byte) []byte {
	c, err := node.DecodeControl(body)
	if err != nil {
		return appendUndecodable(dst, "control", len(body))
	}
	dst = appendUint(dst, "snap-chunk snapshot=", c.Index)
	dst = appendUint(dst, "@", c.Term)
	dst = appendUint(dst, " bytes=[", c.Offset)
	dst = appendUint(dst, ",", c.Offset+uint64(c.Bytes))
	dst = appendUint(dst, ") of=", c.Size)
	if c.Header {
		dst = append(dst, " header"...)
	}
	return dst
}

// ---- client traffic ----

// appendClientMessage describes a request, a response or a batch of
// watch events.
func appendClientMessage(dst []byte, payload []byte) []byte {
	m, err := api.Decode(payload)
	if err != nil {
		return appendUndecodable(dst, "client", len(payload))
	}
	switch m := m.(type) {
	case *api.Request:
		dst = appendUint(dst, "request id=", uint64(m.ID))
		dst = append(dst, ' ')
		return appendRequestBody(dst, m.Body)
	case *api.Response:
		return appendResponse(dst, m)
	case *api.WatchEvents:
		return appendWatchEvents(dst, m)
	}
	return appendUndecodable(dst, "client", len(payload)) // Decode returns no other type
}

// appendRequestBody describes a request: its op and the fields that say
// what it touches.
func appendRequestBody(dst []byte, b api.RequestBody) []byte {
	dst = append(dst, b.Op().String()...)
	switch r := b.(type) {
	case *api.PutRequest:
		dst = appendPut(dst, r)
	case *api.RangeRequest:
		dst = appendRange(dst, r)
	case *api.DeleteRangeRequest:
		dst = appendKeyRange(dst, r.Key, r.End)
		dst = appendFlag(dst, " prev_kv", r.PrevKV)
	case *api.TxnRequest:
		dst = appendTxn(dst, r)
	case *api.CompactRequest:
		dst = appendInt(dst, " rev=", r.Revision)
	case *api.LeaseGrantRequest:
		dst = appendInt(dst, " ttl=", r.TTL)
		dst = appendInt(dst, " lease=", r.ID)
	case *api.LeaseRevokeRequest:
		dst = appendInt(dst, " lease=", r.ID)
	case *api.LeaseKeepAliveRequest:
		dst = appendInt(dst, " lease=", r.ID)
	case *api.WatchCreateRequest:
		dst = appendInt(dst, " watch=", r.WatchID)
		dst = appendKeyRange(dst, r.Key, r.End)
		dst = appendInt(dst, " start=", r.StartRevision)
		dst = appendFlag(dst, " prev_kv", r.PrevKV)
	case *api.WatchCancelRequest:
		dst = appendInt(dst, " watch=", r.WatchID)
	case *api.MemberAddRequest:
		dst = appendUint(dst, " member=", uint64(r.ID))
		dst = appendFlag(dst, " learner", r.Learner)
	case *api.MemberRemoveRequest:
		dst = appendUint(dst, " member=", uint64(r.ID))
	case *api.MoveLeaderRequest:
		dst = appendUint(dst, " target=", uint64(r.Target))
	}
	return dst
}

func appendPut(dst []byte, r *api.PutRequest) []byte {
	dst = appendBytesField(dst, " key=", r.Key)
	dst = appendBytesField(dst, " value=", r.Value)
	if r.Lease != 0 {
		dst = appendInt(dst, " lease=", r.Lease)
	}
	return appendFlag(dst, " prev_kv", r.PrevKV)
}

func appendRange(dst []byte, r *api.RangeRequest) []byte {
	dst = appendKeyRange(dst, r.Key, r.End)
	if r.Revision != 0 {
		dst = appendInt(dst, " rev=", r.Revision)
	}
	if r.Limit != 0 {
		dst = appendInt(dst, " limit=", r.Limit)
	}
	dst = appendFlag(dst, " count_only", r.CountOnly)
	dst = appendFlag(dst, " keys_only", r.KeysOnly)
	return appendFlag(dst, " serializable", r.Serializable)
}

// appendTxn describes a transaction as if [compares] then [ops] else [ops].
func appendTxn(dst []byte, r *api.TxnRequest) []byte {
	dst = appendList(append(dst, " if ["...), len(r.Compares), ", ", func(dst []byte, i int) []byte {
		return appendCompare(dst, &r.Compares[i])
	})
	dst = appendTxnOps(append(dst, "] then ["...), r.Success)
	dst = appendTxnOps(append(dst, "] else ["...), r.Failure)
	return append(dst, ']')
}

var compareTargets = [...]string{"version", "create", "mod", "value", "lease"}
var compareOps = [...]string{"=", ">", "<", "!="}

// appendCompare describes a compare as target(key) op operand.
func appendCompare(dst []byte, c *api.Compare) []byte {
	target, op := "target?", "?"
	if int(c.Target) < len(compareTargets) {
		target = compareTargets[c.Target]
	}
	if int(c.Result) < len(compareOps) {
		op = compareOps[c.Result]
	}
	dst = append(dst, target...)
	dst = append(dst, '(')
	dst = appendKey(dst, c.Key)
	if len(c.End) > 0 {
		dst = append(dst, ".."...)
		dst = appendKey(dst, c.End)
	}
	dst = append(dst, ')')
	dst = append(dst, op...)
	switch c.Target {
	case api.TargetVersion:
		return strconv.AppendInt(dst, c.Version, 10)
	case api.TargetCreate:
		return strconv.AppendInt(dst, c.CreateRevision, 10)
	case api.TargetMod:
		return strconv.AppendInt(dst, c.ModRevision, 10)
	case api.TargetValue:
		return appendValue(dst, c.Value)
	case api.TargetLease:
		return strconv.AppendInt(dst, c.Lease, 10)
	}
	return dst
}

func appendTxnOps(dst []byte, ops []api.TxnOp) []byte {
	return appendList(dst, len(ops), ", ", func(dst []byte, i int) []byte {
		switch o := &ops[i]; {
		case o.Put != nil:
			dst = appendPut(append(dst, "Put"...), o.Put)
		case o.Range != nil:
			dst = appendRange(append(dst, "Range"...), o.Range)
		case o.DeleteRange != nil:
			dst = appendKeyRange(append(dst, "DeleteRange"...), o.DeleteRange.Key, o.DeleteRange.End)
		}
		return dst
	})
}

// appendResponse describes a response: op, status, revision, the
// answering member and its term, and the op's result.
func appendResponse(dst []byte, r *api.Response) []byte {
	dst = appendUint(dst, "response id=", uint64(r.ID))
	dst = append(dst, ' ')
	dst = append(dst, r.Op.String()...)
	dst = append(dst, " status="...)
	dst = append(dst, codeName(r.Err)...)
	dst = appendInt(dst, " rev=", r.Header.Revision)
	dst = appendUint(dst, " member=", uint64(r.Header.Member))
	dst = appendUint(dst, " term=", r.Header.RaftTerm)
	if r.Leader != 0 {
		dst = appendUint(dst, " leader=", uint64(r.Leader))
	}
	if r.Detail != "" {
		dst = append(dst, " detail="...)
		dst = appendValue(dst, []byte(r.Detail))
	}
	return appendResponseBody(dst, r.Body)
}

func appendResponseBody(dst []byte, b api.ResponseBody) []byte {
	switch r := b.(type) {
	case *api.PutResponse:
		if r.PrevKV != nil {
			dst = appendKVs(append(dst, " prev="...), []api.KeyValue{*r.PrevKV})
		}
	case *api.RangeResponse:
		dst = appendInt(dst, " count=", r.Count)
		dst = appendFlag(dst, " more", r.More)
		dst = appendKVs(append(dst, " kvs="...), r.KVs)
	case *api.DeleteRangeResponse:
		dst = appendInt(dst, " deleted=", r.Deleted)
	case *api.TxnResponse:
		dst = appendFlag(dst, " succeeded", r.Succeeded)
		dst = appendInt(dst, " results=", int64(len(r.Responses)))
	case *api.LeaseGrantResponse:
		dst = appendInt(dst, " lease=", r.ID)
		dst = appendInt(dst, " ttl=", r.TTL)
	case *api.LeaseKeepAliveResponse:
		dst = appendInt(dst, " lease=", r.ID)
		dst = appendInt(dst, " ttl=", r.TTL)
	case *api.WatchCreateResponse:
		dst = appendInt(dst, " watch=", r.WatchID)
		if r.CompactRevision != 0 {
			dst = appendInt(dst, " compact=", r.CompactRevision)
		}
	case *api.WatchCancelResponse:
		dst = appendInt(dst, " watch=", r.WatchID)
	case *api.MemberResponse:
		dst = append(dst, " members=["...)
		for i, m := range r.Members {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = strconv.AppendUint(dst, uint64(m.ID), 10)
			if m.Learner {
				dst = append(dst, "(learner)"...)
			}
		}
		dst = append(dst, ']')
	}
	return dst
}

// appendWatchEvents describes one message of a watch stream.
func appendWatchEvents(dst []byte, w *api.WatchEvents) []byte {
	dst = appendUint(dst, "watch-events id=", uint64(w.ID))
	dst = appendInt(dst, " watch=", w.WatchID)
	dst = appendUint(dst, " seq=", w.Seq)
	dst = appendInt(dst, " rev=", w.Header.Revision)
	dst = appendUint(dst, " member=", uint64(w.Header.Member))
	if w.Canceled {
		dst = append(dst, " canceled status="...)
		dst = append(dst, codeName(w.Err)...)
	}
	if w.CompactRevision != 0 {
		dst = appendInt(dst, " compact=", w.CompactRevision)
	}
	dst = appendInt(dst, " events=", int64(len(w.Events)))
	if len(w.Events) == 0 {
		return dst
	}
	dst = appendList(append(dst, " ["...), len(w.Events), ", ", func(dst []byte, i int) []byte {
		e := &w.Events[i]
		if e.Type == api.EventDelete {
			dst = appendKey(append(dst, "delete "...), e.KV.Key)
			return appendInt(dst, "@", e.KV.ModRevision)
		}
		return appendKV(append(dst, "put "...), &e.KV)
	})
	return append(dst, ']')
}

// codeNames are short names of the api error codes, by code.
var codeNames = [...]string{"OK", "NotLeader", "Compacted", "FutureRevision", "NoSpace",
	"LeaseNotFound", "LeaseExists", "Invalid", "Unavailable", "MemberNotFound",
	"MemberExists", "WatchNotFound", "TooManyRequests", "Internal"}

func codeName(c api.ErrorCode) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code" + strconv.Itoa(int(c))
}

// ---- the harness's records ----

// appendClientRecord decodes the payload of a call, return or timeout
// record (seedRun.record): op, history index, and a digest whose meaning
// depends on the record (see the callers of seedRun.record).
func appendClientRecord(dst []byte, kind string, p []byte) ([]byte, bool) {
	if len(p) == 0 {
		return dst, false
	}
	op := api.Op(p[0])
	hid, n := binary.Varint(p[1:])
	if n <= 0 {
		return dst, false
	}
	digest, m := binary.Varint(p[1+n:])
	if m <= 0 || 1+n+m != len(p) {
		return dst, false
	}
	dst = append(dst, op.String()...)
	if hid >= 0 {
		dst = appendInt(dst, " op=", hid)
	}
	switch {
	case kind == "return" && op == api.OpCompact:
		dst = appendInt(dst, " rev=", digest)
	case kind == "return":
		dst = appendInt(dst, " rev=", digest>>8)
		dst = append(dst, " status="...)
		dst = append(dst, codeName(api.ErrorCode(byte(digest)))...)
	case kind == "call" && hid < 0:
		switch op {
		case api.OpLeaseKeepAlive:
			dst = appendInt(dst, " lease=", digest)
		case api.OpCompact:
			dst = appendInt(dst, " rev=", digest)
		case api.OpMoveLeader:
			dst = appendInt(dst, " target=", digest)
		}
	}
	return dst, true
}

// ---- small formatters ----

func appendInt(dst []byte, label string, v int64) []byte {
	return strconv.AppendInt(append(dst, label...), v, 10)
}

func appendUint(dst []byte, label string, v uint64) []byte {
	return strconv.AppendUint(append(dst, label...), v, 10)
}

func appendInts(dst []byte, vs []int64) []byte {
	return appendList(dst, len(vs), ",", func(dst []byte, i int) []byte {
		return strconv.AppendInt(dst, vs[i], 10)
	})
}

// appendList appends items 0..n-1 of a list with each, separated by sep:
// the first traceMaxItems of them, then sep+"+k" for the k left out.
func appendList(dst []byte, n int, sep string, each func(dst []byte, i int) []byte) []byte {
	for i := range n {
		if i == traceMaxItems {
			return appendInt(append(dst, sep...), "+", int64(n-i))
		}
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = each(dst, i)
	}
	return dst
}

func appendFlag(dst []byte, word string, on bool) []byte {
	if on {
		dst = append(dst, word...)
	}
	return dst
}

// appendKeyRange appends key=K, and end=E when the request is a range.
func appendKeyRange(dst []byte, key, end []byte) []byte {
	dst = appendBytesField(dst, " key=", key)
	if len(end) > 0 {
		dst = appendBytesField(dst, " end=", end)
	}
	return dst
}

func appendBytesField(dst []byte, label string, b []byte) []byte {
	dst = append(dst, label...)
	if label == " value=" {
		return appendValue(dst, b)
	}
	return appendKey(dst, b)
}

// appendKVs appends up to traceMaxItems key-values as [k=v@mod ...].
func appendKVs(dst []byte, kvs []api.KeyValue) []byte {
	dst = appendList(append(dst, '['), len(kvs), " ", func(dst []byte, i int) []byte {
		return appendKV(dst, &kvs[i])
	})
	return append(dst, ']')
}

// appendKV appends key=value@mod_revision.
func appendKV(dst []byte, kv *api.KeyValue) []byte {
	dst = appendKey(dst, kv.Key)
	dst = append(dst, '=')
	dst = appendValue(dst, kv.Value)
	return appendInt(dst, "@", kv.ModRevision)
}

// appendKey appends a key as is when it is a plain word (like /k/3),
// quoted otherwise, cut to traceMaxBytes.
func appendKey(dst []byte, k []byte) []byte {
	if len(k) > 0 && len(k) <= traceMaxBytes && plainWord(k) {
		return append(dst, k...)
	}
	return appendValue(dst, k)
}

// appendValue appends b quoted, cut to traceMaxBytes with its full length.
func appendValue(dst []byte, b []byte) []byte {
	if len(b) <= traceMaxBytes {
		return strconv.AppendQuote(dst, string(b))
	}
	dst = strconv.AppendQuote(dst, string(b[:traceMaxBytes]))
	dst = appendInt(dst, "...(", int64(len(b)))
	return append(dst, "B)"...)
}

// plainWord reports whether k is printable ASCII without spaces, quotes,
// '=', brackets or commas (which structure the line).
func plainWord(k []byte) bool {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"=[](),@`, c) >= 0 {
			return false
		}
	}
	return true
}

// printableText reports whether b is UTF-8 text that cannot break a line.
func printableText(b []byte) bool {
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
