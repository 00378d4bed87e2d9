package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/mvcc"
	"github.com/seedkv/seedkv/raft"
)

// apply applies committed entries in order. It reports false if the node
// had to stop (an apply gap: the log and the state machine disagree).
func (n *Node) apply(ents []raft.Entry) bool {
	for i := range ents {
		e := &ents[i]
		if e.Index <= n.applied {
			continue // covered by a snapshot installed in this Ready
		}
		// Invariant: each committed entry is applied once, in log order
		// (index applied+1 next); a gap stops the replica for good.
		if e.Index != n.applied+1 {
			n.stop(fmt.Sprintf("apply gap: entry %d after applied %d", e.Index, n.applied))
			return false
		}
		switch e.Type {
		case raft.EntryNormal:
			if len(e.Data) > 0 {
				n.applyCommand(e)
			}
		case raft.EntryConfChange:
			n.applyConfChange(e)
		}
		n.applied = e.Index
		if n.cfg.Observer != nil {
			n.cfg.Observer.Applied(n.id, e.Index, e.Term, e.Data)
		}
	}
	return true
}

func (n *Node) applyCommand(e *raft.Entry) {
	c, err := n.cfg.Commands.decode(e)
	if err != nil {
		return // skipped on every replica alike
	}
	switch c.kind {
	case kindExpire:
		n.applyExpire(c)
	case kindClient:
		if !n.sm.session(c.client).admit(c.req.ID, c.req.FinishedBelow) {
			n.probes.Hit(probeLateDuplicate)
			return // a duplicate: it already took effect, or never will
		}
		key := reqKey{c.client, c.req.ID}
		// Only the proposer answers, and only while its client waits:
		// every other replica applies without building a response.
		var p *proposal
		if c.proposer == n.id {
			p = n.pending[key]
		}
		resp := n.execute(c, e.Index, p != nil)
		if p != nil {
			delete(n.pending, key)
			// reply, not MustEncode: an answer too large to send (a
			// delete with prev_kv of huge values, a txn's huge range)
			// is refused, and must not bring the member down.
			n.reply(key, resp)
		}
	}
}

// keepPromotion renews lease id from this leader's promotion if the grant
// or keep-alive just applied was stamped before it. A new leader renews
// every lease it holds by its TTL (onSoftState), but it applies the
// previous term's entries only afterwards: a grant or keep-alive stamped
// by the old leader must not then shorten the renewal every lease got
// from the new one (etcd's lessor refreshes a lease granted on the
// primary from the time it applies it). Only the leader's own expiry
// timer changes; the replicated deadline stays as stamped.
func (n *Node) keepPromotion(id, stamp int64) {
	if n.role == raft.RoleLeader && stamp < n.promotedAt {
		n.probes.Hit(probeLeasePromotionKept)
		_, _ = n.sm.store.LeaseKeepAlive(id, time.Unix(0, n.promotedAt))
	}
}

// applyExpire revokes the leases the leader found expired, if they still
// are by the replicated deadline at the leader's stamp (a keep-alive
// committed in between saves the lease, on every replica alike).
func (n *Node) applyExpire(c command) {
	st := n.sm.store
	for _, id := range c.leases {
		delete(n.revoking, id)
		dl, ok := n.sm.leaseDeadline[id]
		if !ok || dl > c.stamp {
			n.probes.If(ok, probeLeaseSaved)
			continue
		}
		n.probes.Hit(probeLeaseExpired)
		if _, err := st.LeaseRevoke(id); err == nil || errors.Is(err, mvcc.ErrLeaseNotFound) {
			delete(n.sm.leaseDeadline, id)
		}
	}
	n.checkAlarm()
}

