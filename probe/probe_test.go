package probe

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	testA = New("test/a", "test: a")
	testB = New("test/b", "test: b")
)

func TestSetCountsAndOrdersFirstHits(t *testing.T) {
	s := NewSet()
	s.Hit(testB)
	s.Hit(testA)
	s.Hit(testB)
	s.If(false, testA)
	s.If(true, testA)
	require.Equal(t, uint32(2), s.Count(testA))
	require.Equal(t, uint32(2), s.Count(testB))
	require.Equal(t, []string{"test/b", "test/a"}, s.Order())
	require.Equal(t, map[string]uint32{"test/a": 2, "test/b": 2}, s.Hits())
	require.Equal(t, 2, s.Len())
}

func TestNilSetIgnoresHits(t *testing.T) {
	var s *Set
	s.Hit(testA)
	s.If(true, testB)
	require.Zero(t, s.Count(testA))
	require.Empty(t, s.Hits())
	require.Nil(t, s.Order())
	require.Zero(t, s.Len())
}

func TestSetsAreIndependent(t *testing.T) {
	a, b := NewSet(), NewSet()
	a.Hit(testA)
	require.Zero(t, b.Count(testA))
}

func TestRegistry(t *testing.T) {
	id, ok := Lookup("test/a")
	require.True(t, ok)
	require.Equal(t, testA, id)
	require.Equal(t, "test/a", id.Name())
	require.Equal(t, "", ID(1<<30).Name())
	names := map[string]bool{}
	for _, p := range All() {
		names[p.Name] = true
	}
	require.True(t, names["test/a"] && names["test/b"])
	require.Panics(t, func() { New("test/a", "again") })
	require.Panics(t, func() { New("", "empty") })
}

type carrier struct{ s *Set }

func (c carrier) Probes() *Set { return c.s }

func TestOf(t *testing.T) {
	s := NewSet()
	require.Same(t, s, Of(carrier{s}))
	require.Nil(t, Of(42))
	require.Nil(t, Of(nil))
}

// BenchmarkHitNil is the cost of a probe site when nobody collects.
func BenchmarkHitNil(b *testing.B) {
	var s *Set
	for range b.N {
		s.Hit(testA)
	}
}

// BenchmarkHit is the cost of a probe site into a set.
func BenchmarkHit(b *testing.B) {
	s := NewSet()
	for range b.N {
		s.Hit(testA)
	}
}
