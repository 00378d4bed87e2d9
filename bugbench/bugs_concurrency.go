package bugbench

// concurrencyBugs are planted bugs in the client-side recipes (package
// concurrency) and in the workloads' informer, one per recipe; each needs
// its workload (Flags) to be exercised at all.
var concurrencyBugs = []Bug{
	{
		Name: "concurrency-mutex-predecessor-off-by-one", Group: GroupSymptom, File: "concurrency/queue.go",
		Old:         `if kv.CreateRevision < rev && (pred == nil || kv.CreateRevision > pred.CreateRevision) {`,
		New:         `if kv.CreateRevision < rev-1 && (pred == nil || kv.CreateRevision > pred.CreateRevision) {`,
		Description: "The waiter looks for its predecessor among keys created before rev-1 (etcd's WithMaxCreateRev(rev-1) is inclusive; this is not): a contender created right after the holder takes the lock at once. A fenced resource still refuses the stale holder's writes; the lock's ownership check against the store sees two owners.",
		Flags:       []string{"-workload", "lock"},
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-observe-lowest-mod-revision", Group: GroupSymptom, File: "concurrency/election.go",
		Old:         `if first == nil || kv.CreateRevision < first.CreateRevision {`,
		New:         `if first == nil || kv.ModRevision < first.ModRevision {`,
		Description: "Observe takes the candidate with the lowest mod revision for the leader: after a leader proclaims a new value (or a candidate re-campaigns), observers name a follower as leader.",
		Flags:       []string{"-workload", "election"},
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-watcher-applies-each-event", Group: GroupSymptom, File: "concurrency/follow.go",
		Old:         `if i+1 == len(u.Events) || u.Events[i+1].Revision() != ev.Revision() {`,
		New:         `if i >= 0 {`,
		Description: "A configuration watcher applies each event as a step instead of each revision: it runs on a configuration half of one transaction and half of the one before.",
		Flags:       []string{"-workload", "config"},
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-informer-watch-skips-revision", Group: GroupSymptom, File: "concurrency/follow.go",
		Old:         `StartRevision: h.Revision + 1}`,
		New:         `StartRevision: h.Revision + 2}`,
		Description: "An informer starts its watch one revision past the one after its list: the change right after the list is never applied, and its cache stays wrong until the object changes again (forever, for a delete).",
		Flags:       []string{"-workload", "kubernetes"},
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-session-close-no-revoke", Group: GroupPath, File: "concurrency/session.go",
		Old:         "\twasOver := s.over\n\ts.end()\n\tif wasOver && s.lease == 0 {",
		New:         "\twasOver := s.over\n\ts.end()\n\tif !wasOver || s.lease == 0 {",
		Description: "Closing a live session only stops its keep-alives and does not revoke its lease: the session's keys (a held lock, a candidacy) outlive it until the TTL runs out, so a process that exits holding the lock keeps it that long (etcd's Session.Close revokes).",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-queue-no-recheck-after-delete", Group: GroupTiming, File: "concurrency/queue.go",
		Old:         "\t\t\t\twt.w.Cancel()\n\t\t\t\twt.w = nil\n\t\t\t\twt.look()\n\t\t\t\treturn",
		New:         "\t\t\t\twt.finish(Owner{Key: wt.key, CreateRevision: wt.rev, Revision: e.Revision()}, nil)\n\t\t\t\treturn",
		Description: "A waiter takes the lock (or leadership) as soon as its predecessor's key is deleted, without reading the queue again: when the predecessor gave up its own wait (a Lock or Campaign with a deadline), the waiter takes over while an earlier holder still holds it (etcd's waitDeletes loops until no earlier key is left).",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-campaign-resume-skips-wait", Group: GroupTiming, File: "concurrency/election.go",
		Old:         "\t\te.rev = rev\n\t\twait := func() {",
		New:         "\t\te.rev = rev\n\t\tif existed {\n\t\t\te.leader = true\n\t\t\tdone(nil)\n\t\t\treturn\n\t\t}\n\t\twait := func() {",
		Description: "A campaign that finds its key already there (a retry after an unanswered put that did land, or a second Campaign of the same session) counts as won without waiting for its turn: two leaders at once.",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-follower-resume-past-compaction", Group: GroupPath, File: "concurrency/follow.go",
		Old:         "\t\tf.w = nil\n\t\tif errors.Is(u.Err, api.ErrCompacted) {\n\t\t\tf.list()",
		New:         "\t\tf.w = nil\n\t\tif errors.Is(u.Err, api.ErrCompacted) {\n\t\t\tf.w = f.c.Watch([]byte(f.prefix), client.WatchOptions{End: PrefixEnd(f.prefix), StartRevision: u.CompactRevision}, f.onUpdate)",
		Description: "A follower whose watch start was compacted resumes watching from the compaction revision instead of listing again: the changes between where it stopped and the compaction are lost, and its cache stays wrong (Kubernetes' reflector relists on 'resource version too old').",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-leader-first-by-key", Group: GroupSymptom, File: "concurrency/election.go",
		Old:         "\t\tfirst, _ := firstOf(r.KVs, 0)\n",
		New:         "\t\tvar first *api.KeyValue\n\t\tif len(r.KVs) > 0 {\n\t\t\tfirst = &r.KVs[0]\n\t\t}\n",
		Description: "Leader reads the election and names the first key of the range (sorted by key) instead of the one with the lowest create revision (etcd's Leader asks WithFirstCreate): candidates' keys are named after their leases, so a follower whose lease ID sorts first is reported as leader.",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-trylock-ignores-owner", Group: GroupSymptom, File: "concurrency/mutex.go",
		Old:         "first == nil || first.CreateRevision != rev {",
		New:         "first == nil {",
		Description: "TryLock takes the lock once its key is in the queue, without checking that the key is first: it succeeds while another client holds the lock.",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-queue-key-without-lease", Group: GroupPath, File: "concurrency/queue.go",
		Old:         "Value: []byte(value), Lease: s.lease}}},",
		New:         "Value: []byte(value)}}},",
		Description: "A contender's queue key (a lock's or a candidacy's) is put without the session's lease (etcd attaches it WithLease): when the session ends, closed or expired, the key stays, and the lock or the leadership is held by a process that is gone.",
		Unit:        UnitCaught,
	},
	{
		Name: "concurrency-leader-txn-unguarded", Group: GroupTiming, File: "concurrency/election.go",
		Old:         "\tk := []byte(e.key)\n\ttxn := &api.TxnRequest{\n\t\tCompares: []api.Compare{{Key: k, Target: api.TargetCreate, Result: api.CompareEqual, CreateRevision: e.rev}},\n\t\tSuccess:  ops,\n\t}",
		New:         "\ttxn := &api.TxnRequest{Success: ops} // the candidate's belief guards it",
		Description: "Leader-only writes go out as plain transactions, trusting the candidate's belief that it leads: a leader whose lease lapsed while it worked (a pause, a partition) still writes after another candidate took over (etcd guards them with If(CreateRevision(key) == term)).",
		Unit:        UnitCaught,
	},
}
