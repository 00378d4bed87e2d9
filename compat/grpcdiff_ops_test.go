package compat

// The operations of TestGRPCDiff: a generator draws each one from a seeded
// stream, sends it to etcd and to seedkv, and compares the answers.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// gen draws the operations of one sequence.
type gen struct {
	p       *diffPair
	r       *rand.Rand
	prefix  string
	watches []*watchPair
}

// suffixes are the keys of a sequence under its prefix: few, so that
// operations collide; with "\x00" and "\xff" bytes and nested names.
var suffixes = []string{"a", "a/b", "a/c", "b", "b\x00", "c\xff", "d", ""}

func (g *gen) pick(n int) int    { return g.r.IntN(n) }
func (g *gen) coin(pct int) bool { return g.r.IntN(100) < pct }

func (g *gen) key() string { return g.prefix + suffixes[g.pick(len(suffixes))] }

func (g *gen) value() string {
	if g.coin(10) {
		return ""
	}
	return fmt.Sprintf("v%d", g.pick(6))
}

// keyRange draws a key and options for a range: one key, a prefix, from
// the key on, or [key, end) with end at, below or above key.
func (g *gen) keyRange() (string, []clientv3.OpOption, string) {
	k := g.key()
	switch g.pick(6) {
	case 0:
		return g.prefix, []clientv3.OpOption{clientv3.WithPrefix()}, fmt.Sprintf("%q prefix", g.prefix)
	case 1:
		k := g.prefix + "a"
		return k, []clientv3.OpOption{clientv3.WithPrefix()}, fmt.Sprintf("%q prefix", k)
	case 2:
		return k, []clientv3.OpOption{clientv3.WithFromKey()}, fmt.Sprintf("%q from-key", k)
	case 3:
		end := g.key()
		return k, []clientv3.OpOption{clientv3.WithRange(end)}, fmt.Sprintf("[%q, %q)", k, end)
	}
	return k, nil, fmt.Sprintf("%q", k)
}

// revision draws a read revision: latest, a past one, the compaction
// revision, one below it, or a future one.
func (g *gen) revision() int64 {
	switch g.pick(8) {
	case 0, 1, 2:
		return 0
	case 3:
		return g.p.compact
	case 4:
		return max(1, g.p.compact-1)
	case 5:
		return g.p.rev + 1 + int64(g.pick(2))
	}
	lo := max(1, g.p.compact)
	return lo + g.r.Int64N(g.p.rev-lo+1)
}

// smallRev draws a revision for a filter or compare, around the store's.
func (g *gen) smallRev() int64 {
	if g.coin(20) {
		return 0
	}
	return g.r.Int64N(g.p.rev + 2)
}

// lease draws a lease for a lease operation: one granted (with the ID
// the test chose or one auto-assigned), or one never granted.
func (g *gen) lease() int64 {
	if len(g.p.leases) == 0 || g.coin(10) {
		return unknownLease + int64(g.pick(3)) // not granted
	}
	return g.p.leases[g.pick(len(g.p.leases))]
}

// attachLease draws a lease to put a key with: never an auto-assigned
// one, whose ID differs between the two (a key's lease is in HashKV's
// hash, which must match).
func (g *gen) attachLease() int64 {
	for range 4 {
		if id := g.lease(); g.p.leaseE2S[id] == 0 {
			return id
		}
	}
	return unknownLease
}

// Lease IDs the test chooses: far above seedkv's auto-assigned ones (raft
// indexes) and apart from etcd's (random), so that none collide.
const (
	explicitLease = 1 << 40
	unknownLease  = 1 << 41
)

// run draws and runs n operations, then settles the watches and
// compares the whole store.
func (g *gen) run(n int) {
	for range n {
		g.step()
	}
	g.syncWatches()
	for _, w := range g.watches {
		w.cancel()
	}
	g.watches = nil
	g.checkAll()
}

func (g *gen) step() {
	switch w := g.pick(100); {
	case w < 20:
		g.put()
	case w < 34:
		g.get()
	case w < 40:
		g.rawRange()
	case w < 47:
		g.del()
	case w < 60:
		g.txn()
	case w < 63:
		g.compactOp()
	case w < 73:
		g.leaseOp()
	case w < 85:
		g.watchOp()
	case w < 92:
		g.maint()
	default:
		g.special()
	}
}

