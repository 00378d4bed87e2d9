package compat

// Watches and error cases of TestGRPCDiff.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchPair is the same watch on both servers and what each delivered.
type watchPair struct {
	desc         string
	start        int64 // the start revision asked for (0: none)
	e, s         clientv3.WatchChan
	cancelE      context.CancelFunc
	cancelS      context.CancelFunc
	eGot, sGot   []string
	eDone, sDone bool
}

func (w *watchPair) cancel() {
	w.cancelE()
	w.cancelS()
}

// MaxWatches bounds the open watches of a sequence.
const maxWatches = 4

func (g *gen) watchOp() {
	switch {
	case len(g.watches) < maxWatches && g.coin(50):
		g.watchCreate()
	case len(g.watches) > 0 && g.coin(30):
		g.syncWatches()
		i := g.pick(len(g.watches))
		g.p.logf("watch cancel %s", g.watches[i].desc)
		g.watches[i].cancel()
		g.watches = append(g.watches[:i], g.watches[i+1:]...)
	default:
		g.syncWatches()
	}
}

func (g *gen) watchCreate() {
	k, opts, desc := g.keyRange()
	desc = "watch " + desc
	rev := g.revision()
	if rev == 0 && g.p.members > 1 {
		// A member of a cluster starts a watch "from now" after what it
		// has applied, which may lag the last write (etcd's followers
		// lag alike): the watch asks for the revision after it.
		rev = g.p.rev + 1
	}
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
		desc += fmt.Sprintf(" rev=%d", rev)
	}
	if g.coin(50) {
		opts = append(opts, clientv3.WithPrevKV())
		desc += " prev_kv"
	}
	if g.coin(15) {
		opts = append(opts, clientv3.WithFilterPut())
		desc += " noput"
	}
	if g.coin(15) {
		opts = append(opts, clientv3.WithFilterDelete())
		desc += " nodelete"
	}
	if g.coin(30) {
		opts = append(opts, clientv3.WithCreatedNotify())
		desc += " created_notify"
	}
	if g.coin(20) {
		opts = append(opts, clientv3.WithProgressNotify())
		desc += " progress_notify"
	}
	if g.coin(20) {
		opts = append(opts, clientv3.WithFragment())
		desc += " fragment"
	}
	g.p.logf("%s", desc)
	ectx, ecancel := context.WithCancel(context.Background())
	sctx, scancel := context.WithCancel(context.Background())
	w := &watchPair{desc: desc, start: rev, cancelE: ecancel, cancelS: scancel,
		e: g.p.e.Watch(ectx, k, opts...), s: g.p.s.Watch(sctx, k, opts...)}
	g.watches = append(g.watches, w)
}

// syncWatches asks both servers for a progress notification and reads
// every watch up to it (or its end), then requires both sides of every
// watch to have delivered the same responses. etcd v3.7.3 answers a
// progress request only when no watch of the stream starts above its
// revision and every watch has caught up (else it drops the request), so
// the store is first written up to the highest start revision, and the
// request is repeated while a watch still waits.
func (g *gen) syncWatches() {
	if len(g.watches) == 0 {
		return
	}
	p := g.p
	// A write first: a progress answer to an earlier sync's repeated
	// request, still on its way (and handed to every watch of the
	// stream, new ones too), is then below the revision waited for.
	g.p.logf("put %q (sync)", g.prefix+"sync")
	g.doPut(g.prefix+"sync", "", nil, nil)
	for _, w := range g.watches {
		for !w.eDone && p.rev < w.start {
			g.p.logf("put %q (to reach a watch's start revision)", g.prefix+"sync")
			g.doPut(g.prefix+"sync", "", nil, nil)
		}
	}
	p.logf("watch sync at rev=%d", p.rev)
	// All watches are read at once: etcd (and seedkv) answer no progress
	// request on a stream while a watch canceled by compaction is still
	// on it, until clientv3, having handed the cancellation to its
	// reader, cancels it.
	var wg sync.WaitGroup
	for _, w := range g.watches {
		wg.Add(2)
		go func() {
			defer wg.Done()
			w.eGot, w.eDone = p.drain(p.e, w.e, w.eGot, w.eDone, false)
		}()
		go func() {
			defer wg.Done()
			w.sGot, w.sDone = p.drain(p.s, w.s, w.sGot, w.sDone, true)
		}()
	}
	wg.Wait()
	for _, w := range g.watches {
		p.fail("watch "+w.desc, strings.Join(w.eGot, "\n"), strings.Join(w.sGot, "\n"))
		p.stats["watch responses compared"] += len(w.eGot)
		w.eGot, w.sGot = nil, nil
	}
}

