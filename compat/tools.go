//go:build tools

// Package compat pins etcd's own clients (and etcd itself, for the
// side-by-side benchmark) for the compatibility tests: etcdctl is built
// from this module with `go build go.etcd.io/etcd/etcdctl/v3`.
package compat

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
