package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/seedkv/seedkv/host"
)

// Tables changed on different members and exchanged in any order and any
// number of times end up equal once everyone has heard from everyone:
// merge is commutative, idempotent and never loses a newer change.
func TestMemberTablesConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const n = 3
		tabs := make([]*memberTable, n)
		for i := range tabs {
			tabs[i] = newMemberTable()
		}
		ids := rapid.SampledFrom([]host.NodeID{1, 2, 3, 4})
		port := rapid.IntRange(1, 5)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "at")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				tabs[i].setPeer(ids.Draw(t, "id"), []string{fmt.Sprintf("http://h:%d", port.Draw(t, "port"))})
			case 1:
				tabs[i].remove(ids.Draw(t, "id"))
			case 2:
				tabs[i].publish(ids.Draw(t, "id"), rapid.SampledFrom([]string{"a", "b"}).Draw(t, "name"), nil)
			case 3:
				j := rapid.IntRange(0, n-1).Draw(t, "to")
				deliver(t, tabs[i], tabs[j])
			}
		}
		for range 2 {
			for i := range tabs {
				for j := range tabs {
					deliver(t, tabs[i], tabs[j])
				}
			}
		}
		for i := range tabs {
			require.Equal(t, string(tabs[0].encode(0)), string(tabs[i].encode(0)))
		}
	})
}

func deliver(t require.TestingT, from, to *memberTable) {
	msg, err := decodeMeta(from.encode(1))
	require.NoError(t, err)
	for _, m := range msg.Members {
		to.merge(m)
	}
}

// A later change wins over an earlier one whatever the order of arrival.
func TestMemberTableNewerWins(t *testing.T) {
	a, b := newMemberTable(), newMemberTable()
	a.setPeer(5, []string{"http://h:1"})
	deliver(t, a, b)
	b.setPeer(5, []string{"http://h:2"}) // a MemberUpdate on b
	b.publish(5, "s5", []string{"http://c:1"})
	deliver(t, a, b) // a stale copy arrives late
	require.Equal(t, []string{"http://h:2"}, b.get(5).PeerURLs)
	deliver(t, b, a)
	require.Equal(t, []string{"http://h:2"}, a.get(5).PeerURLs)
	require.Equal(t, "s5", a.get(5).Name)
	require.Equal(t, host.NodeID(5), a.peerWithURL("HTTP://h:2/", 0))
	require.Zero(t, a.peerWithURL("http://h:2", 5))
	a.remove(5)
	deliver(t, a, b)
	require.Empty(t, b.live())
	b.setPeer(5, []string{"http://h:3"}) // added again
	deliver(t, b, a)
	require.Equal(t, []host.NodeID{5}, a.live())
}

// The members file round-trips; a damaged one is refused.
func TestMembersFile(t *testing.T) {
	dir := t.TempDir()
	_, ok, err := loadMembersFile(dir)
	require.NoError(t, err)
	require.False(t, ok)
	tab := newMemberTable()
	tab.setPeer(7, []string{"http://h:1"})
	require.NoError(t, saveMembersFile(dir, tab.encode(7)))
	msg, ok, err := loadMembersFile(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(7), msg.Self)
	require.Len(t, msg.Members, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, membersFile), []byte(`{"self":7,"members":[{"id":0}]}`), 0o644))
	_, _, err = loadMembersFile(dir)
	require.ErrorIs(t, err, ErrBadMemberMeta)
}

// Bad metadata is refused with ErrBadMemberMeta, never a panic.
func TestDecodeMetaRejects(t *testing.T) {
	for name, s := range map[string]string{
		"not json":     "{",
		"self range":   `{"self":70000}`,
		"member id 0":  `{"members":[{"id":0}]}`,
		"bad peer URL": `{"members":[{"id":3,"peerURLs":["ftp://x"]}]}`,
		"no port":      `{"members":[{"id":3,"peerURLs":["http://x"]}]}`,
	} {
		_, err := decodeMeta([]byte(s))
		require.ErrorIs(t, err, ErrBadMemberMeta, name)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	tab := newMemberTable()
	tab.setPeer(3, []string{"http://h:1"})
	tab.publish(3, "s3", []string{"http://c:2"})
	f.Add(tab.encode(3))
	f.Add([]byte(`{"members":[{"id":2,"removed":true}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := decodeMeta(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadMemberMeta)
			return
		}
		got := newMemberTable()
		for _, m := range msg.Members {
			got.merge(m)
		}
		again, err := decodeMeta(got.encode(host.NodeID(msg.Self)))
		require.NoError(t, err)
		require.LessOrEqual(t, len(again.Members), len(msg.Members))
	})
}
