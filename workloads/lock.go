package workloads

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/concurrency"
	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Lock is the lock workload: every client loops taking one
// concurrency.Mutex, writing a few times to a simulated shared resource
// while it believes it holds the lock (checking its session before each
// write, as a careful etcd user does), and releasing it.
//
// With the pause fault on, lock holders are paused too (as a garbage
// collector would stop them), between their check and their write.
//
// The resource is a process of its own on the simulated network. Fenced,
// it accepts a write only with a token at or above the highest it has
// seen; unfenced, it accepts every write. The lock alone cannot keep a
// holder that lost its lease (paused, cut off, slow clock, or a write
// delayed in the network) from writing after the next holder began:
// Jepsen's etcd 3.4.3 finding. Only fencing can.
type Lock struct {
	// Fencing selects the fenced resource.
	Fencing bool
}

// Lock workload parameters.
const (
	lockPrefix   = "/lock/resource"
	lockTTL      = 1 // seconds: short, so that leases do expire under faults
	lockWrites   = 4 // resource writes per hold, at most
	writeTimeout = 150 * time.Millisecond
	// With the pause fault on, a holder pauses (stop-the-world,
	// keep-alives included) between its check of the session and a
	// write in this many percent of writes, for [holderPauseMin,
	// holderPauseMax): long enough to lose a lease. (The nemesis pauses
	// replicas; a paused replica does not make a lease expire early,
	// since a new leader extends every lease.)
	holderPausePercent = 5
	holderPauseMin     = 500 * time.Millisecond
	holderPauseMax     = 2500 * time.Millisecond
	resourceID         = harness.FirstAuxProcess
	// auxEnvelope starts every message between a workload's clients and
	// its own processes (api's envelopes are 1..3, so a client.Client
	// ignores these).
	auxEnvelope = 0x7f
)

// Name implements harness.Workload.
func (Lock) Name() string { return "lock" }

// lockRun is one seed's lock workload.
type lockRun struct {
	env      *harness.WorkloadEnv
	fencing  bool
	res      *resource
	claims   []claim
	owner    map[int64]int // lease -> client
	ops      int
	sections int
	lost     int  // holds given up because the session was over
	pauses   int  // holder pauses
	pausing  bool // the seed has the pause fault: holders pause too
}

// claim is one acquisition as its holder saw it.
type claim struct {
	client int
	key    string
	token  int64
	at     int64 // store revision of the read that granted it
	when   time.Duration
}

// Start implements harness.Workload.
func (l Lock) Start(env *harness.WorkloadEnv) harness.WorkloadRun {
	r := &lockRun{env: env, fencing: l.Fencing, owner: map[int64]int{}, pausing: slices.Contains(env.Faults, "pause")}
	r.res = &resource{fenced: l.Fencing, w: env.World()}
	env.AddProcess(resourceID, func(h host.Host) host.Process { r.res.h = h; return r.res })
	for i := range env.Clients {
		lc := &lockClient{r: r, id: i, rng: env.Rand("lock/" + strconv.Itoa(i))}
		env.AddClient(i, func(h host.Host) host.Process {
			lc.h = newPausable(h, env.World().Schedule)
			lc.c = env.NewClient(lc.h)
			return lc
		})
		env.World().Schedule(time.Duration(lc.rng.Int64N(int64(100*time.Millisecond))), lc.begin)
		env.World().Schedule(env.Stop, lc.stopWaiting)
	}
	return r
}

func (r *lockRun) Ops() int { return r.ops }

func (r *lockRun) Checkers() []harness.WorkloadChecker {
	return []harness.WorkloadChecker{
		checker{name: "lock: mutual exclusion on the resource", fn: func(*harness.Records) harness.CheckResult {
			r.env.Notef("lock: %d holds, %d resource writes accepted, %d refused (fenced=%v)",
				r.sections, len(r.res.accepted), r.res.rejected, r.fencing)
			r.env.Notef("lock: %d holds lost their session, %d holder pauses", r.lost, r.pauses)
			return harness.CheckResult{Err: r.res.exclusive()}
		}},
		needLog("lock: ownership", r.checkOwnership),
	}
}

// lockClient is one client process of the lock workload.
type lockClient struct {
	r     *lockRun
	id    int
	c     *client.Client
	h     *pausable
	rng   interface{ Int64N(int64) int64 }
	sess  *concurrency.Session
	m     *concurrency.Mutex
	seq   uint64
	token int64
	wait  host.Timer
	acked func(bool)
}

