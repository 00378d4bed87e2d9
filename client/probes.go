package client

import "github.com/seedkv/seedkv/probe"

// Coverage probes of the client (see package probe), hit into its host's
// set (probe.Of).
var (
	probeTimeout        = probe.New("client/timeout", "client: a request ended without an answer (outcome unknown)")
	probeFollowHint     = probe.New("client/follow-leader-hint", "client: a refused request was re-sent to the hinted leader")
	probeRetryBackoff   = probe.New("client/retry-backoff", "client: a refused request was retried elsewhere after a backoff")
	probeStaleAnswer    = probe.New("client/stale-answer", "client: a late or duplicate answer to a finished request arrived")
	probeReadRetry      = probe.New("client/read-attempt-retry", "client: a read attempt timed out and moved to another server")
	probeWatchGap       = probe.New("client/watch-gap-resumed", "client: a watch stream had a gap and was resumed")
	probeWatchCompacted = probe.New("client/watch-compacted", "client: a watch ended because its revision was compacted")
)
