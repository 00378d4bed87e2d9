package server

import (
	"encoding/binary"
	"hash/crc32"
	"sort"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/node"
)

// etcd's HashKV, computed over seedkv's store. seedkv's store holds the
// same records as etcd's backend after the same writes and compactions
// (the compat differential tests check it), so the hash etcd computes
// over its bbolt "key" bucket can be computed here from those records
// with etcd's encoding: a CRC-32C of the bucket name, then of each
// record's bucket key (8-byte big-endian main revision, '_', 8-byte sub
// revision, and 't' for a tombstone) followed by its value (the
// protobuf-encoded mvccpb.KeyValue; a tombstone's holds the key only).

// maxCompactHashes is how many compaction hashes a member keeps (etcd's
// hashStorageMaxSize).
const maxCompactHashes = 10

// compactHash is the hash etcd records when it compacts: of the history
// up to the compaction revision (Revision), from the previous compaction
// (CompactRevision), as held just before the compaction dropped any of it.
type compactHash struct {
	hash       uint32
	compactRev int64
	rev        int64
}

// etcdHash is etcd's kvHasher over the records up to rev: a record at or
// below lower (the compaction revision) counts only if it is its key's
// newest record at rev and a put (etcd's kvindex.Keep), or, with
// keepTombAtRev (a compaction's hash, whose keep set is
// kvindex.Compact's), a tombstone at exactly rev; when that set is empty
// every record at or below lower counts; a tombstone at exactly lower
// never counts.
func etcdHash(n *node.Node, lower, rev int64, keepTombAtRev bool) (uint32, error) {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte("key"))
	if rev <= 0 {
		return h.Sum32(), nil // no record is at or below revision 0
	}
	type at struct {
		main int64
		sub  uint32
	}
	newest := make(map[string]*mvcc.Record)
	keep := make(map[at]bool)
	err := n.EachRecord(rev, func(r *mvcc.Record) bool {
		c := *r
		c.Value = nil
		newest[r.Key] = &c
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, r := range newest {
		if !r.Tombstone() || (keepTombAtRev && r.Main == rev) {
			keep[at{r.Main, r.Sub}] = true
		}
	}
	var bkey [18]byte
	var kv mvccpb.KeyValue
	var failed error
	err = n.EachRecord(rev, func(r *mvcc.Record) bool {
		if r.Main <= lower && len(keep) > 0 && !keep[at{r.Main, r.Sub}] {
			return true
		}
		if r.Main == lower && r.Tombstone() {
			return true
		}
		binary.BigEndian.PutUint64(bkey[:8], uint64(r.Main))
		bkey[8] = '_'
		binary.BigEndian.PutUint64(bkey[9:17], uint64(r.Sub))
		k := bkey[:17]
		kv = mvccpb.KeyValue{Key: []byte(r.Key)}
		if r.Tombstone() {
			bkey[17] = 't'
			k = bkey[:18]
		} else {
			kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease = r.Value, r.Create, r.Main, r.Version, r.Lease
		}
		v, err := proto.Marshal(&kv)
		if err != nil {
			failed = err
			return false
		}
		h.Write(k)
		h.Write(v)
		return true
	})
	if err == nil {
		err = failed
	}
	return h.Sum32(), err
}

// recordCompactHash runs on the loop just before the replica compacts at
// rev (node.SetBeforeCompact): it keeps etcd's compaction hash, which
// HashKV answers for rev from then on (etcd's hashStorage).
func (s *Server) recordCompactHash(rev int64) {
	prev := s.etcdCompactRevision()
	h, err := etcdHash(s.cfg.Node, prev, rev, true)
	if err != nil {
		return
	}
	s.compactHashes = append(s.compactHashes, compactHash{hash: h, compactRev: prev, rev: rev})
	sort.Slice(s.compactHashes, func(i, j int) bool { return s.compactHashes[i].rev < s.compactHashes[j].rev })
	if len(s.compactHashes) > maxCompactHashes {
		s.compactHashes = s.compactHashes[len(s.compactHashes)-maxCompactHashes:]
	}
}

// etcdCompactRevision is the compaction revision as etcd reports it in
// HashKV: -1 before the first compaction (0 after one at revision 0).
func (s *Server) etcdCompactRevision() int64 { return s.cfg.Node.LastCompaction() }
