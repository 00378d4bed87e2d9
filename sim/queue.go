package sim

import "github.com/seedkv/seedkv/host"

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
// heap is laid out. Queuing and running an event allocates nothing once
// the slab has grown to the queue's high-water mark.
type eventQueue struct {
	h    []qkey  // 4-ary min-heap
	slab []event // events by slot
	pos  []int32 // heap index of the event in each used slot
	free []int32 // unused slots
}

// len is the number of queued events.
func (q *eventQueue) len() int { return len(q.h) }

// nextAt is the time of the earliest event. The queue must not be empty.
func (q *eventQueue) nextAt() int64 { return q.h[0].at }

func (q *eventQueue) push(e event) {
	var s int32
	if n := len(q.free); n > 0 {
		s = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[s] = e
	} else {
		s = int32(len(q.slab))
		q.slab = append(q.slab, e)
		q.pos = append(q.pos, 0)
	}
	if e.timer != nil {
		e.timer.slot = s
	}
	if s >= 1<<slotBits || e.seq >= 1<<(64-slotBits) {
		panic("sim: event queue: more than 1<<24 events queued, or 1<<40 queued in all")
	}
	q.h = append(q.h, qkey{})
	q.up(len(q.h)-1, qkey{at: e.at, ord: e.seq<<slotBits | uint64(s)})
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *eventQueue) pop() event {
	return q.release(q.popSlot())
}

// popSlot removes the earliest event from the heap and returns its slot,
// still in use: the event is q.slab[s] until freeSlot(s) (a slot is reused
// only once freed, and the event is never written meanwhile, so a pointer
// to it stays good even if the slab grows). Its timer no longer refers
// to it. The queue must not be empty.
func (q *eventQueue) popSlot() int32 {
	s := q.h[0].slot()
	q.removeAt(0)
	if t := q.slab[s].timer; t != nil {
		t.slot = -1
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
	q.removeAt(int(q.pos[s]))
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
