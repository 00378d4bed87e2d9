package sim

import (
	"math"

	"github.com/seedkv/seedkv/host"
)

// evKind is what a queued event does when it runs.
type evKind uint8

const (
	evTimer   evKind = iota // run fn (world timer, or a node timer if node != nil)
	evDeliver               // deliver payload from -> node
	evSync                  // complete a disk sync
)

// event is one queued event. Events live in the queue's slab, each in a
// slot that stays put while the event is queued; the heap orders small
// pointer-free keys instead, so sifting moves 16 bytes with no GC write
// barriers rather than a whole event.
type event struct {
	at    int64  // virtual nanoseconds since Epoch
	seq   uint64 // insertion order: breaks ties deterministically
	kind  evKind
	inc   uint64     // incarnation of node when the event was queued
	node  *nodeState // the node the event belongs to (timer owner, receiver)
	from  host.NodeID
	fn    func()
	timer *Timer // non-nil for cancellable timers; Timer.slot is the event's slot
	data  []byte
	hash  uint64 // evDeliver: hash of data when it was sent
	sync  *syncReq
}

// qkey is the heap's view of one event: its time, then its insertion
// order and its slot in one word (ord = seq<<slotBits | slot). seq is
// unique, so ord orders as seq does; 16 bytes a key instead of 24 (four
// children in one cache line, two words to move).
type qkey struct {
	at  int64
	ord uint64
}

// slotBits is the width of the slot in qkey.ord: at most 1<<slotBits
// events queued at once (16M: a seed queues a few hundred), and seq below
// 1<<(64-slotBits) (a trillion events).
const slotBits = 24

func (k qkey) slot() int32 { return int32(k.ord & (1<<slotBits - 1)) }

func (a qkey) before(b qkey) bool {
	return a.at < b.at || (a.at == b.at && a.ord < b.ord)
}

// heapArity is the fan-out of the heap: a 4-ary heap is half as deep as a
// binary one, and its four children share a cache line or two.
const heapArity = 4

// eventQueue is a priority queue of events ordered by (at, seq). As seq is
// unique the order is total, so the pop order does not depend on how the
// events are laid out, nor on which of its two parts (near, a sorted
// array, and h, a heap) holds an event. Queuing and running an event
// allocates nothing once the slab has grown to the queue's high-water
// mark.
type eventQueue struct {
	h    []qkey  // 4-ary min-heap: the events due later than nearSpan after last
	near []qkey  // the events due sooner, sorted, from near[head] on
	head int     // near[:head] were popped
	slab []event // events by slot
	pos  []int32 // heap index of the event in each used slot, -1 if in near
	free []int32 // unused slots
	last int64   // the time of the event popped last
}

// nearSpan is how soon after the event popped last an event must be due
// to be queued in near rather than in the heap. Deliveries (1-2 ms),
// syncs (1-3 ms) and zero-delay timers fall within it, ticks and request
// timeouts (100 ms and more) do not. Which of the two holds an event
// changes only how much queuing it costs: a pop takes the earlier of
// their first events (a time that wraps around in the subtraction only
// sends an event to the other one). A near event is due soon, but
// mostly after the near events queued before it (they were due soon
// already), so it goes in at or close to the end of near, and few of them
// move to make room; it leaves from the front (head), moving none. The
// heap holds the events due later, fewer, so its sifts are shallower.
const nearSpan = 1 << 22 // about 4 ms

// len is the number of queued events.
func (q *eventQueue) len() int { return len(q.h) + len(q.near) - q.head }

// nextAt is the time of the earliest event. The queue must not be empty.
func (q *eventQueue) nextAt() int64 {
	if q.head < len(q.near) && (len(q.h) == 0 || q.near[q.head].before(q.h[0])) {
		return q.near[q.head].at
	}
	return q.h[0].at
}

func (q *eventQueue) push(e event) {
	s, p := q.add(e.at, e.seq)
	*p = e
	if e.timer != nil {
		e.timer.slot = s
	}
}

// add queues an event due at at, inserted seq-th, and returns its slot
// and the event, zero but for at and seq: the caller fills in the rest
// (and links its timer to the slot) before it queues another, in place
// rather than through a copy.
func (q *eventQueue) add(at int64, seq uint64) (int32, *event) {
	var s int32
	if n := len(q.free); n > 0 {
		s = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		s = int32(len(q.slab))
		q.slab = append(q.slab, event{})
		q.pos = append(q.pos, 0)
	}
	if s >= 1<<slotBits || seq >= 1<<(64-slotBits) {
		panic("sim: event queue: more than 1<<24 events queued, or 1<<40 queued in all")
	}
	e := &q.slab[s] // zero: freed slots are cleared
	e.at, e.seq = at, seq
	k := qkey{at: at, ord: seq<<slotBits | uint64(s)}
	if at-q.last < nearSpan {
		q.pos[s] = -1
		q.insertNear(k)
	} else {
		q.h = append(q.h, qkey{})
		q.up(len(q.h)-1, k)
	}
	return s, e
}

