// Package primarybackup is an example of a second system under test for
// seedkv's simulation harness, written outside the framework's packages
// with its public API only: a primary-backup register with its own wire
// protocol (wire.go), its own replica process on host.Host (replica.go),
// its own client (client.go), workload (workload.go) and model and checker
// (check.go).
//
// It carries a classic bug: backups serve reads from their own copy, which
// lags the primary's, so a read can return an older value after a newer
// write was acknowledged. Buggy is the system with the bug, Fixed the one
// without (a backup refuses reads and the client asks the primary). The
// package's test runs both over seeds and requires the harness to find
// the bug in the one and pass the other:
//
//	go test ./examples/primarybackup
//
// As a harness.System it offers the harness an Inspector (the register's
// version and hash, for convergence after heal) but no raft log and no
// write log: those checks report "skipped" in the result.
package primarybackup

import (
	"time"

	"github.com/seedkv/seedkv/harness"
	"github.com/seedkv/seedkv/host"
)

// System is the primary-backup register as a harness.System.
type System struct {
	// BackupReads is the bug: backups answer reads from their own copy.
	BackupReads bool
}

// Buggy is the system with the bug; Fixed the one without.
var (
	Buggy = System{BackupReads: true}
	Fixed = System{BackupReads: false}
)

var _ harness.System = System{}

// Name is "primary-backup", with "(backup reads)" for the buggy one.
func (s System) Name() string {
	if s.BackupReads {
		return "primary-backup (backup reads)"
	}
	return "primary-backup"
}

// Replicas starts replicas; the one with the lowest ID is the primary.
func (s System) Replicas(*harness.SystemEnv) harness.ReplicaFunc {
	return func(h host.Host, peers []host.NodeID) host.Process {
		return StartReplica(h, peers, s.BackupReads)
	}
}

// Inspect offers a replica's version and hash (harness.Inspector), and
// nothing more.
func (System) Inspect(p host.Process) harness.Inspector {
	if r, ok := p.(*Replica); ok {
		return r
	}
	return nil
}

// NewClient is the client adapter.
func (System) NewClient(h host.Host, servers []host.NodeID, timeout time.Duration) harness.Client {
	return NewClient(h, servers, timeout)
}

// ServesKV is false: the register speaks its own protocol.
func (System) ServesKV() bool { return false }

// Config returns a harness configuration that runs seeds of s under its
// workload: 3 replicas, 4 virtual seconds, partitions, crashes and message
// loss.
func Config(s System) harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Nodes, cfg.Duration, cfg.Faults = 3, 4*time.Second, "partition,crash,packet"
	cfg.System, cfg.Workload = s, Workload{}
	return cfg
}
