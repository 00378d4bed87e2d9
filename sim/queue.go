package sim

import "github.com/seedkv/seedkv/host"

// evKind is what a queued event does when it runs.
type evKind uint8

const (
	evTimer   evKind = iota // run fn (world timer, or a node timer if node != nil)
	evDeliver               // deliver payload from -> node
	evSync                  // complete a disk sync
)

// event is one entry of the queue. It is stored by value in a hand-written
// binary heap, so queuing and running an event allocates nothing.
type event struct {
	at    int64  // virtual nanoseconds since Epoch
	seq   uint64 // insertion order: breaks ties deterministically
	kind  evKind
	inc   uint64     // incarnation of node when the event was queued
	node  *nodeState // the node the event belongs to (timer owner, receiver)
	from  host.NodeID
	fn    func()
	timer *Timer // non-nil for cancellable timers; keeps Timer.idx current
	data  []byte
	sync  *syncReq
}

func (a *event) before(b *event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// eventQueue is a binary min-heap of events ordered by (at, seq).
type eventQueue struct {
	ev []event
}

func (q *eventQueue) set(i int, e event) {
	q.ev[i] = e
	if e.timer != nil {
		e.timer.idx = int32(i)
	}
}

func (q *eventQueue) push(e event) {
	q.ev = append(q.ev, event{})
	q.up(len(q.ev)-1, e)
}

// pop removes and returns the earliest event. The queue must not be empty.
func (q *eventQueue) pop() event {
	top := q.ev[0]
	q.removeAt(0)
	return top
}

// remove deletes the event at index i.
func (q *eventQueue) remove(i int) { q.removeAt(i) }

func (q *eventQueue) removeAt(i int) {
	last := len(q.ev) - 1
	e := q.ev[last]
	q.ev[last] = event{} // drop references for the GC
	q.ev = q.ev[:last]
	if i == last {
		return
	}
	if i > 0 && e.before(&q.ev[(i-1)/2]) {
		q.up(i, e)
	} else {
		q.down(i, e)
	}
}

// up places e at the hole i and sifts it towards the root.
func (q *eventQueue) up(i int, e event) {
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(&q.ev[p]) {
			break
		}
		q.set(i, q.ev[p])
		i = p
	}
	q.set(i, e)
}

// down places e at the hole i and sifts it towards the leaves.
func (q *eventQueue) down(i int, e event) {
	n := len(q.ev)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && q.ev[r].before(&q.ev[c]) {
			c = r
		}
		if !q.ev[c].before(&e) {
			break
		}
		q.set(i, q.ev[c])
		i = c
	}
	q.set(i, e)
}
