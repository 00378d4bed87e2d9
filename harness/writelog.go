package harness

import (
	lin "github.com/seedkv/seedkv/linearizability"
	"github.com/seedkv/seedkv/mvcc"
)

// writeLogBatch is how many events one pass over a store's history reads.
const writeLogBatch = 1024

// writeLogOf replays a store's whole history (it must not have been
// compacted) as the checker's write log: every change since the empty
// store, grouped by revision.
func writeLogOf(s *mvcc.Store) ([]lin.LogEntry, error) {
	all := []byte{0}
	w, err := s.Watch(all, all, 2, false) // [\x00, end of key space), from the first write
	if err != nil {
		return nil, err
	}
	defer w.Cancel()
	var log []lin.LogEntry
	for {
		evs, err := w.Events(writeLogBatch)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return log, nil
		}
		for _, e := range evs {
			log = lin.AppendChange(log, e.KV.ModRevision, e.KV.Key, e.KV.Value, e.Type == mvcc.EventDelete)
		}
	}
}
