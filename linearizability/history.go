// Package linearizability checks client histories of seedkv against
// sequential models of its etcd-style KV API, using porcupine.
//
// The harness records every client operation in a History (Call, then
// Return, Fail or Timeout), then checks it with Check under one of two
// models:
//
//   - PerKeyModel: Get, Put, Delete, single-key Txn (compare-and-swap) and
//     prefix Range (projected onto each key). The history is partitioned by
//     key, so long histories check fast. It cannot see cross-key anomalies
//     or header revisions.
//   - StoreModel: the whole key space with revisions (mod/create revision,
//     version, store revision), prefix Range, multi-key Txn. Slower, stronger.
//
// Operations whose outcome is unknown (timeout, lost response) are kept
// pending forever, as porcupine intends: their effect may or may not appear.
// Because every write creates a revision and every response reports one, the
// checker prunes them soundly before and during the search: an unknown write
// whose unique value was read must have happened before that read returned;
// one that no gap in the known revisions can hold happened after everything
// and is dropped; none can take a revision a known write created.
// Checking is bounded by a wall-clock timeout; running out of time is the
// verdict Unknown, never Pass. Pass and Fail never depend on wall time.
//
// CheckWatch verifies watch streams against the committed write log.
//
// This package imports porcupine and the standard library only; the harness
// converts its records into these types.
package linearizability

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// UnknownReturn is the Return time of an operation whose outcome is unknown:
// it may take effect at any point after its call, or never.
const UnknownReturn int64 = math.MaxInt64

// MaxOps bounds the length of a history accepted by Check. Porcupine's
// search is exponential in concurrency, not length, but memory is linear.
const MaxOps = 1 << 20

// Kind is the kind of a client operation.
type Kind uint8

