package mvcc

// Watcher is a pull-based watch on a key range. It holds only a position
// in history, never a buffer, so it cannot block writers or grow without
// bound: a watcher that falls behind catches up from history, unless
// compaction has removed its position (then Events fails with
// ErrCompacted and the client must start over, as in etcd).
type Watcher struct {
	s        *Store
	key, end []byte
	prevKV   bool
	canceled bool
	// next is the revision (main, sub) of the next change to look at.
	nextMain int64
	nextSub  uint32
}

// Watch starts a watch on [key, end) (end as for Range) from startRev; 0
// means from the next write on. Past revisions are replayed from history.
// With prevKV, events carry the key's previous key-value. A startRev below
// the compaction revision fails with ErrCompacted; a future startRev is
// allowed (the watcher waits for it). As etcd's watch server: the key may
// be empty, and then the watch sees nothing whatever its end (etcd's
// interval tree reads an empty bound as +infinity), an end
// at or below key (other than "\x00") is refused with ErrInvalidArgument
// (etcd's ErrEmptyWatcherRange), and a negative startRev is refused with
// ErrCompacted.
func (s *Store) Watch(key, end []byte, startRev int64, prevKV bool) (*Watcher, error) {
	// In etcd's order: the start revision's sign, then the range, then
	// compaction.
	switch {
	case len(key) > MaxKeyBytes:
		return nil, ErrKeyTooLarge
	case startRev < 0:
		return nil, ErrCompacted
	case len(end) > 0 && !isAllFrom(end) && string(end) <= string(key):
		return nil, ErrInvalidArgument
	case startRev == 0:
		startRev = s.rev + 1
	case startRev < s.compactRev:
		s.probes.Hit(probeWatchCompacted)
		return nil, ErrCompacted
	}
	return &Watcher{
		s:        s,
		key:      append([]byte(nil), key...),
		end:      append([]byte(nil), end...),
		prevKV:   prevKV,
		nextMain: startRev,
	}, nil
}

// Events returns up to max (> 0) pending events in revision order, without
// gaps or duplicates across calls, and advances the watcher past them. An
// empty result means the watcher is up to date. It returns ErrCompacted
// once the watcher's position has been compacted, and ErrWatcherCanceled
// after Cancel.
func (w *Watcher) Events(max int) ([]Event, error) { return w.AppendEvents(nil, max) }

// AppendEvents is Events appending the events to evs (nil with the error
// when Events fails): a caller that drains many batches reuses one
// buffer.
func (w *Watcher) AppendEvents(evs []Event, max int) ([]Event, error) {
	s := w.s
	switch {
	case w.canceled:
		return nil, ErrWatcherCanceled
	case max <= 0:
		return nil, ErrInvalidArgument
	case w.nextMain < s.compactRev:
		return nil, ErrCompacted
	case w.nextMain > s.rev:
		return evs, nil
	}
	start := len(evs)
	for p := s.log.search(w.nextMain, w.nextSub); p < s.log.n; p++ {
		r := s.log.at(uint32(p))
		if len(w.key) == 0 || !inRange(r.ki.key, w.key, w.end) {
			continue
		}
		evs = append(evs, w.event(r))
		if len(evs)-start == max {
			w.nextMain, w.nextSub = r.main, r.sub+1
			return evs, nil
		}
	}
	w.nextMain, w.nextSub = s.rev+1, 0
	return evs, nil
}

// event builds the event of the record r.
func (w *Watcher) event(r *record) Event {
	s := w.s
	var ev Event
	if r.tombstone() {
		ev = Event{Type: EventDelete, KV: KeyValue{Key: []byte(r.ki.key), ModRevision: r.main}}
	} else {
		ev = Event{Type: EventPut, KV: s.kv(r, false)}
	}
	if w.prevKV {
		ev.PrevKV = s.prevOf(r)
	}
	return ev
}

// prevOf returns the previous key-value of the change r as etcd's watch
// server gives it: the key as of revision r.main-1, so the state before
// r's whole transaction, none for a put that starts a generation, and
// none once that revision is compacted.
func (s *Store) prevOf(r *record) *KeyValue {
	if (!r.tombstone() && r.create == r.main) || r.main-1 < s.compactRev {
		return nil
	}
	p := s.liveAt(r.ki, r.main-1)
	if p == nil {
		return nil
	}
	kv := s.kv(p, false)
	return &kv
}

// NextRevision is the revision from which the watcher's next events come.
func (w *Watcher) NextRevision() int64 { return w.nextMain }

// Pending reports whether history holds revisions the watcher has not
// looked at yet (cheap: no scan).
func (w *Watcher) Pending() bool { return !w.canceled && w.nextMain <= w.s.rev }

// Cancel ends the watch. Later Events calls fail with ErrWatcherCanceled.
func (w *Watcher) Cancel() { w.canceled = true }
