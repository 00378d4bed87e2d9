package faults

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/probe"
	"github.com/seedkv/seedkv/sim"
)

// DiskCorruptTail is the name of the disk-corrupt-tail fault.
const DiskCorruptTail = "disk-corrupt-tail"

// TailRotter is implemented by a Protocol that knows how a replica's log
// ends on its disk. RotTail flips one bit of the last durable record of
// the log on d (a crashed replica's disk), drawing from r: often in its
// length field, so that the record looks cut short like a torn write, else
// anywhere in it. It says where, or returns false if there is no record.
type TailRotter interface {
	RotTail(d *sim.Disk, r *rand.Rand) (detail string, ok bool)
}

var probeTailRotted = probe.New("faults/log-tail-rotted", "faults: a bit of a replica's last durable log record was flipped right after it voted or acknowledged")

func init() { MustRegister(corruptTailFault{}) }

// corruptTailFault (in the model) crashes a replica right after it sent a
// vote or an acknowledgement, flips a bit of the last durable record of
// its log (the vote or the entries it vouched for, most likely) and
// restarts it when healed. Bit rot there looks like a torn write, the one
// damage a replica may repair silently: a replica that takes it for one
// loses a vote or an entry it acknowledged. Random corruption (disk-corrupt)
// almost never lands there. Within both budgets, like disk-corrupt. It
// needs a Protocol that is a TailRotter.
type corruptTailFault struct{}

func (corruptTailFault) Name() string    { return DiskCorruptTail }
func (corruptTailFault) Class() Class    { return InModel }
func (corruptTailFault) Params() []Param { return nil }

func (corruptTailFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	rot, ok := n.proto.(TailRotter)
	if !ok {
		return "", nil, false
	}
	var hit []host.NodeID
	fired := false
	n.ArmOn(e, false, func(o Observed) bool {
		if fired || o.Delivered || (o.Moment != MomentVoteResponse && o.Moment != MomentAppendResponse) ||
			!n.crashableNow(o.From) || !n.taintable(o.From) {
			return false
		}
		fired = true
		id := o.From
		n.CrashSoon(e, id, DiskCorruptTail, func(ok bool) {
			if !ok {
				return
			}
			hit = append(hit, id)
			n.Taint(id)
			where, rotted := rot.RotTail(n.w.Disk(id), e.R)
			if !rotted {
				where = "nothing"
			}
			n.w.Probes().If(rotted, probeTailRotted)
			e.detail = fmt.Sprintf("%d:%s", id, where)
			n.w.Record("fault/corrupt-tail", id, []byte(e.detail))
		})
		return true
	})
	return "armed", func() {
		n.Disarm(e)
		for _, id := range hit {
			n.RestartNode(id)
			n.Recovering(id)
		}
	}, true
}

// taintable reports whether corrupting id keeps the tainted replicas
// within a minority.
func (n *Nemesis) taintable(id host.NodeID) bool {
	tainted := n.Tainted()
	return slices.Contains(tainted, id) || len(tainted) < n.minority()
}
