package harness

import (
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
)

// Reads at a restart. A replica that restarts from its disk rebuilds its
// state from a snapshot and replays its log as the leader tells it what
// is committed; until then its store is behind what it served before the
// crash, and it must not serve serializable reads (node.reads.needCatchUp:
// it waits for one ReadIndex round, as etcd waits for a restarted member
// to apply its log). Workload reads pinned at random rarely land in that
// window, so the election reader's client also sends a serializable read
// of the whole key space to each replica the moment it boots from its
// disk, and a few times just after. They are checked as the workload's
// serializable reads of the latest state (check_serialreads.go): against
// the write log at their revision, and never below an answer the replica
// sent before (before the crash, too).

// bootReadDelays are when, after a replica boots, it gets a read.
var bootReadDelays = [...]time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond}

// bootReads schedules the reads of replica id, which just booted.
func (r *seedRun) bootReads(id host.NodeID) {
	e := r.electionReader
	if e == nil || e.c == nil {
		return
	}
	for _, d := range bootReadDelays {
		r.w.Schedule(d, func() { e.bootRead(id) })
	}
}

// bootRead sends one serializable read of every workload key to id.
func (e *electionReader) bootRead(id host.NodeID) {
	body := &api.RangeRequest{Key: []byte(kvPrefix), End: prefixEnd(kvPrefix), Serializable: true}
	p := &pastRead{client: e.id, key: kvPrefix, prefix: true, serial: true, latest: true}
	s := step{kind: opPastRead, body: body, past: p, call: e.r.now()}
	e.c.Do(body, client.CallOptions{Member: id}, func(resp *api.Response, _ error) {
		if resp != nil {
			e.r.revs.note(body.Op(), resp, e.r.now())
		}
		(&workClient{r: e.r, id: e.id}).pastDone(&s, resp)
	})
}
