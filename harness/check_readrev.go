package harness

import (
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
	at, rev []int64
}

func (m *revMarks) note(at, rev int64) {
	if n := len(m.rev); n > 0 && rev <= m.rev[n-1] {
		return
	}
	m.at, m.rev = append(m.at, at), append(m.rev, rev)
}

// before is the highest revision seen strictly before t (0: none), and
// when it was seen.
func (m *revMarks) before(t int64) (rev, at int64) {
	i := sort.Search(len(m.at), func(i int) bool { return m.at[i] >= t })
	if i == 0 {
		return 0, 0
	}
	return m.rev[i-1], m.at[i-1]
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
