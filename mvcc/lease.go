package mvcc

import (
	"math"
	"slices"
	"strings"
	"time"
)

// LeaseOverheadBytes is what a lease costs in quota accounting.
const LeaseOverheadBytes = 64

// lease is a granted lease. Its expiry comes from times the caller passed
// in, so it is as deterministic as the log that carried them.
type lease struct {
	id     int64
	ttl    time.Duration
	expiry int64 // Unix nanoseconds
	keys   map[*keyIndex]struct{}
}

// expiryAt is now+ttl in Unix nanoseconds, saturating instead of
// overflowing for far-future times.
func expiryAt(now time.Time, ttl time.Duration) int64 {
	n := now.UnixNano()
	if n > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return n + int64(ttl)
}

// attach records that ki's live version carries lease id (0: none).
func (s *Store) attach(id int64, ki *keyIndex) {
	if l := s.leases[id]; l != nil {
		l.keys[ki] = struct{}{}
	}
}

// detach undoes attach.
func (s *Store) detach(id int64, ki *keyIndex) {
	if l := s.leases[id]; l != nil {
		delete(l.keys, ki)
	}
}

// LeaseGrant creates lease id (not 0; etcd accepts negative IDs too) with
// ttl (> 0, at most MaxLeaseTTL), expiring at now+ttl. Like etcd it needs
// room in the quota.
func (s *Store) LeaseGrant(id int64, ttl time.Duration, now time.Time) error {
	if id == 0 || ttl <= 0 || ttl > MaxLeaseTTL {
		return ErrInvalidArgument
	}
	if s.leases[id] != nil {
		return ErrLeaseExists
	}
	if s.size+LeaseOverheadBytes > s.quota {
		return ErrNoSpace
	}
	s.leases[id] = &lease{id: id, ttl: ttl, expiry: expiryAt(now, ttl), keys: make(map[*keyIndex]struct{})}
	s.leaseIDs = nil
	s.size += LeaseOverheadBytes
	return nil
}

// LeaseRevoke deletes lease id and, at one new revision, every key
// attached to it (in key order). It returns the store's revision after,
// unchanged if no key was attached. It works past the quota.
func (s *Store) LeaseRevoke(id int64) (rev int64, err error) {
	l := s.leases[id]
	if l == nil {
		return 0, ErrLeaseNotFound
	}
	if s.log.n+len(l.keys) > MaxRecords {
		return 0, ErrNoSpace
	}
	kis := l.sortedKeys()
	delete(s.leases, id)
	s.leaseIDs = nil
	s.size -= LeaseOverheadBytes
	if len(kis) > 0 {
		s.probes.Hit(probeLeaseRevokeKey)
		s.deleteKeys(kis, s.rev+1, 0, false)
		s.rev++
	}
	return s.rev, nil
}

func (l *lease) sortedKeys() []*keyIndex {
	kis := make([]*keyIndex, 0, len(l.keys))
	for ki := range l.keys {
		kis = append(kis, ki)
	}
	slices.SortFunc(kis, func(a, b *keyIndex) int { return strings.Compare(a.key, b.key) })
	return kis
}

// LeaseKeepAlive renews lease id to expire at now+TTL and returns the TTL.
func (s *Store) LeaseKeepAlive(id int64, now time.Time) (time.Duration, error) {
	l := s.leases[id]
	if l == nil {
		s.probes.Hit(probeLeaseMissing)
		return 0, ErrLeaseNotFound
	}
	l.expiry = expiryAt(now, l.ttl)
	return l.ttl, nil
}

// LeaseTimeToLive describes lease id as of now.
func (s *Store) LeaseTimeToLive(id int64, now time.Time) (LeaseInfo, error) {
	l := s.leases[id]
	if l == nil {
		return LeaseInfo{}, ErrLeaseNotFound
	}
	info := LeaseInfo{ID: id, GrantedTTL: l.ttl, Remaining: time.Duration(l.expiry - now.UnixNano())}
	for _, ki := range l.sortedKeys() {
		info.Keys = append(info.Keys, []byte(ki.key))
	}
	return info, nil
}

// Leases returns the IDs of all leases, sorted.
func (s *Store) Leases() []int64 {
	ids := s.sortedLeaseIDs()
	return append(make([]int64, 0, len(ids)), ids...)
}

// sortedLeaseIDs is Leases without the copy: the caller must not modify
// it, nor keep it past a change of the leases.
func (s *Store) sortedLeaseIDs() []int64 {
	if s.leaseIDs == nil {
		ids := make([]int64, 0, len(s.leases))
		for id := range s.leases {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		s.leaseIDs = ids
	}
	return s.leaseIDs
}

// ExpiredLeases returns, sorted, the IDs of leases whose expiry is at or
// before now. The store never revokes on its own: the leader proposes
// revokes for these through the log.
func (s *Store) ExpiredLeases(now time.Time) []int64 {
	t := now.UnixNano()
	var ids []int64
	for id, l := range s.leases {
		if l.expiry <= t {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// LeasePromote renews every lease to expire at now+TTL, as etcd's lessor
// does when its node becomes leader, so that no lease expires merely
// because the cluster had no leader to receive its keep-alives.
func (s *Store) LeasePromote(now time.Time) {
	for _, l := range s.leases {
		l.expiry = expiryAt(now, l.ttl)
	}
}
