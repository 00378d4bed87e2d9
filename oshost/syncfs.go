package oshost

import (
	"sync"

	"github.com/seedkv/seedkv/host"
)

// AsyncSyncFS wraps an FS whose File.Sync blocks (an fsync on the calling
// goroutine, as wal.OSDir's does) so that Sync returns at once and calls
// done on loop when the fsync is over, as the simulated disk does. The
// event loop then keeps serving (client requests, other members'
// messages) while the disk flushes, instead of stalling every process on
// the loop for the length of an fsync. Syncs of all files of the FS run
// one at a time, in the order asked, on one goroutine; each covers at
// least every write made before it was asked for.
func AsyncSyncFS(fs host.FS, loop *Loop) host.FS {
	a := &asyncFS{FS: fs, loop: loop, wake: make(chan struct{}, 1)}
	go a.run()
	return a
}

type asyncFS struct {
	host.FS
	loop *Loop

	mu    sync.Mutex
	queue []syncJob
	wake  chan struct{}
}

type syncJob struct {
	f    host.File
	done func(error)
}

func (a *asyncFS) Create(name string) (host.File, error) {
	f, err := a.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &asyncFile{File: f, fs: a}, nil
}

func (a *asyncFS) Open(name string) (host.File, error) {
	f, err := a.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &asyncFile{File: f, fs: a}, nil
}

type asyncFile struct {
	host.File
	fs *asyncFS
}

// Sync queues the fsync and returns; done runs on the loop afterwards.
func (f *asyncFile) Sync(done func(error)) {
	a := f.fs
	a.mu.Lock()
	a.queue = append(a.queue, syncJob{f: f.File, done: done})
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run performs queued syncs until the loop closes.
func (a *asyncFS) run() {
	for {
		select {
		case <-a.wake:
		case <-a.loop.Done():
			return
		}
		for {
			a.mu.Lock()
			jobs := a.queue
			a.queue = nil
			a.mu.Unlock()
			if len(jobs) == 0 {
				break
			}
			for _, j := range jobs {
				var res error
				j.f.Sync(func(err error) { res = err })
				done := j.done
				a.loop.Post(func() { done(res) })
			}
		}
	}
}
