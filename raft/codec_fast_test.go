package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// checkFastAgrees holds decodeMessageFast to decodeMessageFields on b,
// decoded shared, as a whole message and as a summary: where the fast
// path answers, the decoder accepts b and gives the same message and
// summary; where it does not, it wrote nothing.
func checkFastAgrees(t require.TestingT, b []byte) (fast bool) {
	for _, summary := range []bool{false, true} {
		var fv, sv Message
		var fs, ss Summary
		var fsum, ssum *Summary
		if summary {
			fsum, ssum = &fs, &ss
		}
		ok := decodeMessageFast(b, &fv, fsum)
		err := decodeMessageFields(b, false, &sv, ssum)
		if !ok {
			require.Equal(t, Message{}, fv, "input %x: nothing written", b)
			require.Equal(t, Summary{}, fs, "input %x: nothing written", b)
			continue
		}
		fast = true
		require.NoError(t, err, "input %x: the fast path accepted what the decoder refuses", b)
		require.Equal(t, sv, fv, "input %x", b)
		require.Equal(t, ss, fs, "input %x", b)
	}
	return fast
}

// The fast path agrees with the field-by-field decoder on the sample
// messages and every truncation and single-byte change of them, and it
// answers for every sample without a snapshot.
func TestDecodeMessageFastAgrees(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.Marshal()
		require.Equal(t, m.Snapshot == nil, checkFastAgrees(t, b), "sample %+v", m)
		for n := 0; n < len(b); n++ {
			checkFastAgrees(t, b[:n])
		}
		for i := range b {
			for _, x := range []byte{0x01, 0x02, 0x04, 0x7f, 0x80, 0xff} {
				c := append([]byte(nil), b...)
				c[i] ^= x
				checkFastAgrees(t, c)
			}
			for _, x := range []byte{0x00, 0x80} { // an inserted byte: non-minimal varints, trailing bytes
				c := append(append(append([]byte(nil), b[:i]...), x), b[i:]...)
				checkFastAgrees(t, c)
			}
		}
	}
}

// The same on random messages (multi-byte varints, epochs, contexts,
// entries of every type) and random bytes.
func TestDecodeMessageFastAgreesRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		if rapid.Bool().Draw(t, "raw") {
			checkFastAgrees(t, rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "b"))
			return
		}
		u := func(name string) uint64 {
			return rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, name)
		}
		m := Message{Type: MsgApp, To: u("to"), From: u("from"), Term: u("term"), LogTerm: u("logterm"),
			Index: u("index"), Commit: u("commit"), RejectHint: u("hint"), Reject: rapid.Bool().Draw(t, "reject")}
		if rapid.Bool().Draw(t, "epoch") {
			m.Epoch = rapid.Uint64Range(1, 1<<40).Draw(t, "e")
		}
		m.Context = rapid.SliceOfN(rapid.Byte(), 0, 5).Draw(t, "ctx")
		if len(m.Context) == 0 {
			m.Context = nil
		}
		for i := range rapid.IntRange(0, 4).Draw(t, "entries") {
			e := Entry{Term: u("eterm"), Index: u("eindex"), Type: EntryType(rapid.IntRange(0, 1).Draw(t, "etype"))}
			e.Data = rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data")
			if len(e.Data) == 0 {
				e.Data = nil
			}
			_ = i
			m.Entries = append(m.Entries, e)
		}
		b := m.Marshal()
		if rapid.Bool().Draw(t, "mutate") && len(b) > 0 {
			b[rapid.IntRange(0, len(b)-1).Draw(t, "at")] ^= rapid.Byte().Draw(t, "x")
		}
		checkFastAgrees(t, b)
	})
}