// execute applies one client write to the state machine and, if build,
// builds its response. The state changes are the same on every replica;
// only the proposer answers, so only it needs the response (the rest skip
// converting the results to api types).
func (n *Node) execute(c command, index uint64, build bool) *api.Response {
	op := c.req.Body.Op()
	var body api.ResponseBody
	st := n.sm.store
	now := time.Unix(0, c.stamp)
	var err error
	switch r := c.req.Body.(type) {
	case *api.PutRequest:
		var prev *mvcc.KeyValue
		_, prev, err = st.Put(r.Key, r.Value, r.Lease, r.PrevKV && build)
		if build {
			body = &api.PutResponse{PrevKV: apiKVPtr(prev)}
		}
	case *api.DeleteRangeRequest:
		var deleted int64
		var prevs []mvcc.KeyValue
		deleted, _, prevs, err = st.DeleteRange(r.Key, r.End, r.PrevKV && build)
		if build {
			body = &api.DeleteRangeResponse{Deleted: deleted, PrevKVs: apiKVs(prevs)}
		}
	case *api.TxnRequest:
		var tr mvcc.TxnResponse
		tr, err = st.TxnInto(n.txnResps, n.mvccTxn(r))
		if build {
			body = apiTxnResponse(tr) // copies what it keeps
		}
		if cap(tr.Responses) > cap(n.txnResps) {
			n.txnResps = tr.Responses[:0]
		}
		clear(tr.Responses) // no results kept alive by the buffer
	case *api.CompactRequest:
		if n.beforeCompact != nil && r.Revision > st.LastCompaction() && r.Revision <= st.CurrentRevision() {
			n.beforeCompact(r.Revision)
		}
		err = st.Compact(r.Revision)
		body = &api.CompactResponse{}
	case *api.LeaseGrantRequest:
		id := r.ID
		if id == 0 {
			id = int64(index) // unique per log position, the same on every replica
		}
		ttl := time.Duration(r.TTL) * time.Second
		if r.TTL > int64(mvcc.MaxLeaseTTL/time.Second) {
			ttl = mvcc.MaxLeaseTTL + 1 // refused by mvcc as invalid
		}
		if err = st.LeaseGrant(id, ttl, now); err == nil {
			n.sm.leaseDeadline[id] = c.stamp + int64(ttl)
			n.keepPromotion(id, c.stamp)
		}
		body = &api.LeaseGrantResponse{ID: id, TTL: r.TTL}
	case *api.LeaseRevokeRequest:
		if _, err = st.LeaseRevoke(r.ID); err == nil {
			delete(n.sm.leaseDeadline, r.ID)
		}
		body = &api.LeaseRevokeResponse{}
	case *api.LeaseKeepAliveRequest:
		var ttl time.Duration
		if ttl, err = st.LeaseKeepAlive(r.ID, now); err == nil {
			n.sm.leaseDeadline[r.ID] = c.stamp + int64(ttl)
			n.keepPromotion(r.ID, c.stamp)
		}
		body = &api.LeaseKeepAliveResponse{ID: r.ID, TTL: int64(ttl / time.Second)}
	default:
		err = fmt.Errorf("%w: %v is not a logged operation", api.ErrInvalid, op)
	}
	if !build {
		n.noteResult(err)
		return nil
	}
	resp := &api.Response{ID: c.req.ID, Op: op, Body: body}
	n.finishResponse(resp, err)
	return resp
}

// finishResponse fills the header and maps an mvcc error to a code.
func (n *Node) finishResponse(resp *api.Response, err error) {
	resp.Header = n.header()
	n.noteResult(err)
	if err == nil {
		return
	}
	resp.Body = nil
	resp.Err = codeOf(err)
	resp.Detail = truncate(err.Error(), api.MaxDetailSize)
}

// noteResult updates the quota alarm from the outcome of an operation:
// a no-space refusal raises it, a success checks whether room was made.
func (n *Node) noteResult(err error) {
	switch {
	case err == nil:
		if n.alarm {
			n.checkAlarm()
		}
	case codeOf(err) == api.CodeNoSpace:
		n.alarm = true
	}
}

// checkAlarm clears the quota alarm once deletes or compaction made room.
func (n *Node) checkAlarm() {
	st := n.sm.store
	if n.alarm && st.Size() < st.Quota() {
		n.alarm = false
	}
}

func (n *Node) header() api.Header {
	return api.Header{Revision: n.sm.store.CurrentRevision(), Member: n.id, RaftTerm: n.term}
}

