package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleMessages() []Message {
	snap := &Snapshot{Meta: SnapshotMeta{Index: 9, Term: 3,
		ConfState: ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{7}}}, Data: []byte("state")}
	return []Message{
		{Type: MsgApp, To: 2, From: 1, Term: 5, LogTerm: 4, Index: 10, Commit: 9,
			Entries: []Entry{{Term: 5, Index: 11, Data: []byte("x")},
				{Term: 5, Index: 12, Type: EntryConfChange, Data: []byte{1, 2}}}},
		{Type: MsgAppResp, To: 1, From: 2, Term: 5, Index: 10, Reject: true, RejectHint: 7, LogTerm: 3},
		{Type: MsgSnap, To: 3, From: 1, Term: 5, Snapshot: snap},
		{Type: MsgHeartbeat, To: 3, From: 1, Term: 5, Commit: 4, Context: []byte("ctx")},
		{Type: MsgVote, To: 3, From: 1, Term: 1 << 62, Index: 1<<64 - 1},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.Marshal()
		var got Message
		require.NoError(t, got.Unmarshal(b))
		require.Equal(t, m, got)
		// The decoded message does not alias the input.
		for i := range b {
			b[i] = 0
		}
		require.Equal(t, m, got)
	}
}

func TestMessageUnmarshalShared(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.Marshal()
		var got Message
		require.NoError(t, got.UnmarshalShared(b))
		require.Equal(t, m, got)
	}
	// The byte fields alias the input: no copy was made.
	m := sampleMessages()[0]
	b := m.Marshal()
	var got Message
	require.NoError(t, got.UnmarshalShared(b))
	for i := range b {
		b[i] = 0
	}
	require.Equal(t, []byte{0}, got.Entries[0].Data)
}

func TestOtherRoundTrips(t *testing.T) {
	e := Entry{Term: 3, Index: 4, Type: EntryConfChange, Data: []byte("d")}
	var e2 Entry
	require.NoError(t, e2.Unmarshal(e.Marshal()))
	require.Equal(t, e, e2)

	hs := HardState{Term: 1, Vote: 2, Commit: 3}
	var hs2 HardState
	require.NoError(t, hs2.Unmarshal(hs.Marshal()))
	require.Equal(t, hs, hs2)

	cc := ConfChange{Type: ConfChangeRemoveNode, NodeID: 9, Context: []byte("addr")}
	var cc2 ConfChange
	require.NoError(t, cc2.Unmarshal(cc.Marshal()))
	require.Equal(t, cc, cc2)

	cs := ConfState{Voters: []uint64{1, 5}, Learners: []uint64{3}}
	var cs2 ConfState
	require.NoError(t, cs2.Unmarshal(cs.Marshal()))
	require.Equal(t, cs, cs2)

	s := Snapshot{Meta: SnapshotMeta{Index: 3, Term: 2, ConfState: cs}, Data: []byte("x")}
	var s2 Snapshot
	require.NoError(t, s2.Unmarshal(s.Marshal()))
	require.Equal(t, s, s2)
}

func TestDecodeErrors(t *testing.T) {
	good := sampleMessages()[0].Marshal()
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"bad format", append([]byte{9}, good[1:]...), ErrMalformed},
		{"local type", func() []byte { b := append([]byte(nil), good...); b[1] = byte(MsgHup); return b }(), ErrMalformed},
		{"unknown type", func() []byte { b := append([]byte(nil), good...); b[1] = 200; return b }(), ErrMalformed},
		{"unknown flag", func() []byte { b := append([]byte(nil), good...); b[2] = 0x80; return b }(), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrTruncated},
		{"trailing", append(append([]byte(nil), good...), 0), ErrMalformed},
		{"huge entry count", []byte{1, byte(MsgApp), 0, 1, 2, 3, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrTooLarge},
		{"entry count past input", []byte{1, byte(MsgApp), 0, 1, 2, 3, 0, 0, 0, 0, 0, 100}, ErrTruncated},
		{"bad varint", []byte{1, byte(MsgApp), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := m.Unmarshal(tc.b)
			require.ErrorIs(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
	var cs ConfState
	require.ErrorIs(t, cs.Unmarshal([]byte{1, 2, 5, 3, 0}), ErrMalformed, "unsorted voters")
	require.ErrorIs(t, cs.Unmarshal([]byte{1, 1, 5, 1, 5}), ErrMalformed, "learner is also a voter")
	var cc ConfChange
	require.ErrorIs(t, cc.Unmarshal([]byte{1, 7, 1, 0}), ErrMalformed, "unknown change type")
	var hs HardState
	require.ErrorIs(t, hs.Unmarshal([]byte{1, 1}), ErrTruncated)
}

func FuzzMessageUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m, shared Message
		err := m.Unmarshal(b)
		require.Equal(t, err, shared.UnmarshalShared(b), "both decoders agree")
		sum, perr := Peek(b)
		require.Equal(t, err, perr, "Peek fails as the decoders do")
		if err != nil {
			return
		}
		require.Equal(t, m, shared)
		require.Equal(t, summarise(&m), sum)
		// Whatever decodes re-encodes to the same bytes (the encoding is
		// canonical), and decodes again to the same message.
		b2 := m.Marshal()
		require.Equal(t, b, b2)
		var m2 Message
		require.NoError(t, m2.Unmarshal(b2))
		require.Equal(t, m, m2)
		// Stepping it into a node must not panic.
		s := NewMemoryStorage()
		require.NoError(t, s.ApplySnapshot(BootstrapSnapshot([]uint64{1, 2, 3}, nil)))
		rn, err := NewRawNode(Config{ID: m.To%4 + 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
			Rand: newTestRand()})
		require.NoError(t, err)
		_ = rn.Step(m)
	})
}

