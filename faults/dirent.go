package faults

import (
	"fmt"
	"strings"

	"github.com/seedkv/seedkv/host"
)

// LoseDirent is the name of the lose-dirent fault.
const LoseDirent = "lose-dirent"

// loseDirentFault (beyond the model, opt-in) crashes 1..majority replicas
// and loses every directory change on their disks that no completed
// SyncDir covered (sim.Disk.LoseDirents): files created since vanish,
// renames are undone, removed files return; then restarts them when
// healed. A store that creates or renames a file it relies on without a
// directory fsync loses it here, as it can on ext4 after a power cut.
type loseDirentFault struct{}

func (loseDirentFault) Name() string    { return LoseDirent }
func (loseDirentFault) Class() Class    { return BeyondModel }
func (loseDirentFault) Params() []Param { return nil }

func (loseDirentFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	var cands []host.NodeID
	for _, id := range n.ids {
		if n.w.Alive(id) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return "", nil, false
	}
	var hit []host.NodeID
	var parts []string
	for _, id := range Pick(e.R, cands, 1+e.R.IntN(min(n.minority()+1, len(cands)))) {
		if !n.CrashNode(id, LoseDirent) {
			continue
		}
		hit = append(hit, id)
		if k := n.w.Disk(id).LoseDirents(); k > 0 {
			n.Taint(id)
			parts = append(parts, fmt.Sprintf("%d:%d", id, k))
		}
	}
	return strings.Join(parts, " "), func() {
		for _, id := range hit {
			n.RestartNode(id)
		}
	}, len(hit) > 0
}