func (g *gen) put() {
	k, v := g.key(), g.value()
	var eo, so []clientv3.OpOption // etcd's and seedkv's: lease IDs differ
	both := func(o clientv3.OpOption) { eo, so = append(eo, o), append(so, o) }
	desc := fmt.Sprintf("put %q", k)
	if g.coin(50) {
		both(clientv3.WithPrevKV())
		desc += " prev_kv"
	}
	if g.coin(25) {
		id := g.attachLease()
		eo = append(eo, clientv3.WithLease(clientv3.LeaseID(id)))
		so = append(so, clientv3.WithLease(clientv3.LeaseID(g.p.eToS(id))))
		desc += fmt.Sprintf(" lease=%d", id)
	}
	if g.coin(8) {
		both(clientv3.WithIgnoreValue())
		desc += " ignore_value"
		if g.coin(70) {
			v = ""
		}
	}
	if g.coin(8) {
		both(clientv3.WithIgnoreLease())
		desc += " ignore_lease"
	}
	g.p.logf("%s %q", desc, v)
	g.doPut(k, v, so, eo)
}

// doPut puts with options for seedkv (sOpts) and etcd (eOpts), which
// differ only in lease IDs.
func (g *gen) doPut(k, v string, sOpts, eOpts []clientv3.OpOption) {
	p := g.p
	er, eerr := p.e.Put(p.ctx(), k, v, eOpts...)
	sr, serr := p.s.Put(p.ctx(), k, v, sOpts...)
	if p.compare("put", (*pb.PutResponse)(er), eerr, (*pb.PutResponse)(sr), serr) {
		p.observe(er.Header)
	}
}

// rangeOpts draws the options of a Get.
func (g *gen) rangeOpts() ([]clientv3.OpOption, string) {
	var opts []clientv3.OpOption
	var desc []string
	if rev := g.revision(); rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
		desc = append(desc, fmt.Sprintf("rev=%d", rev))
	}
	if g.coin(30) {
		l := int64(g.pick(4))
		opts = append(opts, clientv3.WithLimit(l))
		desc = append(desc, fmt.Sprintf("limit=%d", l))
	}
	if g.coin(30) {
		t, o := clientv3.SortTarget(g.pick(5)), clientv3.SortOrder(g.pick(3))
		opts = append(opts, clientv3.WithSort(t, o))
		desc = append(desc, fmt.Sprintf("sort=%v/%v", t, o))
	}
	if g.coin(15) {
		opts = append(opts, clientv3.WithKeysOnly())
		desc = append(desc, "keys-only")
	}
	if g.coin(10) {
		opts = append(opts, clientv3.WithCountOnly())
		desc = append(desc, "count-only")
	}
	filters := []struct {
		name string
		opt  func(int64) clientv3.OpOption
	}{{"min-mod", clientv3.WithMinModRev}, {"max-mod", clientv3.WithMaxModRev},
		{"min-create", clientv3.WithMinCreateRev}, {"max-create", clientv3.WithMaxCreateRev}}
	for _, f := range filters {
		if g.coin(8) {
			r := g.smallRev()
			opts = append(opts, f.opt(r))
			desc = append(desc, fmt.Sprintf("%s=%d", f.name, r))
		}
	}
	if g.coin(20) {
		opts = append(opts, clientv3.WithSerializable())
		desc = append(desc, "serializable")
	}
	return opts, strings.Join(desc, " ")
}

func (g *gen) get() {
	k, ropts, rdesc := g.keyRange()
	opts, desc := g.rangeOpts()
	g.p.logf("get %s %s", rdesc, desc)
	p := g.p
	all := append(ropts, opts...)
	er, eerr := p.e.Get(p.ctx(), k, all...)
	var sr *clientv3.GetResponse
	var serr error
	p.settle(func() (*pb.ResponseHeader, error) {
		sr, serr = p.s.Get(p.ctx(), k, all...)
		return headerOf(sr), serr
	})
	p.compare("get", (*pb.RangeResponse)(er), eerr, (*pb.RangeResponse)(sr), serr)
}

