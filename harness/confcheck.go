package harness

import (
	"errors"
	"fmt"
	"slices"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// Overlapping membership changes. Raft changes the configuration one
// server at a time: while a change is pending (proposed, not yet applied)
// a leader must refuse another. The operator sometimes sends a second
// change right behind the first (see operator.overlap), and the harness
// taps each replica's traffic with the operator, in the order the replica
// sees it: a replica that answers OK to (that is: applied) a change that
// reached it while an earlier change it also applied was still pending
// there has had two changes in flight.

// errConfOverlap is wrapped by the failure of that check.
var errConfOverlap = errors.New("membership: a change was applied while another was pending")

// confEvent is one request of the operator reaching a replica, or one
// answer of the replica to it, in the order the harness saw them.
type confEvent struct {
	seq    int // order of all tapped events
	member host.NodeID
	req    api.RequestID
	op     api.Op
	answer bool
	code   api.ErrorCode
}

// confTaps records the operator's traffic with the replicas.
type confTaps struct {
	events []confEvent
	// removes is the member each removal request names, by request ID.
	removes map[api.RequestID]host.NodeID
	// onRemoved, if set, hears of each removal a replica answered OK,
	// whether or not the answer ever reaches the operator.
	onRemoved func(host.NodeID)
}

func (t *confTaps) note(member host.NodeID, payload []byte, answer bool) {
	m, err := api.Decode(payload)
	if err != nil {
		return
	}
	e := confEvent{seq: len(t.events), member: member, answer: answer}
	switch m := m.(type) {
	case *api.Request:
		e.req, e.op = m.ID, m.Body.Op()
		if rm, ok := m.Body.(*api.MemberRemoveRequest); ok {
			if t.removes == nil {
				t.removes = map[api.RequestID]host.NodeID{}
			}
			t.removes[m.ID] = rm.ID
		}
	case *api.Response:
		e.req, e.op, e.code = m.ID, m.Op, m.Err
		if victim, ok := t.removes[m.ID]; ok && answer && m.Err == api.CodeOK && t.onRemoved != nil {
			t.onRemoved(victim)
		}
	default:
		return
	}
	if e.op == api.OpMemberAdd || e.op == api.OpMemberRemove {
		t.events = append(t.events, e)
	}
}

// tapped is a replica process whose traffic with the operator the harness
// records; everything else passes straight through.
type tapped struct {
	host.Process
	id   host.NodeID
	taps *confTaps
	// after, if set, runs right after the replica handled a payload
	// (the safety checker's term rule).
	after func(id host.NodeID, payload []byte)
}

// Receive records a request of the operator before the replica sees it.
func (p *tapped) Receive(from host.NodeID, payload []byte) {
	if from == membershipClient {
		p.taps.note(p.id, payload, false)
	}
	p.Process.Receive(from, payload)
	if p.after != nil {
		p.after(p.id, payload)
	}
}

// Unwrap is the replica's own process.
func (p *tapped) Unwrap() host.Process { return p.Process }

// tapHost records the replica's answers to the operator.
type tapHost struct {
	host.Host
	taps *confTaps
}

// Send records an answer to the operator, then sends it.
func (h *tapHost) Send(to host.NodeID, payload []byte) {
	if to == membershipClient {
		h.taps.note(h.ID(), payload, true)
	}
	h.Host.Send(to, payload)
}

// tapConfChanges wraps start so that every replica's traffic with the
// operator is recorded. (The initial replicas start before the faults are
// drawn, so all are tapped; without an operator a tap costs a comparison
// per message.)
func (r *seedRun) tapConfChanges(start ReplicaFunc) ReplicaFunc {
	return func(h host.Host, peers []host.NodeID) host.Process {
		p := start(&tapHost{Host: h, taps: &r.confTaps}, peers)
		t := &tapped{Process: p, id: h.ID(), taps: &r.confTaps}
		if r.safety != nil {
			t.after = r.safety.afterReceive
		}
		return t
	}
}

// unwrapProcess is the replica's own process behind a tap.
func unwrapProcess(p host.Process) host.Process {
	if t, ok := p.(interface{ Unwrap() host.Process }); ok {
		return t.Unwrap()
	}
	return p
}

// applied is one change a replica applied: when it reached the replica
// for the last time before being answered OK (with no refusal in between),
// and when the OK went out.
type applied struct {
	req           api.RequestID
	op            api.Op
	arrived, done int
}

// checkConfChanges requires, per replica, that no change it applied
// reached it while another change it applied was pending there. It also
// counts the changes refused while another was pending (the path the
// overlapping attempts are for).
func (t *confTaps) check() (refused int, err error) {
	byMember := map[host.NodeID][]confEvent{}
	var members []host.NodeID
	for _, e := range t.events {
		if _, ok := byMember[e.member]; !ok {
			members = append(members, e.member)
		}
		byMember[e.member] = append(byMember[e.member], e)
	}
	slices.Sort(members)
	for _, m := range members {
		ch := appliedChanges(byMember[m])
		for i := range ch {
			for j := range ch {
				a, b := &ch[i], &ch[j]
				if i != j && a.arrived < b.arrived && b.arrived < a.done {
					return refused, fmt.Errorf("%w: replica %d applied %v (request %d), which reached it while %v (request %d) was pending there",
						errConfOverlap, m, b.op, b.req, a.op, a.req)
				}
			}
		}
		refused += refusedWhilePending(byMember[m], ch)
	}
	return refused, nil
}

// refusedWhilePending counts the refusals a replica sent while a change it
// applied was pending there.
func refusedWhilePending(evs []confEvent, ch []applied) int {
	n := 0
	for _, e := range evs {
		if e.answer && e.code != api.CodeOK && slices.ContainsFunc(ch, func(a applied) bool {
			return a.req != e.req && a.arrived < e.seq && e.seq < a.done
		}) {
			n++
		}
	}
	return n
}

// appliedChanges finds, in one replica's events, the changes it answered
// OK and the arrival that led to each answer.
func appliedChanges(evs []confEvent) []applied {
	type state struct {
		arrived int // first arrival since the last answer (-1: none)
	}
	open := map[api.RequestID]*state{}
	var out []applied
	for _, e := range evs {
		s := open[e.req]
		if s == nil {
			s = &state{arrived: -1}
			open[e.req] = s
		}
		switch {
		case !e.answer:
			if s.arrived < 0 {
				s.arrived = e.seq
			}
		case e.code == api.CodeOK && s.arrived >= 0:
			out = append(out, applied{req: e.req, op: e.op, arrived: s.arrived, done: e.seq})
			s.arrived = -1
		default:
			s.arrived = -1 // refused: not pending any more
		}
	}
	return out
}
