package harness

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Reads of the past. The workload reads a key or a prefix at a revision the
// client has seen (Mix.PastRead); the answer is a function of the write log
// alone, so it is checked against the log, not by the linearizability
// search: every key with its value, create and mod revision and version,
// and no other key. With compaction on, some of these revisions are
// compacted: the answer must then be ErrCompacted, and only then.

// errPastRead is wrapped by every failure of a read of the past.
var errPastRead = errors.New("read of the past")

// pastRead is one read at an old revision as the client saw it.
type pastRead struct {
	client    int
	key       string
	prefix    bool
	rev       int64 // store revision asked for
	serial    bool
	seen      int64 // the highest revision the client had seen at the call
	call, ret int64
	code      api.ErrorCode // CodeOK, CodeCompacted or CodeFutureRevision
	kvs       []api.KeyValue
	// digest, if not 0, stands for kvs (then nil) in long runs, as the
	// history keeps its reads' answers (digestAPIKVs).
	digest uint64
	// Range options of a prefix read (rangeOpts) and what the answer
	// said of them.
	limit               int64
	countOnly, keysOnly bool
	count               int64
	more                bool
	// latest: a serializable read of the latest state pinned to one
	// replica (member), whose answer's header revision is the revision
	// it read at (check_serialreads.go); rev is then set from it.
	latest bool
	member host.NodeID
}

// rangeOpts draws etcd's range options for a prefix read of the past:
// half plain, else a limit of 1..3 keys, keys only, or count only. The
// answer is checked against the write log with the same options applied.
func (g *gen) rangeOpts(p *pastRead, body *api.RangeRequest) {
	switch g.rng.IntN(6) {
	case 0:
		p.limit = 1 + g.rng.Int64N(3)
	case 1:
		p.keysOnly = true
	case 2:
		p.countOnly = true
	}
	body.Limit, body.KeysOnly, body.CountOnly = p.limit, p.keysOnly, p.countOnly
}

// pastRead builds a read at an old revision: the client's last seen one, a
// uniform one at or after the first write, or (an eighth of them) one just
// past the last seen, which may not exist yet.
func (g *gen) pastRead() step {
	key := kvKey(g.rng.IntN(g.keys))
	prefix := g.rng.IntN(2) == 0
	if prefix {
		key = g.rangePrefix()
	}
	if g.rng.IntN(3) == 0 {
		return g.latestSerial(key, prefix)
	}
	rev := g.lastRev
	switch k := g.rng.IntN(8); {
	case k == 0:
		// Just ahead of what the client saw: other clients may have
		// written it by now (a plain read of it), or not (ErrFutureRevision).
		rev = g.lastRev + 1 + g.rng.Int64N(3)
	case k == 1 && g.compacted >= 2 && g.compacted <= g.lastRev:
		// Exactly at the last compaction the client heard of: compaction
		// keeps everything visible there, so it must be served (as a
		// Kubernetes reflector relists at the compact revision).
		rev = g.compacted
	case k <= 4 && g.lastRev > 2:
		rev = 2 + g.rng.Int64N(g.lastRev-1)
	}
	body := &api.RangeRequest{Key: []byte(key), Revision: rev, Serializable: g.serial}
	p := &pastRead{client: g.client, key: key, prefix: prefix, rev: rev, serial: g.serial, seen: g.lastRev}
	if prefix {
		body.End = prefixEnd(key)
		g.rangeOpts(p, body)
	}
	return step{kind: opPastRead, body: body, past: p}
}

// pastDone records a read of the past that got an answer (nil: none).
func (c *workClient) pastDone(s *step, resp *api.Response) {
	p := s.past
	if resp == nil {
		return
	}
	switch resp.Err {
	case api.CodeOK:
		if p.latest {
			p.rev, p.member = resp.Header.Revision, resp.Header.Member
		}
		body, ok := resp.Body.(*api.RangeResponse)
		if !ok {
			c.r.failf("client %d: read of the past answered with %T", c.id, resp.Body)
			return
		}
		p.kvs, p.count, p.more = body.KVs, body.Count, body.More
		if c.r.hist.DigestReads {
			p.kvs, p.digest = nil, digestAPIKVs(body.KVs)
		}
	case api.CodeCompacted, api.CodeFutureRevision:
		if p.latest {
			return // not an answer to a read of the latest state
		}
	default:
		return // refused for another reason: nothing to check
	}
	p.code, p.call, p.ret = resp.Err, s.call, c.r.now()
	c.r.pastReads = append(c.r.pastReads, p)
}

// checkPastReads checks every answered read of the past against the write
// log and the compactions requested.
func (r *seedRun) checkPastReads(log []lin.LogEntry) error {
	reads := slices.Clone(r.pastReads)
	slices.SortStableFunc(reads, func(a, b *pastRead) int { return int(a.rev - b.rev) })
	st := replayState{kvs: map[string]api.KeyValue{}}
	i := 0
	for _, p := range reads {
		for i < len(log) && log[i].Revision <= p.rev {
			st.apply(&log[i])
			i++
		}
		if err := r.checkPastRead(p, &st); err != nil {
			return fmt.Errorf("%w: client %d read %q (prefix %v) at revision %d, called at %v: %v",
				errPastRead, p.client, p.key, p.prefix, p.rev, time.Duration(p.call), err)
		}
	}
	r.notef("reads of the past: %d checked against the write log", len(reads))
	return checkSerialMonotonic(r.pastReads, &r.revs)
}

