// Package server serves etcd's v3 gRPC API (the etcdserverpb services of
// go.etcd.io/etcd/api/v3) from one seedkv member, so that etcd's own
// clients (clientv3, its concurrency package, etcdctl) work unchanged.
//
// A gRPC handler never touches the replica directly. It posts a call to
// the member's event loop, where a seedkv client process (package client)
// hosted next to the replica sends the request to the leader, follows
// NotLeader redirects, and calls back with the outcome; the handler waits
// for that callback on a channel. Reads go through raft's ReadIndex unless
// the request is serializable. Watches are served by the local replica.
//
// What seedkv's protocol lacks is done here, the way etcd's own server
// does it: Range sort order and target and the min/max revision filters
// fetch the whole range and sort, filter and cut it afterwards; Put's
// ignore_value and ignore_lease become a compare-and-swap on the key's
// mod revision; nested transactions pick their path on a snapshot of the
// compared keys and run as one flat transaction guarded by those keys'
// mod revisions (nested.go). Errors carry etcd's gRPC codes and messages
// (rpctypes).
package server

import (
	"context"
	"errors"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/oshost"
)

// Defaults for zero Config fields.
const (
	// DefaultRequestTimeout bounds one request when the caller's context
	// has no earlier deadline (etcd's is 5 s plus election time).
	DefaultRequestTimeout = 5 * time.Second
	// DefaultProgressNotifyInterval is how often a watch created with
	// progress_notify gets an empty response when idle (etcd: 10 min).
	DefaultProgressNotifyInterval = 10 * time.Minute
	// APIVersion is the etcd API version this server speaks and reports
	// in Status (clients check it for features).
	APIVersion = "3.7.3"
	// StorageVersion is what Status reports as the storage version: etcd
	// v3.7.3 reports its storage schema's, major.minor.0.
	StorageVersion = "3.7.0"
)

// Limits.
const (
	// MaxWatchQueue bounds the responses waiting to be sent on one watch
	// stream; a client that falls this far behind has its stream closed.
	MaxWatchQueue = 1 << 14
	// MaxCASRetries bounds the compare-and-swap rounds of a Put with
	// ignore_value or ignore_lease under contention.
	MaxCASRetries = 64
)

// MemberInfo describes one member for MemberList.
type MemberInfo struct {
	ID         host.NodeID
	Name       string
	PeerURLs   []string
	ClientURLs []string
}

// Loop runs functions on the member's event loop.
type Loop interface {
	// Post queues f; false if the loop is closed.
	Post(f func()) bool
}

// Config is what a Server needs.
type Config struct {
	// Loop is the event loop of Node and Client.
	Loop Loop
	// Node is the local replica, Client a client process on the same loop.
	Node   *node.Node
	Client *client.Client
	// ClusterID is reported in every response header.
	ClusterID uint64
	// Members lists the cluster for MemberList (the local one included).
	Members []MemberInfo
	// RequestTimeout: see DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ProgressNotifyInterval: see DefaultProgressNotifyInterval.
	ProgressNotifyInterval time.Duration
	// MinLeaseTTL is the least TTL a lease is granted with, in seconds;
	// shorter ones are raised to it, as etcd raises them to 1.5 election
	// timeouts (MinLeaseTTLFor). 0: no minimum.
	MinLeaseTTL int64
}

// MinLeaseTTLFor is etcd's minimum lease TTL for a raft tick and
// election timeout in ticks: 3/2 of the election timeout (in whole
// ticks), rounded up to a second.
func MinLeaseTTLFor(tick time.Duration, electionTicks int) int64 {
	d := time.Duration((3*electionTicks)/2) * tick
	return int64((d + time.Second - 1) / time.Second)
}

// Server implements etcd's KV, Watch, Lease, Maintenance and Cluster
// services on one member.
type Server struct {
	cfg Config
	id  host.NodeID
	// gossip keeps the member table (nil: membership cannot change and
	// MemberList names members from cfg.Members).
	gossip *gossip
	// compactHashes are etcd's compaction hashes (etcdhash.go), on the
	// loop only.
	compactHashes []compactHash
}

// New builds a server.
func New(cfg Config) *Server {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ProgressNotifyInterval <= 0 {
		cfg.ProgressNotifyInterval = DefaultProgressNotifyInterval
	}
	s := &Server{cfg: cfg, id: cfg.Client.ID()}
	if cfg.Node != nil {
		cfg.Loop.Post(func() { cfg.Node.SetBeforeCompact(s.recordCompactHash) })
	}
	return s
}

// Register adds the services to g.
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterKVServer(g, &kvServer{s: s})
	pb.RegisterWatchServer(g, &watchServer{s: s})
	pb.RegisterLeaseServer(g, &leaseServer{s: s})
	pb.RegisterMaintenanceServer(g, &maintenanceServer{s: s})
	pb.RegisterClusterServer(g, &clusterServer{s: s})
	pb.RegisterAuthServer(g, &authServer{s: s})
}

// errStopped: the member's loop is closed (shutting down).
var errStopped = rpctypes.ErrGRPCStopped

