// Command seedkv runs a seedkv member, a local cluster, or a check of a
// real cluster under process faults. Members speak etcd's v3 gRPC API, so
// etcdctl and clientv3 work against them.
//
// Usage:
//
//	seedkv [member flags]              run one member (etcd's flag names)
//	seedkv cluster [-dir D]            run a 3-member cluster on loopback
//	seedkv check [-duration D] ...     workload + kills + pauses, then check
//	seedkv snapshot status FILE        check a file of etcdctl snapshot save
//
// Member flags: --name, --data-dir, --listen-client-urls,
// --advertise-client-urls, --listen-peer-urls, --initial-cluster,
// --initial-cluster-token, --initial-cluster-state (new or existing),
// --heartbeat-interval, --election-timeout, and seedkv's own
// --recover-from-peers. Run with -h for details.
//
// Exit status: 0 clean shutdown (SIGTERM/SIGINT, or the member was removed
// from the cluster) or check passed, 1 a
// failure (a corrupt data dir, a failed check), 2 bad usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof" // --debug-pprof-addr
	"os"
	"os/signal"
	"syscall"

	"github.com/seedkv/seedkv/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "cluster":
		err = runCluster(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "check":
		err = runCheck(args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "snapshot":
		err = runSnapshot(args[1:], stdout)
	default:
		err = runMember(args, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "seedkv:", err)
		return 2
	}
	fmt.Fprintln(stderr, "seedkv:", err)
	return 1
}

// errHelp: -h was asked for and printed.
var errHelp = errors.New("help")

// runMember runs one member until SIGTERM or SIGINT.
func runMember(args []string, stderr io.Writer) error {
	cfg, f, err := parseMemberFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.pprofAddr != "" {
		go func() { _ = http.ListenAndServe(f.pprofAddr, nil) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	m, err := server.StartMember(cfg)
	if err != nil {
		return err
	}
	if st := m.Status(); st.Recovering {
		fmt.Fprintf(stderr, "seedkv: member %d: data dir %s damaged, rebuilding from the peers\n", cfg.ID, cfg.DataDir)
	}
	fmt.Fprintf(stderr, "seedkv: member %x (%s) serving clients on %s, peers on %s\n",
		uint64(m.ID()), f.name, m.ClientAddr(), m.PeerAddr())
	select {
	case s := <-sig:
		fmt.Fprintf(stderr, "seedkv: %v: shutting down\n", s)
	case <-m.Removed():
		fmt.Fprintf(stderr, "seedkv: member %x removed from the cluster: shutting down\n", uint64(m.ID()))
	case <-m.Stopped():
		// As etcd exits on a failed fsync: only a new process may go on,
		// from what is durable. Exit status 1 asks the supervisor to.
		m.Stop()
		return fmt.Errorf("member %x: replica stopped: %s", uint64(m.ID()), m.StopReason())
	}
	m.Stop()
	return nil
}
