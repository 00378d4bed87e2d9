package workloads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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

// Kubernetes is a Kubernetes-shaped workload, after etcd's
// KubernetesHighTraffic robustness traffic: objects live under
// /registry/<resource>/<namespace>/<name> with JSON values; writers create
// them (if absent), update and delete them with compare-and-swap on the
// mod revision they read (the apiserver's GuaranteedUpdate); informers
// list a resource and then watch it from the list's revision + 1, and
// must end with a cache equal to the store. Every list must be the
// store's state at the list's revision.
type Kubernetes struct{}

// Kubernetes workload parameters.
const (
	registry       = "/registry/"
	objectsPerKind = 4
)

// k8sKinds are the resources and namespaces objects live in.
var k8sKinds = []struct{ resource, kind, namespace string }{
	{"pods", "Pod", "default"},
	{"pods", "Pod", "kube-system"},
	{"configmaps", "ConfigMap", "default"},
}

// Name implements harness.Workload.
func (Kubernetes) Name() string { return "kubernetes" }

// object is the JSON value of a stored object.
type object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

type metadata struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Generation int64  `json:"generation"`
}

type spec struct {
	Writer int `json:"writer"`
	Seq    int `json:"seq"`
}

// k8sRun is one seed's kubernetes workload.
type k8sRun struct {
	env       *harness.WorkloadEnv
	informers []*informer
	ops       int
}

// informer follows one resource prefix.
type informer struct {
	id     int
	prefix string
	f      *concurrency.Follower
	lists  []listed
}

// listed is one list an informer made and the events it applied after it.
type listed struct {
	rev    int64
	kvs    []api.KeyValue
	events []lin.Change
	revs   []int64 // revs[i] is the revision of events[i]
}

// Start implements harness.Workload.
func (Kubernetes) Start(env *harness.WorkloadEnv) harness.WorkloadRun {
	r := &k8sRun{env: env}
	writers := max(1, env.Clients/2)
	for i := range env.Clients {
		if i < writers {
			kw := &k8sWriter{r: r, id: i, rng: env.Rand("kubernetes/" + strconv.Itoa(i))}
			env.AddClient(i, func(h host.Host) host.Process { kw.c = env.NewClient(h); return kw.c })
			env.World().Schedule(time.Duration(kw.rng.Int64N(int64(100*time.Millisecond))), kw.next)
			continue
		}
		prefix := registry + "pods/"
		if (i-writers)%2 == 1 {
			prefix = registry + "configmaps/"
		}
		in := &informer{id: i, prefix: prefix}
		r.informers = append(r.informers, in)
		env.AddClient(i, func(h host.Host) host.Process {
			c := env.NewClient(h)
			in.f = concurrency.Follow(c, in.prefix, concurrency.FollowOptions{
				Listed: func(rev int64, kvs []api.KeyValue) { in.lists = append(in.lists, listed{rev: rev, kvs: kvs}) },
				Event:  in.record,
			})
			return c
		})
	}
	return r
}

func (r *k8sRun) Ops() int { return r.ops }

// record notes an event the informer applied after its last list.
func (in *informer) record(ev api.Event) {
	l := &in.lists[len(in.lists)-1]
	c := lin.Change{Key: string(ev.KV.Key), Type: lin.EventPut, Value: string(ev.KV.Value)}
	if ev.Type == api.EventDelete {
		c.Type, c.Value = lin.EventDelete, ""
	}
	l.events = append(l.events, c)
	l.revs = append(l.revs, ev.Revision())
}

// Settled implements harness.Settler.
func (r *k8sRun) Settled(rev int64) bool {
	for _, in := range r.informers {
		if in.f == nil || !in.f.CaughtUp(rev) {
			return false
		}
	}
	return true
}

func (r *k8sRun) Checkers() []harness.WorkloadChecker {
	return []harness.WorkloadChecker{
		needLog("kubernetes: lists match the store at their revision", r.checkLists),
		needLog("kubernetes: informers apply every change after their list", r.checkEvents),
		needLog("kubernetes: informer caches equal the store", r.checkCaches),
	}
}

// k8sWriter creates, updates and deletes objects with CAS on mod revision.
type k8sWriter struct {
	r   *k8sRun
	id  int
	c   *client.Client
	rng interface{ Int64N(int64) int64 }
	seq int
}

func (kw *k8sWriter) next() {
	if kw.r.env.Over() {
		return
	}
	kind := k8sKinds[kw.rng.Int64N(int64(len(k8sKinds)))]
	name := kind.resource[:len(kind.resource)-1] + "-" + strconv.FormatInt(kw.rng.Int64N(objectsPerKind), 10)
	key := registry + kind.resource + "/" + kind.namespace + "/" + name
	kw.r.ops++
	kw.c.Get([]byte(key), client.RangeOptions{}, func(r *api.RangeResponse, _ api.Header, err error) {
		if err != nil {
			kw.think()
			return
		}
		o := object{APIVersion: "v1", Kind: kind.kind, Metadata: metadata{Name: name, Namespace: kind.namespace}}
		if len(r.KVs) == 0 {
			kw.cas(key, o, 0, false)
			return
		}
		kv := r.KVs[0]
		if json.Unmarshal(kv.Value, &o) != nil {
			kw.r.env.Notef("kubernetes: writer %d: %s holds no object: %q", kw.id, key, kv.Value)
		}
		kw.cas(key, o, kv.ModRevision, kw.rng.Int64N(10) < 3)
	})
}