// Operation kinds.
const (
	KindGet    Kind = iota + 1 // read one key
	KindPut                    // write one key
	KindDelete                 // delete one key
	KindRange                  // read every key with a prefix
	KindTxn                    // compares, then Then or Else ops, at one revision
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindGet:
		return "get"
	case KindPut:
		return "put"
	case KindDelete:
		return "delete"
	case KindRange:
		return "range"
	case KindTxn:
		return "txn"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Target is what a Compare looks at.
type Target uint8

// Compare targets, as in etcd.
const (
	TargetValue Target = iota + 1
	TargetVersion
	TargetModRevision
	TargetCreateRevision
)

// CmpOp is a comparison operator.
type CmpOp uint8

// Comparison operators, as in etcd.
const (
	CmpEqual CmpOp = iota + 1
	CmpNotEqual
	CmpLess
	CmpGreater
)

// Compare is one guard of a Txn: Target(Key) Op (Value or Num).
// As in etcd, a value compare on a missing key is false; the numeric targets
// of a missing key are 0.
type Compare struct {
	Key    string
	Target Target
	Op     CmpOp
	Value  string // for TargetValue
	Num    int64  // for the numeric targets
}

// TxnOp is one operation inside a Txn branch: a Get, Put or Delete of one key.
type TxnOp struct {
	Kind  Kind // KindGet, KindPut or KindDelete
	Key   string
	Value string // for KindPut
}

// Input is what a client asked for.
type Input struct {
	Kind  Kind
	Key   string // Get, Put, Delete; the prefix for Range
	Value string // Put
	// Txn only.
	Compares []Compare
	Then     []TxnOp
	Else     []TxnOp
}

// KV is one key as read from the store.
type KV struct {
	Key            string
	Value          string
	ModRevision    int64
	CreateRevision int64
	Version        int64
}

// Output is what the store answered. Fields that a kind does not produce are
// left zero. Revision must always be filled (etcd's response header has it):
// the models check it and the checker relies on it to prune unknown writes.
type Output struct {
	// KVs is the result of a Get (0 or 1 entries) or a Range (sorted by key).
	KVs []KV
	// TxnKVs holds, for each op of the executed Txn branch, the KVs a Get
	// returned (nil for Put and Delete).
	TxnKVs [][]KV
	// Revision is the store (header) revision after the operation: the new
	// revision for a write that created one, the current one otherwise.
	Revision int64
	// Succeeded reports whether a Txn took its Then branch.
	Succeeded bool
	// DeletedKnown marks the answer of a Txn whose Deleted counts the
	// keys its branch deleted (a Txn's answer reports each delete's
	// count). Without it (a lease revoke's answer, an outcome settled
	// from the write log) a Txn whose branch only deletes may or may
	// not have deleted anything.
	DeletedKnown bool
	// Deleted is the number of keys a Delete removed (0 or 1), or the
	// keys a Txn's branch removed if DeletedKnown.
	Deleted int64
	// Err is the error the client saw; non-empty only for Fail-ed ops.
	Err string
	// Digest, if not 0, stands for KVs (then nil): DigestKVs of the
	// answer of a Get or Range, kept instead of the answer to save memory
	// in long histories (see History.DigestReads). Only the revision
	// checker takes such operations; porcupine's models need the KVs.
	Digest uint64
}

// Op is one client operation in a history.
type Op struct {
	ClientID int
	Call     int64 // virtual nanoseconds
	Return   int64 // virtual nanoseconds; UnknownReturn if Unknown
	Input    Input
	Output   Output
	// Unknown marks an operation whose outcome is unknown (timeout, lost
	// response): it may or may not have taken effect; Output is ignored.
	Unknown bool
	// Failed marks an operation that definitely had no effect (the store
	// refused it). Such ops are left out of the check.
	Failed bool
}

// IsWrite reports whether the operation may change the store.
func (in *Input) IsWrite() bool {
	switch in.Kind {
	case KindPut, KindDelete:
		return true
	case KindTxn:
		for _, br := range [][]TxnOp{in.Then, in.Else} {
			for _, op := range br {
				if op.Kind != KindGet {
					return true
				}
			}
		}
	}
	return false
}

// Get builds a Get input.
func Get(key string) Input { return Input{Kind: KindGet, Key: key} }

// Put builds a Put input.
func Put(key, value string) Input { return Input{Kind: KindPut, Key: key, Value: value} }

// Delete builds a Delete input.
func Delete(key string) Input { return Input{Kind: KindDelete, Key: key} }

// Range builds a prefix Range input.
func Range(prefix string) Input { return Input{Kind: KindRange, Key: prefix} }

// CAS builds a compare-and-swap Txn: if cmp holds, put key=value, else get key.
func CAS(cmp Compare, value string) Input {
	return Input{
		Kind:     KindTxn,
		Key:      cmp.Key,
		Compares: []Compare{cmp},
		Then:     []TxnOp{{Kind: KindPut, Key: cmp.Key, Value: value}},
		Else:     []TxnOp{{Kind: KindGet, Key: cmp.Key}},
	}
}

// History records client operations as they are called and return. It is
// not safe for concurrent use (the simulation is single-threaded).
//
// Operations are kept in fixed-size chunks: a long history grows without
// the copies and the up to 2x spare capacity of one growing slice.
type History struct {
	chunks []*historyChunk
	n      int
	// DigestReads, if set before the first Return, keeps of each answered
	// Get and Range a digest of its answer instead of the answer (see
	// Output.Digest): in a long run the answers of range reads are most
	// of a history's memory. The revision checker checks such a history
	// as it would the full one (an answer and the store's state compare
	// by digest, 64 bits: a collision could only hide a wrong read).
	DigestReads bool
	// OnCall and OnFinish, if set, see each operation as it is called
	// and as it finishes (returned, failed or timed out), so a checker
	// can take it in as the run goes (see Window).
	OnCall   func(id int, at int64)
	OnFinish func(id int, op *Op)
	// kept holds the operations of the chunks let go by Squeeze that
	// were not dropped, in id order; squeezed counts those chunks.
	kept        keptOps
	squeezed    int
	dropped     int
	keptDropped int // dropped entries of kept
}

// keptOps are the operations of squeezed chunks, encoded (appendOp),
// with their ids: ops i is data[off[i]:off[i+1]] (to the end for the
// last), and gone[i] says it was dropped since.
type keptOps struct {
	ids  []int
	off  []uint32
	gone []bool
	data []byte
}

func (k *keptOps) len() int { return len(k.ids) }

func (k *keptOps) add(id int, op *Op) {
	if len(k.data) > math.MaxUint32 {
		panic("linearizability: 4 GiB of kept operations")
	}
	k.ids, k.off, k.gone = append(k.ids, id), append(k.off, uint32(len(k.data))), append(k.gone, false)
	k.data = appendOp(k.data, op)
}

// op decodes the i-th operation.
func (k *keptOps) op(i int) Op {
	d := opDecoder{b: k.data[k.off[i]:k.end(i)]}
	return d.op()
}

// find is the index of operation id (false: not kept).
func (k *keptOps) find(id int) (int, bool) {
	return slices.BinarySearch(k.ids, id)
}

// compact drops the dropped operations, into slices sized to the rest.
func (k *keptOps) compact() {
	var out keptOps
	n, size := 0, 0
	for i := range k.ids {
		if !k.gone[i] {
			n++
			size += k.end(i) - int(k.off[i])
		}
	}
	out.ids, out.off, out.gone, out.data = make([]int, 0, n), make([]uint32, 0, n), make([]bool, n), make([]byte, 0, size)
	for i := range k.ids {
		if !k.gone[i] {
			out.ids, out.off = append(out.ids, k.ids[i]), append(out.off, uint32(len(out.data)))
			out.data = append(out.data, k.data[k.off[i]:k.end(i)]...)
		}
	}
	*k = out
}

// end is where the i-th operation's encoding ends.
func (k *keptOps) end(i int) int {
	if i+1 < len(k.off) {
		return int(k.off[i+1])
	}
	return len(k.data)
}

// historyChunkLen is the number of operations in one chunk of a History.
const historyChunkLen = 1024

type historyChunk struct {
	ops      [historyChunkLen]Op
	returned [historyChunkLen]bool
	dropped  [historyChunkLen]bool
	nret     int // how many have returned
}

// Call records the invocation of in by client at virtual time at and
// returns the operation's id.
func (h *History) Call(client int, at int64, in Input) int {
	if h.n == len(h.chunks)*historyChunkLen {
		h.chunks = append(h.chunks, new(historyChunk))
	}
	id := h.n
	h.n++
	h.chunks[id/historyChunkLen].ops[id%historyChunkLen] = Op{ClientID: client, Call: at, Return: UnknownReturn, Input: in}
	if h.OnCall != nil {
		h.OnCall(id, at)
	}
	return id
}

// ErrBadOpID is returned when Return, Fail or Timeout names an operation
// that was never called or has already returned: a harness bug.
var ErrBadOpID = errors.New("linearizability: operation never called or already returned")

// Return records the response of operation id at virtual time at.
func (h *History) Return(id int, at int64, out Output) error {
	op, err := h.finish(id)
	if err == nil {
		if h.DigestReads && (op.Input.Kind == KindGet || op.Input.Kind == KindRange) {
			out.Digest, out.KVs = DigestKVs(out.KVs), nil
		}
		op.Return, op.Output = at, out
		h.finished(id, op)
	}
	return err
}

func (h *History) finished(id int, op *Op) {
	if h.OnFinish != nil {
		h.OnFinish(id, op)
	}
}

// Fail records that operation id definitely had no effect (the store
// refused it with err). It is left out of the check.
func (h *History) Fail(id int, at int64, reason string) error {
	op, err := h.finish(id)
	if err == nil {
		op.Return, op.Failed, op.Output = at, true, Output{Err: reason}
		h.finished(id, op)
	}
	return err
}

// Timeout records that the outcome of operation id is unknown (the client
// gave up or the response was lost): it may or may not have taken effect.
func (h *History) Timeout(id int) error {
	op, err := h.finish(id)
	if err == nil {
		op.Return, op.Unknown = UnknownReturn, true
		h.finished(id, op)
	}
	return err
}

func (h *History) finish(id int) (*Op, error) {
	if id < 0 || id >= h.n {
		return nil, fmt.Errorf("%w: id %d", ErrBadOpID, id)
	}
	c := h.chunks[id/historyChunkLen]
	if c == nil || c.returned[id%historyChunkLen] {
		return nil, fmt.Errorf("%w: id %d", ErrBadOpID, id)
	}
	c.returned[id%historyChunkLen] = true
	c.nret++
	return &c.ops[id%historyChunkLen], nil
}

// Op returns operation id as recorded so far, if the history holds it.
func (h *History) Op(id int) (Op, bool) {
	if id < 0 || id >= h.n {
		return Op{}, false
	}
	if k := id / historyChunkLen; k >= h.squeezed {
		c := h.chunks[k]
		return c.ops[id%historyChunkLen], !c.dropped[id%historyChunkLen]
	}
	i, ok := h.kept.find(id)
	if !ok || h.kept.gone[i] {
		return Op{}, false
	}
	return h.kept.op(i), true
}

// Drop lets go of finished operation id: Ops and Take leave it out, and
// its memory is freed once its chunk is squeezed. A run drops what its
// checks no longer need (reads a Window has checked).
func (h *History) Drop(id int) {
	if id < 0 || id >= h.n {
		return
	}
	if k := id / historyChunkLen; k >= h.squeezed {
		c := h.chunks[k]
		if !c.dropped[id%historyChunkLen] {
			c.dropped[id%historyChunkLen] = true
			c.ops[id%historyChunkLen] = Op{}
			h.dropped++
		}
		return
	}
	i, ok := h.kept.find(id)
	if ok && !h.kept.gone[i] {
		h.kept.gone[i] = true
		h.dropped++
		h.keptDropped++
	}
}

// Squeeze lets go of the chunks, from the first, whose operations have
// all finished, keeping the operations not dropped (in a slice sized to
// them): a long run's history then holds what its checks still need,
// not every operation.
func (h *History) Squeeze() {
	for h.squeezed < len(h.chunks)-1 && h.chunks[h.squeezed].nret == historyChunkLen {
		c := h.chunks[h.squeezed]
		for i := range historyChunkLen {
			if !c.dropped[i] {
				h.kept.add(h.squeezed*historyChunkLen+i, &c.ops[i])
			}
		}
		h.chunks[h.squeezed] = nil
		h.squeezed++
	}
	// Compact once a quarter of kept is dropped: a long run drops most
	// writes it kept soon after (once the write log shows them), so
	// waiting for half held about twice what the checks need.
	if h.keptDropped > h.kept.len()/4 {
		h.kept.compact()
		h.keptDropped = 0
	}
}

// Kept is the number of operations the history holds (called, not
// dropped).
func (h *History) Kept() int { return h.n - h.dropped }

// Len is the number of recorded operations.
func (h *History) Len() int { return h.n }

// Ops returns a copy of the history. Operations that never returned are
// marked Unknown; dropped ones are left out.
func (h *History) Ops() []Op {
	out, _ := h.collect(false, false)
	return out
}

// collect gathers the operations not dropped, with their ids if asked
// for, releasing each chunk once copied if take.
func (h *History) collect(take, withIDs bool) ([]Op, []int) {
	n := h.n - h.dropped
	out := make([]Op, 0, n+n/8+16)
	var ids []int
	for i, id := range h.kept.ids {
		if !h.kept.gone[i] {
			out = append(out, h.kept.op(i))
			if withIDs {
				ids = append(ids, id)
			}
		}
	}
	for i := h.squeezed; i < len(h.chunks); i++ {
		c := h.chunks[i]
		for j := range min(historyChunkLen, h.n-i*historyChunkLen) {
			if c.dropped[j] {
				continue
			}
			op := c.ops[j]
			if !c.returned[j] {
				op.Unknown, op.Return = true, UnknownReturn
			}
			out = append(out, op)
			if withIDs {
				ids = append(ids, i*historyChunkLen+j)
			}
		}
		if take {
			h.chunks[i] = nil
		}
	}
	if take {
		h.chunks, h.kept, h.n, h.squeezed, h.dropped, h.keptDropped = nil, keptOps{}, 0, 0, 0, 0
	}
	return out, ids
}

// Take is Ops for the last use of a history: it hands over the operations
// and empties the history, releasing each chunk once copied, so the
// history is never held twice. The slice has a little spare capacity for
// the few operations a check may add (the harness adds lease expiries)
// without copying it again.
func (h *History) Take() []Op {
	out, _ := h.collect(true, false)
	return out
}

// TakeWithIDs is Take that also returns each operation's id (they differ
// from positions once operations were dropped).
func (h *History) TakeWithIDs() ([]Op, []int) { return h.collect(true, true) }
