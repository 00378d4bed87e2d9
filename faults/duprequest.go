package faults

import (
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
)

// DupRequest is the name of the dup-request fault.
const DupRequest = "dup-request"

// MomentClientWrite: a client's write request (put, delete, txn) reaching
// a replica. Classified only for messages from a process that is not a
// replica to one that is.
const MomentClientWrite Moment = 96

var (
	probeDupRequest   = probe.New("faults/client-write-duplicated", "faults: a client's write request was delivered again, tens of milliseconds late")
	probeDupPipelined = probe.New("faults/pipelined-write-duplicated", "faults: the first of two writes a client had in flight was delivered again")
)

// pipelinedDelay bounds how late dup-request delivers again a write that
// a later request of its client names unfinished: soon after the later
// one is applied, before the client's next write moves the watermark on.
const pipelinedDelay = int64(50 * time.Millisecond)

// RequestIDs is an optional interface of a Protocol: it reads a client
// write's request ID and the client's FinishedBelow watermark (every
// request below it is finished) from its payload, for dup-request.
type RequestIDs interface {
	RequestIDs(payload []byte) (id, finishedBelow uint64, ok bool)
}

func init() { MustRegister(dupRequestFault{}) }

// dupRequestFault delivers, while it holds, a share of the clients' write
// requests a second time to the same replica, up to max_delay_ms after
// the first copy; and (with a Protocol that reads RequestIDs) every write
// that a later write of the same client names unfinished, up to 50ms
// after that later one: network duplication, within the fault model, but timed
// where a replica's duplicate suppression is weakest. A client with two
// requests outstanding tells the replicas, with the second, that it is
// done with everything below the first (FinishedBelow); a late copy of the
// first then arrives after the session's watermark moved to it and before
// the client's next request moves it past, and must still be recognised as
// applied. The network's own duplicates come right after the original
// or, in some seeds, up to seconds late, and almost never land in that
// window of one think time.
type dupRequestFault struct{}

func (dupRequestFault) Name() string { return DupRequest }
func (dupRequestFault) Class() Class { return InModel }
func (dupRequestFault) Params() []Param {
	return []Param{
		{Name: "share", Min: 0.01, Max: 1, Default: 0.3, DrawMin: 0.1, DrawMax: 0.6,
			Doc: "the share of client writes delivered twice"},
		{Name: "max_delay_ms", Min: 1, Max: 3000, Default: 100, DrawMin: 20, DrawMax: 200, Integer: true,
			Doc: "the second copy comes up to this much later"},
	}
}

func (dupRequestFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	share := e.Spec.Param("share")
	maxDelay := int64(e.Spec.Param("max_delay_ms")) * int64(time.Millisecond)
	copies, pairs := 0, 0
	ids, _ := n.proto.(RequestIDs)
	// The writes each client delivered, by request ID, while a later one
	// may still name them unfinished (IDs at or above its watermark).
	// A client has few: a list, not a map.
	held := map[host.NodeID]*[]heldWrite{}
	dup := func(k keptMsg, maxDelay int64) {
		d := time.Duration(1 + e.R.Int64N(maxDelay))
		if n.w.Net().Duplicate(k.from, k.to, k.payload, d) {
			copies++
			n.w.Probes().Hit(probeDupRequest)
		}
	}
	n.ArmOn(e, true, func(o Observed) bool {
		if o.Moment != MomentClientWrite || !o.Delivered {
			return false
		}
		k := keptMsg{from: o.From, to: o.To, payload: slices.Clone(o.Payload)}
		if e.R.Float64() < share {
			dup(k, maxDelay)
		}
		if ids == nil {
			return false
		}
		id, fb, ok := ids.RequestIDs(o.Payload)
		if !ok {
			return false
		}
		mine := held[o.From]
		if mine == nil {
			mine = &[]heldWrite{}
			held[o.From] = mine
		}
		*mine = slices.DeleteFunc(*mine, func(h heldWrite) bool { return h.id < fb })
		if i := heldAt(*mine, fb); i >= 0 && fb < id {
			// The client still waits for write fb, and this write
			// moves the replicas' watermark up to it.
			first := (*mine)[i].k
			*mine = slices.Delete(*mine, i, i+1)
			pairs++
			n.w.Probes().Hit(probeDupPipelined)
			dup(first, pipelinedDelay)
		}
		if i := heldAt(*mine, id); i >= 0 {
			(*mine)[i].k = k
		} else {
			*mine = append(*mine, heldWrite{id, k})
		}
		return false
	})
	return "armed", func() {
		n.Disarm(e)
		e.detail = fmt.Sprintf("%d client writes delivered twice (%d the first of a pipelined pair)", copies, pairs)
	}, true
}

// heldWrite is a client write dup-request holds, by request ID.
type heldWrite struct {
	id uint64
	k  keptMsg
}

// heldAt is the position of request id in l, or -1.
func heldAt(l []heldWrite, id uint64) int {
	for i := range l {
		if l[i].id == id {
			return i
		}
	}
	return -1
}
