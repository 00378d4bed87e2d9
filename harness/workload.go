package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/api"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Key layout of the workload. Every checked key lives under keyRoot, so a
// Range over keyRoot sees the whole checked key space.
const (
	keyRoot     = "/"
	kvPrefix    = "/k/" // contended keys: /k/0 ... /k/<Keys-1>
	leasePrefix = "/l/" // one fresh key per lease: /l/<client>.<seq>
	// maxLeases bounds the leases a client holds at once.
	maxLeases = 4
)

// opKind is a kind of workload operation.
type opKind uint8

const (
	opGet opKind = iota
	opPut
	opDelete
	opCAS
	opRange
	opTxn
	opLeasePut
	opLeaseRevoke
	opWatch
	opPastRead
	numOpKinds
)

var opKindNames = [numOpKinds]string{"get", "put", "delete", "cas", "range", "txn", "lease-put", "lease-revoke", "watch", "past-read"}

func (k opKind) String() string { return opKindNames[k] }

// weights lists the mix weights in opKind order.
func (m Mix) weights() [numOpKinds]int {
	return [numOpKinds]int{m.Get, m.Put, m.Delete, m.CAS, m.Range, m.Txn, m.LeasePut, m.LeaseRevoke, m.Watch, m.PastRead}
}

// lease is a lease a client holds and the one key it put under it.
type lease struct {
	id  int64
	key string
	ttl int64 // seconds
	// until is the virtual time after which the client counts the lease
	// as lapsed and forgets it (a keep-alive pushes it on).
	until int64
	// attached: the put of key under the lease was acknowledged, so the
	// key is the lease's (until moved). Only such leases are revoked (the
	// history models a revoke as the delete of key) or give up their key.
	attached bool
}

