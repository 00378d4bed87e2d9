package harness

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/concurrency"
	"github.com/seedkv/seedkv/host"
)

// recipeKind is which recipe a recipe client runs.
type recipeKind uint8

const (
	recipeKindElection recipeKind = iota
	recipeKindLock
	recipeKindConfig
	recipeKindObjects
)

func (k recipeKind) String() string {
	return [...]string{"election", "lock", "config", "objects"}[k]
}

// recipeObjectNames is how many objects the objects recipe writes.
const recipeObjectNames = 4

// recipeProc is one recipe client: a client process and the loop of its
// recipe, one step at a time, a random think time between turns.
type recipeProc struct {
	rr   *recipeRun
	kind recipeKind
	id   int // index among the recipe clients (the checks name it)
	nth  int // index among its recipe's clients
	nid  host.NodeID
	h    host.Host
	c    *client.Client
	rng  *rand.Rand
	seq  int
	sess *concurrency.Session
	// cancel stops a waiting Lock or Campaign (nil: none waits); waits
	// counts the waits begun, so a timer cancels only its own.
	cancel func()
	waits  int
	f      *concurrency.Follower
	obs    *concurrency.Observer
	over   bool
}

// value is a value no other write of the run carries.
func (p *recipeProc) value(tag string) string {
	p.seq++
	return "r" + tag + itoa(p.id) + "." + itoa(p.seq)
}

// think runs f after a random pause (mean: twice the scenario's think
// time; recipe clients are fewer and cost more per turn than kv clients,
// and the recipe part is kept cheap).
func (p *recipeProc) think(f func()) {
	d := time.Duration(0)
	if t := p.rr.r.cfg.ThinkTime; t > 0 {
		d = time.Duration(p.rng.Int64N(4*int64(t) + 1))
	}
	p.rr.r.w.Schedule(d, func() {
		if !p.done() {
			f()
		}
	})
}

// done reports whether the client stops: the workload phase is over.
func (p *recipeProc) done() bool {
	return p.over || p.rr.r.workloadOver() || !p.rr.r.w.Alive(p.nid)
}

// begin starts the client's loop.
func (p *recipeProc) begin() {
	if p.done() {
		return
	}
	switch p.kind {
	case recipeKindElection:
		if p.nth%2 == 0 {
			p.obs = concurrency.Observe(p.c, recipeElection+"/", p.observed)
		}
		p.campaign()
	case recipeKindLock:
		p.lock()
	case recipeKindConfig:
		p.follow(recipeConfig)
		p.configWrite()
	case recipeKindObjects:
		p.follow(recipeObjects)
		p.objectWrite(p.objectLoop)
	}
}

// stop ends the client at the end of the workload phase.
func (p *recipeProc) stop() {
	p.over = true
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	if p.f != nil {
		p.f.Close()
	}
	if p.obs != nil {
		p.obs.Close()
	}
	if p.sess != nil && !p.sess.Done() {
		p.closeSession("")
	}
}

// withSession runs f with a live session, granting one first if needed.
func (p *recipeProc) withSession(f func()) {
	if p.sess != nil && !p.sess.Done() {
		f()
		return
	}
	p.rr.ops++
	opts := concurrency.SessionOptions{TTL: p.rr.p.SessionTTL, GrantFor: time.Second}
	concurrency.NewSession(p.c, p.h, opts, func(s *concurrency.Session, err error) {
		if p.done() {
			if s != nil {
				s.Close(nil)
			}
			return
		}
		if err != nil {
			p.think(func() { p.withSession(f) })
			return
		}
		p.sess = s
		f()
	})
}

// closeSession closes the session (revoking its lease); key, if set, is
// the session's recipe key, which the store must then have deleted: the
// client reads it after the revoke's answer.
func (p *recipeProc) closeSession(key string) {
	s := p.sess
	p.sess = nil
	p.rr.ops++
	s.Close(func(err error) {
		if err != nil || key == "" {
			return
		}
		closedAt := p.rr.r.now()
		p.c.Get([]byte(key), client.RangeOptions{}, func(r *api.RangeResponse, h api.Header, err error) {
			if err != nil {
				return
			}
			c := sessionClose{client: p.id, lease: s.Lease(), key: key, closed: closedAt, rev: h.Revision, found: len(r.KVs) > 0}
			p.rr.rec.closes = append(p.rr.rec.closes, c)
		})
	})
}

// endTurn ends a hold or a leadership: one time in three by closing the
// session (the key goes with the lease, as a process that exits does),
// else with release; then the loop goes on with next.
func (p *recipeProc) endTurn(key string, release func(done func(error)), next func()) {
	if p.done() || p.sess == nil {
		return // stop closed the session
	}
	if p.rng.IntN(3) == 0 {
		p.closeSession(key)
		p.think(next)
		return
	}
	p.rr.ops++
	release(func(error) { p.think(next) })
}