// cas writes (or deletes) key if its mod revision is still mod (0: the key
// must not exist).
func (kw *k8sWriter) cas(key string, o object, mod int64, del bool) {
	kw.r.ops++
	kw.seq++
	k := []byte(key)
	cmp := api.Compare{Key: k, Target: api.TargetMod, Result: api.CompareEqual, ModRevision: mod}
	var op api.TxnOp
	if del {
		op = api.TxnOp{DeleteRange: &api.DeleteRangeRequest{Key: k}}
	} else {
		o.Metadata.Generation++
		o.Spec = spec{Writer: kw.id, Seq: kw.seq}
		v, err := json.Marshal(o)
		if err != nil {
			kw.r.env.Notef("kubernetes: writer %d: %v", kw.id, err)
			kw.think()
			return
		}
		op = api.TxnOp{Put: &api.PutRequest{Key: k, Value: v}}
	}
	txn := &api.TxnRequest{Compares: []api.Compare{cmp}, Success: []api.TxnOp{op},
		Failure: []api.TxnOp{{Range: &api.RangeRequest{Key: k}}}}
	kw.c.Txn(txn, client.CallOptions{}, func(*api.TxnResponse, api.Header, error) { kw.think() })
}

func (kw *k8sWriter) think() {
	kw.r.env.World().Schedule(time.Duration(20+kw.rng.Int64N(150))*time.Millisecond, kw.next)
}

// checkLists requires every list to be the store at its revision.
func (r *k8sRun) checkLists(log []lin.LogEntry) error {
	for _, in := range r.informers {
		p := newReplay(log)
		for _, l := range in.lists {
			p.to(l.rev)
			if err := sameKVs(p, in.prefix, l.kvs); err != nil {
				return fmt.Errorf("informer %d: list of %s at revision %d: %v", in.id, in.prefix, l.rev, err)
			}
		}
	}
	return nil
}

// checkEvents requires the events each informer applied after a list to
// be exactly the store's changes under its prefix after the list's
// revision, in order, with none missing, up to the last one applied.
func (r *k8sRun) checkEvents(log []lin.LogEntry) error {
	for _, in := range r.informers {
		for _, l := range in.lists {
			if len(l.events) == 0 {
				continue
			}
			var want []lin.Change
			var wantRevs []int64
			last := l.revs[len(l.revs)-1]
			for _, e := range log {
				if e.Revision <= l.rev || e.Revision > last {
					continue
				}
				for _, c := range e.Changes {
					if strings.HasPrefix(c.Key, in.prefix) {
						want = append(want, c)
						wantRevs = append(wantRevs, e.Revision)
					}
				}
			}
			for i := range max(len(want), len(l.events)) {
				switch {
				case i >= len(l.events):
					return fmt.Errorf("informer %d (list at revision %d): missed %s %s at revision %d", in.id, l.rev, want[i].Type, want[i].Key, wantRevs[i])
				case i >= len(want) || want[i] != l.events[i] || wantRevs[i] != l.revs[i]:
					exp := "nothing"
					if i < len(want) {
						exp = fmt.Sprintf("%s %s at revision %d", want[i].Type, want[i].Key, wantRevs[i])
					}
					return fmt.Errorf("informer %d (list at revision %d): applied %s %s at revision %d where the store had %s",
						in.id, l.rev, l.events[i].Type, l.events[i].Key, l.revs[i], exp)
				}
			}
		}
	}
	return nil
}

// checkCaches requires every informer's cache to be the store at the end.
func (r *k8sRun) checkCaches(log []lin.LogEntry) error {
	end := lastRev(log)
	p := newReplay(log)
	p.to(end)
	for _, in := range r.informers {
		if in.f == nil || !in.f.Listed() {
			return fmt.Errorf("informer %d never listed %s", in.id, in.prefix)
		}
		snap := in.f.Snapshot()
		kvs := make([]api.KeyValue, 0, len(snap))
		for _, kv := range snap {
			kvs = append(kvs, kv)
		}
		slices.SortFunc(kvs, func(a, b api.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
		if err := sameKVs(p, in.prefix, kvs); err != nil {
			return fmt.Errorf("informer %d: cache of %s (next revision %d) against the store at revision %d: %v",
				in.id, in.prefix, in.f.Next(), end, err)
		}
	}
	return nil
}

// sameKVs compares kvs (sorted by key) with the store under prefix:
// keys, values, create and mod revisions.
func sameKVs(p *replay, prefix string, kvs []api.KeyValue) error {
	keys := p.under(prefix)
	for i, k := range keys {
		ks := p.keys[k]
		if i >= len(kvs) {
			return fmt.Errorf("misses %s (mod revision %d)", k, ks.modRev)
		}
		kv := kvs[i]
		switch {
		case string(kv.Key) != k:
			return fmt.Errorf("has %s where the store has %s", kv.Key, k)
		case string(kv.Value) != ks.value || kv.ModRevision != ks.modRev || kv.CreateRevision != ks.create:
			return fmt.Errorf("%s: has mod revision %d create %d value %q, the store mod revision %d create %d value %q",
				k, kv.ModRevision, kv.CreateRevision, kv.Value, ks.modRev, ks.create, ks.value)
		}
	}
	if len(kvs) > len(keys) {
		return fmt.Errorf("holds %s, which the store does not", kvs[len(keys)].Key)
	}
	return nil
}
