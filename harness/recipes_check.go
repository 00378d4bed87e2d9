package harness

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/concurrency"
	lin "github.com/seedkv/seedkv/linearizability"
)

// recipeRecords is what the recipe clients believed, for the checks.
type recipeRecords struct {
	wins     []electionWin
	workBy   map[string]int // leader-only value -> the win that wrote it
	observed []ownerSeen
	holds    []lockHold
	dataBy   map[string]int // critical-section value -> the hold that wrote it
	closes   []sessionClose
	follows  []followState
}

// electionWin is one campaign that returned leadership.
type electionWin struct {
	client int
	key    string
	term   int64 // the key's create revision
	at     int64 // the store revision of the read that found it first
}

// ownerSeen is one leader change an observer reported.
type ownerSeen struct {
	client int
	concurrency.Owner
}

// lockHold is one Lock that returned the lock held.
type lockHold struct {
	client int
	key    string
	token  int64 // the key's create revision
	at     int64 // the store revision of the read that found it first
}

// sessionClose is one session closed with its revoke acknowledged, and
// the read of its key that followed.
type sessionClose struct {
	client int
	lease  int64
	key    string
	closed int64 // virtual time the revoke was answered
	rev    int64 // revision of the read
	found  bool  // the read found the key
}

// followState is what a follower held after a list or after applying a
// revision.
type followState struct {
	client int
	prefix string
	rev    int64
	list   bool
	kvs    []api.KeyValue // sorted by key
}

// recipeCheckers are the checks of the recipes that ran (none without a
// recipe part).
func (r *seedRun) recipeCheckers() []RunChecker {
	rr := r.recipes
	if rr == nil {
		return nil
	}
	var list []RunChecker
	add := func(on bool, name string, fn func(log []lin.LogEntry) error) {
		if !on {
			return
		}
		list = append(list, NewChecker("recipes: "+name, func(rec *Records) CheckResult {
			if rec.WriteLog == nil {
				return r.noWriteLog()
			}
			return result(fn(rec.WriteLog))
		}))
	}
	add(rr.p.Election > 0, "election", rr.checkElection)
	add(rr.p.Lock > 0, "lock", rr.checkLock)
	add(rr.p.Election+rr.p.Lock > 0, "session close", func([]lin.LogEntry) error { return rr.checkCloses() })
	add(rr.p.Config+rr.p.Objects > 0, "followers", rr.checkFollowers)
	return list
}

// checkPoint is a check of the store's state at a revision.
type checkPoint struct {
	rev   int64
	check func(st *replayState) error
}

// walkLog replays log, running each point against the state at its
// revision (in revision order) and after each entry onEntry, if set,
// against the state it left; the first error stops it.
func walkLog(log []lin.LogEntry, points []checkPoint, onEntry func(e *lin.LogEntry, st *replayState) error) error {
	slices.SortStableFunc(points, func(a, b checkPoint) int { return int(min(max(a.rev-b.rev, -1), 1)) })
	st := &replayState{kvs: map[string]api.KeyValue{}}
	next := 0
	for i := range log {
		e := &log[i]
		for ; next < len(points) && points[next].rev < e.Revision; next++ {
			if err := points[next].check(st); err != nil {
				return err
			}
		}
		st.apply(e)
		if onEntry != nil {
			if err := onEntry(e, st); err != nil {
				return err
			}
		}
	}
	for ; next < len(points); next++ {
		if err := points[next].check(st); err != nil {
			return err
		}
	}
	return nil
}

// first is the key under prefix with the lowest create revision (ok
// false: none): the owner of a queue.
func (s *replayState) first(prefix string) (kv api.KeyValue, ok bool) {
	for k, v := range s.kvs {
		if strings.HasPrefix(k, prefix) && (!ok || v.CreateRevision < kv.CreateRevision) {
			kv, ok = v, true
		}
	}
	return kv, ok
}

// ownerString describes a queue's owner in the store.
func ownerString(kv api.KeyValue, ok bool) string {
	if !ok {
		return "no candidate"
	}
	return fmt.Sprintf("%s (created at %d, value %q)", kv.Key, kv.CreateRevision, kv.Value)
}