// rawRange sends a RangeRequest built field by field (sort order and
// target combinations clientv3 would rewrite, limits, revisions).
func (g *gen) rawRange() {
	k, _, _ := g.keyRange()
	r := &pb.RangeRequest{Key: []byte(k), Revision: g.revision(), Limit: int64(g.pick(4)) - 1,
		SortOrder: pb.RangeRequest_SortOrder(g.pick(3)), SortTarget: pb.RangeRequest_SortTarget(g.pick(5)),
		KeysOnly: g.coin(20), CountOnly: g.coin(10), Serializable: g.coin(20)}
	switch g.pick(4) {
	case 0:
		r.RangeEnd = []byte{0}
	case 1:
		r.RangeEnd = []byte(g.key())
	}
	if g.coin(20) {
		r.MinModRevision, r.MaxModRevision = g.smallRev(), g.smallRev()
	}
	if g.coin(20) {
		r.MinCreateRevision, r.MaxCreateRevision = g.smallRev(), g.smallRev()
	}
	if g.coin(3) {
		r.SortOrder = 7 // not an order
	}
	g.p.logf("raw range %v", r)
	p := g.p
	er, eerr := pb.NewKVClient(p.e.ActiveConnection()).Range(p.ctx(), r)
	var sr *pb.RangeResponse
	var serr error
	p.settle(func() (*pb.ResponseHeader, error) {
		sr, serr = pb.NewKVClient(p.s.ActiveConnection()).Range(p.ctx(), r)
		return sr.GetHeader(), serr
	})
	p.compare("raw range", er, eerr, sr, serr)
}

func (g *gen) del() {
	k, opts, desc := g.keyRange()
	if g.coin(50) {
		opts = append(opts, clientv3.WithPrevKV())
		desc += " prev_kv"
	}
	g.p.logf("delete %s", desc)
	p := g.p
	er, eerr := p.e.Delete(p.ctx(), k, opts...)
	sr, serr := p.s.Delete(p.ctx(), k, opts...)
	if p.compare("delete", (*pb.DeleteRangeResponse)(er), eerr, (*pb.DeleteRangeResponse)(sr), serr) {
		p.observe(er.Header)
	}
}

// cmp draws a compare; the lease compare's ID is given per side.
func (g *gen) cmp() (e, s clientv3.Cmp, desc string) {
	k := g.key()
	ops := []string{"=", "!=", "<", ">"}
	op := ops[g.pick(len(ops))]
	switch g.pick(5) {
	case 0:
		v := g.value()
		e = clientv3.Compare(clientv3.Value(k), op, v)
		desc = fmt.Sprintf("value(%q) %s %q", k, op, v)
	case 1:
		v := int64(g.pick(4))
		e = clientv3.Compare(clientv3.Version(k), op, v)
		desc = fmt.Sprintf("version(%q) %s %d", k, op, v)
	case 2:
		v := g.smallRev()
		e = clientv3.Compare(clientv3.CreateRevision(k), op, v)
		desc = fmt.Sprintf("create(%q) %s %d", k, op, v)
	case 3:
		v := g.smallRev()
		e = clientv3.Compare(clientv3.ModRevision(k), op, v)
		desc = fmt.Sprintf("mod(%q) %s %d", k, op, v)
	default:
		id := int64(0)
		if g.coin(70) {
			id = g.attachLease() // auto-assigned IDs would not order alike
		}
		e = clientv3.Compare(clientv3.LeaseValue(k), op, id)
		s = clientv3.Compare(clientv3.LeaseValue(k), op, g.p.eToS(id))
		desc = fmt.Sprintf("lease(%q) %s %d", k, op, id)
	}
	if len(s.KeyBytes()) == 0 {
		s = e // not a lease compare: the same on both sides
	}
	switch g.pick(7) {
	case 0:
		e, s = e.WithPrefix(), s.WithPrefix()
		desc += " prefix"
	case 1:
		end := g.key()
		e, s = e.WithRange(end), s.WithRange(end)
		desc += fmt.Sprintf(" to %q", end)
	case 2:
		e, s = e.WithRange("\x00"), s.WithRange("\x00")
		desc += " from-key"
	}
	return e, s, desc
}

