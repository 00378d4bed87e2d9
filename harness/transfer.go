package harness

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// Leadership transfers. An operator asks the leader, every
// Config.TransferEvery on average, to hand leadership to a random replica
// (etcd's MoveLeader), while the workload and the faults go on: writes in
// flight at the old leader, reads and leases must survive the handover,
// which the linearizability, lease and convergence checks then hold to.
const transferClient host.NodeID = 2003

// transferer drives leadership transfers.
type transferer struct {
	r                  *seedRun
	c                  *client.Client
	rng                *rand.Rand
	asked, moved, lost int
	refused            int
	lastCall           int64 // virtual ns of the last transfer asked for (0: none)
}

// startTransfers adds the transfer operator's client, if transfers are on.
func (r *seedRun) startTransfers() {
	if r.cfg.TransferEvery <= 0 || !r.kvOnly("leadership transfers") {
		return
	}
	t := &transferer{r: r, rng: r.w.Rand("transfer")}
	r.transfers = t
	must(r.w.AddNode(transferClient, func(h host.Host) host.Process {
		t.c = client.New(h, r.servers(), client.Options{RequestTimeout: 2 * r.cfg.RequestTimeout})
		return t.c
	}))
	t.schedule()
}

// schedule arms the next transfer, a uniform gap in [0.5, 1.5] x
// TransferEvery away.
func (t *transferer) schedule() {
	every := int64(t.r.cfg.TransferEvery)
	t.r.w.Schedule(time.Duration(every/2+t.rng.Int64N(every+1)), t.transfer)
}

// transfer asks for leadership to move to a random replica.
func (t *transferer) transfer() {
	if t.r.workloadOver() {
		return
	}
	target := t.r.replicas[t.rng.IntN(len(t.r.replicas))]
	t.asked++
	t.lastCall = t.r.now()
	t.r.record("call", transferClient, api.OpMoveLeader, -1, int64(target))
	t.c.MoveLeader(target, client.CallOptions{}, func(h api.Header, err error) {
		switch {
		case err == nil:
			t.moved++
			t.r.leases.seen.note(t.r.now(), h.Revision)
		case errors.Is(err, client.ErrTimeout):
			t.lost++
		default:
			t.refused++
		}
		t.r.record("return", transferClient, api.OpMoveLeader, -1, int64(target))
		t.schedule()
	})
}

// note adds the transfers to the run's account.
func (t *transferer) note() {
	if t != nil {
		t.r.notef("leadership transfers: %d asked, %d done, %d refused, %d unanswered", t.asked, t.moved, t.refused, t.lost)
	}
}