// drain reads a watch until a progress notification at or past the
// pair's revision, or the watch's end, rendering what it read. It asks
// c for progress at once and again after every 100 ms of silence (each
// answer goes to every watch of the stream: asking on every answer would
// multiply the requests).
func (p *diffPair) drain(c *clientv3.Client, ch clientv3.WatchChan, got []string, done, seedkv bool) ([]string, bool) {
	if done {
		return got, true
	}
	timeout := time.After(10 * time.Second)
	ask := true
	for {
		if ask {
			if err := c.RequestProgress(p.ctx()); err != nil {
				return append(got, fmt.Sprintf("RequestProgress: %v", err)), true
			}
			ask = false
		}
		select {
		case r, ok := <-ch:
			if !ok {
				return append(got, "closed"), true
			}
			if r.IsProgressNotify() {
				if r.Header.Revision >= p.rev {
					return append(got, fmt.Sprintf("progress rev=%d", r.Header.Revision)), false
				}
				continue // a periodic or earlier one
			}
			got = append(got, p.renderWatch(&r, seedkv)...)
			if r.Canceled {
				return got, true
			}
		case <-time.After(100 * time.Millisecond):
			ask = true // dropped: a watch was behind (etcd) or still being created
		case <-timeout:
			return append(got, "timeout: no progress notification"), true
		}
	}
}

// renderWatch renders one watch response event by event (etcd and seedkv
// may batch events into responses differently), plus created and
// cancellation notices.
func (p *diffPair) renderWatch(r *clientv3.WatchResponse, seedkv bool) []string {
	var out []string
	if r.Created {
		// a member of a cluster answers at its own revision, which may lag
		out = append(out, fmt.Sprintf("created rev=%d", map[bool]int64{true: r.Header.Revision}[p.members == 1]))
	}
	for _, ev := range r.Events {
		text := p.text(ev, seedkv)
		out = append(out, "event "+strings.ReplaceAll(text, "\n", " "))
	}
	if r.Canceled {
		out = append(out, fmt.Sprintf("canceled rev=%d compact_revision=%d reason=%q err=%v",
			r.Header.Revision, r.CompactRevision, r.CancelReason, r.Err()))
	}
	return out
}