// txnOps draws the ops of one branch (nested transactions up to depth 2).
func (g *gen) txnOps(depth int) (e, s []clientv3.Op, desc []string) {
	for range g.pick(4) {
		switch w := g.pick(10); {
		case w < 3:
			k, ropts, rdesc := g.keyRange()
			opts, odesc := g.rangeOpts()
			op := clientv3.OpGet(k, append(ropts, opts...)...)
			e, s, desc = append(e, op), append(s, op), append(desc, "get "+rdesc+" "+odesc)
		case w < 6:
			k, v := g.key(), g.value()
			var eo, so []clientv3.OpOption
			d := fmt.Sprintf("put %q %q", k, v)
			if g.coin(40) {
				eo, so = append(eo, clientv3.WithPrevKV()), append(so, clientv3.WithPrevKV())
				d += " prev_kv"
			}
			if g.coin(20) {
				id := g.attachLease()
				eo = append(eo, clientv3.WithLease(clientv3.LeaseID(id)))
				so = append(so, clientv3.WithLease(clientv3.LeaseID(g.p.eToS(id))))
				d += fmt.Sprintf(" lease=%d", id)
			}
			if g.coin(6) {
				eo, so = append(eo, clientv3.WithIgnoreValue()), append(so, clientv3.WithIgnoreValue())
				v, d = "", d+" ignore_value"
			} else if g.coin(6) {
				eo, so = append(eo, clientv3.WithIgnoreLease()), append(so, clientv3.WithIgnoreLease())
				d += " ignore_lease"
			}
			e, s, desc = append(e, clientv3.OpPut(k, v, eo...)), append(s, clientv3.OpPut(k, v, so...)), append(desc, d)
		case w < 8:
			k, opts, d := g.keyRange()
			if g.coin(40) {
				opts = append(opts, clientv3.WithPrevKV())
				d += " prev_kv"
			}
			op := clientv3.OpDelete(k, opts...)
			e, s, desc = append(e, op), append(s, op), append(desc, "delete "+d)
		default:
			if depth >= 2 {
				continue
			}
			ec, sc, cd, et, st, td, ee, se, ed := g.txnParts(depth + 1)
			e = append(e, clientv3.OpTxn(ec, et, ee))
			s = append(s, clientv3.OpTxn(sc, st, se))
			desc = append(desc, fmt.Sprintf("txn{if %s then %s else %s}", cd, td, ed))
		}
	}
	return e, s, desc
}

func (g *gen) txnParts(depth int) (ec, sc []clientv3.Cmp, cdesc string, et, st []clientv3.Op, tdesc string, ee, se []clientv3.Op, edesc string) {
	var cd []string
	for range g.pick(4) {
		e, s, d := g.cmp()
		ec, sc, cd = append(ec, e), append(sc, s), append(cd, d)
	}
	et, st, td := g.txnOps(depth)
	ee, se, ed := g.txnOps(depth)
	return ec, sc, strings.Join(cd, ", "), et, st, strings.Join(td, "; "), ee, se, strings.Join(ed, "; ")
}

func (g *gen) txn() {
	ec, sc, cd, et, st, td, ee, se, ed := g.txnParts(0)
	for range 20 {
		// A put with ignore_value or ignore_lease after a "from key"
		// delete of its key in the same transaction makes etcd v3.7.3
		// panic (index out of range in etcdserver/txn put: its check saw
		// the key, its execution does not): not drawn (told apart by the
		// descriptions, cautiously: any range "from key" counts).
		etcdPanics := func(desc string) bool {
			return strings.Contains(desc, "ignore_") && strings.Contains(desc, "from-key")
		}
		if !etcdPanics(td) && !etcdPanics(ed) {
			break
		}
		ec, sc, cd, et, st, td, ee, se, ed = g.txnParts(0)
	}
	g.p.logf("txn if %s then %s else %s", cd, td, ed)
	p := g.p
	er, eerr := p.e.Txn(p.ctx()).If(ec...).Then(et...).Else(ee...).Commit()
	sr, serr := p.s.Txn(p.ctx()).If(sc...).Then(st...).Else(se...).Commit()
	if putThenCoveringDelete(et, nil) || putThenCoveringDelete(ee, nil) {
		p.stats[fmt.Sprintf("txn with a nested put then delete drawn (error: %v)", eerr != nil)]++
	}
	if p.compare("txn", (*pb.TxnResponse)(er), eerr, (*pb.TxnResponse)(sr), serr) {
		p.observe(er.Header)
		if hasFromKeyDelete(et) || hasFromKeyDelete(ee) {
			p.noCompact[er.Header.Revision] = true
		}
	}
}