// attachedLease picks a lease whose key is known to be attached to it
// (nil: none).
func (g *gen) attachedLease() *lease {
	var ls []*lease
	for _, l := range g.leases {
		if l.attached {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil
	}
	return ls[g.rng.IntN(len(ls))]
}

// gen generates one client's operations. It remembers what the client last
// saw of each key, so that compare-and-swaps are often (not always) right.
type gen struct {
	client   int
	rng      *rand.Rand
	keys     int
	mix      [numOpKinds]int
	total    int
	serial   bool // serializable reads
	seq      int  // for unique values and lease keys
	lastSeen []string
	seen     []bool // lastSeen[i] is a value read or written (else: absent or unknown)
	// lastKV[i] is key i as this client last read it, with its revisions
	// and version (valid while kvKnown[i]): guards compare those too.
	lastKV  []lin.KV
	kvKnown []bool
	leases  []*lease
	ttlMin  int64 // lease TTLs, seconds
	ttlMax  int64
	// keepAlive: this client keeps its leases alive (else they lapse).
	keepAlive bool
	// lastRev is the highest revision the client has seen (reads of the
	// past go at most there).
	lastRev int64
	// compacted is the highest compaction revision the client knows was
	// acknowledged (0: none): reads and watches go exactly there at times,
	// the boundary a compaction must keep readable.
	compacted int64
}

func newGen(client int, rng *rand.Rand, cfg *Config) *gen {
	g := &gen{client: client, rng: rng, keys: cfg.Keys, mix: cfg.Mix.weights(),
		serial:   cfg.Reads == ReadsSerializable,
		lastSeen: make([]string, cfg.Keys), seen: make([]bool, cfg.Keys),
		lastKV: make([]lin.KV, cfg.Keys), kvKnown: make([]bool, cfg.Keys),
		ttlMin: cfg.MinLeaseTTL, ttlMax: cfg.MaxLeaseTTL, keepAlive: rng.IntN(100) < cfg.KeepAlivePercent}
	for _, w := range g.mix {
		g.total += w
	}
	return g
}

// kvKey is the name of contended key i.
func kvKey(i int) string {
	if uint(i) < uint(len(kvKeys)) {
		return kvKeys[i]
	}
	return kvPrefix + strconv.Itoa(i)
}

// keyString is string(b), the table's string for a usual key's name
// (kvKeys): the keys of answers and watch events, read into the checkers'
// terms, are nearly all those, and each was one allocation.
func keyString(b []byte) string {
	if n := len(b) - len(kvPrefix); n >= 1 && n <= 2 && string(b[:len(kvPrefix)]) == kvPrefix {
		i := 0
		for _, c := range b[len(kvPrefix):] {
			if c < '0' || c > '9' {
				return string(b)
			}
			i = 10*i + int(c-'0')
		}
		if i < len(kvKeys) && string(b) == kvKeys[i] { // not "/k/05"
			return kvKeys[i]
		}
	}
	return string(b)
}

// kvKeys holds the usual keys' names, made once: the workload names a
// key for every request, and each was one allocation.
var kvKeys = func() (keys [64]string) {
	for i := range keys {
		keys[i] = kvPrefix + strconv.Itoa(i)
	}
	return keys
}()

// value returns a value no other write of the run carries.
func (g *gen) value() string {
	g.seq++
	return "c" + strconv.Itoa(g.client) + "." + strconv.Itoa(g.seq)
}

func (g *gen) pickKind() opKind {
	n := g.rng.IntN(g.total)
	for k, w := range g.mix {
		if n < w {
			return opKind(k)
		}
		n -= w
	}
	return opGet
}

// prefixEnd is etcd's range end for "every key with this prefix".
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// step is one request of a workload operation: what to send, and how the
// history sees it (checked false: not part of the linearizability check).
type step struct {
	kind    opKind
	body    api.RequestBody
	checked bool
	input   lin.Input
	lease   *lease    // opLeasePut: the lease being put under; opLeaseRevoke: the one revoked
	ttl     int64     // opLeasePut's grant: the TTL asked for, seconds
	past    *pastRead // opPastRead: the read, filled in when answered
	call    int64     // virtual time of the call
	// reqID is the client's request ID for it, low the client's
	// FinishedBelow watermark when it was issued (histwindow.go fences
	// timed-out writes with them).
	reqID, low api.RequestID
}

// next picks the client's next operation at virtual time now. Lease puts
// need a grant first: next returns the grant, and putUnder the put once
// the grant succeeded.
func (g *gen) next(now int64) step {
	// Forget leases that have lapsed (some are revoked first, which is
	// then refused: that path is exercised too).
	g.leases = slices.DeleteFunc(g.leases, func(l *lease) bool { return now > l.until && g.rng.IntN(2) == 0 })
	kind := g.pickKind()
	if kind == opLeaseRevoke && !slices.ContainsFunc(g.leases, func(l *lease) bool { return l.attached }) ||
		kind == opLeasePut && len(g.leases) >= maxLeases {
		kind = opPut
	}
	if kind == opPastRead && g.lastRev < 2 {
		kind = opGet // nothing written yet
	}
	switch kind {
	case opGet:
		k := kvKey(g.rng.IntN(g.keys))
		if g.rng.IntN(4) == 0 {
			return g.existence(k)
		}
		return step{kind: kind, checked: true, input: lin.Get(k),
			body: &api.RangeRequest{Key: []byte(k), Serializable: g.serial}}
	case opPut:
		k, v := kvKey(g.rng.IntN(g.keys)), g.value()
		if l := g.attachedLease(); l != nil && g.rng.IntN(16) == 0 {
			// Detach a lease's key: put it without a lease. The client
			// forgets the lease; the key must outlive it.
			k = l.key
			g.drop(l.id)
		}
		return step{kind: kind, checked: true, input: lin.Put(k, v),
			body: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}
	case opDelete:
		k := kvKey(g.rng.IntN(g.keys))
		if l := g.attachedLease(); l != nil && g.rng.IntN(16) == 0 {
			// Delete a lease's key: the lease lives on with no key
			// (the client forgets it; it lapses), so its expiry must
			// delete nothing, whatever it was attached to before.
			k = l.key
			g.drop(l.id)
		}
		return step{kind: kind, checked: true, input: lin.Delete(k),
			body: &api.DeleteRangeRequest{Key: []byte(k)}}
	case opCAS:
		return g.cas()
	case opRange:
		p := g.rangePrefix()
		return step{kind: kind, checked: true, input: lin.Range(p),
			body: &api.RangeRequest{Key: []byte(p), End: prefixEnd(p), Serializable: g.serial}}
	case opTxn:
		return g.txn()
	case opPastRead:
		return g.pastRead()
	case opLeasePut:
		ttl := g.ttlMin + g.rng.Int64N(g.ttlMax-g.ttlMin+1)
		return step{kind: kind, ttl: ttl, body: &api.LeaseGrantRequest{TTL: ttl}}
	case opLeaseRevoke:
		l := g.attachedLease()
		g.drop(l.id)
		// Revoking deletes the lease's one key: the history sees a delete
		// (as a Txn, whose answer carries no deleted count).
		in := lin.Input{Kind: lin.KindTxn, Key: l.key, Then: []lin.TxnOp{{Kind: lin.KindDelete, Key: l.key}}}
		return step{kind: kind, checked: true, input: in, lease: l,
			body: &api.LeaseRevokeRequest{ID: l.id}}
	}
	return step{kind: opWatch}
}

// putUnder is the put that follows a successful lease grant of ttl
// seconds at virtual time now.
//
// A quarter of them move the key of a lease the client holds to the new
// lease instead of putting a fresh key: the old lease then holds no key and
// the client forgets it (it lapses), so its expiry must delete nothing.
func (g *gen) putUnder(id, ttl, now int64) step {
	l := &lease{id: id, key: leasePrefix + "c" + strconv.Itoa(g.client) + "." + strconv.Itoa(g.seq+1),
		ttl: ttl, until: now + ttl*int64(time.Second)}
	if old := g.attachedLease(); old != nil && g.rng.IntN(4) == 0 {
		l.key = old.key
		g.drop(old.id)
	}
	v := g.value()
	g.leases = append(g.leases, l)
	return step{kind: opLeasePut, checked: true, input: lin.Put(l.key, v), lease: l,
		body: &api.PutRequest{Key: []byte(l.key), Value: []byte(v), Lease: id}}
}

func (g *gen) rangePrefix() string {
	switch g.rng.IntN(4) {
	case 0:
		return keyRoot
	case 1:
		return kvPrefix + strconv.Itoa(g.rng.IntN(min(g.keys, 10)))
	}
	return kvPrefix
}

// guard is a compare that holds if key i is as this client last saw it.
func (g *gen) guard(i int) (lin.Compare, api.Compare) {
	k := kvKey(i)
	if g.kvKnown[i] && g.rng.IntN(2) == 0 {
		return g.numericGuard(i)
	}
	if g.seen[i] {
		return lin.Compare{Key: k, Target: lin.TargetValue, Op: lin.CmpEqual, Value: g.lastSeen[i]},
			api.Compare{Key: []byte(k), Target: api.TargetValue, Result: api.CompareEqual, Value: []byte(g.lastSeen[i])}
	}
	return lin.Compare{Key: k, Target: lin.TargetVersion, Op: lin.CmpEqual, Num: 0},
		api.Compare{Key: []byte(k), Target: api.TargetVersion, Result: api.CompareEqual, Version: 0}
}

// numericGuard is a guard on key i's revisions or version as this client
// last read them, with each of the orderings etcd's clients use: equal
// ("unchanged since I read it"), less than one past ("not modified
// since"), greater than one below ("still there, not older"). Compares on
// numbers and with Less and Greater are how etcd's own recipes and
// clients guard their writes; a store that mixes up a compare's target or
// its ordering passes value-only guards.
func (g *gen) numericGuard(i int) (lin.Compare, api.Compare) {
	kv := g.lastKV[i]
	k := kvKey(i)
	lc := lin.Compare{Key: k}
	ac := api.Compare{Key: []byte(k)}
	var have int64 // the operand in the model's numbering
	switch g.rng.IntN(3) {
	case 0:
		lc.Target, ac.Target, have = lin.TargetModRevision, api.TargetMod, kv.ModRevision
	case 1:
		lc.Target, ac.Target, have = lin.TargetVersion, api.TargetVersion, kv.Version
	default:
		lc.Target, ac.Target, have = lin.TargetCreateRevision, api.TargetCreate, kv.CreateRevision
	}
	switch g.rng.IntN(3) {
	case 0:
		lc.Op, ac.Result, lc.Num = lin.CmpEqual, api.CompareEqual, have
	case 1:
		lc.Op, ac.Result, lc.Num = lin.CmpLess, api.CompareLess, have+1
	default:
		lc.Op, ac.Result, lc.Num = lin.CmpGreater, api.CompareGreater, have-1
	}
	switch ac.Target {
	case api.TargetMod:
		ac.ModRevision = lc.Num + revBase
	case api.TargetCreate:
		ac.CreateRevision = lc.Num + revBase
	default:
		ac.Version = lc.Num
	}
	return lc, ac
}

// cas is a single-key compare-and-swap: if the key is as last seen, put a
// new value, else read it.
func (g *gen) cas() step {
	i := g.rng.IntN(g.keys)
	k, v := kvKey(i), g.value()
	lc, ac := g.guard(i)
	in := lin.CAS(lc, v)
	body := &api.TxnRequest{
		Compares: []api.Compare{ac},
		Success:  []api.TxnOp{{Put: &api.PutRequest{Key: []byte(k), Value: []byte(v)}}},
		Failure:  []api.TxnOp{{Range: &api.RangeRequest{Key: []byte(k)}}},
	}
	return step{kind: opCAS, checked: true, input: in, body: body}
}

// existence is a read-only transaction that asks whether key k exists the
// ways etcd's recipes do: mod_revision = 0 or create_revision = 0 (absent:
// etcd's lock and election create-if-absent guards), or value != v (fails
// on an absent key, however v compares). Both branches read k, so the
// answer shows which branch ran and the model checks the compare against
// the key's state; a deleted key must compare as absent, not as its
// tombstone.
func (g *gen) existence(k string) step {
	lc := lin.Compare{Key: k, Op: lin.CmpEqual}
	ac := api.Compare{Key: []byte(k), Result: api.CompareEqual}
	switch g.rng.IntN(3) {
	case 0:
		lc.Target, ac.Target = lin.TargetModRevision, api.TargetMod
	case 1:
		lc.Target, ac.Target = lin.TargetCreateRevision, api.TargetCreate
	default:
		v := "absent"
		if i, _ := kvIndex(k); g.seen[i] {
			v = g.lastSeen[i]
		}
		lc.Target, lc.Op, lc.Value = lin.TargetValue, lin.CmpNotEqual, v
		ac.Target, ac.Result, ac.Value = api.TargetValue, api.CompareNotEqual, []byte(v)
	}
	in := lin.Input{Kind: lin.KindTxn, Key: k, Compares: []lin.Compare{lc},
		Then: []lin.TxnOp{{Kind: lin.KindGet, Key: k}}, Else: []lin.TxnOp{{Kind: lin.KindGet, Key: k}}}
	get := []api.TxnOp{{Range: &api.RangeRequest{Key: []byte(k)}}}
	body := &api.TxnRequest{Compares: []api.Compare{ac}, Success: get, Failure: get}
	return step{kind: opGet, checked: true, input: in, body: body}
}

// txn is a multi-key transaction: guarded by one key, it writes two keys
// (a put and a put or delete) or else reads both. A quarter of them only
// delete (see deleteTxn).
func (g *gen) txn() step {
	a := g.rng.IntN(g.keys)
	b := (a + 1 + g.rng.IntN(max(g.keys-1, 1))) % g.keys
	ka, kb := kvKey(a), kvKey(b)
	lc, ac := g.guard(a)
	if g.rng.IntN(4) == 0 {
		return g.deleteTxn(ka, kb, lc, ac)
	}
	va := g.value()
	in := lin.Input{Kind: lin.KindTxn, Key: ka, Compares: []lin.Compare{lc},
		Then: []lin.TxnOp{{Kind: lin.KindPut, Key: ka, Value: va}},
		Else: []lin.TxnOp{{Kind: lin.KindGet, Key: ka}, {Kind: lin.KindGet, Key: kb}}}
	body := &api.TxnRequest{
		Compares: []api.Compare{ac},
		Success:  []api.TxnOp{{Put: &api.PutRequest{Key: []byte(ka), Value: []byte(va)}}},
		Failure:  []api.TxnOp{{Range: &api.RangeRequest{Key: []byte(ka)}}, {Range: &api.RangeRequest{Key: []byte(kb)}}},
	}
	if b != a && g.rng.IntN(3) == 0 {
		in.Then = append(in.Then, lin.TxnOp{Kind: lin.KindDelete, Key: kb})
		body.Success = append(body.Success, api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(kb)}})
	} else if b != a {
		vb := g.value()
		in.Then = append(in.Then, lin.TxnOp{Kind: lin.KindPut, Key: kb, Value: vb})
		body.Success = append(body.Success, api.TxnOp{Put: &api.PutRequest{Key: []byte(kb), Value: []byte(vb)}})
	}
	if g.rng.IntN(3) == 0 {
		// Read a key the branch just wrote: a transaction's range sees
		// the writes of its earlier operations (at the new revision).
		k := ka
		if len(in.Then) > 1 && g.rng.IntN(2) == 0 {
			k = in.Then[1].Key
		}
		in.Then = append(in.Then, lin.TxnOp{Kind: lin.KindGet, Key: k})
		body.Success = append(body.Success, api.TxnOp{Range: &api.RangeRequest{Key: []byte(k)}})
	}
	return step{kind: opTxn, checked: true, input: in, body: body}
}

