package mvcc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/internal/invariant"
)

// TestInvariantRevisionsIncrease: a write at a revision not above the last
// one (forced here by winding the store's revision back) is refused
// before it can reorder the log.
func TestInvariantRevisionsIncrease(t *testing.T) {
	s := New(Config{})
	_, _, err := s.Put([]byte("a"), []byte("1"), 0, false)
	require.NoError(t, err)
	s.rev--
	defer func() {
		err, ok := recover().(error)
		require.True(t, ok, "no invariant violation")
		require.True(t, errors.Is(err, invariant.ErrViolated), "%v", err)
		require.Contains(t, err.Error(), "revision 2.0 appended after 2.0")
	}()
	_, _, _ = s.Put([]byte("b"), []byte("2"), 0, false)
}
