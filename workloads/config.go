package workloads

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seedkv/seedkv/api"
	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/concurrency"
	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// Config is the configuration workload: writers replace a configuration
// (a generation key and a few setting keys) in one transaction guarded by
// the generation key's mod revision; watchers list the configuration and
// follow it with a watch, applying each revision as one step. A watcher
// must never apply a configuration that is partial, older than one it
// applied, or other than what the store held at that revision, and must
// end on the last committed configuration.
type Config struct{}

// Config workload parameters.
const (
	configPrefix = "/config/"
	configGen    = configPrefix + "gen"
)

// configFields are the setting keys written with each generation.
var configFields = []string{configPrefix + "a", configPrefix + "b", configPrefix + "c"}

// Name implements harness.Workload.
func (Config) Name() string { return "config" }

// configRun is one seed's config workload.
type configRun struct {
	env      *harness.WorkloadEnv
	watchers []*configWatcher
	ops      int
	commits  int
}

// applied is one configuration a watcher applied.
type applied struct {
	rev  int64
	conf map[string]string // key -> value, every key under the prefix
}

// Start implements harness.Workload.
func (Config) Start(env *harness.WorkloadEnv) harness.WorkloadRun {
	r := &configRun{env: env}
	writers := max(1, env.Clients/2)
	for i := range env.Clients {
		if i < writers {
			cw := &configWriter{r: r, id: i, rng: env.Rand("config/" + strconv.Itoa(i))}
			env.AddClient(i, func(h host.Host) host.Process { cw.c = env.NewClient(h); return cw.c })
			env.World().Schedule(time.Duration(cw.rng.Int64N(int64(100*time.Millisecond))), cw.next)
			continue
		}
		cw := &configWatcher{id: i}
		r.watchers = append(r.watchers, cw)
		env.AddClient(i, func(h host.Host) host.Process {
			c := env.NewClient(h)
			cw.start(c)
			return c
		})
	}
	return r
}

func (r *configRun) Ops() int { return r.ops }

// Settled implements harness.Settler: every watcher has applied the
// store's last revision.
func (r *configRun) Settled(rev int64) bool {
	for _, w := range r.watchers {
		if w.f == nil || !w.f.CaughtUp(rev) {
			return false
		}
	}
	return true
}

func (r *configRun) Checkers() []harness.WorkloadChecker {
	return []harness.WorkloadChecker{
		checker{name: "config: watchers apply whole configurations in order", fn: func(*harness.Records) harness.CheckResult {
			n := 0
			for _, w := range r.watchers {
				n += len(w.applied)
			}
			r.env.Notef("config: %d configurations committed (answered), %d applied by %d watchers", r.commits, n, len(r.watchers))
			return harness.CheckResult{Err: r.checkOrder()}
		}},
		needLog("config: watchers apply what the store held and converge", r.checkConverged),
	}
}

// configWriter is one writer: read the generation, then replace the
// configuration if nobody else did meanwhile.
type configWriter struct {
	r   *configRun
	id  int
	c   *client.Client
	rng interface{ Int64N(int64) int64 }
	seq int
}

func (cw *configWriter) next() {
	if cw.r.env.Over() {
		return
	}
	cw.r.ops++
	cw.c.Get([]byte(configGen), client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
		if err != nil {
			cw.think()
			return
		}
		gen, mod := int64(0), int64(0)
		if len(r.KVs) == 1 {
			gen, _ = strconv.ParseInt(string(r.KVs[0].Value), 10, 64)
			mod = r.KVs[0].ModRevision
		}
		cw.write(gen+1, mod)
	})
}

// write commits generation gen if the generation key is still at mod (0:
// absent).
func (cw *configWriter) write(gen, mod int64) {
	cw.r.ops++
	cw.seq++
	k := []byte(configGen)
	cmp := api.Compare{Key: k, Target: api.TargetMod, Result: api.CompareEqual, ModRevision: mod}
	ops := []api.TxnOp{{Put: &api.PutRequest{Key: k, Value: []byte(strconv.FormatInt(gen, 10))}}}
	for _, f := range configFields {
		v := fmt.Sprintf("gen=%d writer=%d seq=%d", gen, cw.id, cw.seq)
		ops = append(ops, api.TxnOp{Put: &api.PutRequest{Key: []byte(f), Value: []byte(v)}})
	}
	cw.c.Txn(&api.TxnRequest{Compares: []api.Compare{cmp}, Success: ops}, client.CallOptions{}, func(r *api.TxnResponse, _ api.Header, err error) {
		if err == nil && r.Succeeded {
			cw.r.commits++
		}
		cw.think()
	})
}

