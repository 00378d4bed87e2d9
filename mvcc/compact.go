package mvcc

// Compact drops the history before rev. Afterwards reads at revisions
// below rev fail with ErrCompacted; reads at rev or later, and watches from
// rev on, see what they saw before. Per key it keeps every revision at or
// after rev and, if the key was live at rev through an older put, that put;
// a key whose last change before rev was a delete disappears from the
// index. Compacting at or below the compaction revision gives ErrCompacted,
// above the current revision ErrFutureRevision. As in etcd, a store never
// compacted accepts Compact(0) once (it drops nothing).
func (s *Store) Compact(rev int64) error {
	switch {
	case rev <= s.compactRev:
		s.probes.Hit(probeCompactStale)
		return ErrCompacted
	case rev > s.rev:
		return ErrFutureRevision
	}
	s.probes.Hit(probeCompacted)
	s.compactRev = rev
	keep := s.markKept(rev)
	remap := s.rebuildLog(keep)
	s.remapIndex(remap)
	s.remapTable(keep, remap)
	return nil
}

// markKept decides, key by key, which records survive a compaction at rev,
// trims each keyIndex to them (still in old positions) and drops keys left
// with no revisions.
func (s *Store) markKept(rev int64) []bool {
	keep := make([]bool, s.log.n)
	var gone []*keyIndex
	s.tree.each(func(ki *keyIndex) bool {
		ki.revs = s.keptRevs(ki.revs, rev)
		for _, p := range ki.revs {
			keep[p] = true
		}
		if len(ki.revs) == 0 {
			gone = append(gone, ki)
		}
		return true
	})
	for _, ki := range gone {
		s.tree.delete(ki)
	}
	return keep
}

// keptRevs is the part of one key's revisions that a compaction at rev
// keeps, as etcd's keyIndex.compact: everything after rev, plus the
// newest change at or before rev unless it is a delete before rev. When
// one Txn both put and deleted the key at rev (see checkOpShapes) only
// its last change there is kept, as in etcd.
func (s *Store) keptRevs(revs []uint32, rev int64) []uint32 {
	i := 0 // first revision after rev
	for i < len(revs) && s.log.at(revs[i]).main <= rev {
		i++
	}
	if i == 0 {
		return revs
	}
	from := i
	if last := s.log.at(revs[i-1]); !last.tombstone() || last.main == rev {
		from = i - 1
	}
	if from == 0 {
		return revs
	}
	n := copy(revs, revs[from:])
	clear(revs[n:])
	return revs[:n:n]
}

// rebuildLog copies the kept records into a fresh log, returning the new
// position of each old one. Values move into a fresh arena when enough of
// the old one is garbage, so that compaction gives memory back.
func (s *Store) rebuildLog(keep []bool) []uint32 {
	remap := make([]uint32, s.log.n)
	var nl revLog
	var live int64
	kept := 0
	for p := range s.log.n {
		if keep[p] {
			live += int64(s.log.at(uint32(p)).vlen)
			kept++
		}
	}
	nl.reserve(kept)
	moveVals := live < s.vals.bytes/2
	var na arena
	s.size = int64(len(s.leases)) * LeaseOverheadBytes
	for p := range s.log.n {
		if !keep[p] {
			continue
		}
		r := *s.log.at(uint32(p))
		if moveVals {
			r.vref = na.add(s.vals.get(r.vref, r.vlen))
		}
		s.size += recordCost(len(r.ki.key), int(r.vlen))
		remap[p] = nl.append(r)
	}
	s.log = nl
	if moveVals {
		s.vals = na
	}
	return remap
}

// remapIndex moves every keyIndex to the new log positions.
func (s *Store) remapIndex(remap []uint32) {
	s.tree.each(func(ki *keyIndex) bool {
		for i, p := range ki.revs {
			ki.revs[i] = remap[p]
		}
		return true
	})
}
