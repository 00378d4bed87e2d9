package harness

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeScenario: a scenario file (what -scenario and -shrink's
// output hold) either decodes into a valid scenario that writes back and
// reads again unchanged (the round trip shrinking relies on for a bit for
// bit replay), or fails with ErrBadScenario; it never panics.
//
//	go test ./harness -run '^$' -fuzz FuzzDecodeScenario -fuzztime 30s
func FuzzDecodeScenario(f *testing.F) {
	sc := fakeShrinkStart()
	sc.Faults[0].MaxEpisodes, sc.Faults[0].Skip = 6, []int{0, 1, 3, 4}
	sc.Duration = Duration(130 * time.Millisecond)
	f.Add(MarshalScenario(sc))
	f.Add(MarshalScenario(DefaultScenario()))
	f.Add([]byte(`{"faults":[{"name":"crash","gap":"20ms","hold":"250ms","max_episodes":3,"skip":[2,1]}]}`))
	f.Add([]byte(`{"faults":[{"name":"crash","gap":"20ms","hold":"250ms","skip":[-1]}]}`))
	f.Add([]byte(`{"nodes":3,"duration":"1.5s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeScenario(bytes.NewReader(data), DefaultScenario())
		if err != nil {
			if !errors.Is(err, ErrBadScenario) {
				t.Fatalf("error %v does not wrap ErrBadScenario", err)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("decoded scenario is invalid: %v", err)
		}
		for i, f := range got.Faults {
			if err := f.Validate("faults"); err != nil {
				t.Fatalf("faults[%d]: %v", i, err)
			}
		}
		out := MarshalScenario(got)
		again, err := DecodeScenario(bytes.NewReader(out), DefaultScenario())
		if err != nil {
			t.Fatalf("re-reading %s: %v", out, err)
		}
		if !bytes.Equal(MarshalScenario(again), out) {
			t.Fatalf("round trip changed the scenario:\n%s\n%s", out, MarshalScenario(again))
		}
	})
}
