package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
)

// The HashKV check. Clients never read the history a replica keeps below
// its newest revisions directly, so a compaction that keeps too much (a
// tombstone past its compaction) or too little, or a snapshot restore that
// loses or invents old revisions, shows at best as a stalled watch much
// later. etcd's robustness tests compare HashKV across members; the
// harness knows every write and its revision (the write log), so it
// computes the hash a correct replica must give from the log and its own
// model of what compaction keeps (expectedHashKV), and compares every
// replica with it: during the run after compactions (hashProbe) and at the
// end (checkHashKV). Replicas at the same revision and compaction revision
// must agree with each other too, which the end check compares when the
// write log is missing.

// CheckHashKV: every replica's history hash matches the write log.
const CheckHashKV = "hashkv"

// HistoryHasher is implemented by an Inspector of a replica that can hash
// the history its store holds (mvcc.Store.HashKV): every record of a
// revision in (compactRev, rev], and each key's newest put at or below
// compactRev (a delete only at exactly compactRev), folded with
// mvcc.HistoryHasher.
type HistoryHasher interface {
	// HashKV is the hash at rev and the store's compaction revision
	// (0: none); rev below the compaction or above the current revision
	// is an error.
	HashKV(rev int64) (hash uint64, compactRev int64, err error)
	// CurrentRevision is the store's revision (0: it has no state).
	CurrentRevision() int64
}

// maxHashProbes bounds the in-run probes of one seed: each replays the
// write log, so a long run must not pay for one per compaction.
const maxHashProbes = 8

// hashKV is the run's HashKV check state.
type hashKV struct {
	rng    *rand.Rand
	probes int
	err    error // the first failure found during the run
}

// expectedHashKV is the HashKV a correct store gives at rev when compacted
// at compact, from the write log (complete from revision 2 to at least
// rev): etcd's keyIndex.compact keeps every change after the compaction
// revision and, at or below it, each key's newest change unless that is a
// delete below the compaction revision (a delete at exactly it is kept,
// for watches from there). Create revisions and versions are replayed
// from the log.
func expectedHashKV(log []lin.LogEntry, compact, rev int64) uint64 {
	type pos struct {
		rev int64
		sub int
	}
	newest := map[string]pos{}
	for _, e := range log {
		if e.Revision > compact {
			break
		}
		for i, ch := range e.Changes {
			newest[ch.Key] = pos{e.Revision, i}
		}
	}
	type version struct{ create, version int64 }
	live := map[string]version{}
	var h mvcc.HistoryHasher
	for _, e := range log {
		if e.Revision > rev {
			break
		}
		for i, ch := range e.Changes {
			del := ch.Type == lin.EventDelete
			v := live[ch.Key]
			if del {
				delete(live, ch.Key)
			} else {
				if v.version == 0 {
					v.create = e.Revision
				}
				v.version++
				live[ch.Key] = v
			}
			if e.Revision <= compact && (del && e.Revision < compact || newest[ch.Key] != pos{e.Revision, i}) {
				continue // compaction dropped it
			}
			if del {
				h.Add(ch.Key, nil, e.Revision, uint32(i), 0, 0)
			} else {
				h.Add(ch.Key, []byte(ch.Value), e.Revision, uint32(i), v.create, v.version)
			}
		}
	}
	return h.Sum()
}

// completeLog reports whether log starts at the first write (revision 2),
// and the last revision it holds: the model needs the whole history.
func completeLog(log []lin.LogEntry) (last int64, ok bool) {
	if len(log) == 0 || log[0].Revision != 2 {
		return 0, false
	}
	return log[len(log)-1].Revision, true
}

// hashAgainstLog checks one replica's HashKV against the write log, at
// the highest revision both hold. It returns nil when the replica cannot
// be hashed there (no state, or compacted past what the log holds).
func (r *seedRun) hashAgainstLog(id host.NodeID, hh HistoryHasher, log []lin.LogEntry, when string) error {
	covered, ok := completeLog(log)
	if !ok {
		return nil
	}
	rev := min(hh.CurrentRevision(), covered)
	if rev < 1 {
		return nil
	}
	got, compact, err := hh.HashKV(rev)
	if err != nil {
		return nil // compacted past the log's end, or recovering
	}
	if err := r.knownCompaction(id, compact, when); err != nil {
		return err
	}
	want := expectedHashKV(log, compact, rev)
	if got == want {
		return nil
	}
	first := firstHashDiff(hh, log, compact, rev)
	where := fmt.Sprintf("the first revision whose hash differs is %d", first)
	if first <= compact {
		where = fmt.Sprintf("it differs already at the compaction revision %d: the history kept at or below it is not what compaction keeps (each key's newest change at or below it, unless a delete below it)", compact)
	}
	return fmt.Errorf("replica %d %s holds a different history than the write log: HashKV at revision %d (compacted at %d) is %#x, the write log gives %#x; %s",
		id, when, rev, compact, got, want, where)
}

