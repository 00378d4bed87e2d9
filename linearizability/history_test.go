package linearizability

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestHistoryDropSqueeze: against a plain slice of the same operations,
// a history that drops finished operations and squeezes its chunks as
// it goes hands over exactly the operations not dropped, in id order,
// with their ids, and reports every call and finish to its taps once.
func TestHistoryDropSqueeze(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h History
		var model []Op
		dropped := map[int]bool{}
		var open []int
		calls, finishes := 0, 0
		h.OnCall = func(int, int64) { calls++ }
		h.OnFinish = func(int, *Op) { finishes++ }
		n := rapid.IntRange(0, 5000).Draw(t, "n")
		for i := 0; i < n; i++ {
			switch k := rapid.IntRange(0, 9).Draw(t, "action"); {
			case k < 4 || len(open) == 0:
				id := h.Call(i%7, int64(i), Put("/k", strconv.Itoa(i)))
				require.Equal(t, len(model), id)
				model = append(model, Op{ClientID: i % 7, Call: int64(i), Return: UnknownReturn, Unknown: true, Input: Put("/k", strconv.Itoa(i))})
				open = append(open, id)
			case k < 8:
				j := rapid.IntRange(0, len(open)-1).Draw(t, "which")
				id := open[j]
				open = append(open[:j], open[j+1:]...)
				out := Output{Revision: int64(i)}
				require.NoError(t, h.Return(id, int64(i), out))
				model[id].Return, model[id].Output, model[id].Unknown = int64(i), out, false
				if rapid.Bool().Draw(t, "drop") {
					h.Drop(id)
					dropped[id] = true
				}
			default:
				h.Squeeze()
			}
		}
		require.Equal(t, len(model)-len(dropped), h.Kept())
		ops, ids := h.TakeWithIDs()
		var want []Op
		var wantIDs []int
		for id := range model {
			if !dropped[id] {
				want, wantIDs = append(want, model[id]), append(wantIDs, id)
			}
		}
		require.Equal(t, len(want), len(ops))
		for i := range want {
			require.Equal(t, want[i], ops[i], "op %d", wantIDs[i])
		}
		require.Equal(t, wantIDs, ids)
		require.Equal(t, len(model), calls)
		require.Equal(t, len(model)-len(open), finishes)
	})
}
