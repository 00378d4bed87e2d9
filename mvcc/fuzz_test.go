package mvcc

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sampleStore builds a small store with history, a compaction, deletes,
// a new generation and leases: a seed for FuzzRestore.
func sampleStore() *Store {
	s := New(Config{})
	_ = s.LeaseGrant(1, time.Minute, time.Unix(10, 0))
	_ = s.LeaseGrant(2, time.Second, time.Unix(10, 0))
	_, _, _ = s.Put([]byte("a"), []byte("1"), 0, false)
	_, _, _ = s.Put([]byte("b"), []byte("2"), 1, false)
	_, _, _ = s.Put([]byte("a"), []byte("3"), 2, false)
	_, _, _, _ = s.DeleteRange([]byte("b"), nil, false)
	_, _, _ = s.Put([]byte("b"), []byte("4"), 0, false)
	_, _ = s.Txn(TxnRequest{Success: []Op{OpPutKV([]byte("c"), []byte("5"), 0, false), OpDelete([]byte("a"), nil, false)}})
	_ = s.Compact(4)
	_, _, _ = s.Put([]byte("\xff"), nil, 1, false)
	return s
}

// FuzzRestore feeds Restore arbitrary bytes. With fixCRC the checksum is
// recomputed, so that mutations reach the decoder behind it. Whatever it
// accepts must be a working store whose snapshot is stable.
func FuzzRestore(f *testing.F) {
	f.Add(New(Config{}).Snapshot(), false)
	f.Add(sampleStore().Snapshot(), false)
	b := sampleStore().Snapshot()
	f.Add(b[:len(b)-4], true)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC {
			b = binary.LittleEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
		}
		s, err := Restore(b, Config{})
		if err != nil {
			require.ErrorIs(t, err, ErrCorruptSnapshot)
			var se *SnapshotError
			require.ErrorAs(t, err, &se)
			return
		}
		again := s.Snapshot()
		s2, err := Restore(again, Config{})
		require.NoError(t, err)
		require.Equal(t, again, s2.Snapshot())
		exercise(t, s)
	})
}

// exercise runs every kind of call on a restored store; none may panic.
func exercise(t *testing.T, s *Store) {
	all := []byte{0}
	// Every revision of a small history; the two ends of a huge one.
	for rev := max(s.CompactRevision(), 1, s.CurrentRevision()-64); rev <= s.CurrentRevision(); rev++ {
		_, err := s.Range(all, all, RangeOptions{Revision: rev})
		require.NoError(t, err)
		_, err = s.Hash(rev)
		require.NoError(t, err)
	}
	w, err := s.Watch(all, all, max(s.CompactRevision(), 1), true)
	require.NoError(t, err)
	_, err = w.Events(1 << 20)
	require.NoError(t, err)
	for _, id := range s.ExpiredLeases(time.Unix(0, 1<<62)) {
		_, err := s.LeaseRevoke(id)
		require.NoError(t, err)
	}
	_, _, _, err = s.DeleteRange(all, all, true)
	require.NoError(t, err)
	if s.CurrentRevision() > s.CompactRevision() {
		require.NoError(t, s.Compact(s.CurrentRevision()))
	}
	_, _, err = s.Put([]byte("k"), []byte("v"), 0, true)
	require.NoError(t, err)
}

func TestSampleSnapshotRestores(t *testing.T) {
	s := sampleStore()
	r, err := Restore(s.Snapshot(), Config{})
	require.NoError(t, err)
	exercise(t, r)
}