// firstHashDiff is the lowest revision in [compact, rev] at which the
// replica's hash differs from the log's (the hash at a revision covers
// every record up to it, so differences persist upwards).
func firstHashDiff(hh HistoryHasher, log []lin.LogEntry, compact, rev int64) int64 {
	lo, hi := max(compact, 1), rev // the hash differs at hi
	for lo < hi {
		mid := lo + (hi-lo)/2
		got, c, err := hh.HashKV(mid)
		if err == nil && c == compact && got == expectedHashKV(log, compact, mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// knownCompaction fails if a replica reports a compaction revision nobody
// asked for.
func (r *seedRun) knownCompaction(id host.NodeID, compact int64, when string) error {
	if compact == 0 {
		return nil
	}
	if lw := r.logWatch; lw != nil && slices.ContainsFunc(lw.comp, func(c compaction) bool { return c.rev == compact && !c.refused }) {
		return nil
	}
	return fmt.Errorf("replica %d %s reports compaction revision %d, but no compaction at %d was asked for (or it was refused)", id, when, compact, compact)
}

// hashProbe checks one random running replica's HashKV against the log
// watcher's log, during the run (after an acknowledged compaction, so that
// compaction is checked before later ones cover its traces).
func (r *seedRun) hashProbe() {
	hk := &r.hashKV
	if hk.err != nil || hk.probes >= maxHashProbes || r.logWatch == nil || r.logWatch.err != nil {
		return
	}
	if hk.rng == nil {
		hk.rng = r.w.Rand("hashkv")
	}
	hk.probes++
	ids, ins := r.inspectors()
	if len(ids) == 0 {
		return
	}
	i := hk.rng.IntN(len(ids))
	if hh, ok := ins[i].(HistoryHasher); ok {
		hk.err = r.hashAgainstLog(ids[i], hh, r.logWatch.entries(), fmt.Sprintf("at %v", r.w.Elapsed()))
	}
}

// checkHashKV is the end check: a failure found during the run, else every
// running replica against the final write log, else (no complete log)
// every pair of replicas hashed at the same revision.
func (r *seedRun) checkHashKV(rec *Records) CheckResult {
	if r.hashKV.err != nil {
		return result(r.hashKV.err)
	}
	var ids []host.NodeID
	var hs []HistoryHasher
	for _, v := range rec.Replicas {
		if hh, ok := v.Inspector.(HistoryHasher); ok {
			ids, hs = append(ids, v.ID), append(hs, hh)
		}
	}
	if len(hs) == 0 {
		return skipped("no replica offers HashKV (HistoryHasher)")
	}
	if _, ok := completeLog(rec.WriteLog); !ok {
		return result(crossHashKV(ids, hs))
	}
	for i, hh := range hs {
		if err := r.hashAgainstLog(ids[i], hh, rec.WriteLog, "at the end"); err != nil {
			return result(err)
		}
	}
	return CheckResult{}
}

// crossHashKV compares the replicas' HashKV at the lowest current revision
// among them: those with the same compaction revision must agree.
func crossHashKV(ids []host.NodeID, hs []HistoryHasher) error {
	rev := int64(-1)
	for _, hh := range hs {
		if c := hh.CurrentRevision(); c > 0 && (rev < 0 || c < rev) {
			rev = c
		}
	}
	type seen struct {
		id   host.NodeID
		hash uint64
	}
	byCompact := map[int64]seen{}
	for i, hh := range hs {
		h, c, err := hh.HashKV(rev)
		if err != nil {
			continue
		}
		if s, ok := byCompact[c]; ok && s.hash != h {
			return fmt.Errorf("replicas %d and %d hold different histories: HashKV at revision %d (both compacted at %d) is %#x and %#x",
				s.id, ids[i], rev, c, s.hash, h)
		}
		byCompact[c] = seen{ids[i], h}
	}
	return nil
}