// codeOf maps store errors to protocol codes.
func codeOf(err error) api.ErrorCode {
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return api.CodeCompacted
	case errors.Is(err, mvcc.ErrFutureRevision):
		return api.CodeFutureRevision
	case errors.Is(err, mvcc.ErrNoSpace):
		return api.CodeNoSpace
	case errors.Is(err, mvcc.ErrLeaseNotFound):
		return api.CodeLeaseNotFound
	case errors.Is(err, mvcc.ErrLeaseExists):
		return api.CodeLeaseExists
	case errors.Is(err, mvcc.ErrEmptyKey), errors.Is(err, mvcc.ErrKeyTooLarge),
		errors.Is(err, mvcc.ErrValueTooLarge), errors.Is(err, mvcc.ErrTooManyOps),
		errors.Is(err, mvcc.ErrDuplicateKey), errors.Is(err, mvcc.ErrInvalidArgument),
		errors.Is(err, api.ErrInvalid):
		return api.CodeInvalid
	}
	return api.CodeInternal
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// applyConfChange applies a membership change and answers its proposer.
func (n *Node) applyConfChange(e *raft.Entry) {
	var cc raft.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		return
	}
	n.confState = n.rn.ApplyConfChange(cc)
	n.probes.Hit(probeConfApplied)
	proposer, client, id, ok := decodeConfContext(cc.Context)
	if !ok || proposer != n.id {
		return
	}
	op := api.OpMemberAdd
	if cc.Type == raft.ConfChangeRemoveNode {
		op = api.OpMemberRemove
	}
	key := reqKey{client, id}
	if n.pending[key] == nil {
		return
	}
	delete(n.pending, key)
	resp := &api.Response{ID: id, Op: op, Header: n.header(),
		Body: &api.MemberResponse{ForOp: op, Members: n.members()}}
	n.h.Send(client, n.enc.MustEncode(resp))
}

// members lists the configuration, voters then learners, by ID.
func (n *Node) members() []api.Member {
	var ms []api.Member
	for _, v := range n.confState.Voters {
		ms = append(ms, api.Member{ID: host.NodeID(v)})
	}
	for _, l := range n.confState.Learners {
		ms = append(ms, api.Member{ID: host.NodeID(l), Learner: true})
	}
	return ms
}

// ---- api <-> mvcc conversions ----

func apiKV(kv *mvcc.KeyValue) api.KeyValue {
	return api.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Version: kv.Version, Value: kv.Value, Lease: kv.Lease}
}

// apiKVPtr is kv as an api key-value: the same fields in the same order,
// and mvcc allocated kv for this answer alone (a previous key-value).
func apiKVPtr(kv *mvcc.KeyValue) *api.KeyValue { return (*api.KeyValue)(kv) }

func apiKVs(kvs []mvcc.KeyValue) []api.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]api.KeyValue, len(kvs))
	for i := range kvs {
		out[i] = apiKV(&kvs[i])
	}
	return out
}

func mvccRangeOpts(r *api.RangeRequest) mvcc.RangeOptions {
	return mvcc.RangeOptions{Revision: r.Revision, Limit: r.Limit, CountOnly: r.CountOnly, KeysOnly: r.KeysOnly}
}

func apiRange(res mvcc.RangeResult) *api.RangeResponse {
	return &api.RangeResponse{KVs: apiKVs(res.KVs), More: res.More, Count: res.Count}
}

var compareTargets = [...]mvcc.CompareTarget{
	api.TargetVersion: mvcc.CompareVersion,
	api.TargetCreate:  mvcc.CompareCreateRevision,
	api.TargetMod:     mvcc.CompareModRevision,
	api.TargetValue:   mvcc.CompareValue,
	api.TargetLease:   mvcc.CompareLease,
}

var compareResults = [...]mvcc.CompareResult{
	api.CompareEqual:    mvcc.Equal,
	api.CompareGreater:  mvcc.Greater,
	api.CompareLess:     mvcc.Less,
	api.CompareNotEqual: mvcc.NotEqual,
}

