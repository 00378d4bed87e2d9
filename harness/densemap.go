package harness

import "github.com/seedkv/seedkv/host"

// Maps by replica ID, and by pair of replica IDs, that the safety
// checker reads on every message: slices indexed by ID for the IDs below
// denseIDs (replicas are numbered from 1), maps beyond. Each is a map in
// effect: a missing key reads as the zero value. None is ranged over.

// denseIDs bounds the IDs the tables below keep in slices.
const denseIDs = 256

// idTable is a map by replica ID.
type idTable[V any] struct {
	dense []V
	big   map[host.NodeID]V
}

func (t *idTable[V]) get(id host.NodeID) V {
	if uint64(id) < uint64(len(t.dense)) {
		return t.dense[id]
	}
	return t.big[id]
}

func (t *idTable[V]) set(id host.NodeID, v V) {
	switch {
	case uint64(id) < uint64(len(t.dense)):
		t.dense[id] = v
	case id < denseIDs:
		t.dense = append(t.dense, make([]V, int(id)+1-len(t.dense))...)
		t.dense[id] = v
	default:
		if t.big == nil {
			t.big = map[host.NodeID]V{}
		}
		t.big[id] = v
	}
}

// pairTable is a map by pair of replica IDs (get's ok as a map's).
type pairTable[V any] struct {
	n    int // the table covers IDs below n
	vals []pairVal[V]
	big  map[[2]host.NodeID]V
}

type pairVal[V any] struct {
	v  V
	ok bool
}

// at is k's slot, growing the table to cover it if grow; nil if k is
// beyond the table.
func (t *pairTable[V]) at(k [2]host.NodeID, grow bool) *pairVal[V] {
	hi := max(k[0], k[1])
	if hi >= denseIDs {
		return nil
	}
	if int(hi) >= t.n {
		if !grow {
			return nil
		}
		n := max(8, t.n)
		for int(hi) >= n {
			n *= 2
		}
		vals := make([]pairVal[V], n*n)
		for a := range t.n {
			copy(vals[a*n:a*n+t.n], t.vals[a*t.n:(a+1)*t.n])
		}
		t.n, t.vals = n, vals
	}
	return &t.vals[int(k[0])*t.n+int(k[1])]
}

func (t *pairTable[V]) get(k [2]host.NodeID) (V, bool) {
	if max(k[0], k[1]) >= denseIDs {
		v, ok := t.big[k]
		return v, ok
	}
	if p := t.at(k, false); p != nil {
		return p.v, p.ok
	}
	var zero V
	return zero, false
}

func (t *pairTable[V]) set(k [2]host.NodeID, v V) {
	if p := t.at(k, true); p != nil {
		*p = pairVal[V]{v, true}
		return
	}
	if t.big == nil {
		t.big = map[[2]host.NodeID]V{}
	}
	t.big[k] = v
}
