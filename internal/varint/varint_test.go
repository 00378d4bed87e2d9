package varint

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUvarintCases(t *testing.T) {
	cases := []struct {
		in   []byte
		v    uint64
		n    int
		want error
	}{
		{[]byte{0}, 0, 1, nil},
		{[]byte{1, 0xff}, 1, 1, nil},
		{[]byte{0x80, 0x01}, 128, 2, nil},
		{nil, 0, 0, ErrTruncated},
		{[]byte{0x80}, 0, 0, ErrTruncated},
		{[]byte{0x80, 0x00}, 0, 0, ErrNonMinimal},
		{[]byte{0x81, 0x80, 0x00}, 0, 0, ErrNonMinimal},
		{binary.AppendUvarint(nil, math.MaxUint64), math.MaxUint64, 10, nil},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, 0, ErrOverflow},
	}
	for _, c := range cases {
		v, n, err := Uvarint(c.in)
		require.ErrorIs(t, err, c.want, "%x", c.in)
		if c.want == nil {
			require.Equal(t, c.v, v, "%x", c.in)
			require.Equal(t, c.n, n, "%x", c.in)
		}
	}
}

func TestVarintRoundTrip(t *testing.T) {
	for _, x := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64} {
		b := binary.AppendVarint(nil, x)
		v, n, err := Varint(b)
		require.NoError(t, err)
		require.Equal(t, x, v)
		require.Equal(t, len(b), n)
	}
	_, _, err := Varint([]byte{0x80})
	require.ErrorIs(t, err, ErrTruncated)
}

// FuzzUvarint: whatever the input, Uvarint agrees with encoding/binary on
// what it accepts, and what it accepts re-encodes to the same bytes.
func FuzzUvarint(f *testing.F) {
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Uvarint(b)
		bv, bn := binary.Uvarint(b)
		if err != nil {
			require.Zero(t, n)
			return
		}
		require.Equal(t, bv, v)
		require.Equal(t, bn, n)
		require.Equal(t, b[:n], binary.AppendUvarint(nil, v))
	})
}

// Short decodes exactly the inputs whose varint takes one or two bytes,
// to what encoding/binary decodes them to, over every first two bytes
// (alone, and followed by a byte), one-byte inputs and the empty input;
// a two-byte encoding with a zero last byte is not minimal and is left
// to Uvarint, which refuses it.
func TestShortAgreesWithUvarint(t *testing.T) {
	_, n := Short(nil)
	require.Zero(t, n)
	check := func(in []byte) {
		v, n := Short(in)
		bv, bn := binary.Uvarint(in)
		minimal := bn > 0 && (bn == 1 || in[bn-1] != 0)
		require.Equal(t, bn <= 2 && minimal, n > 0, "%x", in)
		if n > 0 {
			require.Equal(t, bn, n, "%x", in)
			require.Equal(t, bv, v, "%x", in)
		}
	}
	for b0 := range 256 {
		check([]byte{byte(b0)})
		for b1 := range 256 {
			check([]byte{byte(b0), byte(b1)})
			check([]byte{byte(b0), byte(b1), 0x01})
		}
	}
}

// BenchmarkDecode decodes varints of one, two and five bytes.
func BenchmarkDecode(b *testing.B) {
	for _, x := range []uint64{5, 300, 1 << 30} {
		in := binary.AppendUvarint(nil, x)
		b.Run(fmt.Sprintf("bytes=%d", len(in)), func(b *testing.B) {
			for b.Loop() {
				if v, n := Short(in); n > 0 {
					_ = v
					continue
				}
				if _, _, err := Uvarint(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
