//go:build !unix

package raft

import "time"

func cpuTime() time.Duration { return 0 }