// onLoop runs f on the event loop and waits for it.
func (s *Server) onLoop(ctx context.Context, f func()) error {
	done := make(chan struct{})
	if !s.cfg.Loop.Post(func() { f(); close(done) }) {
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx.Err())
	}
}

// result is the outcome of one client call.
type result struct {
	resp *api.Response
	err  error
}

// do sends one request through the member's client and waits for the
// outcome. The error is a gRPC status error as etcd would return.
func (s *Server) do(ctx context.Context, body api.RequestBody) (*api.Response, error) {
	timeout := s.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
		if timeout <= 0 {
			return nil, rpctypes.ErrGRPCDeadlineExceeded
		}
	}
	ch := make(chan result, 1)
	if !s.cfg.Loop.Post(func() {
		s.cfg.Client.Do(body, client.CallOptions{Timeout: timeout}, func(r *api.Response, err error) {
			ch <- result{r, err}
		})
	}) {
		return nil, errStopped
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return r.resp, toGRPC(r.err, r.resp)
		}
		return r.resp, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx.Err())
	}
}

// catchUp is a read barrier for what the local replica serves from its
// own state (lease TimeToLive and Leases): a linearizable read pinned to
// the local replica returns once it has applied everything committed
// before the call (raft's ReadIndex), so what it serves next is at least
// that fresh.
func (s *Server) catchUp(ctx context.Context) error {
	timeout := s.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	ch := make(chan result, 1)
	self := oshost.Home(s.id)
	body := &api.RangeRequest{Key: []byte{0}, CountOnly: true, Limit: 1}
	if !s.cfg.Loop.Post(func() {
		s.cfg.Client.Do(body, client.CallOptions{Timeout: timeout, Member: self}, func(r *api.Response, err error) {
			ch <- result{r, err}
		})
	}) {
		return errStopped
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return toGRPC(r.err, r.resp)
		}
		return nil
	case <-ctx.Done():
		return ctxErr(ctx.Err())
	}
}

// header converts a seedkv response header into etcd's.
func (s *Server) header(h api.Header) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.cfg.ClusterID, MemberId: uint64(h.Member),
		Revision: h.Revision, RaftTerm: h.RaftTerm}
}

// localHeader is a header from the local replica's state (on the loop).
func (s *Server) localHeader() *pb.ResponseHeader {
	st := s.cfg.Node.Status()
	return &pb.ResponseHeader{ClusterId: s.cfg.ClusterID, MemberId: uint64(st.ID),
		Revision: st.Revision, RaftTerm: st.Term}
}

func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return rpctypes.ErrGRPCDeadlineExceeded
	}
	return rpctypes.ErrGRPCCanceled
}

// toGRPC maps a client outcome to etcd's gRPC error for it.
func toGRPC(err error, resp *api.Response) error {
	if errors.Is(err, client.ErrTimeout) {
		return rpctypes.ErrGRPCTimeout
	}
	var se *client.ServerError
	if !errors.As(err, &se) {
		if errors.Is(err, api.ErrInvalid) {
			return status.Error(codes.InvalidArgument, "etcdserver: "+err.Error())
		}
		return status.Error(codes.Unknown, err.Error())
	}
	r := se.Response
	switch r.Err {
	case api.CodeNotLeader:
		return rpctypes.ErrGRPCNoLeader
	case api.CodeCompacted:
		return rpctypes.ErrGRPCCompacted
	case api.CodeFutureRevision:
		return rpctypes.ErrGRPCFutureRev
	case api.CodeNoSpace:
		return rpctypes.ErrGRPCNoSpace
	case api.CodeLeaseNotFound:
		return rpctypes.ErrGRPCLeaseNotFound
	case api.CodeLeaseExists:
		return rpctypes.ErrGRPCLeaseExist
	case api.CodeInvalid:
		return invalidErr(r.Detail)
	case api.CodeUnavailable:
		return status.Error(codes.Unavailable, "etcdserver: "+orDefault(r.Detail, "unavailable"))
	case api.CodeTooManyRequests:
		return rpctypes.ErrGRPCRequestTooManyRequests
	case api.CodeMemberNotFound:
		return rpctypes.ErrGRPCMemberNotFound
	case api.CodeMemberExists:
		return rpctypes.ErrGRPCMemberExist
	}
	return status.Error(codes.Unknown, "etcdserver: "+orDefault(r.Detail, r.Err.String()))
}

// invalidErr picks etcd's error for an invalid request from the store's
// detail message (the protocol has one code for all of them).
func invalidErr(detail string) error {
	switch {
	case strings.Contains(detail, "duplicate key"):
		return rpctypes.ErrGRPCDuplicateKey
	case strings.Contains(detail, "too many operations"):
		return rpctypes.ErrGRPCTooManyOps
	case strings.Contains(detail, "key is not provided"):
		return rpctypes.ErrGRPCEmptyKey
	case strings.Contains(detail, "too large"):
		return rpctypes.ErrGRPCRequestTooLarge
	case strings.Contains(detail, node.ErrLearnerNotReady.Error()):
		return rpctypes.ErrGRPCLearnerNotReady
	}
	return status.Error(codes.InvalidArgument, "etcdserver: "+orDefault(detail, "invalid request"))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