// hasFromKeyDelete reports whether ops, nested ones included, delete
// "from key". A transaction that does and puts a key it deletes, then a
// compaction at exactly its revision, makes etcd v3.7.3 die in lg.Fatal
// on its next read of the key (see TestEtcdCompactDeleteThenPutBug): the
// test compacts at no such revision.
func hasFromKeyDelete(ops []clientv3.Op) bool {
	for _, op := range ops {
		switch {
		case op.IsDelete() && string(op.RangeBytes()) == "\x00":
			return true
		case op.IsTxn():
			_, then, els := op.Txn()
			if hasFromKeyDelete(then) || hasFromKeyDelete(els) {
				return true
			}
		}
	}
	return false
}

func (g *gen) compactOp() {
	p := g.p
	rev := p.compact + int64(g.pick(int(p.rev-p.compact+2))) // compact-? .. rev+1
	if g.coin(15) {
		rev = p.compact // already compacted
	}
	if p.noCompact[rev] {
		rev++ // etcd's bug, above
	}
	// Watches catch up first: etcd syncs a watch from the past every
	// 100 ms, and a compaction before that cancels it, so whether it does
	// is a matter of timing.
	g.syncWatches()
	var opts []clientv3.CompactOption
	desc := ""
	if g.coin(70) {
		opts, desc = append(opts, clientv3.WithCompactPhysical()), " physical"
	}
	g.p.logf("compact %d%s", rev, desc)
	er, eerr := p.e.Compact(p.ctx(), rev, opts...)
	sr, serr := p.s.Compact(p.ctx(), rev, opts...)
	if p.compare("compact", (*pb.CompactionResponse)(er), eerr, (*pb.CompactionResponse)(sr), serr) {
		p.compact = rev
		p.settleCompaction(rev)
	}
}

