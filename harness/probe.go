package harness

import (
	"errors"
	"fmt"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// probe is the liveness check after heal: a client that must get one write
// and then one linearizable read through, retrying on timeouts, within
// Config.HealTimeout. Its operations go into the history like any other.
type probe struct {
	r        *seedRun
	id       int // history client ID
	c        *client.Client
	seq      int
	wrote    bool // the write succeeded
	read     bool // the read after it succeeded
	attempts int
	lastErr  error
	lastFrom host.NodeID // the replica that gave the last answer (0: none)
	sc       Client      // the system's client adapter (systems outside seedkv's protocol)
	written  string      // the value the system probe wrote
}

// addProbe adds the probe's client process (idle until start).
func (r *seedRun) addProbe() {
	p := &probe{r: r, id: len(r.clients)}
	r.probe = p
	if !r.servesKV() {
		r.addSystemProbe(p)
		return
	}
	must(r.w.AddNode(probeClient, func(h host.Host) host.Process {
		p.c = client.New(h, r.servers(), client.Options{RequestTimeout: r.cfg.RequestTimeout})
		return p.c
	}))
}

func (p *probe) done() bool { return p.wrote && p.read }

// start issues the next probe request.
func (p *probe) start() {
	if p.done() {
		return
	}
	p.attempts++
	p.seq++
	if p.sc != nil {
		p.startSystem()
		return
	}
	var s step
	if !p.wrote {
		k, v := kvKey(0), "probe."+itoa(p.seq)
		s = step{kind: opPut, checked: true, input: lin.Put(k, v), body: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
	} else {
		k := kvKey(0)
		s = step{kind: opGet, checked: true, input: lin.Get(k), body: &api.RangeRequest{Key: []byte(k)}}
	}
	hid := p.r.hist.Call(p.id, p.r.now(), s.input)
	p.r.record("call", probeClient, s.body.Op(), int64(hid), 0)
	p.c.Do(s.body, client.CallOptions{}, func(resp *api.Response, err error) {
		if resp != nil {
			p.r.record("return", probeClient, resp.Op, int64(hid), resp.Header.Revision<<8|int64(resp.Err))
			p.r.noteAnswer(hid, resp.Header.Member)
			p.lastFrom = resp.Header.Member
		}
		switch {
		case err == nil:
			out, oerr := output(&s, resp)
			if oerr != nil {
				p.r.failf("liveness probe: %v", oerr)
				p.r.hist.Timeout(hid)
				return
			}
			p.r.hist.Return(hid, p.r.now(), out)
			if s.kind == opPut {
				p.wrote = true
			} else {
				p.read = true
			}
		case resp != nil && noEffect(resp.Err):
			p.r.hist.Fail(hid, p.r.now(), resp.Err.String())
			p.lastErr = err
		default:
			p.r.hist.Timeout(hid)
			p.lastErr = err
		}
		// Retry after a short pause, so a cluster still electing is not
		// flooded.
		p.r.w.Schedule(10*time.Millisecond, p.start)
	})
}

// awaitLiveness runs the world until the probe is done or HealTimeout has
// passed; it reports the failure, if any.
func (r *seedRun) awaitLiveness() error {
	deadline := r.w.Elapsed() + r.cfg.HealTimeout
	r.probe.start()
	for !r.probe.done() && r.w.Elapsed() < deadline && r.runFor(10*time.Millisecond) {
	}
	if r.probe.done() {
		r.notef("liveness: write and read succeeded %v after heal (%d attempts)", r.w.Elapsed()-r.healedAt, r.probe.attempts)
		return nil
	}
	what := "write"
	if r.probe.wrote {
		what = "linearizable read"
	}
	err := r.probe.lastErr
	if err == nil {
		err = errors.New("no answer")
	}
	from := "no replica ever answered"
	if r.probe.lastFrom != 0 {
		from = fmt.Sprintf("last answer from replica %d", r.probe.lastFrom)
	}
	if r.probe.sc == nil { // a system's own client picks its key
		what += " of key " + kvKey(0)
	}
	return fmt.Errorf("liveness: no %s succeeded within %v after heal (%d attempts, last: %v; %s)",
		what, r.cfg.HealTimeout, r.probe.attempts, err, from)
}

// readWriteLog reads the write log of replica member, from store revision
// from up to rev, with a watch of the whole key space. (Used when the
// replica cannot list its changes itself.)
func (r *seedRun) readWriteLog(member host.NodeID, from, rev int64) ([]lin.LogEntry, error) {
	if rev < from {
		return nil, nil // revision 1 is the empty store
	}
	var log []lin.LogEntry
	var werr error
	all := []byte{0}
	w := r.probe.c.Watch(all, client.WatchOptions{End: all, StartRevision: from, Member: member}, func(u client.WatchUpdate) {
		if u.Err != nil {
			werr = u.Err
		}
		log = appendEvents(log, u.Events)
	})
	defer w.Cancel()
	last := func() int64 { return w.NextRevision() - 1 }
	deadline := r.w.Elapsed() + r.cfg.HealTimeout
	for last() < rev && werr == nil && r.w.Elapsed() < deadline && r.runFor(5*time.Millisecond) {
	}
	switch {
	case werr != nil:
		return nil, fmt.Errorf("write log: watch of replica %d from revision %d: %v", member, from, werr)
	case last() < rev:
		return nil, fmt.Errorf("write log: watch of replica %d reached revision %d of %d within %v", member, last(), rev, r.cfg.HealTimeout)
	}
	return log, nil
}
