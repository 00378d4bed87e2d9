package workloads

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/concurrency"
	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Election is the election workload: candidates campaign with
// concurrency.Election; the leader does leader-only work (writes guarded
// by its key, as etcd's Election.Key/Rev are meant to be used), sometimes
// proclaims a new value, and then resigns or crashes (a pause longer than
// its lease: it stops renewing and comes back believing what it believed).
// Observers follow the leader with concurrency.Observe.
type Election struct{}

// Election workload parameters.
const (
	electionPrefix = "/election/leader"
	electionWork   = "/election/work"
	electionTTL    = 1 // seconds
	observers      = 3
	crashPercent   = 25
)

// Name implements harness.Workload.
func (Election) Name() string { return "election" }

// electionRun is one seed's election workload.
type electionRun struct {
	env     *harness.WorkloadEnv
	wins    []win
	reports []report
	owner   map[string]int // candidate key -> client
	ops     int
}

// win is one candidate's election as it saw it.
type win struct {
	client int
	key    string
	term   int64
	at     int64
}

// report is one leader change as an observer saw it.
type report struct {
	observer int
	concurrency.Owner
}

// Start implements harness.Workload.
func (Election) Start(env *harness.WorkloadEnv) harness.WorkloadRun {
	r := &electionRun{env: env, owner: map[string]int{}}
	for i := range env.Clients {
		cd := &candidate{r: r, id: i, rng: env.Rand("election/" + strconv.Itoa(i))}
		env.AddClient(i, func(h host.Host) host.Process {
			cd.h = newPausable(h, env.World().Schedule)
			cd.c = env.NewClient(cd.h)
			return &pausedProc{p: cd.h, c: cd.c}
		})
		env.World().Schedule(time.Duration(cd.rng.Int64N(int64(100*time.Millisecond))), cd.begin)
		env.World().Schedule(env.Stop, func() {
			if cd.e != nil && !cd.e.IsLeader() {
				cd.e.Cancel() // a campaign still waiting ends; its callback quits
			}
		})
	}
	for k := range observers {
		i := env.Clients + k
		env.AddClient(i, func(h host.Host) host.Process {
			c := env.NewClient(h)
			concurrency.Observe(c, electionPrefix+"/", func(o concurrency.Owner) {
				r.reports = append(r.reports, report{observer: i, Owner: o})
			})
			return c
		})
	}
	return r
}

func (r *electionRun) Ops() int { return r.ops }

func (r *electionRun) Checkers() []harness.WorkloadChecker {
	return []harness.WorkloadChecker{
		checker{name: "election: one leader per term", fn: func(*harness.Records) harness.CheckResult {
			r.env.Notef("election: %d elections, %d observed leader changes", len(r.wins), len(r.reports))
			return harness.CheckResult{Err: r.onePerTerm()}
		}},
		needLog("election: leader by the store", r.checkStore),
	}
}

// pausedProc delivers a pausable client's messages after its pauses.
type pausedProc struct {
	p *pausable
	c *client.Client
}

func (pp *pausedProc) Receive(from host.NodeID, b []byte) {
	pp.p.run(func() { pp.c.Receive(from, b) })
}

// candidate is one client process of the election workload.
type candidate struct {
	r    *electionRun
	id   int
	c    *client.Client
	h    *pausable
	rng  interface{ Int64N(int64) int64 }
	sess *concurrency.Session
	e    *concurrency.Election
}

func (cd *candidate) think(f func()) {
	cd.r.env.World().Schedule(time.Duration(50+cd.rng.Int64N(200))*time.Millisecond, f)
}

// begin campaigns (with a new session if the last one is over).
func (cd *candidate) begin() {
	if cd.r.env.Over() {
		if cd.sess != nil && !cd.sess.Done() {
			cd.sess.Close(nil) // no keep-alives during the checks
		}
		return
	}
	if cd.sess == nil || cd.sess.Done() {
		concurrency.NewSession(cd.c, cd.h, concurrency.SessionOptions{TTL: electionTTL}, func(s *concurrency.Session, err error) {
			if err != nil {
				cd.think(cd.begin)
				return
			}
			cd.sess, cd.e = s, concurrency.NewElection(s, electionPrefix)
			cd.campaign()
		})
		return
	}
	cd.campaign()
}

func (cd *candidate) campaign() {
	cd.r.ops++
	cd.e.Campaign("client-"+strconv.Itoa(cd.id), func(err error) {
		if err != nil {
			cd.think(cd.begin)
			return
		}
		cd.r.owner[cd.e.Key()] = cd.id
		cd.r.wins = append(cd.r.wins, win{client: cd.id, key: cd.e.Key(), term: cd.e.Term(), at: cd.e.ElectedAt()})
		cd.work(0, 1+int(cd.rng.Int64N(3)))
	})
}