// Receive hands api traffic to the client and acks to the section
// (after the pause, if the process is paused).
func (lc *lockClient) Receive(from host.NodeID, p []byte) {
	if lc.h.paused {
		lc.h.held = append(lc.h.held, func() { lc.Receive(from, p) })
		return
	}
	if len(p) > 0 && p[0] == auxEnvelope {
		lc.onAck(p[1:])
		return
	}
	lc.c.Receive(from, p)
}

func (lc *lockClient) think(f func()) {
	lc.r.env.World().Schedule(time.Duration(lc.rng.Int64N(int64(120*time.Millisecond))), f)
}

// begin takes the lock (with a new session if the last one is over).
func (lc *lockClient) begin() {
	if lc.r.env.Over() {
		lc.quit()
		return
	}
	if lc.sess == nil || lc.sess.Done() {
		concurrency.NewSession(lc.c, lc.h, concurrency.SessionOptions{TTL: lockTTL}, func(s *concurrency.Session, err error) {
			if err != nil {
				lc.think(lc.begin)
				return
			}
			lc.sess, lc.m = s, concurrency.NewMutex(s, lockPrefix)
			lc.r.owner[s.Lease()] = lc.id
			lc.lock()
		})
		return
	}
	lc.lock()
}

// stopWaiting ends a Lock still waiting when the workload phase ends
// (its callback then quits).
func (lc *lockClient) stopWaiting() {
	if lc.m != nil && !lc.m.Held() {
		lc.m.Cancel()
	}
}

// quit leaves once the workload phase is over: the session is closed, so
// that keep-alives do not go on loading the cluster during the checks.
func (lc *lockClient) quit() {
	if lc.sess != nil && !lc.sess.Done() {
		lc.sess.Close(nil)
	}
}

func (lc *lockClient) lock() {
	lc.r.ops++
	lc.m.Lock(func(err error) {
		if err != nil {
			lc.think(lc.begin)
			return
		}
		lc.token = lc.m.Token()
		lc.r.claims = append(lc.r.claims, claim{client: lc.id, key: lc.m.Key(), token: lc.token,
			at: lc.m.HeldAt(), when: lc.r.env.World().Elapsed()})
		lc.r.sections++
		lc.write(0, 1+int(lc.rng.Int64N(lockWrites)))
	})
}

// write sends write k of n to the resource, if the client still believes
// it holds the lock.
func (lc *lockClient) write(k, n int) {
	if k == n || !lc.m.Held() {
		if k < n {
			lc.r.lost++
		}
		lc.release()
		return
	}
	if lc.r.pausing && lc.rng.Int64N(100) < holderPausePercent {
		// The check above passed; the process stops right after it (a
		// GC pause), and then goes on to write without checking again.
		lc.r.pauses++
		lc.h.pause(holderPauseMin + time.Duration(lc.rng.Int64N(int64(holderPauseMax-holderPauseMin))))
		lc.h.After(0, func() { lc.send(k, n) })
		return
	}
	lc.send(k, n)
}

// send sends write k of n and waits for the resource's answer.
func (lc *lockClient) send(k, n int) {
	lc.seq++
	lc.r.ops++
	lc.h.Send(resourceID, encodeWrite(lc.id, lc.token, lc.seq))
	lc.wait = lc.h.After(writeTimeout, func() { lc.wait = nil; lc.acked = nil; lc.release() })
	lc.acked = func(ok bool) {
		if !ok {
			lc.release() // fenced off: someone newer holds the lock
			return
		}
		work := time.Duration(20+lc.rng.Int64N(130)) * time.Millisecond
		lc.h.After(work, func() { lc.write(k+1, n) })
	}
}

func (lc *lockClient) onAck(p []byte) {
	seq, accepted, valid := decodeAck(p)
	if !valid || seq != lc.seq || lc.acked == nil {
		return // late or garbled
	}
	if lc.wait != nil {
		lc.wait.Stop()
		lc.wait = nil
	}
	f := lc.acked
	lc.acked = nil
	f(accepted)
}

// decodeAck parses the resource's answer (after auxEnvelope): seq and
// one byte, 1 accepted or 0 refused.
func decodeAck(p []byte) (seq uint64, accepted, valid bool) {
	seq, n := binary.Uvarint(p)
	if n <= 0 || len(p) != n+1 || p[n] > 1 {
		return 0, false, false
	}
	return seq, p[n] == 1, true
}

func (lc *lockClient) release() {
	lc.m.Unlock(func(error) { lc.think(lc.begin) })
}

