package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Messages whose varints and byte fields straddle the one-, two- and
// three-byte encodings decode
// to themselves, shared or copied, and every truncation of them fails as
// a truncation; a byte changed anywhere either fails or decodes to a
// message that encodes back to the changed bytes (one encoding per
// message).
func TestMessageVarintBoundariesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := func(name string) uint64 {
			return rapid.SampledFrom([]uint64{0, 1, 127, 128, 300, 16383, 16384, 1 << 21, 1<<63 + 5}).Draw(t, name)
		}
		size := func(name string) int {
			return rapid.SampledFrom([]int{0, 1, 127, 128, 200, 16383, 16384}).Draw(t, name)
		}
		m := Message{Type: MsgApp, To: u("to"), From: u("from"), Term: u("term"), LogTerm: u("logterm"),
			Index: u("index"), Commit: u("commit"), RejectHint: u("hint"), Reject: rapid.Bool().Draw(t, "reject")}
		if e := u("epoch"); e != 0 {
			m.Epoch = e
		}
		if n := size("ctx"); n > 0 {
			m.Context = make([]byte, n)
		}
		for range rapid.IntRange(0, 3).Draw(t, "entries") {
			e := Entry{Term: u("eterm"), Index: u("eindex"), Type: EntryType(rapid.IntRange(0, 1).Draw(t, "etype"))}
			if n := size("data"); n > 0 {
				e.Data = make([]byte, n)
				e.Data[n-1] = 7
			}
			m.Entries = append(m.Entries, e)
		}
		b := m.Marshal()
		var shared, copied Message
		require.NoError(t, shared.UnmarshalShared(b))
		require.NoError(t, copied.Unmarshal(b))
		require.Equal(t, m, shared)
		require.Equal(t, m, copied)
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		require.ErrorIs(t, shared.UnmarshalShared(b[:cut]), ErrTruncated, "cut at %d", cut)
		c := append([]byte(nil), b...)
		c[rapid.IntRange(0, len(c)-1).Draw(t, "at")] ^= rapid.Byte().Draw(t, "x")
		var got Message
		if got.UnmarshalShared(c) == nil {
			require.Equal(t, c, got.Marshal())
		}
	})
}

// UnmarshalSharedInto decodes as UnmarshalShared does, into the given
// array when it has room.
func TestUnmarshalSharedInto(t *testing.T) {
	buf := make([]Entry, 0, 8)
	for _, m := range sampleMessages() {
		b := m.Marshal()
		var want, got Message
		require.NoError(t, want.UnmarshalShared(b))
		require.NoError(t, got.UnmarshalSharedInto(b, buf))
		require.Equal(t, want, got)
		if n := len(got.Entries); n > 0 && n <= cap(buf) {
			require.Same(t, &buf[:1][0], &got.Entries[0], "the array given")
		}
	}
}
