package harness

import (
	"math/rand/v2"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// electionReadClient is the node ID of the election reader.
const electionReadClient host.NodeID = 3002

// electionReader sends a linearizable read to every new leader the instant
// it is elected, pinned to it: a new leader knows its log holds every
// committed entry, not which of them are committed, until an entry of its
// own term commits; a read it serves before then may miss a write the
// previous leader acknowledged (ReadIndex before the first commit of the
// term), and a leader elected without a quorum may serve at all. The reads
// go into the history like any other, so linearizability judges them;
// workload reads rarely reach a new leader within that first round trip.
type electionReader struct {
	r   *seedRun
	id  int // history client ID
	c   *client.Client
	rng *rand.Rand
}

// addElectionReader adds the reader's client process (kv systems only).
func (r *seedRun) addElectionReader() {
	if !r.servesKV() {
		return
	}
	e := &electionReader{r: r, id: len(r.clients) + 1, rng: r.w.Rand("election-reader")}
	r.electionReader = e
	must(r.w.AddNode(electionReadClient, func(h host.Host) host.Process {
		e.c = client.New(h, r.servers(), client.Options{RequestTimeout: r.cfg.RequestTimeout})
		return e.c
	}))
}

// onElection reads one key at leader, at once (from an event of its own:
// the leader is in the middle of becoming one).
func (e *electionReader) onElection(leader host.NodeID) {
	if e.c == nil || e.r.workloadOver() {
		return
	}
	k := kvKey(e.rng.IntN(max(1, e.r.cfg.Keys)))
	e.r.w.Schedule(0, func() { e.read(leader, k) })
}

func (e *electionReader) read(leader host.NodeID, k string) {
	s := step{kind: opGet, checked: true, input: lin.Get(k), body: &api.RangeRequest{Key: []byte(k)}}
	s.call = e.r.now()
	hid := e.r.hist.Call(e.id, s.call, s.input)
	e.r.ops++
	e.r.record("call", electionReadClient, s.body.Op(), int64(hid), 0)
	e.c.Do(s.body, client.CallOptions{Member: leader}, func(resp *api.Response, err error) {
		if resp != nil {
			e.r.record("return", electionReadClient, resp.Op, int64(hid), resp.Header.Revision<<8|int64(resp.Err))
			e.r.noteAnswer(hid, resp.Header.Member)
		}
		switch {
		case err == nil:
			e.r.safety.checkRead(e.id, durationOf(s.call), resp.Header)
			out, oerr := output(&s, resp)
			if oerr != nil {
				e.r.failf("election reader: %v", oerr)
				e.r.hist.Timeout(hid)
				return
			}
			e.r.hist.Return(hid, e.r.now(), out)
		case resp != nil && noEffect(resp.Err):
			e.r.hist.Fail(hid, e.r.now(), resp.Err.String())
		default:
			e.r.hist.Timeout(hid)
		}
	})
}
