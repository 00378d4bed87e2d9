package workloads

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeWrite: the resource's decoder never panics, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeWrite(f *testing.F) {
	f.Add(encodeWrite(3, 17, 5))
	f.Add(encodeWrite(0, -1, 0))
	f.Add([]byte{auxEnvelope})
	f.Add([]byte{auxEnvelope, 0x80})
	f.Add([]byte{2, 1, 2, 3})
	f.Fuzz(func(t *testing.T, p []byte) {
		cl, tok, seq, ok := decodeWrite(p)
		if !ok {
			return
		}
		b := []byte{auxEnvelope}
		b = binary.AppendUvarint(b, cl)
		b = binary.AppendVarint(b, tok)
		b = binary.AppendUvarint(b, seq)
		// Varints have non-minimal encodings; a minimal one decodes alike.
		c2, t2, s2, ok2 := decodeWrite(b)
		require.True(t, ok2)
		require.Equal(t, []any{cl, tok, seq}, []any{c2, t2, s2})
	})
}

// FuzzDecodeAck: the client's decoder of the resource's answers never
// panics and accepts only seq + one 0/1 byte.
func FuzzDecodeAck(f *testing.F) {
	f.Add([]byte{5, 1})
	f.Add([]byte{5, 0})
	f.Add([]byte{5, 2})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, p []byte) {
		seq, acc, ok := decodeAck(p)
		if !ok {
			return
		}
		b := binary.AppendUvarint(nil, seq)
		require.LessOrEqual(t, len(b)+1, len(p))
		require.Equal(t, acc, p[len(p)-1] == 1)
	})
}

func TestDecodeWriteRejectsTrailingBytes(t *testing.T) {
	_, _, _, ok := decodeWrite(append(encodeWrite(1, 2, 3), 0))
	require.False(t, ok)
	c, tok, seq, ok := decodeWrite(encodeWrite(1, 2, 3))
	require.True(t, ok)
	require.Equal(t, []any{uint64(1), int64(2), uint64(3)}, []any{c, tok, seq})
}
