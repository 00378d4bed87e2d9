package harness

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/seedkv/seedkv/client"
	"github.com/seedkv/seedkv/host"
	lin "github.com/seedkv/seedkv/linearizability"
)

// The recipe part of the built-in workload: in some seeds, some of the
// clients run package concurrency's recipes (election, mutex, session,
// list-and-watch followers of a configuration and of Kubernetes-shaped
// objects) alongside the kv clients, the way the store's users do; they
// take the place of kv clients (kvClients). Each
// recipe records what its clients believed and is checked against the
// committed write log (recipes_check.go); their writes join the kv
// history (recipeOps), so the kv checks see every revision accounted for.
// The clients are in recipes_clients.go.

// Recipe key layout. Every recipe key lives under recipeRoot, outside the
// kv workload's keyRoot range ["/", "0"), so no kv read, range or watch
// sees them.
const (
	recipeRoot         = "recipe/"
	recipeElection     = recipeRoot + "election"      // candidates' keys under recipeElection + "/"
	recipeElectionWork = recipeRoot + "election-work" // the leader-only key
	recipeLock         = recipeRoot + "lock"          // contenders' keys under recipeLock + "/"
	recipeLockData     = recipeRoot + "lock-data"     // the key written in the critical section
	recipeConfig       = recipeRoot + "config/"       // gen and the settings a, b, c
	recipeObjects      = recipeRoot + "registry/pods/"
)

// firstRecipeClient is the node ID of the first recipe client: its own
// range, clear of the kv clients, the harness's clients and workloads'
// processes.
const firstRecipeClient host.NodeID = 4001

// Bounds of RecipeParams.
const (
	// MaxRecipeClients bounds the clients of one recipe.
	MaxRecipeClients = 8
	// MaxSessionTTL bounds the recipes' session TTL, in seconds.
	MaxSessionTTL = 10
)

// recipeOneIn: one seed in this many draws a recipe part (measured: see
// the README, "The scenario of a seed").
const recipeOneIn = 3

// recipeStream seeds the draw of the recipe part: its own stream, so that
// adding the recipes changed no other field of any seed's scenario.
const recipeStream = 0x2ec1_9e5e_2ec1_9e5e

// RecipeParams are the recipe part of the workload: how many clients run
// each recipe (0: the recipe is off), and their sessions' lease TTL.
// Draw: nothing in two seeds of three, with a Config.Workload, and in
// long runs (Config.Duration >= LongRun); else each recipe on with
// probability 1/2 (at least one), election and lock with 2..3 clients,
// config and objects with 1..2, and a TTL of 1..3 s.
type RecipeParams struct {
	// Election candidates, [0, MaxRecipeClients]: campaign, write under
	// the leader guard, proclaim, then resign or close their session;
	// every other one also observes the election.
	Election int `json:"election"`
	// Lock contenders, [0, MaxRecipeClients]: lock a mutex, write in the
	// critical section under the key's guard, then unlock or close their
	// session.
	Lock int `json:"lock"`
	// Config clients, [0, MaxRecipeClients]: each replaces a
	// configuration (a generation and three settings) in one transaction
	// guarded by the generation's mod revision, and follows it (list, then
	// watch).
	Config int `json:"config"`
	// Objects clients, [0, MaxRecipeClients]: each creates, updates and
	// deletes Kubernetes-shaped objects with compare-and-swap on their mod
	// revision, and follows them as an informer does (list, watch from the
	// list's revision + 1, relist now and then).
	Objects int `json:"objects"`
	// SessionTTL is the lease TTL of the election and lock sessions in
	// seconds, [1, MaxSessionTTL].
	SessionTTL int64 `json:"session_ttl"`
}

// total is the number of recipe clients.
func (p RecipeParams) total() int { return p.Election + p.Lock + p.Config + p.Objects }

// defaultRecipes is no recipe part.
func defaultRecipes() RecipeParams { return RecipeParams{SessionTTL: 2} }

// drawRecipes draws the recipe part of seed's scenario (see RecipeParams).
func drawRecipes(cfg Config, seed uint64) RecipeParams {
	p := defaultRecipes()
	if cfg.Workload != nil || cfg.Duration >= LongRun {
		return p
	}
	r := rand.New(rand.NewPCG(seed, recipeStream))
	if r.IntN(recipeOneIn) != 0 {
		return p
	}
	// A queue (election, lock) needs contenders; a follower recipe's one
	// client writes what it follows.
	counts := []*int{&p.Election, &p.Lock, &p.Config, &p.Objects}
	least := []int{2, 2, 1, 1}
	for i, c := range counts {
		if r.IntN(2) == 0 {
			*c = least[i] + r.IntN(2)
		}
	}
	if p.total() == 0 {
		i := r.IntN(len(counts))
		*counts[i] = least[i] + r.IntN(2)
	}
	p.SessionTTL = 1 + r.Int64N(3)
	return p
}