// campaign runs one election turn: campaign, write under the leader
// guard, proclaim a new value, then resign or close the session. Every
// other turn first reads the leader (Leader), as a client does before
// deciding to campaign.
func (p *recipeProc) campaign() {
	if p.rng.IntN(2) == 0 {
		p.rr.ops++
		concurrency.Leader(p.c, recipeElection+"/", func(o concurrency.Owner, err error) {
			if err == nil || errors.Is(err, concurrency.ErrNoLeader) {
				p.observed(o)
			}
			p.think(p.campaignNow)
		})
		return
	}
	p.campaignNow()
}

// campaignNow campaigns at once.
func (p *recipeProc) campaignNow() {
	p.withSession(func() {
		e := concurrency.NewElection(p.sess, recipeElection)
		p.rr.ops++
		p.wait(e.Cancel)
		e.Campaign(p.value("e"), func(err error) {
			p.cancel = nil
			if err != nil {
				p.think(p.campaign)
				return
			}
			if p.done() {
				return
			}
			rec := &p.rr.rec
			rec.wins = append(rec.wins, electionWin{client: p.id, key: e.Key(), term: e.Term(), at: e.ElectedAt()})
			p.lead(e, len(rec.wins)-1, 1+p.rng.IntN(3))
		})
	})
}

// lead does the leader's work: n leader-only writes (LeaderTxn, guarded
// by the candidate's key), a think time apart, during which its lease may
// lapse under faults; then it proclaims a new value and ends its turn.
func (p *recipeProc) lead(e *concurrency.Election, win, n int) {
	if p.done() {
		return
	}
	if n == 0 {
		p.rr.ops++
		e.Proclaim(p.value("e"), func(error) {
			p.think(func() { p.endTurn(e.Key(), e.Resign, p.campaign) })
		})
		return
	}
	work := p.value("w")
	p.rr.rec.workBy[work] = win
	p.rr.ops++
	e.LeaderTxn([]api.TxnOp{{Put: &api.PutRequest{Key: []byte(recipeElectionWork), Value: []byte(work)}}}, func(error) {
		p.think(func() { p.lead(e, win, n-1) })
	})
}

// wait notes a Lock or Campaign begun, cancelled by cancel. Every client
// of a recipe but the first gives up a wait after 50..500 ms, as etcd users bound
// Lock and Campaign with a context deadline: the waiter's key is deleted
// from the middle of the queue, and the next waiter must not take that
// for its turn.
func (p *recipeProc) wait(cancel func()) {
	p.cancel = cancel
	p.waits++
	if p.nth == 0 {
		return
	}
	n := p.waits
	p.rr.r.w.Schedule(time.Duration(50+p.rng.IntN(451))*time.Millisecond, func() {
		if p.waits == n && p.cancel != nil && !p.over {
			p.cancel()
		}
	})
}

// observed records what an observer saw.
func (p *recipeProc) observed(o concurrency.Owner) {
	if p.over {
		return
	}
	p.rr.rec.observed = append(p.rr.rec.observed, ownerSeen{client: p.id, Owner: o})
}

// lock runs one hold: lock, write once or twice in the critical section
// under the key's guard, then unlock or close the session.
func (p *recipeProc) lock() {
	p.withSession(func() {
		m := concurrency.NewMutex(p.sess, recipeLock)
		p.rr.ops++
		take := m.Lock
		if p.nth == 2 && p.rng.IntN(2) == 0 {
			take = m.TryLock // the third client tries, half the time
		}
		p.wait(m.Cancel)
		take(func(err error) {
			p.cancel = nil
			if err != nil {
				p.think(p.lock)
				return
			}
			if p.done() {
				return
			}
			rec := &p.rr.rec
			rec.holds = append(rec.holds, lockHold{client: p.id, key: m.Key(), token: m.Token(), at: m.HeldAt()})
			p.section(m, len(rec.holds)-1, 1+p.rng.IntN(2))
		})
	})
}

// section writes the lock's data n more times, each guarded by the
// holder's key still having its create revision (the store-side fence).
func (p *recipeProc) section(m *concurrency.Mutex, hold, n int) {
	if n == 0 || p.done() || !m.Held() {
		p.endTurn(m.Key(), m.Unlock, p.lock)
		return
	}
	v := p.value("l")
	p.rr.rec.dataBy[v] = hold
	k := []byte(m.Key())
	txn := &api.TxnRequest{
		Compares: []api.Compare{{Key: k, Target: api.TargetCreate, Result: api.CompareEqual, CreateRevision: m.Token()}},
		Success:  []api.TxnOp{{Put: &api.PutRequest{Key: []byte(recipeLockData), Value: []byte(v)}}},
	}
	p.rr.ops++
	p.c.Txn(txn, client.CallOptions{}, func(*api.TxnResponse, api.Header, error) {
		p.section(m, hold, n-1)
	})
}

