package faults

import (
	"fmt"

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
	return crashAndDamage(e, LoseDirent, func(id host.NodeID) string {
		k := n.w.Disk(id).LoseDirents()
		if k == 0 {
			return ""
		}
		n.Taint(id)
		return fmt.Sprintf("%d:%d", id, k)
	})
}