func (p RecipeParams) validate(v *validator) {
	v.int("workload.recipes.election", p.Election, 0, MaxRecipeClients)
	v.int("workload.recipes.lock", p.Lock, 0, MaxRecipeClients)
	v.int("workload.recipes.config", p.Config, 0, MaxRecipeClients)
	v.int("workload.recipes.objects", p.Objects, 0, MaxRecipeClients)
	v.int("workload.recipes.session_ttl", int(min(p.SessionTTL, MaxSessionTTL+1)), 1, MaxSessionTTL)
}

// recipeRun is one seed's recipe part.
type recipeRun struct {
	r     *seedRun
	p     RecipeParams
	procs []*recipeProc
	ops   int
	rec   recipeRecords
	// note adds a line to the run's account.
	note func(format string, args ...any)
}

// kvClients is how many of the scenario's clients run the kv workload:
// the recipe clients take the place of kv clients (so a seed with recipes
// costs about what it did without), down to half of them.
func (r *seedRun) kvClients() int {
	n := r.cfg.clientCount()
	if r.cfg.Workload != nil {
		return n
	}
	return max(n/2, n-r.sc.Workload.Recipes.total())
}

// startRecipes adds the recipe clients of the scenario, if any (the
// built-in workload only: a Config.Workload has its own clients).
func (r *seedRun) startRecipes() {
	p := r.sc.Workload.Recipes
	if r.cfg.Workload != nil || p.total() == 0 {
		return
	}
	rr := &recipeRun{r: r, p: p, note: r.notef, rec: recipeRecords{workBy: map[string]int{}, dataBy: map[string]int{}}}
	r.recipes = rr
	kinds := []struct {
		n    int
		kind recipeKind
	}{{p.Election, recipeKindElection}, {p.Lock, recipeKindLock}, {p.Config, recipeKindConfig}, {p.Objects, recipeKindObjects}}
	for _, k := range kinds {
		for j := range k.n {
			rr.add(k.kind, j)
		}
	}
	r.w.Schedule(r.cfg.Duration, rr.stop) // the end of the workload phase (stopAt is set after build)
	r.notef("recipes: %d election, %d lock, %d config, %d objects clients (session TTL %ds)",
		p.Election, p.Lock, p.Config, p.Objects, p.SessionTTL)
}

// add adds the j-th client of a recipe.
func (rr *recipeRun) add(kind recipeKind, j int) {
	i := len(rr.procs)
	p := &recipeProc{rr: rr, kind: kind, id: i, nth: j, nid: firstRecipeClient + host.NodeID(i),
		rng: rr.r.w.Rand("recipe/" + kind.String() + "/" + itoa(j))}
	rr.procs = append(rr.procs, p)
	must(rr.r.w.AddNode(p.nid, func(h host.Host) host.Process {
		p.h = h
		p.c = client.New(h, rr.r.servers(), client.Options{RequestTimeout: rr.r.cfg.RequestTimeout})
		return p.c
	}))
	rr.r.w.Schedule(time.Duration(p.rng.Int64N(int64(100*time.Millisecond))), p.begin)
}

// stop ends the recipe part: waits are cancelled, followers stop and
// sessions are closed (revoked), so no keep-alive runs through the
// checks.
func (rr *recipeRun) stop() {
	for _, p := range rr.procs {
		p.stop()
	}
}

// recipeOps are the recipes' writes as the write log holds them, as
// history operations, so the kv checks account for every revision: a
// transaction of the entry's changes at its revision, called at the start
// (its call is not recorded) and returned when a kv answer first reported
// the revision (else never). Recipe keys are outside every kv read, so
// this constrains nothing but the revisions.
func (r *seedRun) recipeOps(log []lin.LogEntry) []lin.Op {
	if r.recipes == nil {
		return nil
	}
	var ops []lin.Op
	for i := range log {
		e := &log[i]
		if len(e.Changes) == 0 || !strings.HasPrefix(e.Changes[0].Key, recipeRoot) {
			continue
		}
		op := lin.Op{ClientID: recipeHistClient, Return: lin.UnknownReturn,
			Input: lin.Input{Kind: lin.KindTxn, Key: e.Changes[0].Key}, Output: lin.Output{Revision: e.Revision - revBase, Succeeded: true}}
		if seen, ok := r.leases.seen.by(e.Revision); ok {
			op.Return = seen
		}
		for _, c := range e.Changes {
			t := lin.TxnOp{Kind: lin.KindPut, Key: c.Key, Value: c.Value}
			if c.Type == lin.EventDelete {
				t = lin.TxnOp{Kind: lin.KindDelete, Key: c.Key}
			}
			op.Input.Then = append(op.Input.Then, t)
		}
		ops = append(ops, op)
	}
	return ops
}

// recipeHistClient is the history's client ID of the recipes' writes.
const recipeHistClient = lessorClient + 1

// recipeOpCount is the operation count of the recipe part.
func (r *seedRun) recipeOpCount() int {
	if r.recipes == nil {
		return 0
	}
	return r.recipes.ops
}
