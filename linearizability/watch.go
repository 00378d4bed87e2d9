package linearizability

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// EventType is the type of a watch event or of a change in the write log.
type EventType uint8

// Event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

// String names the type.
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Change is one key changed at a revision of the committed write log.
type Change struct {
	Key   string
	Type  EventType
	Value string // for EventPut
}

// LogEntry is every change committed at one revision, in apply order.
type LogEntry struct {
	Revision int64
	Changes  []Change
}

// AppendChange appends the change of key at revision rev to log, opening
// a new entry when rev differs from the last one: a watch stream of the
// whole key space, read in order, turns into the write log this way.
// deleted says the change is a delete (value is then ignored).
func AppendChange(log []LogEntry, rev int64, key, value []byte, deleted bool) []LogEntry {
	if n := len(log); n == 0 || log[n-1].Revision != rev {
		log = append(log, LogEntry{Revision: rev})
	}
	c := Change{Key: string(key), Type: EventPut, Value: string(value)}
	if deleted {
		c.Type, c.Value = EventDelete, ""
	}
	last := &log[len(log)-1]
	last.Changes = append(last.Changes, c)
	return log
}

// WatchEvent is one event as a watcher received it.
type WatchEvent struct {
	Revision int64 // the event's mod revision
	Type     EventType
	Key      string
	Value    string // for EventPut
	// PrevKV is the key before this change, if the watch asked for it
	// (nil: the key did not exist). Its CreateRevision and Version are
	// checked only when non-zero.
	PrevKV *KV
	// Batch numbers the watch response that carried the event: the events
	// of one revision must come in one response.
	Batch int
}

// WatchStream is one watch subscription as the harness saw it.
type WatchStream struct {
	Key    string
	Prefix bool // watch every key with prefix Key
	// StartRevision is the revision the watch was created from. 0 means
	// "from now": the check then starts at the first event received.
	StartRevision int64
	PrevKV        bool // the watch asked for previous key-values
	// MayCompact is the highest compaction revision that may have taken
	// effect while the stream ran (0: none). An event at or below it may
	// come without its prev_kv: as in etcd, a previous version that
	// compaction dropped is left out, not an error.
	MayCompact int64
	Events     []WatchEvent
}

// Watch-check failures; a *WatchError wraps one of these (errors.Is).
var (
	ErrWatchOrder       = errors.New("watch: events out of revision order")
	ErrWatchDuplicate   = errors.New("watch: duplicate event")
	ErrWatchGap         = errors.New("watch: missed event")
	ErrWatchSplit       = errors.New("watch: revision not delivered atomically")
	ErrWatchPrevKV      = errors.New("watch: wrong prev_kv")
	ErrWatchContent     = errors.New("watch: event differs from the committed change")
	ErrWatchBeforeStart = errors.New("watch: event before the start revision")
	ErrWatchNotInLog    = errors.New("watch: event not in the committed log")
	ErrWatchResume      = errors.New("watch: resumed stream leaves a hole")
	ErrBadLog           = errors.New("watch: malformed write log")
)

// WatchError describes a watch-check failure: which sentinel, where, what.
type WatchError struct {
	Err      error // one of the ErrWatch* sentinels
	Revision int64
	Key      string
	Detail   string
}

func (e *WatchError) Error() string {
	return fmt.Sprintf("%v at revision %d key %q: %s", e.Err, e.Revision, e.Key, e.Detail)
}

// Unwrap returns the sentinel, for errors.Is.
func (e *WatchError) Unwrap() error { return e.Err }

// expected is the event a watcher of Key must see at a revision.
type expected struct {
	Change
	prev *KV
}

// WriteLog is the committed write log, replayed once so that every watch
// stream can be checked against it. It reads the changes from the entries
// it was made from (which must not change after) and keeps, per change,
// only what the replay found: where the key's previous live version is,
// and the version a put makes (a long run's log holds hundreds of
// thousands of changes, so a KV of each was most of the watch check's
// memory).
type WriteLog struct {
	entries []LogEntry
	first   []int32 // each entry's first change, counted over the log
	entryOf []int32 // each change's entry
	// prev is the change that put the key's version live before each
	// change (-1: the key did not exist); create and version are the
	// key's create revision and version after each put.
	prev            []int32
	create, version []int64
}