// deleteTxn is a transaction whose branch only deletes, etcd's lock
// release and lease-guarded cleanup: if key a is as last seen, delete it
// (and, half the time, key b too), else read it. Deletes of keys that are
// absent change nothing and create no revision; deletes that remove a key
// create one revision for the whole branch.
func (g *gen) deleteTxn(ka, kb string, lc lin.Compare, ac api.Compare) step {
	in := lin.Input{Kind: lin.KindTxn, Key: ka, Compares: []lin.Compare{lc},
		Then: []lin.TxnOp{{Kind: lin.KindDelete, Key: ka}},
		Else: []lin.TxnOp{{Kind: lin.KindGet, Key: ka}}}
	body := &api.TxnRequest{
		Compares: []api.Compare{ac},
		Success:  []api.TxnOp{{DeleteRange: &api.DeleteRangeRequest{Key: []byte(ka)}}},
		Failure:  []api.TxnOp{{Range: &api.RangeRequest{Key: []byte(ka)}}},
	}
	if kb != ka && g.rng.IntN(2) == 0 {
		in.Then = append(in.Then, lin.TxnOp{Kind: lin.KindDelete, Key: kb})
		body.Success = append(body.Success, api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: []byte(kb)}})
	}
	return step{kind: opTxn, checked: true, input: in, body: body}
}

