package primarybackup

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"hash/fnv"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Replica is one process of the primary-backup register. The replica with
// the lowest ID is the primary, for good (there is no failover): it takes
// every write, syncs it to its disk, answers the client, then sends the
// register to the backups (and again every UpdateEvery, so a backup that
// missed updates or restarted empty catches up). Backups keep the
// register in memory only.
//
// With backupReads set (the bug), a backup answers reads from its own
// copy, which may lag the primary's: a client can read an older value
// after a newer write was acknowledged. Fixed, a backup refuses reads and
// the client asks the primary.
type Replica struct {
	h           host.Host
	primary     host.NodeID
	backups     []host.NodeID
	backupReads bool
	version     uint64
	value       string
	// The primary's write pipeline: one write is synced at a time.
	file    host.File
	queue   []write
	syncing bool
	broken  error // the disk failed to open or read: the primary refuses writes
	// lastWrite is each client's highest write request ID taken: a
	// duplicated or overtaken request is not written again. (Messages in
	// flight to a crashed process are dropped, so the table need not
	// survive a restart.)
	lastWrite map[host.NodeID]uint64
}

type write struct {
	client host.NodeID
	id     uint64
	value  string
}

// UpdateEvery is the primary's period of updates to the backups.
const UpdateEvery = 20 * time.Millisecond

// registerFile holds the primary's register in two slots; a write goes to
// the slot of its version's parity, so a torn write never damages the
// synced register in the other slot.
const registerFile = "register"

// slotSize is one slot: CRC-32C, version, value length, value.
const slotSize = 4 + 8 + 4 + MaxValue

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// StartReplica starts a replica on h in the group peers (h.ID() among
// them); it is called again, with the same peers, on every restart.
func StartReplica(h host.Host, peers []host.NodeID, backupReads bool) *Replica {
	r := &Replica{h: h, primary: slices.Min(peers), backupReads: backupReads, lastWrite: map[host.NodeID]uint64{}}
	for _, id := range peers {
		if id != r.primary {
			r.backups = append(r.backups, id)
		}
	}
	if r.isPrimary() {
		r.recover()
		r.h.After(UpdateEvery, r.tick)
	}
	return r
}

func (r *Replica) isPrimary() bool { return r.h.ID() == r.primary }

// recover opens the register file and takes the valid slot of the
// highest version.
func (r *Replica) recover() {
	f, err := r.h.FS().Open(registerFile)
	if errors.Is(err, host.ErrNotExist) {
		f, err = r.h.FS().Create(registerFile)
	}
	if err != nil {
		r.broken = err
		return
	}
	r.file = f
	for slot := range int64(2) {
		if v, val, ok := readSlot(f, slot); ok && v > r.version {
			r.version, r.value = v, val
		}
	}
}

// readSlot reads one slot; ok is false for a slot never written, torn or
// corrupt.
func readSlot(f host.File, slot int64) (version uint64, value string, ok bool) {
	b := make([]byte, slotSize)
	if n, _ := f.ReadAt(b, slot*slotSize); n < 16 {
		return 0, "", false
	}
	n := binary.LittleEndian.Uint32(b[12:16])
	if n > MaxValue || crc32.Checksum(b[4:16+n], crcTable) != binary.LittleEndian.Uint32(b[:4]) {
		return 0, "", false
	}
	return binary.LittleEndian.Uint64(b[4:12]), string(b[16 : 16+n]), true
}

// slotBytes encodes one slot.
func slotBytes(version uint64, value string) []byte {
	b := make([]byte, 16, 16+len(value))
	binary.LittleEndian.PutUint64(b[4:12], version)
	binary.LittleEndian.PutUint32(b[12:16], uint32(len(value)))
	b = append(b, value...)
	binary.LittleEndian.PutUint32(b[:4], crc32.Checksum(b[4:], crcTable))
	return b
}

// Receive handles one message.
func (r *Replica) Receive(from host.NodeID, p []byte) {
	m, err := Decode(p)
	if err != nil {
		return // not ours: dropped
	}
	switch {
	case m.Kind == KindWrite && r.isPrimary():
		if r.broken != nil {
			r.reply(from, Msg{ID: m.ID, Status: StatusFailed})
			return
		}
		if m.ID <= r.lastWrite[from] {
			return // a duplicate, or overtaken by the client's next request
		}
		r.lastWrite[from] = m.ID
		r.queue = append(r.queue, write{client: from, id: m.ID, value: m.Value})
		r.writeNext()
	case m.Kind == KindRead && (r.isPrimary() || r.backupReads):
		r.reply(from, Msg{ID: m.ID, Version: r.version, Value: r.value})
	case m.Kind == KindRead:
		r.reply(from, Msg{ID: m.ID, Status: StatusNotPrimary})
	case m.Kind == KindUpdate && from == r.primary && m.Version > r.version:
		r.version, r.value = m.Version, m.Value
	}
}

func (r *Replica) reply(to host.NodeID, m Msg) {
	m.Kind = KindReply
	r.h.Send(to, m.Encode())
}

// writeNext syncs the next queued write; once it is durable the register
// takes it, the client is answered and the backups are updated.
func (r *Replica) writeNext() {
	if r.syncing || len(r.queue) == 0 {
		return
	}
	w := r.queue[0]
	r.queue = r.queue[1:]
	v := r.version + 1
	if _, err := r.file.WriteAt(slotBytes(v, w.value), int64(v%2)*slotSize); err != nil {
		r.reply(w.client, Msg{ID: w.id, Status: StatusFailed})
		r.writeNext()
		return
	}
	r.syncing = true
	r.file.Sync(func(err error) {
		r.syncing = false
		if err != nil {
			r.reply(w.client, Msg{ID: w.id, Status: StatusFailed})
		} else {
			r.version, r.value = v, w.value
			r.reply(w.client, Msg{ID: w.id})
			r.update()
		}
		r.writeNext()
	})
}

// update sends the register to every backup.
func (r *Replica) update() {
	m := Msg{Kind: KindUpdate, Version: r.version, Value: r.value}.Encode()
	for _, id := range r.backups {
		r.h.Send(id, m)
	}
}

func (r *Replica) tick() {
	r.update()
	r.h.After(UpdateEvery, r.tick)
}

// AppliedIndex is the register's version (harness.Inspector).
func (r *Replica) AppliedIndex() uint64 { return r.version }

// KVHash is the register's version and a hash of its value
// (harness.Inspector).
func (r *Replica) KVHash() (int64, uint64, error) {
	h := fnv.New64a()
	h.Write([]byte(r.value))
	return int64(r.version), h.Sum64(), nil
}
