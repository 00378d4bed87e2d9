// Package customfault is an example of a fault written and registered
// outside package faults, using only its public API: a flapping link. One
// episode picks two replicas and cuts the link between them (both
// directions), reconnects it, cuts it again, and so on every period
// milliseconds, until the nemesis heals the episode; the heal reconnects
// whatever the episode cut.
//
// Importing the package registers the fault as "flapping-link" (in the
// fault model: it is message loss on one link), so -faults lists, "all" and
// the swarm of a binary that imports it include it:
//
//	import _ "github.com/seedkv/seedkv/examples/customfault"
//
//	cfg := harness.DefaultConfig()
//	cfg.Faults = "flapping-link,crash"
//	res := harness.Run(cfg, seed)
//
// Every cut and reconnect is folded into the world's trace (and so into the
// trace hash) as "flapping-link/cut/A-B" and "flapping-link/connect/A-B";
// the nemesis traces "heal/flapping-link" when it heals an episode.
package customfault

import (
	"fmt"
	"time"

	"github.com/seedkv/seedkv/faults"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/sim"
)

// Name is the fault's -faults name.
const Name = "flapping-link"

// ParamPeriod is the flap period parameter, in milliseconds.
const ParamPeriod = "period_ms"

func init() { faults.MustRegister(Flapping{}) }

// Flapping is the flapping-link fault.
type Flapping struct{}

// Name is "flapping-link".
func (Flapping) Name() string { return Name }

// Class is in-model: a link that loses messages for a while.
func (Flapping) Class() faults.Class { return faults.InModel }

// Params has the flap period.
func (Flapping) Params() []faults.Param {
	return []faults.Param{{Name: ParamPeriod, Min: 1, Max: 1000, Default: 40, DrawMin: 5, DrawMax: 150, Integer: true,
		Doc: "milliseconds between two flips of the link (cut, reconnect, cut...)"}}
}

// Inject starts one episode on two replicas drawn from e.R.
func (Flapping) Inject(e *faults.Episode) (string, func(), bool) {
	ids := e.N.Replicas()
	if len(ids) < 2 {
		return "", nil, false
	}
	pair := faults.Pick(e.R, ids, 2)
	l := &link{w: e.N.World(), a: min(pair[0], pair[1]), b: max(pair[0], pair[1]),
		period: time.Duration(e.Spec.Param(ParamPeriod)) * time.Millisecond}
	l.w.Record("fault/"+Name, l.a, []byte{byte(l.b)})
	l.flip()
	return fmt.Sprintf("%d<->%d every %v", l.a, l.b, l.period), l.heal, true
}

// link is one episode's state: which directions it cut (it never touches
// a direction another fault cut already) and its flip timer.
type link struct {
	w      *sim.World
	a, b   host.NodeID
	period time.Duration
	cut    [][2]host.NodeID // the directions this episode has cut now
	timer  *sim.Timer
}

// flip cuts the link if it is up, reconnects it if this episode cut it,
// and arms the next flip.
func (l *link) flip() {
	if len(l.cut) > 0 {
		l.connect()
	} else {
		net := l.w.Net()
		for _, d := range [][2]host.NodeID{{l.a, l.b}, {l.b, l.a}} {
			if net.Reachable(d[0], d[1]) {
				net.Cut(d[0], d[1])
				l.cut = append(l.cut, d)
			}
		}
		l.w.Record(fmt.Sprintf("%s/cut/%d-%d", Name, l.a, l.b), l.a, nil)
	}
	l.timer = l.w.After(l.period, l.flip)
}

// connect restores the directions this episode cut.
func (l *link) connect() {
	for _, d := range l.cut {
		l.w.Net().Connect(d[0], d[1])
	}
	l.cut = nil
	l.w.Record(fmt.Sprintf("%s/connect/%d-%d", Name, l.a, l.b), l.a, nil)
}

// heal stops the flapping and leaves the link up.
func (l *link) heal() {
	l.timer.Stop()
	if len(l.cut) > 0 {
		l.connect()
	}
}
