package compat

// A differential test of seedkv's gRPC server against etcd v3.7.3 itself:
// an etcd started in this process (go.etcd.io/etcd/server/v3/embed, one
// member, temporary data dir, loopback ports) and a seedkv cluster (the
// binary TestMain built, `seedkv cluster -members N`) get the same seeded
// random operation sequences through clientv3, and every response must
// be equal once what legitimately differs is normalised: cluster and
// member IDs and raft terms in headers, auto-assigned lease IDs (mapped),
// remaining lease TTLs (a range), database sizes, versions, raft indexes.
// Errors must have the same message (clientv3's error string, which is
// the gRPC status message) and, for the raw calls, the same gRPC code.
//
//	cd compat && go test -run 'TestGRPCDiff' -v .                       # default: ~30 s
//	cd compat && go test -run 'TestGRPCDiff$' -v -grpcdiff.seqs=500 -timeout 1h .   # long sweep
//	cd compat && go test -run 'TestGRPCDiff$' -v -grpcdiff.seed=17 -grpcdiff.seqs=1 .   # one sequence
//
// A sequence works under its own key prefix, but ranges "from key" and
// compactions reach the whole store, so the state a sequence starts from
// depends on the ones before it: a failure prints the sequence's seed and
// its operation log.

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var (
	gdSeqs  = flag.Int("grpcdiff.seqs", 30, "TestGRPCDiff: random sequences to run")
	gdOps   = flag.Int("grpcdiff.ops", 60, "TestGRPCDiff: operations per sequence")
	gdSeed  = flag.Uint64("grpcdiff.seed", 1, "TestGRPCDiff: seed of the first sequence (sequence i uses seed+i)")
	gdSeqs3 = flag.Int("grpcdiff.seqs3", 4, "TestGRPCDiff3 (3 seedkv members): random sequences to run")
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startEmbedEtcd starts a one-member etcd v3.7.3 in this process and returns
// its client URL. fsync is off: the test compares answers, not
// durability.
func startEmbedEtcd(t testing.TB) string {
	cfg := embed.NewConfig()
	cfg.Name = "etcd"
	cfg.Dir = filepath.Join(t.TempDir(), "etcd")
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	// etcd's errors go to stderr: a fatal one (os.Exit) says why there.
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zap.DPanicLevel)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	lg, err := zc.Build()
	require.NoError(t, err)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	e, err := embed.StartEtcd(cfg)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	return cu.String()
}

// startSeedkv starts `seedkv cluster -members n` in a temporary directory
// and returns its endpoints.
func startSeedkv(t testing.TB, n int) []string {
	stop, eps, err := startCluster(seedkvBin, filepath.Join(t.TempDir(), "seedkv"), "-members", fmt.Sprint(n))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stop()) })
	return eps
}

// diffPair is one etcd and one seedkv with a client each, and what the
// driver knows of their shared state.
type diffPair struct {
	t    testing.TB
	e, s *clientv3.Client
	// leaseS2E maps seedkv's lease IDs to etcd's (explicit IDs map to
	// themselves; auto-assigned ones are paired when granted).
	leaseS2E map[int64]int64
	leaseE2S map[int64]int64
	// leases are etcd's IDs of the leases believed alive.
	leases []int64
	// rev and compact: the store's revision and compaction revision as
	// the last answers told.
	rev, compact int64
	// stats counts compared outcomes by kind, for -v.
	stats map[string]int
	log   []string
	ops   int
	// members is the size of the seedkv cluster.
	members int
	// noCompact: revisions not to compact at (hasFromKeyDelete).
	noCompact map[int64]bool
}

func newDiffPair(t testing.TB, etcdEP string, seedEPs []string) *diffPair {
	t.Helper()
	mk := func(eps []string) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second,
			Logger: zap.NewNop(), MaxCallSendMsgSize: 8 << 20})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	return &diffPair{t: t, e: mk([]string{etcdEP}), s: mk(seedEPs),
		leaseS2E: map[int64]int64{}, leaseE2S: map[int64]int64{}, stats: map[string]int{}, members: len(seedEPs),
		noCompact: map[int64]bool{}}
}

// ctx bounds one call.
func (p *diffPair) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	p.t.Cleanup(cancel)
	return ctx
}

// logf records an operation of the current sequence.
func (p *diffPair) logf(format string, args ...any) {
	p.log = append(p.log, fmt.Sprintf(format, args...))
	p.ops++
}

// fail reports a divergence with the sequence's log.
func (p *diffPair) fail(what string, eText, sText string) {
	p.t.Helper()
	start := max(0, len(p.log)-40)
	require.Equal(p.t, eText, sText, "%s diverges (etcd expected, seedkv actual); the sequence so far (last %d ops):\n%s",
		what, len(p.log)-start, strings.Join(p.log[start:], "\n"))
}

// errText is what is compared of an error: clientv3's text (the gRPC
// status message) and, when it is a gRPC status, its code.
func errText(err error) string {
	if err == nil {
		return ""
	}
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("error code=%v %q", st.Code(), st.Message())
	}
	return fmt.Sprintf("error %q", err.Error())
}

