package oshost

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/seedkv/seedkv/host"
	"github.com/stretchr/testify/require"
)

func TestFrameRoundTrip(t *testing.T) {
	var b []byte
	b = appendFrame(b, 1, ClientID(2, 99), []byte("hello"))
	b = appendFrame(b, 3, 4, nil)
	r := bytes.NewReader(b)
	var hdr [frameHeader]byte
	from, to, p, err := readFrame(r, &hdr)
	require.NoError(t, err)
	require.Equal(t, host.NodeID(1), from)
	require.Equal(t, ClientID(2, 99), to)
	require.Equal(t, []byte("hello"), p)
	from, to, p, err = readFrame(r, &hdr)
	require.NoError(t, err)
	require.Equal(t, [2]host.NodeID{3, 4}, [2]host.NodeID{from, to})
	require.Empty(t, p)
	_, _, _, err = readFrame(r, &hdr)
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameBadLength(t *testing.T) {
	for _, n := range []uint32{0, 15, MaxFrameSize + 1} {
		b := binary.BigEndian.AppendUint32(nil, n)
		b = append(b, make([]byte, 16)...)
		var hdr [frameHeader]byte
		_, _, _, err := readFrame(bytes.NewReader(b), &hdr)
		require.ErrorIs(t, err, ErrFrame, "length %d", n)
	}
	// A frame cut short is an unexpected EOF, not a clean end.
	b := appendFrame(nil, 1, 2, []byte("abcdef"))
	var hdr [frameHeader]byte
	_, _, _, err := readFrame(bytes.NewReader(b[:len(b)-2]), &hdr)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestIDs(t *testing.T) {
	c := ClientID(7, 123456789)
	require.Equal(t, host.NodeID(7), Home(c))
	require.Equal(t, host.NodeID(7), Home(7))
	require.NotEqual(t, c, ClientID(7, 123456790))
	require.Error(t, CheckMemberID(0))
	require.Error(t, CheckMemberID(MaxMemberID))
	require.NoError(t, CheckMemberID(MaxMemberID-1))
}

// FuzzReadFrame: any bytes give frames or an error, never a panic or an
// allocation past the limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 2, []byte("x")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		var hdr [frameHeader]byte
		for {
			from, to, p, err := readFrame(r, &hdr)
			if err != nil {
				return
			}
			again := appendFrame(nil, from, to, p)
			require.Equal(t, uint32(16+len(p)), binary.BigEndian.Uint32(again))
		}
	})
}
