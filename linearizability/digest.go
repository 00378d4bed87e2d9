package linearizability

import (
	"fmt"
	"slices"
)

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// DigestKVs is a 64-bit digest of a read's answer: FNV-1a over every field
// of every KV, strings with their lengths, so that different answers
// differ but for a collision. It is never 0 (Output.Digest 0 means "no
// digest") and allocates nothing (the revision checker digests the
// store's state for every digested read it checks).
func DigestKVs(kvs []KV) uint64 {
	h := uint64(fnvOffset)
	num := func(v int64) {
		for i := 0; i < 64; i += 8 {
			h = (h ^ uint64(byte(v>>i))) * fnvPrime
		}
	}
	str := func(s string) {
		num(int64(len(s)))
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * fnvPrime
		}
	}
	num(int64(len(kvs)))
	for i := range kvs {
		kv := &kvs[i]
		str(kv.Key)
		str(kv.Value)
		num(kv.ModRevision)
		num(kv.CreateRevision)
		num(kv.Version)
	}
	return h | 1
}

// sameAnswer reports whether want (the store's state) is what out
// answered, by digest if out holds one.
func sameAnswer(want []KV, out *Output) bool {
	if out.Digest != 0 {
		return DigestKVs(want) == out.Digest
	}
	return slices.Equal(want, out.KVs)
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
