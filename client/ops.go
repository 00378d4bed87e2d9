package client

import (
	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
)

// PutOptions are the options of Put.
type PutOptions struct {
	// Lease attaches the key to a lease (0: none).
	Lease int64
	// PrevKV asks for the previous key-value.
	PrevKV bool
	CallOptions
}

// Put sets key to value. done gets the response body (nil on error) and
// the response header (zero on ErrTimeout).
func (c *Client) Put(key, value []byte, opts PutOptions, done func(*api.PutResponse, api.Header, error)) {
	req := &api.PutRequest{Key: key, Value: value, Lease: opts.Lease, PrevKV: opts.PrevKV}
	c.Do(req, opts.CallOptions, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.PutResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// RangeOptions are the options of Range.
type RangeOptions struct {
	// End makes it a range read of [key, End) ("\x00": every key >= key).
	End []byte
	// Revision reads the past (0: latest).
	Revision int64
	// Limit bounds the keys returned (0: all).
	Limit     int64
	CountOnly bool
	KeysOnly  bool
	// Serializable allows a possibly stale answer from the member's local
	// state, without a ReadIndex round.
	Serializable bool
	CallOptions
}

// Range reads a key or a range.
func (c *Client) Range(key []byte, opts RangeOptions, done func(*api.RangeResponse, api.Header, error)) {
	req := &api.RangeRequest{Key: key, End: opts.End, Revision: opts.Revision, Limit: opts.Limit,
		CountOnly: opts.CountOnly, KeysOnly: opts.KeysOnly, Serializable: opts.Serializable}
	c.Do(req, opts.CallOptions, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.RangeResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// Get reads one key (linearizable unless opts.Serializable).
func (c *Client) Get(key []byte, opts RangeOptions, done func(*api.RangeResponse, api.Header, error)) {
	opts.End = nil
	c.Range(key, opts, done)
}

// DeleteOptions are the options of Delete.
type DeleteOptions struct {
	// End deletes [key, End) instead of the single key.
	End    []byte
	PrevKV bool
	CallOptions
}

// Delete deletes a key or a range.
func (c *Client) Delete(key []byte, opts DeleteOptions, done func(*api.DeleteRangeResponse, api.Header, error)) {
	req := &api.DeleteRangeRequest{Key: key, End: opts.End, PrevKV: opts.PrevKV}
	c.Do(req, opts.CallOptions, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.DeleteRangeResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// Txn runs a transaction.
func (c *Client) Txn(txn *api.TxnRequest, opts CallOptions, done func(*api.TxnResponse, api.Header, error)) {
	c.Do(txn, opts, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.TxnResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// Compact drops history before rev.
func (c *Client) Compact(rev int64, opts CallOptions, done func(api.Header, error)) {
	c.Do(&api.CompactRequest{Revision: rev}, opts, func(r *api.Response, err error) {
		done(headerOf(r), err)
	})
}

// LeaseGrant grants a lease of ttl seconds (id 0: the server picks).
func (c *Client) LeaseGrant(ttl, id int64, opts CallOptions, done func(*api.LeaseGrantResponse, api.Header, error)) {
	c.Do(&api.LeaseGrantRequest{TTL: ttl, ID: id}, opts, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.LeaseGrantResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// LeaseRevoke revokes a lease, deleting its keys.
func (c *Client) LeaseRevoke(id int64, opts CallOptions, done func(api.Header, error)) {
	c.Do(&api.LeaseRevokeRequest{ID: id}, opts, func(r *api.Response, err error) {
		done(headerOf(r), err)
	})
}

// LeaseKeepAlive renews a lease once.
func (c *Client) LeaseKeepAlive(id int64, opts CallOptions, done func(*api.LeaseKeepAliveResponse, api.Header, error)) {
	c.Do(&api.LeaseKeepAliveRequest{ID: id}, opts, func(r *api.Response, err error) {
		body, _ := bodyOf[*api.LeaseKeepAliveResponse](r, err)
		done(body, headerOf(r), err)
	})
}

// MemberAdd adds a member.
func (c *Client) MemberAdd(id host.NodeID, learner bool, opts CallOptions, done func(*api.MemberResponse, api.Header, error)) {
	c.Do(&api.MemberAddRequest{ID: id, Learner: learner}, opts, c.memberDone(done))
}

// MemberRemove removes a member.
func (c *Client) MemberRemove(id host.NodeID, opts CallOptions, done func(*api.MemberResponse, api.Header, error)) {
	c.Do(&api.MemberRemoveRequest{ID: id}, opts, c.memberDone(done))
}

// MemberList lists the members.
func (c *Client) MemberList(opts CallOptions, done func(*api.MemberResponse, api.Header, error)) {
	c.Do(&api.MemberListRequest{}, opts, c.memberDone(done))
}

func (c *Client) memberDone(done func(*api.MemberResponse, api.Header, error)) func(*api.Response, error) {
	return func(r *api.Response, err error) {
		body, _ := bodyOf[*api.MemberResponse](r, err)
		done(body, headerOf(r), err)
	}
}

// bodyOf extracts the typed body of a successful response. A success
// without the expected body is reported as api.ErrInternal by the caller's
// nil check; it never panics.
func bodyOf[T api.ResponseBody](r *api.Response, err error) (T, bool) {
	var zero T
	if err != nil || r == nil {
		return zero, false
	}
	b, ok := r.Body.(T)
	return b, ok
}

func headerOf(r *api.Response) api.Header {
	if r == nil {
		return api.Header{}
	}
	return r.Header
}

// MoveLeader asks the leader to hand leadership to target, a voter; done
// gets nil once target leads. It is not a logged write: a request whose
// answer is lost may be re-sent (a transfer to the current leader is a
// no-op that succeeds).
func (c *Client) MoveLeader(target host.NodeID, opts CallOptions, done func(api.Header, error)) {
	c.Do(&api.MoveLeaderRequest{Target: target}, opts, func(r *api.Response, err error) {
		done(headerOf(r), err)
	})
}