// compare requires equal answers: both errors equal, or both messages
// equal after normalisation. It returns whether both succeeded.
func (p *diffPair) compare(what string, em proto.Message, eerr error, sm proto.Message, serr error) bool {
	p.t.Helper()
	if eerr != nil || serr != nil {
		p.fail(what+" error", errText(eerr), errText(serr))
		p.stats[what+" error: "+classifyErr(eerr)]++
		return false
	}
	p.fail(what, p.text(em, false), p.text(sm, true))
	p.stats[what+" ok"]++
	return true
}

func classifyErr(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// text renders a response for comparison: header fields that legitimately
// differ cleared, seedkv's lease IDs mapped to etcd's.
func (p *diffPair) text(m proto.Message, seedkv bool) string {
	if m == nil {
		return "<nil>"
	}
	m = proto.Clone(m)
	p.normalize(m.ProtoReflect(), seedkv)
	return prototext.MarshalOptions{Multiline: true}.Format(m)
}

// normalize walks a message: in every ResponseHeader it clears the
// cluster ID, member ID and raft term; on seedkv's side it maps lease
// IDs (KeyValue.lease, the ID of lease responses) to etcd's.
func (p *diffPair) normalize(m protoreflect.Message, seedkv bool) {
	name := m.Descriptor().FullName()
	switch name {
	case "etcdserverpb.ResponseHeader":
		for _, f := range []protoreflect.Name{"cluster_id", "member_id", "raft_term"} {
			m.Clear(m.Descriptor().Fields().ByName(f))
		}
		return
	case "mvccpb.KeyValue":
		p.mapLease(m, "lease", seedkv)
	case "etcdserverpb.LeaseGrantResponse", "etcdserverpb.LeaseTimeToLiveResponse",
		"etcdserverpb.LeaseKeepAliveResponse":
		p.mapLease(m, "ID", seedkv)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				p.normalize(l.Get(i).Message(), seedkv)
			}
		case fd.Message() != nil && !fd.IsMap():
			p.normalize(v.Message(), seedkv)
		}
		return true
	})
}

func (p *diffPair) mapLease(m protoreflect.Message, field protoreflect.Name, seedkv bool) {
	if !seedkv {
		return
	}
	fd := m.Descriptor().Fields().ByName(field)
	id := m.Get(fd).Int()
	if e, ok := p.leaseS2E[id]; ok {
		m.Set(fd, protoreflect.ValueOfInt64(e))
	}
}

// sToE and eToS translate lease IDs; unknown IDs translate to themselves.
func (p *diffPair) eToS(id int64) int64 {
	if s, ok := p.leaseE2S[id]; ok {
		return s
	}
	return id
}

// observe notes the revision an answer reports.
func (p *diffPair) observe(h *pb.ResponseHeader) {
	if h != nil && h.Revision > p.rev {
		p.rev = h.Revision
	}
}

// runSequences drives n sequences of ops operations each.
func runSequences(t *testing.T, p *diffPair, seed uint64, n, ops int) {
	for i := range n {
		s := seed + uint64(i)
		p.log = p.log[:0]
		p.logf("# sequence seed=%d", s)
		g := &gen{p: p, r: rand.New(rand.NewPCG(s, 0x9d1ff)), prefix: fmt.Sprintf("/gd%d/", s)}
		g.run(ops)
	}
}

// logStats prints how often each outcome was compared.
func (p *diffPair) logStats(t *testing.T) {
	keys := make([]string, 0, len(p.stats))
	for k := range p.stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%6d %s\n", p.stats[k], k)
	}
	t.Logf("compared outcomes:\n%s", b.String())
}

// TestGRPCDiff runs random sequences against etcd and a one-member seedkv.
func TestGRPCDiff(t *testing.T) {
	start := time.Now()
	p := newDiffPair(t, startEmbedEtcd(t), startSeedkv(t, 1))
	p.syncStart()
	runSequences(t, p, *gdSeed, *gdSeqs, *gdOps)
	p.logStats(t)
	t.Logf("%d sequences, %d operations, %v", *gdSeqs, p.ops, time.Since(start).Round(time.Millisecond))
}

// TestGRPCDiff3 runs random sequences against etcd and a three-member
// seedkv cluster (clientv3 spreads its calls over the members).
func TestGRPCDiff3(t *testing.T) {
	start := time.Now()
	p := newDiffPair(t, startEmbedEtcd(t), startSeedkv(t, 3))
	p.syncStart()
	runSequences(t, p, *gdSeed+1_000_000, *gdSeqs3, *gdOps)
	p.logStats(t)
	t.Logf("%d sequences, %d operations, %v", *gdSeqs3, p.ops, time.Since(start).Round(time.Millisecond))
}

// syncStart requires both stores to start at the same revision.
func (p *diffPair) syncStart() {
	er, eerr := p.e.Get(p.ctx(), "\x00", clientv3.WithFromKey())
	sr, serr := p.s.Get(p.ctx(), "\x00", clientv3.WithFromKey())
	p.logf("get \\x00 from-key (start)")
	if p.compare("initial range", (*pb.RangeResponse)(er), eerr, (*pb.RangeResponse)(sr), serr) {
		p.observe(er.Header)
	}
}
