package linearizability

import (
	"fmt"
	"slices"
)

// DigestKVs is a 64-bit digest of a read's answer: a sum, over its KVs,
// of a mixed FNV-1a hash of every field (strings delimited), folded with
// their number, so that different answers differ but for a collision.
// An answer whose keys are not in strictly increasing order (as a store
// never answers) digests differently from every ordered one, but for a
// collision. Being a sum, the digest of the keys under a prefix can be
// kept up to date as the store changes (revState.prefixDigest), so a
// range read is checked at the cost of a lookup, not of its answer. It is
// never 0 (Output.Digest 0 means "no digest") and allocates nothing.
func DigestKVs(kvs []KV) uint64 {
	var sum uint64
	sorted := true
	for i := range kvs {
		sum += kvDigest(&kvs[i])
		if i > 0 && kvs[i-1].Key >= kvs[i].Key {
			sorted = false
		}
	}
	d := digestOf(len(kvs), sum)
	if !sorted {
		d = mix64(d^unsortedSalt) | 1
	}
	return d
}

// unsortedSalt marks the digest of an answer out of key order.
const unsortedSalt = 0x6a09e667f3bcc908

// kvDigest is one KV's term of DigestKVs' sum.
func kvDigest(kv *KV) uint64 { return mix64(hashKV(kv)) }

// digestOf folds the number of KVs and the sum of their terms.
func digestOf(n int, sum uint64) uint64 {
	return mix64(sum+mix64(uint64(n)+0x9e3779b97f4a7c15)) | 1
}

// mix64 is splitmix64's finalizer: every input bit affects every output
// bit, so sums of mixed hashes do not cancel by structure.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// answerOf renders what a Get or Range answered, for a reason.
func answerOf(out *Output) string {
	if out.Digest != 0 {
		return fmt.Sprintf("an answer with digest %016x (kept as a digest in long runs)", out.Digest)
	}
	return "[" + describeKVs(out.KVs) + "]"
}

// firstDigested returns the index of the first operation whose answer is
// kept as a digest, or -1.
func firstDigested(history []Op) int {
	return slices.IndexFunc(history, func(op Op) bool { return op.Output.Digest != 0 })
}
