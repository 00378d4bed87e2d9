package mvcc

import "github.com/google/btree"

// keyTree orders the keys for ranges: a B-tree of items that carry the key
// inline, so that comparisons during a descent read the key's bytes
// without first loading its keyIndex (one cache miss per step instead of
// two, which doubles insert speed in a large store).
type keyTree struct {
	t *btree.BTreeG[keyItem]
}

type keyItem struct {
	key string // the same string as ki.key: no copy of the bytes
	ki  *keyIndex
}

// btreeDegree is the key tree's B-tree degree (etcd uses 32 too).
const btreeDegree = 32

func newKeyTree() keyTree {
	return keyTree{t: btree.NewG(btreeDegree, func(a, b keyItem) bool { return a.key < b.key })}
}

func (t keyTree) insert(ki *keyIndex) { t.t.ReplaceOrInsert(keyItem{ki.key, ki}) }
func (t keyTree) delete(ki *keyIndex) { t.t.Delete(keyItem{ki.key, ki}) }
func (t keyTree) len() int            { return t.t.Len() }

// each calls f on every key in order until f returns false.
func (t keyTree) each(f func(*keyIndex) bool) {
	t.t.Ascend(func(it keyItem) bool { return f(it.ki) })
}

// from calls f on every key >= key in order until f returns false.
func (t keyTree) from(key string, f func(*keyIndex) bool) {
	t.t.AscendGreaterOrEqual(keyItem{key: key}, func(it keyItem) bool { return f(it.ki) })
}