// NewWriteLog validates entries (strictly ascending revisions, each key at
// most once per revision, known change types) and replays them to compute
// each change's previous key-value. The log must start from an empty store
// or from the first revision; keys changed before its first entry are
// unknown to it.
func NewWriteLog(entries []LogEntry) (*WriteLog, error) {
	n := 0
	for _, e := range entries {
		n += len(e.Changes)
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d changes", ErrBadLog, n)
	}
	l := &WriteLog{entries: entries, first: make([]int32, 0, len(entries)), entryOf: make([]int32, 0, n),
		prev: make([]int32, 0, n), create: make([]int64, 0, n), version: make([]int64, 0, n)}
	live := map[string]int32{} // each live key's last put
	for i, e := range entries {
		if e.Revision <= 0 || (i > 0 && e.Revision <= entries[i-1].Revision) {
			return nil, fmt.Errorf("%w: revision %d after %d", ErrBadLog, e.Revision, lastRev(entries[:i]))
		}
		l.first = append(l.first, int32(len(l.prev)))
		var seen map[string]bool // for a revision of many changes
		for j, c := range e.Changes {
			if twice(e.Changes, j, &seen) {
				return nil, fmt.Errorf("%w: key %q twice at revision %d", ErrBadLog, c.Key, e.Revision)
			}
			k := int32(len(l.prev))
			p, ok := live[c.Key]
			if !ok {
				p = -1
			}
			create, version := int64(0), int64(0)
			switch c.Type {
			case EventPut:
				create, version = e.Revision, 1
				if ok {
					create, version = l.create[p], l.version[p]+1
				}
				live[c.Key] = k
			case EventDelete:
				delete(live, c.Key)
			default:
				return nil, fmt.Errorf("%w: change type %d at revision %d", ErrBadLog, c.Type, e.Revision)
			}
			l.entryOf = append(l.entryOf, int32(i))
			l.prev = append(l.prev, p)
			l.create, l.version = append(l.create, create), append(l.version, version)
		}
	}
	return l, nil
}

// twice reports whether change j's key is one of an earlier change of
// the same revision (seen holds the keys of the revision's changes so
// far, once it has many).
func twice(chs []Change, j int, seen *map[string]bool) bool {
	const few = 16
	if len(chs) <= few {
		return slices.ContainsFunc(chs[:j], func(c Change) bool { return c.Key == chs[j].Key })
	}
	if *seen == nil {
		*seen = map[string]bool{}
	}
	if (*seen)[chs[j].Key] {
		return true
	}
	(*seen)[chs[j].Key] = true
	return false
}

func lastRev(entries []LogEntry) int64 {
	if len(entries) == 0 {
		return 0
	}
	return entries[len(entries)-1].Revision
}

// Last is the newest revision in the log (0 if empty).
func (l *WriteLog) Last() int64 { return lastRev(l.entries) }

// prevKV is the key-value change k found (false: its key did not exist).
func (l *WriteLog) prevKV(k int32) (KV, bool) {
	p := l.prev[k]
	if p < 0 {
		return KV{}, false
	}
	e := &l.entries[l.entryOf[p]]
	c := &e.Changes[p-l.first[l.entryOf[p]]]
	return KV{Key: c.Key, Value: c.Value, ModRevision: e.Revision, CreateRevision: l.create[p], Version: l.version[p]}, true
}

// watched appends to want the changes of entry i to keys s watches, in
// order, their previous key-values in prevs (reused: want's prev point
// into it).
func (l *WriteLog) watched(s *WatchStream, i int, want []expected, prevs []KV) ([]expected, []KV) {
	want, prevs = want[:0], prevs[:0]
	chs, first := l.entries[i].Changes, l.first[i]
	for j, c := range chs {
		if s.watches(c.Key) {
			kv, _ := l.prevKV(first + int32(j))
			want, prevs = append(want, expected{Change: c}), append(prevs, kv)
		}
	}
	k := 0
	for j, c := range chs { // prevs is complete: no append moves it now
		if s.watches(c.Key) {
			if l.prev[first+int32(j)] >= 0 {
				want[k].prev = &prevs[k]
			}
			k++
		}
	}
	return want, prevs
}

func (s *WatchStream) watches(key string) bool {
	if s.Prefix {
		return strings.HasPrefix(key, s.Key)
	}
	return key == s.Key
}