// settleCompaction waits until every seedkv member has applied a
// compaction (HashKV answers with its compaction revision): a watch from
// a compacted revision created on a member that has not would start
// (etcd's followers lag alike; the one-member etcd here never does).
func (p *diffPair) settleCompaction(rev int64) {
	if p.members == 1 {
		return
	}
	for _, ep := range p.s.Endpoints() {
		for range 200 {
			r, err := p.s.HashKV(p.ctx(), ep, 0)
			if err == nil && r.CompactRevision >= rev {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (g *gen) leaseOp() {
	p := g.p
	switch g.pick(6) {
	case 0, 1:
		g.grant()
	case 2:
		id := g.lease()
		p.logf("lease revoke %d", id)
		er, eerr := p.e.Revoke(p.ctx(), clientv3.LeaseID(id))
		sr, serr := p.s.Revoke(p.ctx(), clientv3.LeaseID(p.eToS(id)))
		if p.compare("lease revoke", (*pb.LeaseRevokeResponse)(er), eerr, (*pb.LeaseRevokeResponse)(sr), serr) {
			p.observe(er.Header)
			p.dropLease(id)
		}
	case 3:
		id := g.lease()
		p.logf("lease keepalive-once %d", id)
		er, eerr := p.e.KeepAliveOnce(p.ctx(), clientv3.LeaseID(id))
		sr, serr := p.s.KeepAliveOnce(p.ctx(), clientv3.LeaseID(p.eToS(id)))
		p.compare("lease keepalive-once", kaPB(er), eerr, kaPB(sr), serr)
	case 4:
		id := g.lease()
		keys := g.coin(60)
		p.logf("lease timetolive %d keys=%v", id, keys)
		var opts []clientv3.LeaseOption
		if keys {
			opts = append(opts, clientv3.WithAttachedKeys())
		}
		er, eerr := p.e.TimeToLive(p.ctx(), clientv3.LeaseID(id), opts...)
		sr, serr := p.s.TimeToLive(p.ctx(), clientv3.LeaseID(p.eToS(id)), opts...)
		ep, sp := ttlPB(er), ttlPB(sr)
		if ep != nil && sp != nil && ep.TTL > 0 && sp.TTL > 0 && abs(ep.TTL-sp.TTL) <= 3 {
			sp.TTL = ep.TTL // remaining time: the two were granted apart
		}
		p.compare("lease timetolive", ep, eerr, sp, serr)
	default:
		p.logf("lease list")
		er, eerr := p.e.Leases(p.ctx())
		sr, serr := p.s.Leases(p.ctx())
		p.compare("lease list", p.leasesPB(er, false), eerr, p.leasesPB(sr, true), serr)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// grant grants a lease with a chosen ID (sometimes one already taken or
// an invalid one) or an auto-assigned one, with a long TTL (the test
// must not race expiry), or a TTL too large.
func (g *gen) grant() {
	p := g.p
	var id int64
	switch g.pick(4) {
	case 0:
		id = 0
	case 1:
		if len(p.leases) > 0 {
			id = p.leases[g.pick(len(p.leases))]
			break
		}
		fallthrough
	default:
		id = explicitLease + int64(g.pick(50))
	}
	ttl := []int64{300, 600, 3600}[g.pick(3)]
	if g.coin(5) {
		ttl = 9_000_000_001
	}
	p.logf("lease grant id=%d ttl=%d", id, ttl)
	er, eerr := pb.NewLeaseClient(p.e.ActiveConnection()).LeaseGrant(p.ctx(), &pb.LeaseGrantRequest{ID: id, TTL: ttl})
	sr, serr := pb.NewLeaseClient(p.s.ActiveConnection()).LeaseGrant(p.ctx(), &pb.LeaseGrantRequest{ID: p.eToS(id), TTL: ttl})
	if eerr == nil && serr == nil && id == 0 {
		p.leaseS2E[sr.ID], p.leaseE2S[er.ID] = er.ID, sr.ID
	}
	if p.compare("lease grant", er, eerr, sr, serr) {
		p.leases = append(p.leases, er.ID)
	}
}

func (p *diffPair) dropLease(id int64) {
	for i, l := range p.leases {
		if l == id {
			p.leases = append(p.leases[:i], p.leases[i+1:]...)
			return
		}
	}
}

func kaPB(r *clientv3.LeaseKeepAliveResponse) proto.Message {
	if r == nil {
		return nil
	}
	return &pb.LeaseKeepAliveResponse{Header: r.ResponseHeader, ID: int64(r.ID), TTL: r.TTL}
}

func ttlPB(r *clientv3.LeaseTimeToLiveResponse) *pb.LeaseTimeToLiveResponse {
	if r == nil {
		return nil
	}
	keys := append([][]byte(nil), r.Keys...)
	sort.Slice(keys, func(i, j int) bool { return string(keys[i]) < string(keys[j]) })
	return &pb.LeaseTimeToLiveResponse{Header: r.ResponseHeader, ID: int64(r.ID), TTL: r.TTL,
		GrantedTTL: r.GrantedTTL, Keys: keys}
}

// leasesPB renders a lease list in etcd's IDs, sorted (both servers list
// leases in no particular order); normalize leaves LeaseStatus alone.
func (p *diffPair) leasesPB(r *clientv3.LeaseLeasesResponse, seedkv bool) proto.Message {
	if r == nil {
		return nil
	}
	out := &pb.LeaseLeasesResponse{Header: r.ResponseHeader}
	for _, l := range r.Leases {
		id := int64(l.ID)
		if e, ok := p.leaseS2E[id]; ok && seedkv {
			id = e
		}
		out.Leases = append(out.Leases, &pb.LeaseStatus{ID: id})
	}
	sort.Slice(out.Leases, func(i, j int) bool { return out.Leases[i].ID < out.Leases[j].ID })
	return out
}

// maint compares Maintenance answers: HashKV at a revision, Status and
// the alarm list.
func (g *gen) maint() {
	p := g.p
	switch g.pick(6) {
	case 3:
		p.logf("member list")
		er, eerr := p.e.MemberList(p.ctx())
		sr, serr := p.s.MemberList(p.ctx())
		p.compare("member list", membersPB(er, p.members > 1), eerr, membersPB(sr, p.members > 1), serr)
	case 4:
		p.logf("auth status")
		er, eerr := p.e.AuthStatus(p.ctx())
		var sr *clientv3.AuthStatusResponse
		var serr error
		p.settle(func() (*pb.ResponseHeader, error) {
			sr, serr = p.s.AuthStatus(p.ctx())
			if sr == nil {
				return nil, serr
			}
			return sr.Header, serr
		})
		p.compare("auth status", (*pb.AuthStatusResponse)(er), eerr, (*pb.AuthStatusResponse)(sr), serr)
	case 5:
		if !g.coin(20) {
			return // defragmenting etcd's bbolt file costs
		}
		p.logf("defragment")
		er, eerr := p.e.Defragment(p.ctx(), p.e.Endpoints()[0])
		sr, serr := p.s.Defragment(p.ctx(), p.s.Endpoints()[0])
		p.compare("defragment", (*pb.DefragmentResponse)(er), eerr, (*pb.DefragmentResponse)(sr), serr)
	case 0:
		rev := g.revision()
		p.logf("hashkv rev=%d", rev)
		er, eerr := pb.NewMaintenanceClient(p.e.ActiveConnection()).HashKV(p.ctx(), &pb.HashKVRequest{Revision: rev})
		var sr *pb.HashKVResponse
		var serr error
		p.settle(func() (*pb.ResponseHeader, error) {
			sr, serr = pb.NewMaintenanceClient(p.s.ActiveConnection()).HashKV(p.ctx(), &pb.HashKVRequest{Revision: rev})
			return sr.GetHeader(), serr
		})
		p.compare("hashkv", er, eerr, sr, serr)
	case 1:
		p.logf("status")
		ec, sc := p.e.Endpoints()[0], p.s.Endpoints()[0]
		er, eerr := p.e.Status(p.ctx(), ec)
		sr, serr := p.s.Status(p.ctx(), sc)
		p.compare("status", statusPB(er, p.members > 1), eerr, statusPB(sr, p.members > 1), serr)
	default:
		p.logf("alarm list")
		er, eerr := p.e.AlarmList(p.ctx())
		var sr *clientv3.AlarmResponse
		var serr error
		p.settle(func() (*pb.ResponseHeader, error) {
			sr, serr = p.s.AlarmList(p.ctx())
			if sr == nil {
				return nil, serr
			}
			return sr.Header, serr
		})
		p.compare("alarm list", (*pb.AlarmResponse)(er), eerr, (*pb.AlarmResponse)(sr), serr)
	}
}

// membersPB keeps what must agree of a member list: the header revision
// (of a one-member cluster; a member of a larger one may lag), and per
// member whether it is a learner, has a name, and how many peer and
// client URLs it lists (IDs, names and ports differ). Of a larger seedkv
// cluster (cluster), members alike are listed once: etcd here has one.
func membersPB(r *clientv3.MemberListResponse, cluster bool) proto.Message {
	if r == nil {
		return nil
	}
	out := &pb.MemberListResponse{Header: &pb.ResponseHeader{Revision: r.Header.Revision}}
	if cluster {
		out.Header.Revision = 0
	}
	for _, m := range r.Members {
		pm := &pb.Member{IsLearner: m.IsLearner, Name: map[bool]string{true: "named"}[m.Name != ""]}
		for range m.PeerURLs {
			pm.PeerURLs = append(pm.PeerURLs, "url")
		}
		for range m.ClientURLs {
			pm.ClientURLs = append(pm.ClientURLs, "url")
		}
		if cluster && slices.ContainsFunc(out.Members, func(o *pb.Member) bool { return proto.Equal(o, pm) }) {
			continue
		}
		out.Members = append(out.Members, pm)
	}
	return out
}

// statusPB keeps what must agree of a Status answer: the header revision,
// the versions, whether the member answering is the leader, errors,
// learner flag and quota. Of a member of a cluster (cluster), whose
// revision may lag and which may follow, the header revision is not
// kept, and a leader known stands for leading.
func statusPB(r *clientv3.StatusResponse, cluster bool) proto.Message {
	if r == nil {
		return nil
	}
	leaderSelf := r.Leader == r.Header.MemberId
	if cluster {
		leaderSelf = r.Leader != 0
		r.Header.Revision = 0
	}
	return &pb.StatusResponse{Header: &pb.ResponseHeader{Revision: r.Header.Revision},
		Version: r.Version, StorageVersion: r.StorageVersion, IsLearner: r.IsLearner,
		Errors: r.Errors, DbSizeQuota: r.DbSizeQuota, Leader: map[bool]uint64{true: 1}[leaderSelf],
		DbSize: min(r.DbSize, 1), DbSizeInUse: min(r.DbSizeInUse, 1)}
}

// checkAll compares the whole store, the history hash, and the leases.
func (g *gen) checkAll() {
	p := g.p
	p.logf("get \\x00 from-key (check)")
	er, eerr := p.e.Get(p.ctx(), "\x00", clientv3.WithFromKey())
	sr, serr := p.s.Get(p.ctx(), "\x00", clientv3.WithFromKey())
	p.compare("whole store", (*pb.RangeResponse)(er), eerr, (*pb.RangeResponse)(sr), serr)
	p.logf("hashkv (check)")
	eh, eerr := pb.NewMaintenanceClient(p.e.ActiveConnection()).HashKV(p.ctx(), &pb.HashKVRequest{})
	var sh *pb.HashKVResponse
	p.settle(func() (*pb.ResponseHeader, error) {
		sh, serr = pb.NewMaintenanceClient(p.s.ActiveConnection()).HashKV(p.ctx(), &pb.HashKVRequest{})
		return sh.GetHeader(), serr
	})
	p.compare("hashkv (check)", eh, eerr, sh, serr)
	p.logf("lease list (check)")
	el, eerr := p.e.Leases(p.ctx())
	sl, serr := p.s.Leases(p.ctx())
	p.compare("lease list (check)", p.leasesPB(el, false), eerr, p.leasesPB(sl, true), serr)
}

// settle repeats a read of seedkv that a member of a cluster may answer
// from its own state (serializable ranges, HashKV, the alarm list), while that member has
// not applied every write the test made: answered below the store's
// revision, or with ErrFutureRev. etcd's followers lag the same way; the
// one-member etcd here never does.
func (p *diffPair) settle(read func() (*pb.ResponseHeader, error)) {
	for range 200 {
		h, err := read()
		lag := (err == nil && h.GetRevision() < p.rev) || (err != nil && strings.Contains(err.Error(), "future revision"))
		if p.members == 1 || !lag {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func headerOf(r *clientv3.GetResponse) *pb.ResponseHeader {
	if r == nil {
		return nil
	}
	return r.Header
}

// putThenCoveringDelete reports whether a branch, on some path through its
// nested transactions, deletes a key an earlier nested transaction put
// (puts holds the keys put before it), for the statistics: etcd's check
// lets that through (it checks a nested transaction's puts against the
// deletes before it, not its deletes against the puts before it) and runs
// both, and seedkv once refused it as a duplicate key. It also counts
// branches etcd refuses.
func putThenCoveringDelete(ops []clientv3.Op, puts []string) bool {
	for _, op := range ops {
		switch {
		case op.IsPut():
			puts = append(puts, string(op.KeyBytes()))
		case op.IsDelete():
			k, end := string(op.KeyBytes()), string(op.RangeBytes())
			for _, p := range puts {
				if (end == "" && p == k) || (end != "" && end != "\x00" && k <= p && p < end) {
					return true
				}
			}
		case op.IsTxn():
			_, then, els := op.Txn()
			if putThenCoveringDelete(then, puts) || putThenCoveringDelete(els, puts) {
				return true
			}
			for _, b := range [][]clientv3.Op{then, els} {
				puts = appendPuts(puts, b)
			}
		}
	}
	return false
}

// appendPuts adds the keys ops put, nested transactions included.
func appendPuts(puts []string, ops []clientv3.Op) []string {
	for _, op := range ops {
		switch {
		case op.IsPut():
			puts = append(puts, string(op.KeyBytes()))
		case op.IsTxn():
			_, then, els := op.Txn()
			puts = appendPuts(appendPuts(puts, then), els)
		}
	}
	return puts
}
