package harness

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
)

func newStorageChecker(damaged ...host.NodeID) (*storageChecker, *recorder, *leaseBook) {
	s, rec := newTestChecker()
	book := &leaseBook{}
	return &storageChecker{safetyChecker: s, leases: book, damagedByFault: func(id host.NodeID) bool {
		for _, d := range damaged {
			if d == id {
				return true
			}
		}
		return false
	}}, rec, book
}

// TestUnexpectedRecovery: a replica that finds its storage damaged fails
// the run unless a fault damaged its disk.
func TestUnexpectedRecovery(t *testing.T) {
	c, rec, _ := newStorageChecker(2)
	c.Damaged(2, "snapshot corrupt")
	require.Empty(t, rec.fails, "a corrupted replica may recover")
	c.Damaged(3, "snap: no snapshot: 0000000000000021-0000000000000002.snap")
	require.Len(t, rec.fails, 1)
	require.Contains(t, rec.fails[0], "unexpected recovery: replica 3")
	require.Contains(t, rec.fails[0], "0000000000000021-0000000000000002.snap", "names the file")
}

// TestRecoveredLogTermsNeverDecrease: a restart that brings back a log
// whose terms go down (a replaced suffix) fails; a monotone log passes.
func TestRecoveredLogTermsNeverDecrease(t *testing.T) {
	cases := []struct {
		name  string
		snap  uint64
		terms []uint64 // from index snap+1
		fail  string
	}{
		{"monotone", 0, []uint64{1, 1, 2, 3, 3}, ""},
		{"after a snapshot", 4, []uint64{2, 2}, ""},
		{"stale suffix", 0, []uint64{1, 3, 2}, "entry 3 of term 2 after entry 2 of term 3"},
		{"older than the snapshot", 4, []uint64{1}, "entry 5 of term 1 after entry 4 of term 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec, _ := newStorageChecker()
			r := recovered(3, 0, tc.snap, tc.snap+1, tc.terms...)
			if tc.snap > 0 {
				r.SnapTerm = 2
			}
			c.Booted(1, r)
			if tc.fail == "" {
				require.Empty(t, rec.fails)
				return
			}
			require.NotEmpty(t, rec.fails)
			require.True(t, strings.Contains(rec.fails[0], tc.fail), rec.fails[0])
		})
	}
}

// TestLeasePromotion: a leader elected while a lease was live renews it by
// its TTL; one elected after its bound (its expiry may already have been
// proposed) does not.
func TestLeasePromotion(t *testing.T) {
	c, _, book := newStorageChecker()
	sec := int64(time.Second)
	l := book.granted(7, 0, 2*time.Second, 1*sec) // live until 3s by its grant
	c.now = func() time.Duration { return 2 * time.Second }
	c.BecameLeader(1, 2) // at 2s: live, renewed until 4s
	c.now = func() time.Duration { return 5 * time.Second }
	c.BecameLeader(2, 3) // at 5s: past 4s, no renewal
	book.promote(0)
	require.Equal(t, 4*sec, l.bound())
	require.Error(t, l.checkSeen(3500*int64(time.Millisecond), 0, "its delete"))
	require.NoError(t, l.checkSeen(4*sec, 0, "its delete"))
	// With a second of clock slack the 2s leader might have seen it
	// expired already only if 2s >= 3s - 1s: it is exactly at the edge.
	l.promoted = 0
	book.promote(time.Second)
	require.Equal(t, 3*sec, l.bound(), "2s is not before 3s less a second of slack")
}

// TestLeasePromotionIgnoresStaleTerms: only a leader of a newer term than
// any before renews the leases. A candidate paused with its votes in
// flight may win a stale term after a later term's leader took over; its
// lessor is never asked, so its election extends nothing.
func TestLeasePromotionIgnoresStaleTerms(t *testing.T) {
	c, _, book := newStorageChecker()
	sec := int64(time.Second)
	l := book.granted(7, 0, 2*time.Second, 1*sec) // live until 3s by its grant
	c.now = func() time.Duration { return 2 * time.Second }
	c.BecameLeader(1, 6) // at 2s: renews until 4s
	c.now = func() time.Duration { return 3500 * time.Millisecond }
	c.BecameLeader(2, 5) // at 3.5s, a stale term: renews nothing
	book.promote(0)
	require.Equal(t, 4*sec, l.bound())
	require.NoError(t, l.checkSeen(4*sec, 0, "its delete"))
}

// TestLeasePromotionBindsLaterTermsOnly: the leader of term 5, deposed
// behind a partition, proposes the expiry on its own schedule (4s: its
// promotion at 1s + TTL 3s), is elected again in term 7 and commits that
// term-5 entry. The leader of term 6 elected at 3s promised more time, but
// its promise binds only expiry entries of term 6 or later.
func TestLeasePromotionBindsLaterTermsOnly(t *testing.T) {
	c, _, book := newStorageChecker()
	sec := int64(time.Second)
	l := book.granted(7, 0, 3*time.Second, 0) // live until 3s by its grant
	c.now = func() time.Duration { return time.Second }
	c.BecameLeader(1, 5) // renews until 4s
	c.now = func() time.Duration { return 3 * time.Second }
	c.BecameLeader(2, 6) // renews until 6s, for entries of term >= 6
	c.now = func() time.Duration { return 4500 * time.Millisecond }
	c.BecameLeader(1, 7)
	c.Applied(1, 10, 5, appendExpire(7))
	book.promote(0)
	require.Equal(t, 4*sec, l.bound(), "a term-5 expiry owes nothing to term 6's promotion")
	require.NoError(t, l.checkSeen(4600*int64(time.Millisecond), 0, "its delete"))

	// An expiry entry of term 7 is bound by every promotion up to 7.
	c.Applied(1, 11, 7, appendExpire(7))
	l.promoted = 0
	book.promote(0)
	require.Equal(t, int64(4500*time.Millisecond)+3*sec, l.bound())
	require.Error(t, l.checkSeen(5*sec, 0, "its delete"))
}

// appendExpire is a node expiry command naming leases, in the node's log
// encoding (version, kind 2, varint stamp, uvarint count, varint IDs).
func appendExpire(leases ...int64) []byte {
	b := []byte{expireCmdVersion, 2}
	b = binary.AppendVarint(b, 0)
	b = binary.AppendUvarint(b, uint64(len(leases)))
	for _, id := range leases {
		b = binary.AppendVarint(b, id)
	}
	return b
}

// expireCmdVersion is the node's command encoding version (node/command.go).
const expireCmdVersion = 1

func TestAppendExpireIsTheNodesEncoding(t *testing.T) {
	cmd, err := node.DecodeCommand(appendExpire(7, 9))
	require.NoError(t, err)
	require.True(t, cmd.Expire)
	require.Equal(t, []int64{7, 9}, cmd.Leases)
}
