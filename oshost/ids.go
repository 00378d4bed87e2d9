package oshost

import (
	"fmt"

	"github.com/seedkv/seedkv/host"
)

// Member IDs are small (below MaxMembers); a client process hosted by a
// member has an ID with the top bit set, an incarnation number in the
// middle and its home member in the low 16 bits, so any member can route
// an answer to it without a directory.
const (
	// MaxMemberID bounds member IDs (exclusive).
	MaxMemberID = 1 << 16
	clientBit   = 1 << 63
	memberMask  = MaxMemberID - 1
	incarnMask  = 1<<47 - 1
)

// ClientID is the ID of a client process hosted by member home. The
// incarnation must differ between runs of the same member (the replicas
// remember each client's requests, so a restarted client must not reuse
// an old identity): a start time in nanoseconds will do.
func ClientID(home host.NodeID, incarnation uint64) host.NodeID {
	if incarnation&incarnMask == 0 {
		incarnation = 1 // 0 is MetaID's
	}
	return host.NodeID(clientBit | (incarnation&incarnMask)<<16 | uint64(home)&memberMask)
}

// MetaID is the ID of the process of member home that exchanges member
// metadata with the other members (package server's member table): a
// client ID of incarnation 0, which ClientID never hands out.
func MetaID(home host.NodeID) host.NodeID {
	return host.NodeID(clientBit | uint64(home)&memberMask)
}

// Home is the member that hosts process id (id itself for a member).
func Home(id host.NodeID) host.NodeID {
	if id&clientBit != 0 {
		return id & memberMask
	}
	return id
}

// CheckMemberID reports whether id can name a member.
func CheckMemberID(id host.NodeID) error {
	if id == 0 || id >= MaxMemberID {
		return fmt.Errorf("oshost: member ID %d out of range [1, %d)", id, MaxMemberID)
	}
	return nil
}
