package node

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

func TestCommandRoundTrip(t *testing.T) {
	req := &api.Request{ID: 7, FinishedBelow: 3, Body: &api.PutRequest{Key: []byte("k"), Value: []byte("v")}}
	b := appendClientCmd(nil, 1, 100, -5, api.MustEncode(req))
	c, err := decodeCommand(b)
	require.NoError(t, err)
	require.Equal(t, kindClient, c.kind)
	require.Equal(t, host.NodeID(1), c.proposer)
	require.Equal(t, host.NodeID(100), c.client)
	require.Equal(t, int64(-5), c.stamp)
	require.Equal(t, req, c.req)

	b = appendExpireCmd(nil, 42, []int64{1, 2, 3})
	c, err = decodeCommand(b)
	require.NoError(t, err)
	require.Equal(t, kindExpire, c.kind)
	require.Equal(t, []int64{1, 2, 3}, c.leases)
	require.Equal(t, int64(42), c.stamp)

	for _, bad := range [][]byte{nil, {cmdVersion}, {9, kindClient}, {cmdVersion, 77},
		b[:len(b)-1], append(append([]byte(nil), b...), 0), appendClientCmd(nil, 1, 2, 3, []byte{1, 2, 3})} {
		_, err := decodeCommand(bad)
		require.ErrorIs(t, err, ErrBadCommand, "%x", bad)
	}
	p, cl, id, ok := decodeConfContext(appendConfContext(3, 100, 9))
	require.True(t, ok)
	require.Equal(t, []any{host.NodeID(3), host.NodeID(100), api.RequestID(9)}, []any{p, cl, id})
	_, _, _, ok = decodeConfContext([]byte{0x80})
	require.False(t, ok)
}

func TestStateRoundTrip(t *testing.T) {
	sm := newStateMachine(0)
	_, _, err := sm.store.Put([]byte("a"), []byte("b"), 0, false)
	require.NoError(t, err)
	s := sm.session(100)
	require.True(t, s.admit(5, 2))
	require.False(t, s.admit(5, 2), "duplicate")
	require.False(t, s.admit(1, 2), "below the watermark")
	sm.leaseDeadline[9] = 1234
	b := sm.encode()
	got, err := decodeState(b, 0)
	require.NoError(t, err)
	require.Equal(t, sm.leaseDeadline, got.leaseDeadline)
	require.Equal(t, sm.sessions[100].finishedBelow, got.sessions[100].finishedBelow)
	require.Equal(t, sm.sessions[100].applied, got.sessions[100].applied)
	h1, _ := sm.store.Hash(0)
	h2, _ := got.store.Hash(0)
	require.Equal(t, h1, h2)
	require.Equal(t, b, got.encode(), "deterministic")
	b[len(b)/2] ^= 1
	_, err = decodeState(b, 0)
	require.ErrorIs(t, err, ErrBadState)
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(appendClientCmd(nil, 1, 100, 5, api.MustEncode(&api.Request{ID: 1,
		Body: &api.PutRequest{Key: []byte("k")}})))
	f.Add(appendExpireCmd(nil, 1, []int64{4, 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCommand)
			return
		}
		if c.kind == kindClient {
			require.NotNil(t, c.req)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	sm := newStateMachine(0)
	_, _, _ = sm.store.Put([]byte("a"), []byte("b"), 0, false)
	sm.session(7).admit(3, 1)
	sm.leaseDeadline[1] = 2
	enc := sm.encode()
	f.Add(enc[:len(enc)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		// Fuzz the body behind a valid checksum, or the fuzzer never gets
		// past the CRC.
		b := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		got, err := decodeState(b, 0)
		if err != nil {
			require.ErrorIs(t, err, ErrBadState)
			return
		}
		require.NotNil(t, got.store)
	})
}

// TestSessionModel checks session dedup against a model: a request takes
// effect iff its ID is at or above every watermark seen so far and was
// never admitted before.
func TestSessionModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := &session{}
		admitted := map[api.RequestID]bool{}
		var mark api.RequestID
		for range rapid.IntRange(1, 200).Draw(t, "n") {
			id := api.RequestID(rapid.IntRange(0, 60).Draw(t, "id"))
			fb := api.RequestID(rapid.IntRange(0, 60).Draw(t, "fb"))
			mark = max(mark, fb)
			want := id >= mark && !admitted[id]
			got := s.admit(id, fb)
			require.Equal(t, want, got, "id %d fb %d mark %d", id, fb, mark)
			if got {
				admitted[id] = true
			}
			require.True(t, slices.IsSorted(s.applied), "applied IDs ascending")
			for _, a := range s.applied {
				require.GreaterOrEqual(t, a, s.finishedBelow, "forgotten below the watermark")
			}
		}
	})
}

func TestHardStateCopy(t *testing.T) {
	w := sim.NewWorld(1, sim.DefaultConfig())
	disk := w.AddDisk(1)
	c, err := openHSCopy(disk)
	require.NoError(t, err)
	_, _, _, ok := readHSSlots(c.f)
	require.False(t, ok, "empty file")
	sync := func(term, vote uint64) {
		var got error = errors.New("pending")
		c.write(term, vote, func(err error) { got = err })
		w.RunUntilIdle(0)
		require.NoError(t, got)
	}
	sync(3, 1)
	sync(4, 2)
	_, term, vote, ok := readHSSlots(c.f)
	require.True(t, ok)
	require.Equal(t, []uint64{4, 2}, []uint64{term, vote})
	require.False(t, c.needs(2, 0), "the copy never goes down")
	sync(2, 0)
	_, term, _, _ = readHSSlots(c.f)
	require.Equal(t, uint64(4), term)
	require.False(t, c.needs(4, 2))
	sync(5, 3)
	// Damage any slot: the others hold the newest record, so they still
	// bound the votes (an older slot would say term 4).
	for slot := range int64(hsSlots) {
		require.NoError(t, disk.Corrupt(HardStateFile, slot*hsSlotSize+12, 0))
		_, term, vote, ok = readHSSlots(c.f)
		require.True(t, ok, "slot %d", slot)
		require.Equal(t, []uint64{5, 3}, []uint64{term, vote}, "slot %d", slot)
		// Reopened, the copy knows a slot is damaged and asks to be
		// written again.
		c2, err := openHSCopy(disk)
		require.NoError(t, err)
		require.True(t, c2.needs(5, 3))
		require.NoError(t, disk.Corrupt(HardStateFile, slot*hsSlotSize+12, 0)) // undo
	}
	// A single write already fills every slot.
	disk2 := w.AddDisk(2)
	c, err = openHSCopy(disk2)
	require.NoError(t, err)
	var got error = errors.New("pending")
	c.write(1, 0, func(err error) { got = err })
	w.RunUntilIdle(0)
	require.NoError(t, got)
	require.True(t, hsSlotsWhole(c.f))
}