// CheckWatch checks one watch stream against the committed write log:
// events in revision order, none duplicated, none before the start
// revision, none missing for a watched key between the start and the last
// revision received, each revision's events complete and in one response,
// contents and prev_kv as committed. It returns nil or a *WatchError.
func CheckWatch(s *WatchStream, log *WriteLog) error {
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
	// Events are now ascending: walk them against the changes committed
	// to watched keys.
	evs := s.Events
	var want []expected
	var prevs []KV
	i := sort.Search(len(log.entries), func(i int) bool { return log.entries[i].Revision >= start })
	for ; i < len(log.entries) && log.entries[i].Revision <= last; i++ {
		if want, prevs = log.watched(s, i, want, prevs); len(want) == 0 {
			continue
		}
		rev := log.entries[i].Revision
		group, rest := takeRevision(evs, rev)
		if len(group) > 0 && group[0].Revision != rev {
			return &WatchError{Err: ErrWatchNotInLog, Revision: group[0].Revision, Key: group[0].Key,
				Detail: "no watched key changed at this revision"}
		}
		if err := checkGroup(s, rev, group, want); err != nil {
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

// takeRevision splits off the leading events at revisions <= rev.
func takeRevision(evs []WatchEvent, rev int64) (group, rest []WatchEvent) {
	n := 0
	for n < len(evs) && evs[n].Revision <= rev {
		n++
	}
	return evs[:n], evs[n:]
}

func checkEventsOrder(s *WatchStream, start int64) error {
	type rk struct {
		rev int64
		key string
	}
	seen := map[rk]bool{}
	for i, e := range s.Events {
		if e.Revision < start {
			return &WatchError{Err: ErrWatchBeforeStart, Revision: e.Revision, Key: e.Key,
				Detail: fmt.Sprintf("watch starts at revision %d", start)}
		}
		if seen[rk{e.Revision, e.Key}] {
			return &WatchError{Err: ErrWatchDuplicate, Revision: e.Revision, Key: e.Key,
				Detail: fmt.Sprintf("event %d repeats an earlier one", i)}
		}
		seen[rk{e.Revision, e.Key}] = true
		if i == 0 {
			continue
		}
		prev := s.Events[i-1]
		if e.Revision < prev.Revision {
			return &WatchError{Err: ErrWatchOrder, Revision: e.Revision, Key: e.Key,
				Detail: fmt.Sprintf("event %d comes after revision %d", i, prev.Revision)}
		}
		if e.Revision == prev.Revision && e.Batch != prev.Batch {
			return &WatchError{Err: ErrWatchSplit, Revision: e.Revision, Key: e.Key,
				Detail: fmt.Sprintf("revision spread over responses %d and %d", prev.Batch, e.Batch)}
		}
	}
	return nil
}

// checkGroup compares the events received for revision rev with the
// changes committed there to watched keys.
func checkGroup(s *WatchStream, rev int64, got []WatchEvent, want []expected) error {
	if len(got) == 0 {
		return &WatchError{Err: ErrWatchGap, Revision: rev, Key: want[0].Key,
			Detail: fmt.Sprintf("%s of a watched key never delivered", want[0].Type)}
	}
	byKey := map[string]*WatchEvent{}
	for i := range got {
		byKey[got[i].Key] = &got[i]
	}
	for _, w := range want {
		g, ok := byKey[w.Key]
		if !ok {
			return &WatchError{Err: ErrWatchSplit, Revision: rev, Key: w.Key,
				Detail: fmt.Sprintf("%d of the revision's %d watched changes delivered; this one missing", len(got), len(want))}
		}
		delete(byKey, w.Key)
		if g.Type != w.Type || (w.Type == EventPut && g.Value != w.Value) {
			return &WatchError{Err: ErrWatchContent, Revision: rev, Key: w.Key,
				Detail: fmt.Sprintf("got %s %q, committed %s %q", g.Type, g.Value, w.Type, w.Value)}
		}
		if err := checkPrev(s, rev, g, w.prev); err != nil {
			return err
		}
	}
	if len(byKey) > 0 {
		k := sortedKeys(byKey)[0]
		return &WatchError{Err: ErrWatchNotInLog, Revision: rev, Key: k, Detail: "key not changed at this revision"}
	}
	return nil
}

func checkPrev(s *WatchStream, rev int64, g *WatchEvent, want *KV) error {
	if !s.PrevKV {
		if g.PrevKV != nil {
			return &WatchError{Err: ErrWatchPrevKV, Revision: rev, Key: g.Key, Detail: "prev_kv sent but not asked for"}
		}
		return nil
	}
	bad := func(detail string) error {
		return &WatchError{Err: ErrWatchPrevKV, Revision: rev, Key: g.Key, Detail: detail}
	}
	switch {
	case want == nil && g.PrevKV == nil:
		return nil
	case want == nil:
		return bad(fmt.Sprintf("got %v, key did not exist", *g.PrevKV))
	case g.PrevKV == nil && rev <= s.MayCompact:
		return nil // the previous version may have been compacted away
	case g.PrevKV == nil:
		return bad(fmt.Sprintf("got none, want %v", *want))
	}
	p := g.PrevKV
	if p.Key != want.Key || p.Value != want.Value || p.ModRevision != want.ModRevision ||
		(p.CreateRevision != 0 && p.CreateRevision != want.CreateRevision) ||
		(p.Version != 0 && p.Version != want.Version) {
		return bad(fmt.Sprintf("got %v (create %d, v%d), want %v (create %d, v%d)",
			*p, p.CreateRevision, p.Version, *want, want.CreateRevision, want.Version))
	}
	return nil
}

// CheckWatchResumed checks a watch that was resumed after disconnections:
// segments[i+1] must restart from a revision no later than one past the
// last revision segments[i] received (so nothing falls between them), and
// each segment must pass CheckWatch (its events at or after its start).
func CheckWatchResumed(segments []WatchStream, log *WriteLog) error {
	for i := range segments {
		if err := CheckWatch(&segments[i], log); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if i == 0 {
			continue
		}
		prev, cur := &segments[i-1], &segments[i]
		resumeAt := prev.StartRevision
		if n := len(prev.Events); n > 0 {
			resumeAt = prev.Events[n-1].Revision + 1
		}
		if cur.StartRevision == 0 || cur.StartRevision > resumeAt {
			return &WatchError{Err: ErrWatchResume, Revision: cur.StartRevision, Key: cur.Key,
				Detail: fmt.Sprintf("segment %d resumed at %d, must be in [1, %d]", i, cur.StartRevision, resumeAt)}
		}
	}
	return nil
}
