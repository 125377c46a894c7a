// Package devcluster runs a whole shoal cluster in one process: an embedded
// etcd, an embedded nats-server, N storage nodes with real raft groups over
// TCP on 127.0.0.1, and one coordinator serving the HTTP API. `shoal dev` is
// this package behind flags, and the integration tests use it too.
//
//	c, _ := devcluster.Start(ctx, devcluster.Config{Dir: "./shoal-data", HTTPAddr: "127.0.0.1:7700", Nodes: 3})
//	defer c.Close()
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoal-search/shoal/coordinator"
	"github.com/shoal-search/shoal/internal/dirlock"
	"github.com/shoal-search/shoal/internal/embedded"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/internal/node"
	"github.com/shoal-search/shoal/replication"
	"github.com/shoal-search/shoal/shard"
)

// Config configures a dev cluster. Every port derives from the HTTP port P
// unless set: etcd client P+1, etcd peer P+2, NATS P+3, node i's raft
// P+10+i. They must stay the same across restarts of the same Dir.
type Config struct {
	// Dir holds all state; default ./shoal-data.
	Dir string
	// HTTPAddr is the coordinator's listen address; default 127.0.0.1:7700.
	HTTPAddr string
	// Nodes is the number of storage nodes; default 3.
	Nodes int
	// Logger receives logs; default discard.
	Logger *slog.Logger
	// Raft overrides raft timing for the nodes.
	Raft replication.Config
	// Shard configures the nodes' shard engines; nil means the defaults.
	Shard *shard.Config
	// Auth turns API keys on. Start then makes sure that Dir/admin.key
	// holds a valid admin key (created on first start, mode 0600).
	Auth bool
}

// AdminKeyFile is the file under Config.Dir that holds the bootstrap admin
// key of a cluster started with Auth.
const AdminKeyFile = "admin.key"

// Cluster is a running dev cluster.
type Cluster struct {
	cfg     Config
	lock    *dirlock.Lock
	etcd    *embedded.Etcd
	nats    *server.Server
	cli     *clientv3.Client
	store   *meta.Store
	coord   *coordinator.Coordinator
	coordNC *nats.Conn
	http    *http.Server
	ln      net.Listener
	reg     *prometheus.Registry

	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	nodes  []*node.Node
	nodeNC []*nats.Conn
	base   int

	adminKey string
}

func (c *Config) fill() {
	if c.Dir == "" {
		c.Dir = "./shoal-data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:7700"
	}
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Start starts everything and returns once the HTTP API listens. Use the
// API's /v1/health to wait for the nodes. It first locks Dir (see
// internal/dirlock) and fails at once, with an error matching
// dirlock.ErrLocked, when another cluster holds it.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	cfg.fill()
	host, portStr, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("devcluster: --http: %w", err)
	}
	base, err := strconv.Atoi(portStr)
	if err != nil || base <= 0 || base > 65000 {
		return nil, fmt.Errorf("devcluster: --http needs an explicit port below 65000, got %q", portStr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	c := &Cluster{cfg: cfg, base: base}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	// Take the directory first: a second process on it fails here, at once,
	// instead of waiting forever on etcd's own file lock.
	c.lock, err = dirlock.Acquire(cfg.Dir)
	if err != nil {
		return nil, err
	}
	at := func(off int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)) }
	c.etcd, err = embedded.StartEtcd(embedded.EtcdConfig{Dir: filepath.Join(cfg.Dir, "etcd"), ClientAddr: at(1), PeerAddr: at(2)})
	if err != nil {
		return nil, err
	}
	c.nats, err = embedded.StartNATS("127.0.0.1", base+3)
	if err != nil {
		return nil, err
	}
	c.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{c.etcd.Endpoint()}, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return nil, fmt.Errorf("devcluster: etcd client: %w", err)
	}
	c.store = meta.New(c.cli)
	c.reg = prometheus.NewRegistry()
	c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for i := range cfg.Nodes {
		if err := c.startNode(ctx, i); err != nil {
			return nil, err
		}
	}
	c.coordNC, err = nats.Connect(c.nats.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("devcluster: nats: %w", err)
	}
	if cfg.Auth {
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var created bool
		c.adminKey, created, err = coordinator.BootstrapAdminKey(bctx, c.store, filepath.Join(cfg.Dir, AdminKeyFile), "admin")
		cancel()
		if err != nil {
			return nil, err
		}
		if created {
			cfg.Logger.Info("created the bootstrap admin API key", "file", filepath.Join(cfg.Dir, AdminKeyFile))
		}
	}
	c.coord, err = coordinator.New(coordinator.Config{Meta: c.store, NATS: c.coordNC, Logger: cfg.Logger.With("role", "coordinator"), Registerer: c.reg, Gatherer: c.reg, Auth: cfg.Auth})
	if err != nil {
		return nil, err
	}
	c.ln, err = net.Listen("tcp", net.JoinHostPort(host, portStr))
	if err != nil {
		return nil, fmt.Errorf("devcluster: listen: %w", err)
	}
	c.http = &http.Server{Handler: c.coord.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.http.Serve(c.ln) }()
	return c, nil
}