// insertNear puts k in near, keeping it sorted: from the end, as a new
// event is nearly always due after the others.
func (q *eventQueue) insertNear(k qkey) {
	near := q.near
	if len(near) == cap(near) && q.head > 0 {
		// Full: drop the popped ones rather than grow.
		near = near[:copy(near, near[q.head:])]
		q.head = 0
	}
	near = append(near, k)
	i := len(near) - 1
	for i > q.head && k.before(near[i-1]) {
		near[i] = near[i-1]
		i--
	}
	near[i] = k
	q.near = near
}

// nearIndex is the index in near of k, queued there.
func (q *eventQueue) nearIndex(k qkey) int {
	lo, hi := q.head, len(q.near)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if q.near[m].before(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *eventQueue) pop() event {
	return q.release(q.popSlot())
}

// popSlot removes the earliest event from the queue and returns its
// slot, still in use: the event is q.slab[s] until freeSlot(s) (a slot is
// reused only once freed, and the event is never written meanwhile, so a
// pointer to it stays good even if the slab grows). Its timer no longer
// refers to it. The queue must not be empty.
func (q *eventQueue) popSlot() int32 { return q.popDue(math.MaxInt64) }

// popDue is popSlot if the earliest event is due at or before end; else
// (or if the queue is empty) it returns -1 and leaves the queue as it is.
func (q *eventQueue) popDue(end int64) int32 {
	var s int32
	if q.head < len(q.near) && (len(q.h) == 0 || q.near[q.head].before(q.h[0])) {
		if q.near[q.head].at > end {
			return -1
		}
		s = q.near[q.head].slot()
		if q.head++; q.head == len(q.near) {
			q.near, q.head = q.near[:0], 0
		}
	} else if len(q.h) > 0 && q.h[0].at <= end {
		s = q.h[0].slot()
		q.removeAt(0)
	} else {
		return -1
	}
	e := &q.slab[s]
	q.last = e.at
	if e.timer != nil {
		e.timer.slot = -1
	}
	return s
}

// freeSlot frees slot s, popped by popSlot, dropping the event's
// references.
func (q *eventQueue) freeSlot(s int32) {
	q.slab[s] = event{}
	q.free = append(q.free, s)
}

// removeSlot deletes the queued event in slot s.
func (q *eventQueue) removeSlot(s int32) {
	if i := q.pos[s]; i >= 0 {
		q.removeAt(int(i))
	} else {
		e := &q.slab[s]
		j := q.nearIndex(qkey{at: e.at, ord: e.seq<<slotBits | uint64(s)})
		q.near = append(q.near[:j], q.near[j+1:]...)
		if q.head == len(q.near) {
			q.near, q.head = q.near[:0], 0
		}
	}
	q.release(s)
}

// release frees slot s and returns the event it held, no longer linked to
// its timer.
func (q *eventQueue) release(s int32) event {
	e := q.slab[s]
	q.slab[s] = event{} // drop references for the GC
	q.free = append(q.free, s)
	if e.timer != nil {
		e.timer.slot = -1
	}
	return e
}

// removeAt deletes heap entry i (its slot stays in use).
func (q *eventQueue) removeAt(i int) {
	last := len(q.h) - 1
	k := q.h[last]
	q.h = q.h[:last]
	if i == last {
		return
	}
	if i > 0 && k.before(q.h[(i-1)/heapArity]) {
		q.up(i, k)
	} else {
		q.down(i, k)
	}
}

func (q *eventQueue) set(i int, k qkey) {
	q.h[i] = k
	q.pos[k.slot()] = int32(i)
}

// up places k at the hole i and sifts it towards the root.
func (q *eventQueue) up(i int, k qkey) {
	for i > 0 {
		p := (i - 1) / heapArity
		if !k.before(q.h[p]) {
			break
		}
		q.set(i, q.h[p])
		i = p
	}
	q.set(i, k)
}

// down places k at the hole i and sifts it towards the leaves. A node
// with all four children compares them without a loop, in two pairs then
// their winners (seq is unique, so the least child is the same whichever
// way they are compared).
func (q *eventQueue) down(i int, k qkey) {
	h := q.h
	n := len(h)
	for {
		c := heapArity*i + 1
		if c >= n {
			break
		}
		best := c
		if c+heapArity <= n {
			ch := h[c : c+heapArity : c+heapArity]
			a, b := 0, 2
			if ch[1].before(ch[0]) {
				a = 1
			}
			if ch[3].before(ch[2]) {
				b = 3
			}
			if ch[b].before(ch[a]) {
				a = b
			}
			best = c + a
		} else {
			for j := c + 1; j < n; j++ {
				if h[j].before(h[best]) {
					best = j
				}
			}
		}
		if !h[best].before(k) {
			break
		}
		q.set(i, h[best])
		i = best
	}
	q.set(i, k)
}