// follow starts the client's follower of prefix: every list and every
// revision it applies is recorded. Now and then it relists (an informer's
// resync), or its watch drops for 0.5..3 s and resumes from where it
// stopped (a broken connection; compaction meanwhile makes it relist).
// After each list an objects client reconciles: one more write, at once.
func (p *recipeProc) follow(prefix string) {
	rec := &p.rr.rec
	p.f = concurrency.Follow(p.c, prefix, concurrency.FollowOptions{
		Listed: func(rev int64, kvs []api.KeyValue) {
			rec.follows = append(rec.follows, followState{client: p.id, prefix: prefix, rev: rev, list: true, kvs: kvs})
			if p.kind == recipeKindObjects && !p.done() {
				p.objectWrite(nil)
			}
		},
		Applied: func(rev int64) {
			rec.follows = append(rec.follows, followState{client: p.id, prefix: prefix, rev: rev, kvs: p.followed()})
		},
	})
	every := time.Duration(500+p.rng.IntN(1501)) * time.Millisecond
	var resync func()
	resync = func() {
		if p.done() {
			return
		}
		p.rr.ops++
		if p.rng.IntN(2) == 0 {
			p.f.Relist()
			p.rr.r.w.Schedule(every, resync)
			return
		}
		p.f.Pause()
		p.rr.r.w.Schedule(time.Duration(500+p.rng.IntN(2501))*time.Millisecond, func() {
			if !p.done() {
				p.f.Resume()
				p.rr.r.w.Schedule(every, resync)
			}
		})
	}
	p.rr.r.w.Schedule(every, resync)
}

// followed is the follower's cache, sorted by key.
func (p *recipeProc) followed() []api.KeyValue {
	snap := p.f.Snapshot()
	kvs := make([]api.KeyValue, 0, len(snap))
	for _, kv := range snap {
		kvs = append(kvs, kv)
	}
	slices.SortFunc(kvs, func(a, b api.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return kvs
}

// configWrite replaces the configuration if nobody did since it read the
// generation: one transaction, guarded by the generation's mod revision.
func (p *recipeProc) configWrite() {
	gen := []byte(recipeConfig + "gen")
	p.rr.ops++
	p.c.Get(gen, client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
		if err != nil || p.done() {
			p.think(p.configWrite)
			return
		}
		g, mod := int64(0), int64(0)
		if len(r.KVs) == 1 {
			g, _ = strconv.ParseInt(string(r.KVs[0].Value), 10, 64)
			mod = r.KVs[0].ModRevision
		}
		ops := []api.TxnOp{{Put: &api.PutRequest{Key: gen, Value: []byte(strconv.FormatInt(g+1, 10))}}}
		for _, k := range []string{"a", "b", "c"} {
			ops = append(ops, api.TxnOp{Put: &api.PutRequest{Key: []byte(recipeConfig + k), Value: []byte(p.value("c"))}})
		}
		txn := &api.TxnRequest{Compares: []api.Compare{{Key: gen, Target: api.TargetMod, Result: api.CompareEqual, ModRevision: mod}}, Success: ops}
		p.rr.ops++
		p.c.Txn(txn, client.CallOptions{}, func(*api.TxnResponse, api.Header, error) { p.think(p.configWrite) })
	})
}

// objectLoop writes objects, one after the other.
func (p *recipeProc) objectLoop() { p.think(func() { p.objectWrite(p.objectLoop) }) }

// objectWrite creates, updates or deletes one object with compare-and-swap
// on its mod revision (create: on its absence), as Kubernetes' API server
// does, then runs next (if set).
func (p *recipeProc) objectWrite(next func()) {
	then := func() {
		if next != nil {
			next()
		}
	}
	key := []byte(recipeObjects + "default/pod-" + itoa(p.rng.IntN(recipeObjectNames)))
	p.rr.ops++
	p.c.Get(key, client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
		if err != nil || p.done() {
			then()
			return
		}
		put := api.TxnOp{Put: &api.PutRequest{Key: key, Value: []byte(`{"kind":"Pod","v":"` + p.value("o") + `"}`)}}
		cmp := api.Compare{Key: key, Target: api.TargetCreate, Result: api.CompareEqual, CreateRevision: 0}
		if len(r.KVs) == 1 {
			cmp = api.Compare{Key: key, Target: api.TargetMod, Result: api.CompareEqual, ModRevision: r.KVs[0].ModRevision}
			if p.rng.IntN(4) == 0 {
				put = api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: key}}
			}
		}
		p.rr.ops++
		p.c.Txn(&api.TxnRequest{Compares: []api.Compare{cmp}, Success: []api.TxnOp{put}}, client.CallOptions{},
			func(*api.TxnResponse, api.Header, error) { then() })
	})
}
