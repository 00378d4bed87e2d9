package oshost

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/wal"
)

// slowFile's Sync blocks, like an fsync.
type slowFS struct{ host.FS }
type slowFile struct{ host.File }

func (s slowFS) Create(name string) (host.File, error) {
	f, err := s.FS.Create(name)
	return slowFile{f}, err
}

var slowSyncs atomic.Int64

func (f slowFile) Sync(done func(error)) {
	time.Sleep(50 * time.Millisecond)
	slowSyncs.Add(1)
	f.File.Sync(done)
}

// Sync returns at once; its completion runs on the loop, in order, and
// the loop serves other work while the disk flushes.
func TestAsyncSyncFS(t *testing.T) {
	dir, err := wal.OSDir(t.TempDir())
	require.NoError(t, err)
	l := NewLoop()
	defer l.Close()
	fs := AsyncSyncFS(slowFS{dir}, l)
	var order []int
	var served atomic.Bool
	doneAll := make(chan struct{})
	l.Do(func() {
		f, err := fs.Create("a")
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("hello"), 0)
		require.NoError(t, err)
		for i := range 3 {
			f.Sync(func(err error) {
				require.NoError(t, err)
				order = append(order, i)
				if i == 2 {
					close(doneAll)
				}
			})
		}
		// A blocking Sync would have done all three by now.
		require.Less(t, slowSyncs.Load(), int64(3), "Sync must not block the loop")
		require.Empty(t, order, "completions run later, on the loop")
	})
	l.Post(func() { served.Store(slowSyncs.Load() < 3) })
	<-doneAll
	require.True(t, served.Load(), "the loop ran other work while syncs were pending")
	l.Do(func() { require.Equal(t, []int{0, 1, 2}, order) })
}