// mvccTxn converts r in n's reused buffers (mvcc.Txn keeps none of the
// request's slices): every replica converts every transaction it
// applies, and three fresh slices per transaction were a share of the
// apply path's allocations. The result is valid until the next call.
func (n *Node) mvccTxn(r *api.TxnRequest) mvcc.TxnRequest {
	cs := n.txnCompares[:0]
	for i := range r.Compares {
		c := &r.Compares[i]
		mc := mvcc.Compare{Key: c.Key, RangeEnd: c.End, Value: c.Value}
		if int(c.Target) < len(compareTargets) {
			mc.Target = compareTargets[c.Target]
		}
		if int(c.Result) < len(compareResults) {
			mc.Result = compareResults[c.Result]
		}
		switch c.Target {
		case api.TargetVersion:
			mc.Number = c.Version
		case api.TargetCreate:
			mc.Number = c.CreateRevision
		case api.TargetMod:
			mc.Number = c.ModRevision
		case api.TargetLease:
			mc.Number = c.Lease
		}
		cs = append(cs, mc)
	}
	// Both branches in one buffer, each capped so neither can grow into
	// the other.
	ops := appendMVCCOps(n.txnOps[:0], r.Success)
	ns := len(ops)
	ops = appendMVCCOps(ops, r.Failure)
	n.txnCompares, n.txnOps = cs, ops
	t := mvcc.TxnRequest{Compares: cs, Success: ops[:ns:ns], Failure: ops[ns:len(ops):len(ops)]}
	t.PutThenDelete = r.PutThenDelete
	return t
}

// appendMVCCOps appends ops converted to mvcc's type to out.
func appendMVCCOps(out []mvcc.Op, ops []api.TxnOp) []mvcc.Op {
	for _, op := range ops {
		switch {
		case op.Range != nil:
			out = append(out, mvcc.OpGet(op.Range.Key, op.Range.End, mvccRangeOpts(op.Range)))
		case op.Put != nil:
			out = append(out, mvcc.OpPutKV(op.Put.Key, op.Put.Value, op.Put.Lease, op.Put.PrevKV))
		case op.DeleteRange != nil:
			out = append(out, mvcc.OpDelete(op.DeleteRange.Key, op.DeleteRange.End, op.DeleteRange.PrevKV))
		}
	}
	return out
}

func apiTxnResponse(tr mvcc.TxnResponse) *api.TxnResponse {
	out := &api.TxnResponse{Succeeded: tr.Succeeded}
	for i := range tr.Responses {
		r := &tr.Responses[i]
		switch r.Kind {
		case mvcc.OpRange:
			out.Responses = append(out.Responses, api.TxnOpResponse{Range: apiRange(r.Range)})
		case mvcc.OpPut:
			out.Responses = append(out.Responses, api.TxnOpResponse{Put: &api.PutResponse{PrevKV: apiKVPtr(r.Prev)}})
		case mvcc.OpDeleteRange:
			out.Responses = append(out.Responses, api.TxnOpResponse{DeleteRange: &api.DeleteRangeResponse{
				Deleted: r.Deleted, PrevKVs: apiKVs(r.Prevs)}})
		}
	}
	return out
}

// expireLeases is the leader's lease clock: it proposes the revocation of
// every lease its store finds expired (the store's expiry was extended by
// LeasePromote when this node became leader). Followers never expire
// leases on their own; they apply the leader's decision from the log.
func (n *Node) expireLeases(now time.Time) {
	if n.role != raft.RoleLeader {
		return
	}
	var ids []int64
	for _, id := range n.sm.store.ExpiredLeases(now) {
		if t, ok := n.revoking[id]; ok && now.Sub(t) < n.cfg.PendingTimeout {
			continue // already proposed
		}
		ids = append(ids, id)
		if len(ids) == MaxExpireBatch {
			break
		}
	}
	if len(ids) == 0 {
		return
	}
	n.probes.Hit(probeLeaseExpireProp)
	for _, id := range ids {
		n.revoking[id] = now
	}
	n.props = append(n.props, bufferedProp{data: appendExpireCmd(nil, now.UnixNano(), ids)})
}
