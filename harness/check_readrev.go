package harness

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// Revisions a read must not fall below. Every answer a replica sends
// carries, in its header, the revision of the store it has applied, and a
// replica applies only committed entries. So:
//
//   - a linearizable read (ReadIndex: served once the replica applied the
//     leader's commit index at the read's arrival, which covers every
//     entry committed by then) is answered at a revision at least that of
//     every write acknowledged before it was called, whatever keys either
//     touched (linearizability of the history sees a stale read only
//     where it reads a key such a write changed; a deposed leader's read
//     answered in a later term with its old read index, or a replica that
//     serves before applying the index, shows here at once);
//   - a replica's serializable read of the latest state is answered at a
//     revision at least that of every answer the same replica sent before
//     the read was called, across restarts (etcd serves a restarted
//     member's serializable reads only once it has applied its log; a
//     replica serving from the snapshot it booted from goes back).

// revMarks is a running maximum of revisions by the time they were seen
// (times never decrease: answers are noted as they arrive).
type revMarks struct {
	m timedRevs
}

func (m *revMarks) note(at, rev int64) {
	if m.m.n > 0 && rev <= m.m.lastRev() {
		return
	}
	m.m.add(at, rev)
}

// before is the highest revision seen strictly before t (0: none), and
// when it was seen.
func (m *revMarks) before(t int64) (rev, at int64) {
	i, at, rev := m.m.lastAtBefore(t)
	if i < 0 {
		return 0, 0
	}
	return rev, at
}

// timedRevs is a sequence of (at, rev) pairs in which both never
// decrease: the times virtual ns and the revisions a running maximum. A
// long run notes hundreds of thousands (one each time a reply reports a
// higher revision than any before), so they are held as varint deltas, a
// few bytes a pair, in blocks of timedRevsBlock pairs whose first pair is
// kept whole for the searches.
type timedRevs struct {
	firstAt, firstRev []int64  // each block's first pair
	off               []uint32 // where each block's deltas start in data
	// data holds, for every pair but the first of its block, the deltas
	// from the pair before it: at, then rev, as uvarints.
	data         []byte
	n            int   // pairs
	lastA, lastR int64 // the last pair
}

const timedRevsBlock = 32

// lastRev is the last pair's revision (0: none).
func (s *timedRevs) lastRev() int64 { return s.lastR }

// add appends a pair (at and rev at least the last pair's).
func (s *timedRevs) add(at, rev int64) {
	if s.n%timedRevsBlock == 0 {
		s.firstAt, s.firstRev = append(s.firstAt, at), append(s.firstRev, rev)
		s.off = append(s.off, uint32(len(s.data)))
	} else {
		s.data = binary.AppendUvarint(s.data, uint64(at-s.lastA))
		s.data = binary.AppendUvarint(s.data, uint64(rev-s.lastR))
	}
	s.n++
	s.lastA, s.lastR = at, rev
}

// scan calls f with each pair of block b in order, and its index, till f
// returns false.
func (s *timedRevs) scan(b int, f func(i int, at, rev int64) bool) {
	at, rev := s.firstAt[b], s.firstRev[b]
	data := s.data[s.off[b]:]
	for i := b * timedRevsBlock; i < min(s.n, (b+1)*timedRevsBlock); i++ {
		if i > b*timedRevsBlock {
			da, k := binary.Uvarint(data)
			dr, l := binary.Uvarint(data[k:])
			data = data[k+l:]
			at, rev = at+int64(da), rev+int64(dr)
		}
		if !f(i, at, rev) {
			return
		}
	}
}

// lastAtBefore is the last pair whose time is before t, and its index
// (-1: none).
func (s *timedRevs) lastAtBefore(t int64) (i int, at, rev int64) {
	// The last block whose first pair is before t holds it.
	b := sort.Search(len(s.firstAt), func(b int) bool { return s.firstAt[b] >= t }) - 1
	if b < 0 {
		return -1, 0, 0
	}
	s.scan(b, func(j int, a, r int64) bool {
		if a >= t {
			return false
		}
		i, at, rev = j, a, r
		return true
	})
	return i, at, rev
}

// firstRevFrom is the first pair whose revision is rev or higher, and
// its index (-1: none).
func (s *timedRevs) firstRevFrom(rev int64) (i int, at, r int64) {
	// It is in the block before the first whose first pair is at rev
	// or higher, or is that first pair.
	b := sort.Search(len(s.firstRev), func(b int) bool { return s.firstRev[b] >= rev })
	i = -1
	if b > 0 {
		s.scan(b-1, func(j int, a, rv int64) bool {
			if rv >= rev {
				i, at, r = j, a, rv
				return false
			}
			return true
		})
	}
	if i < 0 && b < len(s.firstRev) {
		i, at, r = b*timedRevsBlock, s.firstAt[b], s.firstRev[b]
	}
	return i, at, r
}

// answerRevs are the revisions the workload's clients were answered with:
// of acknowledged writes, and per replica of every answer.
type answerRevs struct {
	acked    revMarks
	byMember map[host.NodeID]*revMarks
}

// note records an answer to op received at now.
func (a *answerRevs) note(op api.Op, resp *api.Response, now int64) {
	if resp.Err == api.CodeOK && op.IsWrite() {
		a.acked.note(now, resp.Header.Revision)
	}
	if a.byMember == nil {
		a.byMember = map[host.NodeID]*revMarks{}
	}
	m := a.byMember[resp.Header.Member]
	if m == nil {
		m = &revMarks{}
		a.byMember[resp.Header.Member] = m
	}
	m.note(now, resp.Header.Revision)
}

// member is the running maximum of replica id's answers.
func (a *answerRevs) member(id host.NodeID) *revMarks {
	if m := a.byMember[id]; m != nil {
		return m
	}
	return &revMarks{}
}

// checkReadRev holds a linearizable read (client, called at call) that
// was answered with hdr to the writes acknowledged before the call.
func (r *seedRun) checkReadRev(client int, call int64, hdr api.Header) {
	if rev, at := r.revs.acked.before(call); hdr.Revision < rev {
		r.failf("stale read: client %d's linearizable read called at %v was answered by replica %d at revision %d, but a write was acknowledged at revision %d at %v, before the call",
			client, time.Duration(call), hdr.Member, hdr.Revision, rev, time.Duration(at))
	}
}