// learn updates what the client knows of the keys from a step's answer;
// unknown outcomes forget what the step could have changed.
func (g *gen) learn(s *step, out *lin.Output, ok bool) {
	for _, k := range touched(&s.input) {
		if i, isKV := kvIndex(k); isKV {
			g.seen[i], g.kvKnown[i] = false, false
		}
	}
	if !ok {
		return
	}
	note := func(kvs []lin.KV) {
		for _, kv := range kvs {
			if i, isKV := kvIndex(kv.Key); isKV {
				g.lastSeen[i], g.seen[i] = kv.Value, true
				g.lastKV[i], g.kvKnown[i] = kv, true
			}
		}
	}
	note(out.KVs)
	for _, kvs := range out.TxnKVs {
		note(kvs)
	}
	if s.input.Kind == lin.KindPut {
		if i, isKV := kvIndex(s.input.Key); isKV {
			g.lastSeen[i], g.seen[i] = s.input.Value, true
		}
	}
}

// touched lists the keys a step may write.
func touched(in *lin.Input) []string {
	switch in.Kind {
	case lin.KindPut, lin.KindDelete:
		return []string{in.Key}
	case lin.KindTxn:
		var ks []string
		for _, br := range [][]lin.TxnOp{in.Then, in.Else} {
			for _, t := range br {
				if t.Kind != lin.KindGet {
					ks = append(ks, t.Key)
				}
			}
		}
		return ks
	}
	return nil
}

