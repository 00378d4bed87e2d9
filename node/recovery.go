package node

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/raft"
	"github.com/seedkv/seedkv/wal"
)

// Recovery from corrupt storage (protocol-aware recovery).
//
// What corruption can take away from a replica is a promise it made: a
// vote in some term, or an acknowledgement of entries that a leader then
// counted toward a commit quorum. A replica that forgot them could vote
// twice in one term, or vote for a candidate lacking an entry committed
// with its help. Both are safe again once the replica knows a term T_old at
// or above every term it ever voted in, and has caught up with the cluster
// past that term:
//
//   - T_old comes from a second copy of raft's term and vote, kept in
//     HardStateFile and written (and synced) with every term or vote change
//     before the messages that depend on it go out. One damaged file cannot
//     take both copies; if the copy is unreadable too, the replica stops
//     for good instead (Stopped). The copy holds its record in several
//     slots, so a few flipped bits in it cannot take it either. An empty
//     copy proves that nothing was ever promised (every vote and
//     acknowledgement waits for a synced copy holding its term), so T_old
//     is then 0.
//   - The replica then drops its damaged WAL and snapshots, records T_old
//     durably in RecoveringFile, and restarts raft on an empty log as a
//     joining member, in recovery (raft.Config.Recovering, VoteFloor =
//     T_old): raft grants no vote (vote and pre-vote requests are ignored
//     unanswered) and never campaigns, and the replica answers clients
//     CodeUnavailable. Its append acknowledgements are truthful (for
//     entries it stored anew), so it helps commits like any follower. A
//     leader that counts on entries it lost is told so by raft (a
//     rejecting heartbeat response) and sends them again.
//   - Raft leaves recovery once the replica has caught up with a leader of
//     a term at or above T_old: its commit index has reached the commit
//     index the leader last reported, points at an entry of the leader's
//     (and its own current) term, and is applied. That leader holds every
//     entry committed before the damage (committed in earlier terms, or by
//     itself in its term, and so at or below what it reports as committed
//     now), and the replica's log matches the leader's up to there: its
//     vote checks protect those entries again. The replica then records
//     the end durably (checkRecovered).
//   - An acknowledgement the replica sent before the damage may still be
//     in flight, and vouches for entries it may have lost: a leader that
//     counted it after the replica recovered would commit with it. So
//     each recovery raises the replica's epoch (raft.Config.Epoch), kept
//     in RecoveringFile and in HardStateFile (which survives the damage
//     as T_old does) and durable before raft runs with it; every append
//     acknowledgement carries it, a leader drops those of an earlier
//     epoch than it learned in its term (and resets the replica's match
//     index on a later one), and raft leaves recovery only once the
//     leader of its term echoed the epoch in an append: that leader
//     counts no old acknowledgement any more, and the commit index of
//     that append covers whatever it committed with one (raft/raft.go,
//     "incarnations").
//   - Raft never again grants a vote in a term up to T_old (the vote
//     floor, kept in RecoveringFile after recovery ends), so it cannot vote
//     twice in a term in which it may already have voted.
//
// These rules are raft's (raft/raft.go, "recovery from lost durable
// state"), so raft's randomized safety test exercises them: it wipes
// replicas' storage at random and checks election, state-machine and
// log safety throughout.
//
// A replica whose damage is found while a majority is also recovering
// waits for a leader to catch up from; safety comes first.
const (
	// HardStateFile holds the second copy of raft's term and vote.
	HardStateFile = "node.hardstate"
	// RecoveringFile marks a replica recovering from corrupt storage and
	// holds T_old (and the replica's epoch).
	RecoveringFile = "node.recovering"
)

const (
	hsMagic = "SKVHS001"
	// hsMagicEpoch starts a record that also holds the replica's epoch
	// (8 more bytes after the vote): written only once the epoch is
	// non-zero, so a replica that never recovered writes the bytes it
	// always wrote.
	hsMagicEpoch = "SKVHS002"
	hsSlotSize   = 64
	// hsSlots is how many copies of its record the hard state file
	// holds: one corruption fault flips up to 3 bits of a replica's
	// files, and the small file is hit as often as the WAL.
	hsSlots        = 4
	hsRecSize      = len(hsMagic) + 24 + 4
	hsRecSizeEpoch = hsRecSize + 8
)

// hsCopy is the open HardStateFile. Each write stores the same record,
// stamped with a sequence number and checksummed, in every one of hsSlots
// slots, in one write at offset 0: bit flips in some slots leave the
// newest record in the others (with records alternating between two
// slots, damage to the newest one fell back to an older, lower term: not
// a bound on the votes any more), and a torn write, a prefix, damages at
// most one slot and leaves the others as they were, new or old (an
// unsynced record promised nothing).
type hsCopy struct {
	f          host.File
	fs         host.FS
	seq        uint64
	term, vote uint64
	epoch      uint64 // the replica's incarnation (raft.Config.Epoch)
	whole      bool   // every slot holds (term, vote, epoch), as far as we know
	// created: the file's directory entry may not be durable yet; the
	// first write syncs the directory too (a crash must not make the
	// copy vanish: an absent copy reads as "nothing ever promised").
	created bool
}