// work does leader-only write k of n, then steps down.
func (cd *candidate) work(k, n int) {
	if k == n || cd.r.env.Over() {
		cd.stepDown()
		return
	}
	cd.r.ops++
	if cd.rng.Int64N(4) == 0 {
		cd.e.Proclaim(fmt.Sprintf("client-%d proclaim-%d", cd.id, k), func(err error) { cd.next(k, n, err) })
		return
	}
	v := fmt.Sprintf("term=%d client=%d seq=%d", cd.e.Term(), cd.id, k)
	op := api.TxnOp{Put: &api.PutRequest{Key: []byte(electionWork), Value: []byte(v)}}
	cd.e.LeaderTxn([]api.TxnOp{op}, func(err error) { cd.next(k, n, err) })
}

func (cd *candidate) next(k, n int, err error) {
	if err != nil && !cd.e.IsLeader() {
		cd.think(cd.begin) // deposed: campaign again
		return
	}
	cd.h.After(time.Duration(20+cd.rng.Int64N(80))*time.Millisecond, func() { cd.work(k+1, n) })
}

// stepDown resigns, or crashes: a pause well past the lease, after which
// the candidate finds its session over and starts again.
func (cd *candidate) stepDown() {
	if cd.rng.Int64N(100) < crashPercent {
		cd.h.pause(time.Duration(electionTTL)*time.Second + time.Duration(cd.rng.Int64N(int64(time.Second))))
		cd.h.After(0, func() { cd.think(cd.begin) })
		return
	}
	cd.r.ops++
	cd.e.Resign(func(error) { cd.think(cd.begin) })
}

// onePerTerm requires every election and every observation of one term
// to name one key, and every observer to see terms only grow.
func (r *electionRun) onePerTerm() error {
	byTerm := map[int64]string{}
	who := map[int64]string{}
	note := func(term int64, key, by string) error {
		if k, ok := byTerm[term]; ok && k != key {
			return fmt.Errorf("term %d has two leaders: %s (client %d, seen by %s) and %s (client %d, seen by %s)",
				term, k, r.ownerOf(k), who[term], key, r.ownerOf(key), by)
		}
		byTerm[term], who[term] = key, by
		return nil
	}
	for _, w := range r.wins {
		if err := note(w.term, w.key, "its campaign at revision "+strconv.FormatInt(w.at, 10)); err != nil {
			return err
		}
	}
	last := map[int]int64{}
	for _, rp := range r.reports {
		if rp.Key == "" {
			continue
		}
		if rp.CreateRevision < last[rp.observer] {
			return fmt.Errorf("observer %d saw term %d (%s) at revision %d after term %d", rp.observer, rp.CreateRevision, rp.Key, rp.Revision, last[rp.observer])
		}
		last[rp.observer] = rp.CreateRevision
		if err := note(rp.CreateRevision, rp.Key, fmt.Sprintf("observer %d at revision %d", rp.observer, rp.Revision)); err != nil {
			return err
		}
	}
	return nil
}

func (r *electionRun) ownerOf(key string) int {
	if c, ok := r.owner[key]; ok {
		return c
	}
	return -1
}

// checkStore holds every election, observation and leader-only write
// against the store's history: at the revision in question, the leader
// (the key with the lowest create revision) was the one claimed.
func (r *electionRun) checkStore(log []lin.LogEntry) error {
	type claim struct {
		rev   int64
		key   string
		term  int64
		what  string
		write bool // a leader-only write names its term only
	}
	var cs []claim
	for _, w := range r.wins {
		cs = append(cs, claim{w.at, w.key, w.term, fmt.Sprintf("client %d's election", w.client), false})
	}
	for _, rp := range r.reports {
		cs = append(cs, claim{rp.Revision, rp.Key, rp.CreateRevision, fmt.Sprintf("observer %d's report", rp.observer), false})
	}
	for _, e := range log {
		for _, c := range e.Changes {
			if c.Key == electionWork && c.Type == lin.EventPut {
				cs = append(cs, claim{e.Revision, "", termOf(c.Value), fmt.Sprintf("leader-only write %q", c.Value), true})
			}
		}
	}
	sortClaims(cs, func(c claim) int64 { return c.rev })
	p := newReplay(log)
	end := lastRev(log)
	for i, c := range cs {
		if c.rev > end {
			// Candidates run on until the checks; the write log was read
			// from a replica that had not applied this far.
			r.env.Notef("election: %d claims past the write log's revision %d not checked", len(cs)-i, end)
			break
		}
		p.to(c.rev)
		k, ks := p.first(electionPrefix + "/")
		if (!c.write && c.key != k) || (k != "" && ks.create != c.term) || (k == "" && c.term != 0) {
			return fmt.Errorf("%s says the leader at revision %d was %q (term %d); the store's leader then was %q (term %d, client %d)",
				c.what, c.rev, c.key, c.term, k, ks.create, r.ownerOf(k))
		}
	}
	return nil
}

// termOf parses the term of a leader-only write's value (0 if none).
func termOf(v string) int64 {
	f, _, _ := strings.Cut(v, " ")
	t, _ := strconv.ParseInt(strings.TrimPrefix(f, "term="), 10, 64)
	return t
}