func kvIndex(key string) (int, bool) {
	if len(key) <= len(kvPrefix) || key[:len(kvPrefix)] != kvPrefix {
		return 0, false
	}
	i, err := strconv.Atoi(key[len(kvPrefix):])
	return i, err == nil
}

// revBase is the revision of an empty store: mvcc (like etcd) starts at
// revision 1, the checker's model at 0, so the history records revisions
// less revBase.
const revBase = 1

// modelRev converts a store revision into the model's (0 stays "not
// reported").
func modelRev(rev int64) int64 {
	if rev <= 0 {
		return rev
	}
	return rev - revBase
}

// output converts a replica's answer to a step into the history's terms.
func output(s *step, resp *api.Response) (lin.Output, error) {
	out := lin.Output{Revision: modelRev(resp.Header.Revision)}
	switch body := resp.Body.(type) {
	case *api.RangeResponse:
		out.KVs = kvs(body.KVs)
	case *api.PutResponse:
	case *api.DeleteRangeResponse:
		out.Deleted = body.Deleted
	case *api.TxnResponse:
		out.Succeeded, out.DeletedKnown = body.Succeeded, true // Deleted counts its deletes
		out.TxnKVs = make([][]lin.KV, len(body.Responses))
		for i, r := range body.Responses {
			if r.Range != nil {
				out.TxnKVs[i] = kvs(r.Range.KVs)
			}
			if r.DeleteRange != nil {
				out.Deleted += r.DeleteRange.Deleted // which deletes removed something
			}
		}
	case *api.LeaseRevokeResponse:
		out.Succeeded = true // the revoke's delete has no guard
	default:
		return out, fmt.Errorf("%s: unexpected response body %T", s.kind, resp.Body)
	}
	return out, nil
}

func kvs(in []api.KeyValue) []lin.KV {
	if len(in) == 0 {
		return nil
	}
	out := make([]lin.KV, len(in))
	for i, kv := range in {
		out[i] = lin.KV{Key: keyString(kv.Key), Value: string(kv.Value), ModRevision: modelRev(kv.ModRevision),
			CreateRevision: modelRev(kv.CreateRevision), Version: kv.Version}
	}
	return out
}
