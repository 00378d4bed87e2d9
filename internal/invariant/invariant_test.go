package invariant

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestViolatedPanicsWithTheReason(t *testing.T) {
	defer func() {
		err, ok := recover().(error)
		require.True(t, ok)
		require.True(t, errors.Is(err, ErrViolated))
		require.Equal(t, "invariant violated: x went back from 3 to 2", err.Error())
	}()
	Violated("x went back from %d to %d", 3, 2)
	t.Fatal("Violated returned")
}
