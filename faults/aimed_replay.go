package faults

import (
	"fmt"
	"slices"
	"time"

	"github.com/seedkv/seedkv/host"
)

// Replay is the name of the replay fault.
const Replay = "replay"

// replayFault keeps copies of the protocol answers sent while it holds
// (votes, append acknowledgements, heartbeat answers) and of leadership
// hand-offs (MsgTimeoutNow), up to max_msgs of each kind, and delivers each
// again when it heals: a duplicate the network delayed by up to an
// episode, within the fault model. By then the cluster has usually moved
// on (a new term, a leader re-elected, a truncated log, a read round
// answered), which is when a stale message must be refused: a vote of an
// earlier election counted in the next, an acknowledgement of an earlier
// term counted by a re-elected leader, a heartbeat answer of an earlier
// read round confirming a later one, a late hand-off making a lagging
// follower campaign.
//
// The votes and acknowledgements kept for a node are delivered earlier,
// at the moment that node starts a new election (it sends a vote request,
// after any pre-vote, while the episode holds): they arrive in the middle of
// the round they must not count in, and, if it wins, as it starts to lead
// the new term. A copy kept after that moment waits for the next one or
// the heal.
type replayFault struct{}

func (replayFault) Name() string { return Replay }
func (replayFault) Class() Class { return InModel }
func (replayFault) Params() []Param {
	return []Param{{Name: "max_msgs", Min: 1, Max: 256, Default: 16, DrawMin: 4, DrawMax: 32, Integer: true,
		Doc: "messages of each kind (vote answers, append and heartbeat answers, hand-offs) kept per episode and delivered again when it heals"}}
}

// replayed reports whether a moment is one the replay fault keeps.
func replayed(m Moment) bool {
	switch m {
	case MomentVoteResponse, MomentAppendResponse, MomentHeartbeatResponse, MomentTimeoutNow:
		return true
	}
	return false
}

type keptMsg struct {
	from, to host.NodeID
	payload  []byte
	moment   Moment
}

func (replayFault) Inject(e *Episode) (string, func(), bool) {
	n := e.N
	if n.proto == nil {
		return "", nil, false
	}
	limit := int(e.Spec.Param("max_msgs"))
	var kept []keptMsg
	// The budget is per kind of answer: append acknowledgements outnumber
	// vote answers by far, and with one budget for all they filled it
	// before an election's votes were ever kept (a vote of an earlier
	// election counted in the next, raft-stale-vote-counted, went from
	// seed 85 to no seed in 1,000 as the workload grew).
	taken := map[Moment]int{}
	early := 0
	n.ArmOn(e, false, func(o Observed) bool {
		switch {
		case o.Delivered:
		case o.Moment == MomentVoteRequest:
			early += replayToCampaigner(n, e, &kept, o.From)
		case replayed(o.Moment) && taken[o.Moment] < limit:
			taken[o.Moment]++
			kept = append(kept, keptMsg{o.From, o.To, slices.Clone(o.Payload), o.Moment})
		}
		return false // armed until the heal
	})
	return "armed", func() {
		n.Disarm(e)
		sent := 0
		for _, k := range kept {
			// Spread the copies a little: they were sent over the episode.
			d := time.Duration(e.R.Int64N(int64(20 * time.Millisecond)))
			if n.w.Net().Duplicate(k.from, k.to, k.payload, d) {
				sent++
			}
		}
		n.w.Probes().If(sent > 0, probeReplayed)
		e.detail = fmt.Sprintf("%d of %d kept messages delivered again, %d more as their addressee campaigned", sent, len(kept), early)
	}, true
}

// replayToCampaigner delivers again, at once, the votes and
// acknowledgements kept for node c, which just asked for votes: a new
// election round. They leave kept; it returns how many the network took.
func replayToCampaigner(n *Nemesis, e *Episode, kept *[]keptMsg, c host.NodeID) int {
	sent := 0
	rest := (*kept)[:0]
	for _, k := range *kept {
		if k.to != c || !stale(k.moment) {
			rest = append(rest, k)
			continue
		}
		// Within the round: the vote requests' answers come in over a
		// few milliseconds, the new leader's first appends soon after.
		d := time.Duration(e.R.Int64N(int64(30 * time.Millisecond)))
		if n.w.Net().Duplicate(k.from, k.to, k.payload, d) {
			sent++
		}
	}
	clear((*kept)[len(rest):])
	*kept = rest
	n.w.Probes().If(sent > 0, probeReplayedAtCampaign)
	return sent
}

// stale reports whether a kept moment is one replayed at its addressee's
// next campaign: an answer it counts toward an election or a commit.
func stale(m Moment) bool { return m == MomentVoteResponse || m == MomentAppendResponse }
