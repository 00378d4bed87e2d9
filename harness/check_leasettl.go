package harness

import (
	"fmt"

	"github.com/seedkv/seedkv/api"
)

// Keep-alive answers. A keep-alive renews a lease by the TTL it was
// granted with, and its answer says so (etcd's LeaseKeepAliveResponse.TTL):
// a client session measures its lease's life, and the lock or leadership
// held on it, from that answer (concurrency.Session.renewed). The lease
// check holds the servers' expiry against the renewals; nothing held the
// answer itself, so a server that told its clients a longer TTL than it
// keeps (they would act as holders after it expired the lease) passed.

// keepAliveTTLError checks an acknowledged keep-alive's answer for a
// lease granted with ttl seconds ("" if right).
func keepAliveTTLError(id, ttl int64, resp *api.Response) string {
	body, ok := resp.Body.(*api.LeaseKeepAliveResponse)
	switch {
	case !ok:
		return fmt.Sprintf("lease: keep-alive of lease %d answered OK with %T", id, resp.Body)
	case body.ID != id || body.TTL != ttl:
		return fmt.Sprintf("lease: keep-alive of lease %d (granted TTL %ds) answered by replica %d for lease %d with TTL %ds: it renews by the granted TTL, and a client measures its lease by the answer",
			id, ttl, resp.Header.Member, body.ID, body.TTL)
	}
	return ""
}

// checkKeepAliveTTL fails the run if an acknowledged keep-alive of l
// answered with the wrong TTL.
func (r *seedRun) checkKeepAliveTTL(l *lease, resp *api.Response) {
	if why := keepAliveTTLError(l.id, l.ttl, resp); why != "" {
		r.failf("%s", why)
	}
}