// checkPastRead checks one read; st is the store replayed to p.rev.
func (r *seedRun) checkPastRead(p *pastRead, st *replayState) error {
	switch p.code {
	case api.CodeCompacted:
		if c := r.logWatch.requestedBefore(p.ret); p.rev >= c {
			return fmt.Errorf("answered ErrCompacted at %v, but no compaction above revision %d was requested by then (highest: %d)",
				time.Duration(p.ret), p.rev, c)
		}
		return nil
	case api.CodeFutureRevision:
		if !p.serial && p.rev <= p.seen {
			return fmt.Errorf("a linearizable read answered ErrFutureRevision for a revision the client had seen (%d)", p.seen)
		}
		return nil
	}
	if c := r.logWatch.ackedBefore(p.call); !p.serial && p.rev < c {
		return fmt.Errorf("a linearizable read served it although a compaction at revision %d was acknowledged before the call", c)
	}
	want := st.read(p.key, p.prefix)
	if p.prefix {
		return p.checkOptions(want)
	}
	if !p.answered(want) {
		return fmt.Errorf("got %s, the write log says %s", p.answer(), describeAPIKVs(want))
	}
	return nil
}

// checkOptions checks a prefix read against all, the keys the write log
// holds under the prefix at its revision (in key order): the count is all
// of them whatever the limit, count-only returns no key, a limit returns
// the first keys and says whether it cut, keys-only returns no value.
func (p *pastRead) checkOptions(all []api.KeyValue) error {
	n := int64(len(all))
	want := all
	switch {
	case p.countOnly:
		want = nil
	case p.limit > 0 && n > p.limit:
		want = all[:p.limit]
	}
	if p.keysOnly {
		want = slices.Clone(want)
		for i := range want {
			want[i].Value = nil
		}
	}
	opts := fmt.Sprintf(" (limit %d, keys only %v, count only %v)", p.limit, p.keysOnly, p.countOnly)
	switch {
	case !p.answered(want):
		return fmt.Errorf("got %s%s, the write log says %s", p.answer(), opts, describeAPIKVs(want))
	case p.count != n:
		return fmt.Errorf("got count %d%s, the write log holds %d keys", p.count, opts, n)
	case p.more != (p.limit > 0 && !p.countOnly && n > p.limit):
		return fmt.Errorf("got more=%v%s with %d keys in the range", p.more, opts, n)
	}
	return nil
}

// replayState is the key space replayed from the write log.
type replayState struct {
	kvs map[string]api.KeyValue
}

func (s *replayState) apply(e *lin.LogEntry) {
	for _, c := range e.Changes {
		if c.Type == lin.EventDelete {
			delete(s.kvs, c.Key)
			continue
		}
		kv, ok := s.kvs[c.Key]
		if !ok {
			kv = api.KeyValue{Key: []byte(c.Key), CreateRevision: e.Revision}
		}
		kv.ModRevision, kv.Version, kv.Value = e.Revision, kv.Version+1, []byte(c.Value)
		s.kvs[c.Key] = kv
	}
}

// read is the key, or every key with the prefix, in key order.
func (s *replayState) read(key string, prefix bool) []api.KeyValue {
	if !prefix {
		if kv, ok := s.kvs[key]; ok {
			return []api.KeyValue{kv}
		}
		return nil
	}
	var out []api.KeyValue
	for k, kv := range s.kvs {
		if strings.HasPrefix(k, key) {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	return out
}

// sameKVs compares what the log says with an answer (lease IDs aside: the
// write log does not carry them).
func sameKVs(want, got []api.KeyValue) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		w, g := &want[i], &got[i]
		if string(w.Key) != string(g.Key) || string(w.Value) != string(g.Value) || w.CreateRevision != g.CreateRevision ||
			w.ModRevision != g.ModRevision || w.Version != g.Version {
			return false
		}
	}
	return true
}

// answered reports whether the read answered want, by digest in long runs.
func (p *pastRead) answered(want []api.KeyValue) bool {
	if p.digest != 0 {
		return digestAPIKVs(want) == p.digest
	}
	return sameKVs(want, p.kvs)
}

// answer describes what the read answered.
func (p *pastRead) answer() string {
	if p.digest != 0 {
		return fmt.Sprintf("an answer with digest %016x (kept as a digest in long runs)", p.digest)
	}
	return describeAPIKVs(p.kvs)
}

// digestAPIKVs is lin.DigestKVs of an answer, over what sameKVs compares.
func digestAPIKVs(kvs []api.KeyValue) uint64 {
	l := make([]lin.KV, len(kvs))
	for i, kv := range kvs {
		l[i] = lin.KV{Key: string(kv.Key), Value: string(kv.Value), ModRevision: kv.ModRevision,
			CreateRevision: kv.CreateRevision, Version: kv.Version}
	}
	return lin.DigestKVs(l)
}

func describeAPIKVs(kvs []api.KeyValue) string {
	if len(kvs) == 0 {
		return "no key"
	}
	b := []byte{}
	for i, kv := range kvs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%s=%s(c%d,m%d,v%d)", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
	}
	return string(b)
}
