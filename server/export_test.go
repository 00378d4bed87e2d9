package server

import (
	"fmt"
	"net"
)

// freePortsForTest returns n loopback addresses that were free a moment ago.
func freePortsForTest(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

// WatchStoppedForTest starts another stop watcher on m with a stand-in
// for the replica's Stopped.
func (m *Member) WatchStoppedForTest(stopped func() (bool, string)) {
	m.loop.Do(func() { m.watchStopped(stopped) })
}
