package linearizability

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// The watch check as it was before WriteLog kept its replay compactly:
// the reference TestWriteLogChecksAsBefore compares with.

type refWriteLog struct {
	revs   []int64      // ascending
	events [][]expected // per revision, in apply order
}

func refNewWriteLog(entries []LogEntry) (*refWriteLog, error) {
	l := &refWriteLog{}
	state := map[string]KV{}
	for i, e := range entries {
		if e.Revision <= 0 || (i > 0 && e.Revision <= entries[i-1].Revision) {
			return nil, fmt.Errorf("%w: revision %d after %d", ErrBadLog, e.Revision, refLastRev(entries[:i]))
		}
		seen := map[string]bool{}
		evs := make([]expected, 0, len(e.Changes))
		for _, c := range e.Changes {
			if seen[c.Key] {
				return nil, fmt.Errorf("%w: key %q twice at revision %d", ErrBadLog, c.Key, e.Revision)
			}
			seen[c.Key] = true
			ev := expected{Change: c}
			if old, ok := state[c.Key]; ok {
				ev.prev = &old
			}
			switch c.Type {
			case EventPut:
				kv := KV{Key: c.Key, Value: c.Value, ModRevision: e.Revision, CreateRevision: e.Revision, Version: 1}
				if ev.prev != nil {
					kv.CreateRevision, kv.Version = ev.prev.CreateRevision, ev.prev.Version+1
				}
				state[c.Key] = kv
			case EventDelete:
				delete(state, c.Key)
			default:
				return nil, fmt.Errorf("%w: change type %d at revision %d", ErrBadLog, c.Type, e.Revision)
			}
			evs = append(evs, ev)
		}
		l.revs = append(l.revs, e.Revision)
		l.events = append(l.events, evs)
	}
	return l, nil
}

func refLastRev(entries []LogEntry) int64 {
	if len(entries) == 0 {
		return 0
	}
	return entries[len(entries)-1].Revision
}

func (l *refWriteLog) Last() int64 {
	if len(l.revs) == 0 {
		return 0
	}
	return l.revs[len(l.revs)-1]
}

func (l *refWriteLog) matching(s *WatchStream, from, to int64) []struct {
	rev int64
	evs []expected
} {
	var out []struct {
		rev int64
		evs []expected
	}
	i := sort.Search(len(l.revs), func(i int) bool { return l.revs[i] >= from })
	for ; i < len(l.revs) && l.revs[i] <= to; i++ {
		if evs := s.refFilter(l.events[i]); len(evs) > 0 {
			out = append(out, struct {
				rev int64
				evs []expected
			}{l.revs[i], evs})
		}
	}
	return out
}

func (s *WatchStream) refFilter(evs []expected) []expected {
	var out []expected
	for _, e := range evs {
		if s.watches(e.Key) {
			out = append(out, e)
		}
	}
	return out
}

func refCheckWatch(s *WatchStream, log *refWriteLog) error {
	if len(s.Events) == 0 {
		return nil
	}
	start := s.StartRevision
	if start == 0 {
		start = s.Events[0].Revision
	}
	last := s.Events[len(s.Events)-1].Revision
	if err := checkEventsOrder(s, start); err != nil {
		return err
	}
	// Events are now ascending: walk them against the expected changes.
	want := log.matching(s, start, last)
	evs := s.Events
	for _, w := range want {
		group, rest := takeRevision(evs, w.rev)
		if len(group) > 0 && group[0].Revision != w.rev {
			return &WatchError{Err: ErrWatchNotInLog, Revision: group[0].Revision, Key: group[0].Key,
				Detail: "no watched key changed at this revision"}
		}
		if err := checkGroup(s, w.rev, group, w.evs); err != nil {
			return err
		}
		evs = rest
	}
	if len(evs) > 0 {
		return &WatchError{Err: ErrWatchNotInLog, Revision: evs[0].Revision, Key: evs[0].Key,
			Detail: fmt.Sprintf("no watched key changed at this revision (log ends at %d)", log.Last())}
	}
	return nil
}

// TestWriteLogChecksAsBefore: on random logs (puts and deletes of a few
// keys, several per revision) and random streams (a key or a prefix,
// from a revision or from now, with or without prev_kv), their events
// drawn from the log and then broken now and then (an event dropped,
// duplicated, changed, moved to another revision, a prev_kv wrong or
// missing), CheckWatch gives the error the check gave before, and
// NewWriteLog refuses the malformed logs it refused.
func TestWriteLogChecksAsBefore(t *testing.T) {
	keys := []string{"/a/1", "/a/2", "/b/1", "/b/22", "/c"}
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 9))
		var log []LogEntry
		rev := int64(1)
		for range 1 + rng.IntN(60) {
			rev += 1 + int64(rng.IntN(2))
			e := LogEntry{Revision: rev}
			for _, k := range rng.Perm(len(keys))[:1+rng.IntN(3)] {
				c := Change{Key: keys[k], Type: EventPut, Value: fmt.Sprint(rng.IntN(1000))}
				if rng.IntN(3) == 0 {
					c.Type, c.Value = EventDelete, ""
				}
				e.Changes = append(e.Changes, c)
			}
			log = append(log, e)
		}
		if rng.IntN(20) == 0 { // malformed
			switch i := rng.IntN(len(log)); rng.IntN(3) {
			case 0:
				log[i].Revision = log[max(0, i-1)].Revision
			case 1:
				log[i].Changes = append(log[i].Changes, log[i].Changes[0])
			default:
				log[i].Changes[0].Type = 9
			}
		}
		ref, refErr := refNewWriteLog(log)
		got, err := NewWriteLog(log)
		require.Equal(t, refErr, err, "seed %d", seed)
		if err != nil {
			continue
		}
		require.Equal(t, ref.Last(), got.Last())
		for range 5 {
			s := WatchStream{Key: keys[rng.IntN(len(keys))], PrevKV: rng.IntN(2) == 0}
			if rng.IntN(2) == 0 {
				s.Key, s.Prefix = s.Key[:1+rng.IntN(2)], true
			}
			if rng.IntN(4) > 0 {
				s.StartRevision = 2 + rng.Int64N(rev)
			}
			from := max(s.StartRevision, 2)
			batch := 0
			for _, w := range ref.matching(&s, from, rev) {
				batch++
				for _, x := range w.evs {
					ev := WatchEvent{Revision: w.rev, Type: x.Type, Key: x.Key, Value: x.Value, Batch: batch}
					if s.PrevKV && x.prev != nil {
						p := *x.prev
						ev.PrevKV = &p
					}
					s.Events = append(s.Events, ev)
				}
			}
			if n := len(s.Events); n > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(n)
				switch rng.IntN(7) {
				case 0:
					s.Events = append(s.Events[:i], s.Events[i+1:]...)
				case 1:
					s.Events = append(s.Events[:i+1], s.Events[i:]...)
				case 2:
					s.Events[i].Value += "x"
				case 3:
					s.Events[i].Revision++
				case 4:
					s.Events[i].PrevKV = nil
				case 5:
					s.Events[i].PrevKV = &KV{Key: s.Events[i].Key, Value: "?", ModRevision: 1}
				default:
					s.Events[i].Type = EventDelete + EventPut - s.Events[i].Type
				}
			}
			s.MayCompact = rng.Int64N(rev + 1)
			require.Equal(t, refCheckWatch(&s, ref), CheckWatch(&s, got), "seed %d stream %+v", seed, s)
		}
	}
}
