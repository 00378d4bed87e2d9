package harness

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// Serializable reads of the latest state. The default swarm read only
// through ReadIndex (Config.Reads is linearizable unless asked), so a
// replica's own applied state was never served to a client: a replica
// that serves a state no prefix of the log explains, or, after a restart,
// an older state than it served before (etcd serves serializable reads
// only once a restarted member has applied its log; here, once it has
// finished one ReadIndex round, node.reads.needCatchUp), went unseen.
//
// A third of the workload's reads of the past are instead serializable
// reads of the latest state, pinned to one running replica drawn at
// random (followers, lagging and restarted ones included). The answer's
// header revision is the revision the replica's store was at, so the
// answer must be the write log replayed to it (checkPastRead, as any read
// of the past); and a replica never goes back: a read it answered after
// another of its reads had returned carries a revision at least as high.

// latestSerial is a serializable read of key (or the prefix) at the
// latest revision of the replica it is sent to.
func (g *gen) latestSerial(key string, prefix bool) step {
	body := &api.RangeRequest{Key: []byte(key), Serializable: true}
	p := &pastRead{client: g.client, key: key, prefix: prefix, serial: true, seen: g.lastRev, latest: true}
	if prefix {
		body.End = prefixEnd(key)
		g.rangeOpts(p, body)
	}
	return step{kind: opPastRead, body: body, past: p}
}

// pinTarget draws the replica a serializable read of the latest state is
// sent to: any replica not removed for good.
func (r *seedRun) pinTarget(rng *rand.Rand) host.NodeID {
	var ids []host.NodeID
	for _, id := range r.replicas {
		if !r.retired[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return r.replicas[rng.IntN(len(r.replicas))]
	}
	return ids[rng.IntN(len(ids))]
}

// checkSerialMonotonic requires each replica's answers to serializable
// reads of the latest state never to go back: a read called after any
// answer of the same replica arrived (revs) carries a revision at least
// as high (check_readrev.go).
func checkSerialMonotonic(reads []*pastRead, revs *answerRevs) error {
	for _, b := range reads {
		if !b.latest || b.code != api.CodeOK {
			continue
		}
		if rev, at := revs.member(b.member).before(b.call); b.rev < rev {
			return fmt.Errorf("%w: replica %d went back: client %d's serializable read called at %v was answered at revision %d, but the replica had answered at revision %d at %v, before that call",
				errPastRead, b.member, b.client, time.Duration(b.call), b.rev, rev, time.Duration(at))
		}
	}
	return nil
}