// decodeWrite parses a write message (auxEnvelope, client, token, seq);
// valid is false for anything else, including trailing bytes.
func decodeWrite(p []byte) (client uint64, token int64, seq uint64, valid bool) {
	if len(p) == 0 || p[0] != auxEnvelope {
		return 0, 0, 0, false
	}
	p = p[1:]
	client, n1 := binary.Uvarint(p)
	if n1 <= 0 {
		return 0, 0, 0, false
	}
	token, n2 := binary.Varint(p[n1:])
	if n2 <= 0 {
		return 0, 0, 0, false
	}
	seq, n3 := binary.Uvarint(p[n1+n2:])
	if n3 <= 0 || n1+n2+n3 != len(p) {
		return 0, 0, 0, false
	}
	return client, token, seq, true
}

func encodeWrite(client int, token int64, seq uint64) []byte {
	b := []byte{auxEnvelope}
	b = binary.AppendUvarint(b, uint64(client))
	b = binary.AppendVarint(b, token)
	return binary.AppendUvarint(b, seq)
}

// resource is the simulated shared resource: a process that logs the
// writes it accepts.
type resource struct {
	h        host.Host
	w        interface{ Elapsed() time.Duration }
	fenced   bool
	highest  int64
	accepted []access
	rejected int
}

// access is one accepted write.
type access struct {
	client int
	token  int64
	seq    uint64
	at     time.Duration
}

func (rs *resource) Receive(from host.NodeID, p []byte) {
	cl, tok, seq, valid := decodeWrite(p)
	if !valid {
		return // not a write: nothing to answer
	}
	ok := !rs.fenced || tok >= rs.highest
	if ok {
		rs.highest = max(rs.highest, tok)
		rs.accepted = append(rs.accepted, access{client: int(cl), token: tok, seq: seq, at: rs.w.Elapsed()})
	} else {
		rs.rejected++
	}
	ack := binary.AppendUvarint([]byte{auxEnvelope}, seq)
	if ok {
		ack = append(ack, 1)
	} else {
		ack = append(ack, 0)
	}
	rs.h.Send(from, ack)
}

// exclusive checks mutual exclusion as the resource saw it: once a write
// of another hold (client and token) was accepted, no write of an earlier
// hold may be accepted again.
func (rs *resource) exclusive() error {
	type hold struct {
		client int
		token  int64
	}
	closedBy := map[hold]access{}
	var cur *access
	for i := range rs.accepted {
		a := &rs.accepted[i]
		h := hold{a.client, a.token}
		if by, ok := closedBy[h]; ok {
			return fmt.Errorf("two holders: client %d (token %d) wrote at %v after client %d (token %d) had written at %v (resource fenced=%v)",
				a.client, a.token, a.at, by.client, by.token, by.at, rs.fenced)
		}
		if cur != nil && (cur.client != a.client || cur.token != a.token) {
			closedBy[hold{cur.client, cur.token}] = *a
		}
		cur = a
	}
	return nil
}

// checkOwnership requires every acquisition to be right by the store:
// at the revision of the read that granted it, the holder's key was the
// lock's first (lowest create revision) and its create revision was the
// token.
func (r *lockRun) checkOwnership(log []lin.LogEntry) error {
	claims := sortedClaims(r.claims)
	p := newReplay(log)
	end := lastRev(log)
	for i, c := range claims {
		if c.at > end {
			// The lock workload runs on until the checks; the write log
			// was read from a replica that had not applied this far.
			r.env.Notef("lock: ownership: %d acquisitions past the write log's revision %d not checked", len(claims)-i, end)
			break
		}
		p.to(c.at)
		k, ks := p.first(lockPrefix + "/")
		if k != c.key || ks.create != c.token {
			return fmt.Errorf("client %d took the lock at %v (revision %d, token %d, key %s), but the lock's first key then was %q (create revision %d, client %s)",
				c.client, c.when, c.at, c.token, c.key, k, ks.create, r.ownerOf(k))
		}
	}
	return nil
}

// ownerOf names the client of a queue key (lease in hex after the last /).
func (r *lockRun) ownerOf(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			lease, err := strconv.ParseInt(key[i+1:], 16, 64)
			if c, ok := r.owner[lease]; ok && err == nil {
				return strconv.Itoa(c)
			}
			break
		}
	}
	return "?"
}

// sortedClaims orders claims by the revision that granted them (stable).
func sortedClaims(cs []claim) []claim {
	out := slices.Clone(cs)
	sortClaims(out, func(c claim) int64 { return c.at })
	return out
}

// sortClaims orders s by revision, stably.
func sortClaims[T any](s []T, rev func(T) int64) {
	slices.SortStableFunc(s, func(a, b T) int { return cmp.Compare(rev(a), rev(b)) })
}
