package oshost

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Callbacks posted from many goroutines and timers never overlap.
func TestLoopSerializes(t *testing.T) {
	l := NewLoop()
	defer l.Close()
	var running, overlaps, ran atomic.Int64
	body := func() {
		if running.Add(1) != 1 {
			overlaps.Add(1)
		}
		time.Sleep(10 * time.Microsecond)
		running.Add(-1)
		ran.Add(1)
	}
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 100; i++ {
				l.Post(body)
			}
			done <- struct{}{}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	l.Do(func() {
		for i := 0; i < 50; i++ {
			l.After(time.Millisecond, body)
		}
	})
	require.Eventually(t, func() bool { return ran.Load() == 850 }, 5*time.Second, time.Millisecond)
	require.Zero(t, overlaps.Load())
}

// A stopped timer never runs; Stop reports whether it was pending.
func TestTimerStop(t *testing.T) {
	l := NewLoop()
	defer l.Close()
	var fired atomic.Int64
	var stopped, again bool
	l.Do(func() {
		tm := l.After(20*time.Millisecond, func() { fired.Add(1) })
		stopped = tm.Stop()
		again = tm.Stop()
	})
	require.True(t, stopped)
	require.False(t, again)
	var late bool
	ch := make(chan struct{})
	l.Do(func() {
		tm := l.After(0, func() { fired.Add(10); close(ch) })
		go func() {
			<-ch
			l.Post(func() { late = tm.Stop() })
		}()
	})
	<-ch
	time.Sleep(30 * time.Millisecond)
	l.Do(func() {})
	require.Equal(t, int64(10), fired.Load())
	require.False(t, late, "Stop after the timer ran reports false")
}

// A closed loop refuses posts and Do returns false.
func TestLoopClose(t *testing.T) {
	l := NewLoop()
	l.Close()
	require.False(t, l.Post(func() {}))
	require.False(t, l.Do(func() {}))
	l.Close() // twice is fine
}
