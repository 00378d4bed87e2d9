package harness

import (
	lin "github.com/seedkv/seedkv/linearizability"
)

// faultTimeline records when each fault episode was active, for the
// annotations of the visualisation. It is sampled at every client call and
// return (never with timers of its own, which would change the trace), and
// only when artifacts are kept.
type faultTimeline struct {
	open   map[string]int64 // active fault detail -> start
	closed []lin.Fault
}

// sample notes the faults active now.
func (t *faultTimeline) sample(r *seedRun) {
	if !r.cfg.KeepArtifacts || r.nemesis == nil {
		return
	}
	if t.open == nil {
		t.open = map[string]int64{}
	}
	now := r.now()
	active := map[string]bool{}
	for _, d := range r.nemesis.ActiveDetail() {
		active[d] = true
		if _, ok := t.open[d]; !ok {
			t.open[d] = now
		}
	}
	for _, d := range sortedKeys(t.open) {
		if !active[d] {
			t.closed = append(t.closed, fault(d, t.open[d], now))
			delete(t.open, d)
		}
	}
}

// faults returns every episode seen, ended at end if still open.
func (t *faultTimeline) faults(end int64) []lin.Fault {
	out := append([]lin.Fault(nil), t.closed...)
	for _, d := range sortedKeys(t.open) {
		out = append(out, fault(d, t.open[d], end))
	}
	return out
}

func fault(detail string, start, end int64) lin.Fault {
	name, rest := detail, ""
	for i := range detail {
		if detail[i] == ' ' {
			name, rest = detail[:i], detail[i+1:]
			break
		}
	}
	return lin.Fault{Name: name, Detail: rest, Start: start, End: end}
}
