// Package oshost implements package host on the operating system, so that
// the replica code the simulator tests (package node) runs unchanged as a
// real server.
//
// A Loop is one goroutine that runs every callback of the processes it
// hosts, one at a time: timers (wall clock, time.AfterFunc), delivered
// messages, and any function posted from outside (a gRPC handler asking
// the node something). The processes therefore keep the single-threaded
// model they have in the simulator and need no locks.
//
// A Net carries messages between processes. Processes on the same Net are
// delivered to through the loop directly; processes elsewhere are reached
// over TCP with length-framed messages (see frame.go), one outgoing
// connection per remote member, re-dialled with a backoff when it breaks.
// Like the simulated network it may lose messages (a full queue, a broken
// connection), which raft tolerates.
//
// Goroutines and the wall clock live only here (and in cmd/), never on the
// simulated path.
package oshost