// special sends requests etcd refuses, and compares the refusals.
func (g *gen) special() {
	p := g.p
	kv := func(c *clientv3.Client) pb.KVClient { return pb.NewKVClient(c.ActiveConnection()) }
	k := g.key()
	switch g.pick(11) {
	case 10:
		// A nested transaction deleting what an earlier sibling put:
		// etcd's check lets it through and runs both.
		k2, opts, d := g.keyRange()
		p.logf("txn{put %q} txn{delete %s prev_kv}", k, d)
		ops := []clientv3.Op{clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut(k, "p", clientv3.WithPrevKV())}, nil),
			clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpDelete(k2, append(opts, clientv3.WithPrevKV())...)}, nil)}
		er, eerr := p.e.Txn(p.ctx()).Then(ops...).Commit()
		sr, serr := p.s.Txn(p.ctx()).Then(ops...).Commit()
		if p.compare("txn nested put then delete", (*pb.TxnResponse)(er), eerr, (*pb.TxnResponse)(sr), serr) {
			p.observe(er.Header)
			if hasFromKeyDelete(ops) {
				p.noCompact[er.Header.Revision] = true
			}
		}
	case 0:
		p.logf("put empty key")
		er, eerr := kv(p.e).Put(p.ctx(), &pb.PutRequest{Value: []byte("v")})
		sr, serr := kv(p.s).Put(p.ctx(), &pb.PutRequest{Value: []byte("v")})
		p.compare("put empty key", er, eerr, sr, serr)
	case 1:
		p.logf("txn duplicate put %q", k)
		ops := []clientv3.Op{clientv3.OpPut(k, "1"), clientv3.OpPut(k, "2")}
		er, eerr := p.e.Txn(p.ctx()).Then(ops...).Commit()
		sr, serr := p.s.Txn(p.ctx()).Then(ops...).Commit()
		p.compare("txn duplicate key", (*pb.TxnResponse)(er), eerr, (*pb.TxnResponse)(sr), serr)
	case 2:
		p.logf("txn put and delete %q", k)
		ops := []clientv3.Op{clientv3.OpPut(k, "1"), clientv3.OpDelete(g.prefix, clientv3.WithPrefix())}
		er, eerr := p.e.Txn(p.ctx()).Then(ops...).Commit()
		sr, serr := p.s.Txn(p.ctx()).Then(ops...).Commit()
		if p.compare("txn put+delete", (*pb.TxnResponse)(er), eerr, (*pb.TxnResponse)(sr), serr) {
			p.observe(er.Header)
		}
	case 3:
		n := 128 + g.pick(2)
		p.logf("txn of %d gets", n)
		ops := make([]clientv3.Op, n)
		for i := range ops {
			ops[i] = clientv3.OpGet(k)
		}
		er, eerr := p.e.Txn(p.ctx()).Then(ops...).Commit()
		sr, serr := p.s.Txn(p.ctx()).Then(ops...).Commit()
		p.compare("txn many ops", (*pb.TxnResponse)(er), eerr, (*pb.TxnResponse)(sr), serr)
	case 4:
		p.logf("put ignore_value with a value")
		r := &pb.PutRequest{Key: []byte(k), Value: []byte("x"), IgnoreValue: true}
		er, eerr := kv(p.e).Put(p.ctx(), r)
		sr, serr := kv(p.s).Put(p.ctx(), r)
		p.compare("put ignore_value+value", er, eerr, sr, serr)
	case 5:
		p.logf("put ignore_lease with a lease")
		r := &pb.PutRequest{Key: []byte(k), Value: []byte("x"), IgnoreLease: true, Lease: 5}
		er, eerr := kv(p.e).Put(p.ctx(), r)
		sr, serr := kv(p.s).Put(p.ctx(), r)
		p.compare("put ignore_lease+lease", er, eerr, sr, serr)
	case 6:
		p.logf("delete empty key")
		er, eerr := kv(p.e).DeleteRange(p.ctx(), &pb.DeleteRangeRequest{})
		sr, serr := kv(p.s).DeleteRange(p.ctx(), &pb.DeleteRangeRequest{})
		p.compare("delete empty key", er, eerr, sr, serr)
	case 7:
		p.logf("range empty key")
		er, eerr := kv(p.e).Range(p.ctx(), &pb.RangeRequest{})
		sr, serr := kv(p.s).Range(p.ctx(), &pb.RangeRequest{})
		p.compare("range empty key", er, eerr, sr, serr)
	case 8:
		p.logf("txn compare empty key")
		r := &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION}}}
		er, eerr := kv(p.e).Txn(p.ctx(), r)
		sr, serr := kv(p.s).Txn(p.ctx(), r)
		p.compare("txn compare empty key", er, eerr, sr, serr)
	default:
		p.logf("lease revoke unknown")
		er, eerr := p.e.Revoke(p.ctx(), 424242)
		sr, serr := p.s.Revoke(p.ctx(), 424242)
		p.compare("lease revoke unknown", (*pb.LeaseRevokeResponse)(er), eerr, (*pb.LeaseRevokeResponse)(sr), serr)
	}
}