// openHSCopy opens (creating if needed) the hard state file.
func openHSCopy(fs host.FS) (*hsCopy, error) {
	f, err := fs.Open(HardStateFile)
	created := false
	if errors.Is(err, host.ErrNotExist) {
		f, err = fs.Create(HardStateFile)
		created = true
	}
	if err != nil {
		return nil, err
	}
	c := &hsCopy{f: f, fs: fs, created: created}
	if r, ok := newestHSRecord(f); ok {
		c.seq, c.term, c.vote, c.epoch = r.seq, r.term, r.vote, r.epoch
		c.whole = hsSlotsWhole(f)
	}
	return c, nil
}

// needs reports whether (term, vote) must be written: the copy keeps the
// highest term seen (it bounds every term voted in, so it never goes
// down, even while a recovering replica follows a lower-term leader) and
// the vote cast in it.
// A copy with a damaged or stale slot is written again too.
func (c *hsCopy) needs(term, vote uint64) bool {
	return !c.whole || term > c.term || (term == c.term && vote != c.vote)
}

// write stores (term, vote) in every slot and syncs them; a term below
// the copy's is raised to it.
func (c *hsCopy) write(term, vote uint64, done func(error)) {
	if term < c.term {
		term, vote = c.term, c.vote
	}
	c.seq++
	recSize := hsRecSize
	b := make([]byte, 0, (hsSlots-1)*hsSlotSize+hsRecSizeEpoch)
	if c.epoch == 0 {
		b = append(b, hsMagic...)
	} else {
		b = append(b, hsMagicEpoch...)
		recSize = hsRecSizeEpoch
	}
	b = binary.LittleEndian.AppendUint64(b, c.seq)
	b = binary.LittleEndian.AppendUint64(b, term)
	b = binary.LittleEndian.AppendUint64(b, vote)
	if c.epoch != 0 {
		b = binary.LittleEndian.AppendUint64(b, c.epoch)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	for range hsSlots - 1 {
		b = append(b, make([]byte, hsSlotSize-recSize)...)
		b = append(b, b[:recSize]...)
	}
	if _, err := c.f.WriteAt(b, 0); err != nil {
		c.seq--
		done(err)
		return
	}
	c.term, c.vote, c.whole = term, vote, true
	if !c.created {
		c.f.Sync(done)
		return
	}
	c.f.Sync(func(err error) {
		if err != nil {
			done(err)
			return
		}
		c.fs.SyncDir(func(err error) {
			if err == nil {
				c.created = false
			}
			done(err)
		})
	})
}

// readHSSlots returns the newest intact slot.
func readHSSlots(f host.File) (seq, term, vote uint64, ok bool) {
	r, ok := newestHSRecord(f)
	return r.seq, r.term, r.vote, ok
}

// newestHSRecord returns the newest intact slot, whole.
func newestHSRecord(f host.File) (newest hsRecord, ok bool) {
	for _, r := range readHSRecords(f) {
		if r.ok && (!ok || r.seq > newest.seq) {
			newest, ok = r, true
		}
	}
	return newest, ok
}

// hsSlotsWhole reports whether every slot is intact and all hold one
// record.
func hsSlotsWhole(f host.File) bool {
	s := readHSRecords(f)
	for _, r := range s {
		if !r.ok || r != s[0] {
			return false
		}
	}
	return true
}

// hsRecord is one decoded slot of the hard state copy.
type hsRecord struct {
	ok                     bool // intact
	seq, term, vote, epoch uint64
}

// readHSRecords decodes every slot.
func readHSRecords(f host.File) [hsSlots]hsRecord {
	var out [hsSlots]hsRecord
	buf := make([]byte, hsSlots*hsSlotSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return out
	}
	buf = buf[:n]
	for slot := range hsSlots {
		off := slot * hsSlotSize
		if off+hsRecSize > len(buf) {
			continue
		}
		size := hsRecSize
		switch string(buf[off : off+len(hsMagic)]) {
		case hsMagic:
		case hsMagicEpoch:
			size = hsRecSizeEpoch
			if off+size > len(buf) {
				continue
			}
		default:
			continue
		}
		r := buf[off : off+size]
		if crc32.Checksum(r[:size-4], castagnoli) != binary.LittleEndian.Uint32(r[size-4:]) {
			continue
		}
		out[slot] = hsRecord{ok: true,
			seq:  binary.LittleEndian.Uint64(r[len(hsMagic):]),
			term: binary.LittleEndian.Uint64(r[len(hsMagic)+8:]),
			vote: binary.LittleEndian.Uint64(r[len(hsMagic)+16:]),
		}
		if size == hsRecSizeEpoch {
			out[slot].epoch = binary.LittleEndian.Uint64(r[len(hsMagic)+24:])
		}
	}
	return out
}

// recoveryMark is the content of RecoveringFile.
type recoveryMark struct {
	tOld  uint64 // the vote floor
	done  bool   // recovery finished; the floor stays
	epoch uint64 // the replica's incarnation: how many recoveries it started
}

const (
	recMagic = "SKVREC02"
	// recMagicEpoch: the mark also holds the epoch (8 bytes after done).
	recMagicEpoch = "SKVREC03"
	recSize       = 21
	recSizeEpoch  = recSize + 8
)

// readRecovering reads RecoveringFile. present is false if there is none;
// ok is false if it is damaged (then the floor is unknown).
func readRecovering(fs host.FS) (mark recoveryMark, present, ok bool) {
	f, err := fs.Open(RecoveringFile)
	if err != nil {
		return recoveryMark{}, false, false
	}
	defer f.Close()
	b := make([]byte, recSizeEpoch+1)
	n, _ := f.ReadAt(b, 0)
	b = b[:n]
	size := recSize
	if n >= 8 && string(b[:8]) == recMagicEpoch {
		size = recSizeEpoch
	} else if n < 8 || string(b[:8]) != recMagic {
		return recoveryMark{}, true, false
	}
	if n != size || b[16] > 1 ||
		crc32.Checksum(b[:size-4], castagnoli) != binary.LittleEndian.Uint32(b[size-4:]) {
		return recoveryMark{}, true, false
	}
	mark = recoveryMark{tOld: binary.LittleEndian.Uint64(b[8:]), done: b[16] == 1}
	if size == recSizeEpoch {
		mark.epoch = binary.LittleEndian.Uint64(b[17:])
	}
	return mark, true, true
}

// writeRecovering durably records the mark: written to a temp name,
// synced, renamed into place.
func writeRecovering(fs host.FS, m recoveryMark, done func(error)) {
	const tmp = RecoveringFile + ".tmp"
	_ = fs.Remove(tmp)
	f, err := fs.Create(tmp)
	if err != nil {
		done(err)
		return
	}
	magic := recMagic
	if m.epoch != 0 {
		magic = recMagicEpoch
	}
	b := append([]byte(magic), make([]byte, 9)...)
	binary.LittleEndian.PutUint64(b[8:], m.tOld)
	if m.done {
		b[16] = 1
	}
	if m.epoch != 0 {
		b = binary.LittleEndian.AppendUint64(b, m.epoch)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		done(err)
		return
	}
	f.Sync(func(err error) {
		f.Close()
		if err == nil {
			err = fs.Rename(tmp, RecoveringFile)
		}
		if err != nil {
			done(err)
			return
		}
		// The rename is durable only once the directory is synced: a
		// lost mark would let a recovering replica vote.
		fs.SyncDir(done)
	})
}

// startRecovery handles storage that cannot be trusted: recover from the
// peers if the second copy of the hard state bounds the old votes, else
// stop for good.
func (n *Node) startRecovery(cause error) {
	n.probes.Hit(probeRecoveryStarted)
	if n.cfg.Observer != nil {
		n.cfg.Observer.Damaged(n.id, cause.Error())
	}
	fs := n.h.FS()
	if n.wal != nil {
		_ = n.wal.Close()
		n.wal = nil
	}
	// The floor of an unfinished recovery still bounds every vote (none
	// is granted while recovering); the floor of a finished one does not
	// bound the votes cast since: those only the hard state copy bounds.
	tOld, ok := n.voteFloor, n.floorKnown && n.recovering
	if n.hs == nil {
		if c, err := openHSCopy(fs); err == nil {
			n.hs = c
		}
	}
	if n.hs != nil {
		if _, term, _, good := readHSSlots(n.hs.f); good {
			tOld, ok = max(tOld, term), true
		} else if n.hs.f.Size() == 0 {
			// Never written: no vote or acknowledgement was ever sent,
			// since each waits for a synced copy of its term (a replica
			// damaged before its first election used to stop for good).
			ok = true
		}
	}
	if !ok {
		n.stop(cause.Error() + "; no intact copy of the hard state to recover with")
		return
	}
	// The next incarnation: above every epoch the replica ran with (it
	// is in the mark and in the hard state copy, the one that survives
	// the damage), durable in both before raft runs with it.
	epoch := n.epoch
	writeHS := false
	if n.hs != nil {
		r, good := newestHSRecord(n.hs.f)
		epoch = max(epoch, n.hs.epoch, r.epoch)
		writeHS = good || n.hs.f.Size() == 0
	}
	epoch++
	n.recoverCause = cause.Error()
	n.booting = true
	n.rn, n.ms, n.sm = nil, nil, nil
	n.recordEpoch(writeHS, epoch, func(err error) {
		if err == nil {
			writeRecovering(fs, recoveryMark{tOld: tOld, epoch: epoch}, func(err error) {
				n.wipeAfterMark(cause, tOld, epoch, err)
			})
			return
		}
		n.wipeAfterMark(cause, tOld, epoch, err)
	})
}

// recordEpoch writes the new epoch into the hard state copy (if write):
// with the copy's term and vote, which it keeps.
func (n *Node) recordEpoch(write bool, epoch uint64, done func(error)) {
	if !write {
		done(nil)
		return
	}
	n.hs.epoch = epoch
	n.hs.write(n.hs.term, n.hs.vote, done)
}

// wipeAfterMark goes on with a recovery once its mark (and epoch) is
// durable, or failed with err.
func (n *Node) wipeAfterMark(cause error, tOld, epoch uint64, err error) {
	if n.stopped {
		return
	}
	if err != nil {
		n.recoveryFailed(cause, err)
		return
	}
	fs := n.h.FS()
	if err := n.removeDamaged(); err != nil {
		n.recoveryFailed(cause, err)
		return
	}
	// The removals must be durable before the new log exists: else a
	// crash brings the damaged files back beside it.
	fs.SyncDir(func(err error) {
		if n.stopped {
			return
		}
		if err == nil {
			n.epoch = epoch
			err = n.wipeAndJoin(tOld)
		}
		if err != nil {
			n.recoveryFailed(cause, err)
			return
		}
		n.booting = false
		n.process()
	})
}

// recoveryFailed handles a recovery step that failed with err. A full
// disk changed nothing that matters and lost nothing acknowledged (a
// recovery starts from a wiped log and votes for nobody), so the whole
// recovery starts again after DiskRetry, as diskError retries: stopping
// for good there turned a transient disk-full into a replica lost for
// the rest of the run (a 1 h seed lost two of five this way). Anything
// else fails the replica (Node.fail).
func (n *Node) recoveryFailed(cause, err error) {
	if !errors.Is(err, host.ErrNoSpace) {
		n.fail(cause.Error()+"; recovery", err)
		return
	}
	n.probes.Hit(probeDiskFullRetry)
	n.h.After(n.cfg.DiskRetry, func() {
		if !n.stopped {
			n.startRecovery(cause)
		}
	})
}

// removeDamaged removes the damaged WAL segments and snapshot files.
func (n *Node) removeDamaged() error {
	fs := n.h.FS()
	names, err := fs.List()
	if err != nil {
		return err
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".wal") || strings.Contains(name, ".snap") {
			if err := fs.Remove(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// wipeAndJoin drops the damaged WAL and snapshots and restarts raft on an
// empty log, as a joining member in recovery.
func (n *Node) wipeAndJoin(tOld uint64) error {
	fs := n.h.FS()
	if err := n.removeDamaged(); err != nil { // none left, unless a crash cut the wipe short
		return err
	}
	w, err := wal.Create(fs, wal.Metadata{NodeID: uint64(n.id), ClusterID: n.cfg.ClusterID},
		wal.Options{SegmentSize: n.cfg.SegmentSize})
	if err != nil {
		return err
	}
	n.wal = w
	n.ms = raft.NewMemoryStorage()
	n.sm = newStateMachine(n.cfg.QuotaBytes)
	n.applied, n.snapIndex, n.confState = 0, 0, raft.ConfState{}
	n.recovering, n.voteFloor, n.floorKnown = true, tOld, true
	return n.startRaft()
}

// onControl handles a control message from a peer (outside raft,
// EnvelopeControl): kind(1) body.
func (n *Node) onControl(from host.NodeID, b []byte) {
	if len(b) > 0 && b[0] == ctlSnapChunk {
		n.onSnapChunk(from, b[1:])
	}
}

// checkRecovered records the end of recovery durably once raft has ended
// it (raft.Config.Recovering: the replica caught up with a leader of a
// term at or above the vote floor). Raft votes again from then on; until
// the mark is durable a restart simply recovers again, which is safe.
func (n *Node) checkRecovered() {
	if !n.recovering || n.ending || n.rn.Recovering() {
		return
	}
	n.ending = true
	n.probes.Hit(probeRecoveryDone)
	writeRecovering(n.h.FS(), recoveryMark{tOld: n.voteFloor, done: true, epoch: n.epoch}, func(err error) {
		n.ending = false
		if n.stopped || err != nil {
			return // retried after the next Ready
		}
		n.recovering = false
		n.recovered++
	})
}

// Recovering reports whether the replica is recovering from corrupt
// storage, and what the damage was.
func (n *Node) Recovering() (bool, string) { return n.recovering, n.recoverCause }