// checkElection: every campaign won, every leader an observer reported
// and every leader-only write matches the store's leader at its revision
// (so there is one leader per term, and a leader's guarded writes land
// only while it leads).
func (rr *recipeRun) checkElection(log []lin.LogEntry) error {
	prefix := recipeElection + "/"
	var points []checkPoint
	for _, w := range rr.rec.wins {
		points = append(points, checkPoint{rev: w.at, check: func(st *replayState) error {
			if kv, ok := st.first(prefix); !ok || string(kv.Key) != w.key || kv.CreateRevision != w.term {
				return fmt.Errorf("client %d won with key %s (term %d) at revision %d, but the store's leader then was %s",
					w.client, w.key, w.term, w.at, ownerString(kv, ok))
			}
			return nil
		}})
	}
	for _, o := range rr.rec.observed {
		points = append(points, checkPoint{rev: o.Revision, check: func(st *replayState) error {
			kv, ok := st.first(prefix)
			if ok == (o.Key != "") && (!ok || string(kv.Key) == o.Key && kv.CreateRevision == o.CreateRevision && string(kv.Value) == o.Value) {
				return nil
			}
			saw := "no leader"
			if o.Key != "" {
				saw = fmt.Sprintf("%s (created at %d, value %q)", o.Key, o.CreateRevision, o.Value)
			}
			return fmt.Errorf("observer client %d reported leader %s at revision %d, but the store's leader then was %s",
				o.client, saw, o.Revision, ownerString(kv, ok))
		}})
	}
	rr.note("recipes: election: %d wins, %d observed leader changes", len(rr.rec.wins), len(rr.rec.observed))
	return walkLog(log, points, func(e *lin.LogEntry, st *replayState) error {
		for _, c := range e.Changes {
			if c.Key != recipeElectionWork || c.Type != lin.EventPut {
				continue
			}
			i, known := rr.rec.workBy[c.Value]
			if !known {
				return fmt.Errorf("leader-only write %q at revision %d was made by no leader", c.Value, e.Revision)
			}
			w := rr.rec.wins[i]
			if kv, ok := st.first(prefix); !ok || string(kv.Key) != w.key || kv.CreateRevision != w.term {
				return fmt.Errorf("leader-only write %q of client %d (key %s, term %d) landed at revision %d, when the store's leader was %s",
					c.Value, w.client, w.key, w.term, e.Revision, ownerString(kv, ok))
			}
		}
		return nil
	})
}

// checkLock: every Lock that returned found its key first in the store
// at its revision, and every critical-section write landed while its
// holder's key was first (mutual exclusion, as the store orders it).
func (rr *recipeRun) checkLock(log []lin.LogEntry) error {
	prefix := recipeLock + "/"
	var points []checkPoint
	for _, h := range rr.rec.holds {
		points = append(points, checkPoint{rev: h.at, check: func(st *replayState) error {
			if kv, ok := st.first(prefix); !ok || string(kv.Key) != h.key || kv.CreateRevision != h.token {
				return fmt.Errorf("client %d took the lock with key %s (token %d) at revision %d, but the lock's owner then was %s",
					h.client, h.key, h.token, h.at, ownerString(kv, ok))
			}
			return nil
		}})
	}
	rr.note("recipes: lock: %d holds", len(rr.rec.holds))
	return walkLog(log, points, func(e *lin.LogEntry, st *replayState) error {
		for _, c := range e.Changes {
			if c.Key != recipeLockData || c.Type != lin.EventPut {
				continue
			}
			i, known := rr.rec.dataBy[c.Value]
			if !known {
				return fmt.Errorf("critical-section write %q at revision %d was made by no holder", c.Value, e.Revision)
			}
			h := rr.rec.holds[i]
			if kv, ok := st.first(prefix); !ok || string(kv.Key) != h.key || kv.CreateRevision != h.token {
				return fmt.Errorf("mutual exclusion: critical-section write %q of client %d (key %s, token %d) landed at revision %d, when the lock's owner was %s",
					c.Value, h.client, h.key, h.token, e.Revision, ownerString(kv, ok))
			}
		}
		return nil
	})
}

// checkCloses: a session whose close (the revoke of its lease) was
// acknowledged has no key left: the read of its key after the answer
// found none.
func (rr *recipeRun) checkCloses() error {
	for _, c := range rr.rec.closes {
		if c.found {
			return fmt.Errorf("client %d closed its session (the revoke of lease %d was answered at %v), but its key %s was still there at revision %d",
				c.client, c.lease, time.Duration(c.closed), c.key, c.rev)
		}
	}
	rr.note("recipes: session: %d closes checked", len(rr.rec.closes))
	return nil
}

// checkFollowers: every list a follower made, and its cache after every
// revision it applied, is the store's prefix at that revision (keys,
// values, create and mod revisions, versions).
func (rr *recipeRun) checkFollowers(log []lin.LogEntry) error {
	var points []checkPoint
	for _, f := range rr.rec.follows {
		points = append(points, checkPoint{rev: f.rev, check: func(st *replayState) error {
			want := st.read(f.prefix, true)
			if sameKVs(want, f.kvs) {
				return nil
			}
			what := "cache after applying revision"
			if f.list {
				what = "list at revision"
			}
			return fmt.Errorf("client %d's %s %d of %s is %s, but the store held %s",
				f.client, what, f.rev, f.prefix, describeAPIKVs(f.kvs), describeAPIKVs(want))
		}})
	}
	rr.note("recipes: followers: %d lists and applied revisions", len(rr.rec.follows))
	return walkLog(log, points, nil)
}
