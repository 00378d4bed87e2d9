// Package mvcc is seedkv's multi-version key space: the state machine that
// Raft replicates. Its data model is etcd's:
//
//   - A revision is a store-wide counter bumped once per write transaction
//     (Put, a DeleteRange that deletes something, a Txn that writes, a lease
//     revoke that deletes keys). A fresh store is at revision 1, as in etcd.
//   - Every key carries CreateRevision, ModRevision and Version (changes since
//     creation). Deleting a key ends its generation; recreating it starts a
//     new one at Version 1.
//   - Range reads a key, a range [key, end), a prefix (end = PrefixEnd(key))
//     or every key from key on (end = "\x00"), at the latest or a past
//     revision, with limit, count-only and keys-only options.
//   - Txn evaluates compares and runs the success or failure ops at one
//     revision. Compact drops history before a revision. Watchers pull
//     events from history. Leases delete their keys when revoked; expiry is
//     decided by the caller (the Raft leader) from times passed in, never
//     from a clock of this package.
//
// A Store is not safe for concurrent use: the node drives it from one event
// loop. Nothing here reads the clock, starts goroutines or depends on map
// order, so replicas that apply the same sequence of calls end in the same
// state, byte for byte (see Snapshot and Hash).
//
// Internals: a key index maps each key to the positions of its revisions
// in a revision-ordered log of fixed-size records kept in pages. A B-tree
// (google/btree) orders the keys for ranges; a hash table of log positions
// serves point reads and writes without a tree descent. Value bytes live
// in large shared chunks, so a key with one version costs two small
// allocations (its index entry and its key string). Watchers read the log
// from their position; compaction rewrites it.
package mvcc