func (cw *configWriter) think() {
	cw.r.env.World().Schedule(time.Duration(50+cw.rng.Int64N(250))*time.Millisecond, cw.next)
}

// configWatcher follows the configuration.
type configWatcher struct {
	id      int
	f       *concurrency.Follower
	applied []applied
}

func (cw *configWatcher) start(c *client.Client) {
	cw.f = concurrency.Follow(c, configPrefix, concurrency.FollowOptions{
		Listed:  func(rev int64, _ []api.KeyValue) { cw.apply(rev) },
		Applied: cw.apply,
	})
}

// apply records the configuration the watcher holds after revision rev.
func (cw *configWatcher) apply(rev int64) {
	snap := cw.f.Snapshot()
	conf := make(map[string]string, len(snap))
	for k, kv := range snap {
		conf[k] = string(kv.Value)
	}
	cw.applied = append(cw.applied, applied{rev: rev, conf: conf})
}

// genOf is the generation a configuration is at, and whether it is whole:
// every setting written by the same transaction as the generation.
func genOf(conf map[string]string) (int64, bool) {
	if len(conf) == 0 {
		return 0, true // nothing committed yet
	}
	gen, err := strconv.ParseInt(conf[configGen], 10, 64)
	if err != nil || len(conf) != 1+len(configFields) {
		return 0, false
	}
	var stamp string
	for i, f := range configFields {
		v := conf[f]
		if !strings.HasPrefix(v, "gen="+strconv.FormatInt(gen, 10)+" ") {
			return gen, false
		}
		s := v[strings.Index(v, " ")+1:]
		if i > 0 && s != stamp {
			return gen, false
		}
		stamp = s
	}
	return gen, true
}

// checkOrder requires every applied configuration to be whole and newer
// than the one before it.
func (r *configRun) checkOrder() error {
	for _, w := range r.watchers {
		last, lastRev := int64(-1), int64(0)
		for _, a := range w.applied {
			gen, whole := genOf(a.conf)
			switch {
			case !whole:
				return fmt.Errorf("watcher %d applied a partial configuration at revision %d: %v", w.id, a.rev, a.conf)
			case a.rev < lastRev:
				return fmt.Errorf("watcher %d applied revision %d after revision %d", w.id, a.rev, lastRev)
			case gen < last:
				return fmt.Errorf("watcher %d applied generation %d (revision %d) after generation %d (revision %d)", w.id, gen, a.rev, last, lastRev)
			}
			last, lastRev = gen, a.rev
		}
	}
	return nil
}

// checkConverged requires every applied configuration to be the store's
// at its revision, and every watcher's last one to be the store's last.
func (r *configRun) checkConverged(log []lin.LogEntry) error {
	end := lastRev(log)
	for _, w := range r.watchers {
		p := newReplay(log)
		for _, a := range w.applied {
			p.to(a.rev)
			if err := sameConf(p, a.conf); err != nil {
				return fmt.Errorf("watcher %d at revision %d: %v", w.id, a.rev, err)
			}
		}
		p.to(end)
		if len(w.applied) == 0 {
			return fmt.Errorf("watcher %d applied no configuration", w.id)
		}
		if err := sameConf(p, w.applied[len(w.applied)-1].conf); err != nil {
			return fmt.Errorf("watcher %d did not converge (its last revision %d, the store's %d): %v",
				w.id, w.applied[len(w.applied)-1].rev, end, err)
		}
	}
	return nil
}

// sameConf compares a configuration with the store's under the prefix.
func sameConf(p *replay, conf map[string]string) error {
	keys := p.under(configPrefix)
	if len(keys) != len(conf) {
		return fmt.Errorf("holds %d keys, the store %d", len(conf), len(keys))
	}
	for _, k := range keys {
		if v, ok := conf[k]; !ok || v != p.keys[k].value {
			return fmt.Errorf("%s = %q, the store has %q", k, v, p.keys[k].value)
		}
	}
	return nil
}
