package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/seedkv/seedkv/host"
	"github.com/seedkv/seedkv/node"
	"github.com/seedkv/seedkv/server"
)

// memberFlags are one member's settings, under etcd's flag names.
type memberFlags struct {
	name                string
	dataDir             string
	listenClientURLs    string
	advertiseClientURLs string
	listenPeerURLs      string
	advertisePeerURLs   string
	initialCluster      string
	initialClusterToken string
	initialClusterState string
	heartbeatMS         int
	electionMS          int
	recoverFromPeers    bool
	clusterClientURLs   string
	pprofAddr           string
	initialSnapshot     string
}

// errUsage marks errors that are the caller's (exit status 2).
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// parseMember parses a member's flags into a server.MemberConfig.
func parseMember(args []string, stderr io.Writer) (server.MemberConfig, error) {
	cfg, _, err := parseMemberFlags(args, stderr)
	return cfg, err
}

// parseMemberFlags is parseMember that also returns the flags that do not
// go into the member's configuration.
func parseMemberFlags(args []string, stderr io.Writer) (server.MemberConfig, memberFlags, error) {
	var f memberFlags
	fs := flag.NewFlagSet("seedkv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.name, "name", "default", "human-readable name for this member")
	fs.StringVar(&f.dataDir, "data-dir", "", "path to the data directory (default ${name}.seedkv)")
	fs.StringVar(&f.listenClientURLs, "listen-client-urls", "http://localhost:2379", "URL to listen on for client traffic (one)")
	fs.StringVar(&f.advertiseClientURLs, "advertise-client-urls", "", "client URL to advertise in MemberList (default: the listen URL)")
	fs.StringVar(&f.listenPeerURLs, "listen-peer-urls", "http://localhost:2380", "URL to listen on for peer traffic (one)")
	fs.StringVar(&f.advertisePeerURLs, "initial-advertise-peer-urls", "", "accepted for etcd compatibility; the peer URL is taken from --initial-cluster")
	fs.StringVar(&f.initialCluster, "initial-cluster", "", "initial cluster: name=peerURL,... (default: this member alone)")
	fs.StringVar(&f.initialClusterToken, "initial-cluster-token", "seedkv-cluster", "initial cluster token (makes the cluster ID)")
	fs.StringVar(&f.initialClusterState, "initial-cluster-state", "new", "new, or existing to join a cluster after etcdctl member add")
	fs.IntVar(&f.heartbeatMS, "heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval (the raft tick)")
	fs.IntVar(&f.electionMS, "election-timeout", 1000, "time (in milliseconds) for an election to timeout")
	fs.StringVar(&f.clusterClientURLs, "initial-cluster-client-urls", "", "seedkv: the members' client URLs for MemberList, name=URL,... (default: only this member's)")
	fs.StringVar(&f.pprofAddr, "debug-pprof-addr", "", "seedkv: serve net/http/pprof on this host:port (profiling)")
	fs.StringVar(&f.initialSnapshot, "initial-snapshot", "", "seedkv: a new cluster starts with the keys of this file of etcdctl snapshot save (give every founding member the same; ignored once the data dir has state)")
	fs.BoolVar(&f.recoverFromPeers, "recover-from-peers", false, "seedkv: with a corrupt data dir, rebuild from the peers instead of refusing to start")
	if err := fs.Parse(args); err != nil {
		return server.MemberConfig{}, f, flagErr(err)
	}
	if err := fromEnv(fs); err != nil {
		return server.MemberConfig{}, f, err
	}
	if fs.NArg() > 0 {
		return server.MemberConfig{}, f, usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := f.config()
	return cfg, f, err
}

func (f *memberFlags) config() (server.MemberConfig, error) {
	var cfg server.MemberConfig
	switch f.initialClusterState {
	case "new":
	case "existing":
		cfg.Join = true
	default:
		return cfg, usageErr("--initial-cluster-state %q: new or existing", f.initialClusterState)
	}
	if f.heartbeatMS <= 0 || f.electionMS < 5*f.heartbeatMS {
		return cfg, usageErr("--election-timeout (%d ms) must be at least 5 heartbeat intervals (%d ms)", f.electionMS, f.heartbeatMS)
	}
	listenClient, err := hostPort("--listen-client-urls", f.listenClientURLs)
	if err != nil {
		return cfg, err
	}
	listenPeer, err := hostPort("--listen-peer-urls", f.listenPeerURLs)
	if err != nil {
		return cfg, err
	}
	initial := f.initialCluster
	if initial == "" {
		initial = f.name + "=" + f.listenPeerURLs
	}
	members, err := parseCluster(initial)
	if err != nil {
		return cfg, err
	}
	clientURLs := map[string]string{}
	if f.clusterClientURLs != "" {
		cs, err := parseCluster(f.clusterClientURLs)
		if err != nil {
			return cfg, usageErr("--initial-cluster-client-urls: %v", err)
		}
		for _, c := range cs {
			clientURLs[c.name] = c.url
		}
	}
	cfg.Peers = make(map[host.NodeID]string, len(members))
	for _, m := range members {
		id := server.MemberIDFor(m.url)
		addr, err := hostPort("--initial-cluster", m.url)
		if err != nil {
			return cfg, err
		}
		if _, dup := cfg.Peers[id]; dup {
			return cfg, usageErr("--initial-cluster: two peer URLs give member ID %d (the same URL twice, or a hash collision: change a port)", id)
		}
		cfg.Peers[id] = addr
		info := server.MemberInfo{ID: id, Name: m.name, PeerURLs: []string{m.url}}
		if u := clientURLs[m.name]; u != "" {
			info.ClientURLs = []string{u}
		}
		if m.name == f.name {
			cfg.ID = id
			info.ClientURLs = []string{orDefault(f.advertiseClientURLs, f.listenClientURLs)}
		}
		cfg.Members = append(cfg.Members, info)
	}
	if cfg.ID == 0 {
		return cfg, usageErr("--initial-cluster has no member named %q (--name)", f.name)
	}
	cfg.DataDir = orDefault(f.dataDir, f.name+".seedkv")
	cfg.ListenPeer, cfg.ListenClient = listenPeer, listenClient
	// The cluster ID depends on the token only, so that a member joining
	// later (whose --initial-cluster lists more members) computes the same.
	h := fnv.New64a()
	fmt.Fprintf(h, "seedkv|%s", f.initialClusterToken)
	cfg.ClusterID = h.Sum64()
	cfg.Node = node.Config{TickInterval: time.Duration(f.heartbeatMS) * time.Millisecond,
		ElectionTicks: f.electionMS / f.heartbeatMS}
	cfg.AllowPeerRecovery = f.recoverFromPeers
	if f.initialSnapshot != "" {
		if cfg.Join {
			return cfg, usageErr("--initial-snapshot starts a new cluster: not with --initial-cluster-state existing")
		}
		st, err := loadSnapshot(f.initialSnapshot)
		if err != nil {
			return cfg, usageErr("--initial-snapshot: %v", err)
		}
		cfg.Node.InitialStore = st.Snapshot()
	}
	return cfg, nil
}

type clusterMember struct{ name, url string }

// parseCluster parses name=url,name=url with unique names.
func parseCluster(s string) ([]clusterMember, error) {
	var out []clusterMember
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" || u == "" {
			return nil, usageErr("--initial-cluster: %q is not name=URL", part)
		}
		if seen[name] {
			return nil, usageErr("--initial-cluster: member %q listed twice", name)
		}
		seen[name] = true
		out = append(out, clusterMember{name, u})
	}
	if len(out) >= 1<<16 {
		return nil, usageErr("--initial-cluster: too many members")
	}
	return out, nil
}

// hostPort takes one http URL and returns its host:port.
func hostPort(flagName, s string) (string, error) {
	if strings.Contains(s, ",") {
		return "", usageErr("%s: only one URL is supported, got %q", flagName, s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", usageErr("%s: %q is not a URL like http://127.0.0.1:2379", flagName, s)
	}
	if u.Scheme != "http" {
		return "", usageErr("%s: %q: only http is supported (no TLS)", flagName, s)
	}
	if u.Port() == "" {
		return "", usageErr("%s: %q has no port", flagName, s)
	}
	return u.Host, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return usageErr("%v", err)
}

// fromEnv sets every flag not given on the command line from etcd's
// environment variable for it (ETCD_NAME, ETCD_INITIAL_CLUSTER,
// ETCD_INITIAL_CLUSTER_STATE, ...: what etcdctl member add prints), as
// etcd does.
func fromEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		env := "ETCD_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if set[fl.Name] || !ok || err != nil {
			return
		}
		if e := fl.Value.Set(v); e != nil {
			err = usageErr("%s=%q: %v", env, v, e)
		}
	})
	return err
}
