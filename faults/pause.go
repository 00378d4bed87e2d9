package faults

import (
	"github.com/seedkv/seedkv/host"
)

// Pause is the name of the pause fault.
const Pause = "pause"

// pauseFault freezes 1..budget replicas (sim.World.Pause: no timers, no
// deliveries processed, sync completions held back) while their peers'
// clocks run on, and resumes them with their backlog when healed. A paused
// replica counts against the crash budget: to its peers it is down.
type pauseFault struct{}

func (pauseFault) Name() string    { return Pause }
func (pauseFault) Class() Class    { return InModel }
func (pauseFault) Params() []Param { return nil }

func (pauseFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	cands, budget := n.Crashable()
	if budget <= 0 {
		return "", nil, false
	}
	var hit []host.NodeID
	for _, id := range Pick(e.R, cands, 1+e.R.IntN(budget)) {
		if n.w.Pause(id) == nil {
			n.MarkDown(id)
			hit = append(hit, id)
			n.w.Record("fault/pause", id, nil)
		}
	}
	return IDList(hit), func() {
		for _, id := range hit {
			n.w.Resume(id)
			if n.w.Alive(id) {
				n.MarkUp(id)
			}
		}
	}, len(hit) > 0
}