// NodeID returns the id of node i.
func NodeID(i int) string { return fmt.Sprintf("n%d", i+1) }

// shardConfig returns the engine configuration of the nodes. All nodes share
// one process here, so each build gets a share of the cores: three replicas
// building at once must not starve raft's heartbeats.
func (c *Cluster) shardConfig() *shard.Config {
	sc := shard.DefaultConfig()
	if c.cfg.Shard != nil {
		sc = *c.cfg.Shard
	}
	workers := max(1, runtime.GOMAXPROCS(0)/c.cfg.Nodes)
	if sc.Seismic.Workers == 0 {
		sc.Seismic.Workers = workers
	}
	if sc.Dense.Workers == 0 {
		sc.Dense.Workers = workers
	}
	if sc.Multi.Workers == 0 {
		sc.Multi.Workers = workers
	}
	return &sc
}

func (c *Cluster) startNode(ctx context.Context, i int) error {
	nc, err := nats.Connect(c.nats.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("devcluster: nats: %w", err)
	}
	n, err := node.Start(ctx, node.Config{
		ID:       NodeID(i),
		DataDir:  filepath.Join(c.cfg.Dir, "nodes", NodeID(i)),
		RaftAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.base+10+i)),
		Meta:     c.store,
		NATS:     nc,
		Logger:   c.cfg.Logger.With("role", "node"),
		Raft:     c.cfg.Raft,
		Shard:    c.shardConfig(),
		// Every node exports its raft metrics through the API's /metrics.
		Registerer: c.reg,
	})
	if err != nil {
		nc.Close()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.nodes) <= i {
		c.nodes = append(c.nodes, nil)
		c.nodeNC = append(c.nodeNC, nil)
	}
	c.nodes[i], c.nodeNC[i] = n, nc
	return nil
}

// URL returns the base URL of the HTTP API.
func (c *Cluster) URL() string { return "http://" + c.ln.Addr().String() }

// AdminKey returns the bootstrap admin API key, or "" when Auth is off.
func (c *Cluster) AdminKey() string { return c.adminKey }

// NATSURL returns the NATS client URL.
func (c *Cluster) NATSURL() string { return c.nats.ClientURL() }

// EtcdEndpoint returns the etcd client URL.
func (c *Cluster) EtcdEndpoint() string { return c.etcd.Endpoint() }

// StopNode closes node i, as a crash of that node would look to the others
// (its raft groups stop answering; its data stays).
func (c *Cluster) StopNode(i int) error {
	c.mu.Lock()
	n, nc := c.nodes[i], c.nodeNC[i]
	c.nodes[i], c.nodeNC[i] = nil, nil
	c.mu.Unlock()
	if n == nil {
		return errors.New("devcluster: node not running")
	}
	err := n.Close()
	nc.Close()
	return err
}

// StartNode restarts node i on its data.
func (c *Cluster) StartNode(ctx context.Context, i int) error { return c.startNode(ctx, i) }

// Close stops the whole cluster, keeping its data. Closing twice is a
// no-op.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Cluster) close() error {
	var errs []error
	if c.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, c.http.Shutdown(sctx))
		cancel()
	}
	if c.coord != nil {
		errs = append(errs, c.coord.Close())
	}
	if c.coordNC != nil {
		c.coordNC.Close()
	}
	c.mu.Lock()
	nodes, ncs := c.nodes, c.nodeNC
	c.nodes, c.nodeNC = nil, nil
	c.mu.Unlock()
	for i, n := range nodes {
		if n != nil {
			errs = append(errs, n.Close())
			ncs[i].Close()
		}
	}
	if c.cli != nil {
		errs = append(errs, c.cli.Close())
	}
	if c.nats != nil {
		c.nats.Shutdown()
		c.nats.WaitForShutdown()
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	errs = append(errs, c.lock.Release())
	return errors.Join(errs...)
}