// summarise is Peek's Summary of a decoded message.
func summarise(m *Message) Summary {
	s := Summary{Type: m.Type, Entries: len(m.Entries)}
	for _, e := range m.Entries {
		s.ConfChange = s.ConfChange || e.Type == EntryConfChange
	}
	return s
}

// Peek accepts what UnmarshalShared accepts, with the same error, and
// summarises the message decoding gives: for the sample messages and
// every truncation and single-byte change of them.
func TestPeekAgreesWithUnmarshal(t *testing.T) {
	check := func(b []byte) {
		var m Message
		err := m.UnmarshalShared(b)
		sum, perr := Peek(b)
		require.Equal(t, err, perr, "input %x", b)
		if err == nil {
			require.Equal(t, summarise(&m), sum, "input %x", b)
		}
	}
	ok := 0
	for _, m := range sampleMessages() {
		b := m.Marshal()
		for n := 0; n <= len(b); n++ {
			check(b[:n])
		}
		for i := range b {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := append([]byte(nil), b...)
				c[i] ^= x
				check(c)
			}
		}
		if _, err := Peek(b); err == nil {
			ok++
		}
	}
	require.Equal(t, len(sampleMessages()), ok, "every sample peeks")
	// Peek allocates nothing for an append without a snapshot.
	app := (&Message{Type: MsgApp, To: 2, From: 1, Term: 3, Entries: []Entry{{Term: 3, Index: 1, Data: []byte("x")},
		{Term: 3, Index: 2, Type: EntryConfChange, Data: []byte("cc")}}}).Marshal()
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = Peek(app) }))
}

// BenchmarkUnmarshalShared decodes the messages a replica steps most: an
// append of three entries (one of a client write's size), its
// acknowledgement and a heartbeat, in ns/message.
func BenchmarkUnmarshalShared(b *testing.B) {
	ents := []Entry{{Term: 3, Index: 1000, Data: make([]byte, 60)}, {Term: 3, Index: 1001, Data: make([]byte, 60)},
		{Term: 3, Index: 1002, Type: EntryConfChange, Data: make([]byte, 12)}}
	msgs := []Message{
		{Type: MsgApp, To: 2, From: 1, Term: 3, LogTerm: 3, Index: 999, Commit: 998, Entries: ents},
		{Type: MsgAppResp, To: 1, From: 2, Term: 3, Index: 1002},
		{Type: MsgHeartbeat, To: 2, From: 1, Term: 3, Commit: 1002},
	}
	wire := make([][]byte, len(msgs))
	for i := range msgs {
		wire[i] = msgs[i].Marshal()
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, w := range wire {
			var m Message
			if err := m.UnmarshalShared(w); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/message")
}

// Epoch is on the wire only when non-zero: a node that never recovered
// sends the bytes it sent before incarnations existed.
func TestMessageEpochEncoding(t *testing.T) {
	m := Message{Type: MsgAppResp, To: 1, From: 2, Term: 5, Index: 10}
	plain := m.Marshal()
	require.Equal(t, byte(0), plain[2], "no flags")
	m.Epoch = 300
	b := m.Marshal()
	require.Equal(t, byte(msgFlagEpoch), b[2])
	require.Len(t, b, len(plain)+2)
	var got Message
	require.NoError(t, got.Unmarshal(b))
	require.Equal(t, m, got)
	// A zero epoch behind the flag is not the encoding of any message.
	bad := append([]byte(nil), plain...)
	bad[2] = msgFlagEpoch
	bad = slices.Insert(bad, 3+7, 0) // after the 7 header varints, one byte each here
	require.Error(t, got.Unmarshal(bad))
}
