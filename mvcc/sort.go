package mvcc

import (
	"bytes"
	"sort"
)

// SortOrder is the order of a sorted Range, as etcd's RangeRequest
// sort_order (same numbering).
type SortOrder uint8

// Sort orders.
const (
	SortNone SortOrder = iota // key order, unless SortTarget says otherwise
	SortAscend
	SortDescend
)

// SortTarget is what a sorted Range sorts by, as etcd's sort_target (same
// numbering).
type SortTarget uint8

// Sort targets.
const (
	SortByKey SortTarget = iota
	SortByVersion
	SortByCreate
	SortByMod
	SortByValue
)

// validSort reports whether o's sort enums are known (etcd's gRPC check
// refuses others with ErrGRPCInvalidSortOption).
func (o *RangeOptions) validSort() bool {
	return o.SortOrder <= SortDescend && o.SortTarget <= SortByValue
}

// defaultOrder is etcd's IsDefaultOrdering: the store's key order serves.
func defaultOrder(t SortTarget, ord SortOrder) bool {
	return ord == SortNone || (t == SortByKey && ord == SortAscend)
}

func (o *RangeOptions) filtered() bool {
	return o.MinModRevision != 0 || o.MaxModRevision != 0 || o.MinCreateRevision != 0 || o.MaxCreateRevision != 0
}

// postProcessed reports whether the result is sorted or filtered after
// it is read.
func (o *RangeOptions) postProcessed() bool {
	return o.filtered() || o.SortOrder != SortNone || o.SortTarget != SortByKey
}

// readOptions are the options the key space is read with before finish,
// as etcd's executeRange: no limit when the order is not the default or
// filters apply, else one key past the limit (to tell More); values are
// read when sorting by value.
func (o RangeOptions) readOptions() RangeOptions {
	r := o
	switch {
	case !defaultOrder(o.SortTarget, o.SortOrder) || o.filtered():
		r.Limit = 0
	case o.Limit > 0:
		r.Limit = o.Limit + 1
	}
	if o.SortTarget == SortByValue {
		r.KeysOnly = false
	}
	return r
}

// finish filters, sorts and cuts res, read with o.readOptions(), as etcd
// does after its read. Count stays the count before filters. etcd sorts
// with sort.Sort, which is not stable: the same algorithm on the same key
// order gives the same order of ties.
func (o RangeOptions) finish(res *RangeResult) {
	kvs := res.KVs[:0]
	for _, kv := range res.KVs {
		if o.keep(&kv) {
			kvs = append(kvs, kv)
		}
	}
	ord := o.SortOrder
	if o.SortTarget != SortByKey && ord == SortNone {
		ord = SortAscend
	}
	if !defaultOrder(o.SortTarget, ord) {
		var s sort.Interface = kvSort{kvs, o.SortTarget}
		if ord == SortDescend {
			s = sort.Reverse(s)
		}
		sort.Sort(s)
	}
	res.More = false
	if o.Limit > 0 && int64(len(kvs)) > o.Limit {
		kvs, res.More = kvs[:o.Limit], true
	}
	if o.KeysOnly {
		for i := range kvs {
			kvs[i].Value = nil
		}
	}
	if len(kvs) == 0 {
		kvs = nil
	}
	res.KVs = kvs
}

// keep applies the min/max mod and create revision filters (0: none).
func (o *RangeOptions) keep(kv *KeyValue) bool {
	return (o.MaxModRevision == 0 || kv.ModRevision <= o.MaxModRevision) &&
		(o.MinModRevision == 0 || kv.ModRevision >= o.MinModRevision) &&
		(o.MaxCreateRevision == 0 || kv.CreateRevision <= o.MaxCreateRevision) &&
		(o.MinCreateRevision == 0 || kv.CreateRevision >= o.MinCreateRevision)
}

// kvSort is sort.Interface over key-values by target, with etcd's Less.
type kvSort struct {
	kvs []KeyValue
	by  SortTarget
}

func (s kvSort) Len() int      { return len(s.kvs) }
func (s kvSort) Swap(i, j int) { s.kvs[i], s.kvs[j] = s.kvs[j], s.kvs[i] }
func (s kvSort) Less(i, j int) bool {
	a, b := &s.kvs[i], &s.kvs[j]
	switch s.by {
	case SortByVersion:
		return a.Version-b.Version < 0
	case SortByCreate:
		return a.CreateRevision-b.CreateRevision < 0
	case SortByMod:
		return a.ModRevision-b.ModRevision < 0
	case SortByValue:
		return bytes.Compare(a.Value, b.Value) < 0
	default:
		return bytes.Compare(a.Key, b.Key) < 0
	}
}
