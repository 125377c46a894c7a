// Package coordinator serves shoal's HTTP API. It validates requests, keeps
// collection schemas and placement in etcd (through internal/meta), routes
// writes to each shard's raft leader and fans searches out to one replica of
// every shard over NATS, then merges and fuses the per-shard results.
//
// A coordinator holds no data of its own: run as many as needed.
//
//	c, _ := coordinator.New(coordinator.Config{Meta: store, NATS: nc})
//	defer c.Close()
//	http.ListenAndServe("127.0.0.1:7700", c.Handler())
package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-search/shoal/internal/meta"
)

// Config configures a Coordinator.
type Config struct {
	// Meta is the metadata store. Required.
	Meta *meta.Store
	// NATS is the connection to the nodes. Required.
	NATS *nats.Conn
	// Logger receives logs; default discard.
	Logger *slog.Logger
	// Registerer receives the coordinator's metrics; default none.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; default none (404).
	Gatherer prometheus.Gatherer
	// ShardTimeout bounds one attempt of a shard read; default 2s.
	ShardTimeout time.Duration
	// ReadTimeout bounds a whole search or get, retries included; default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a write, retries through leader changes included;
	// default 20s. A write that fails with it may still have committed
	// (docs/replication.md, "Unknown outcomes").
	WriteTimeout time.Duration
	// WriteAttemptTimeout is how long one attempt of a shard write waits
	// for a leader to acknowledge receipt before it is sent again (upserts
	// and deletes are idempotent), plus one second per MiB of the shard's
	// request; default 500ms. An acknowledged attempt waits for its answer
	// within WriteTimeout. It keeps a write from waiting on a leader that
	// stopped answering (paused, cut off) for much more than an election.
	WriteAttemptTimeout time.Duration
	// CreateWait is how long a collection create waits for every shard to
	// elect a leader before answering; default 15s.
	CreateWait time.Duration
	// Auth turns API key authentication on: every /v1 route but health
	// needs an Authorization: Bearer key of the route's role (RouteRoles).
	// Default off.
	Auth bool
}

// DefaultConfig returns a Config with every default filled in except the
// required fields.
func DefaultConfig() Config {
	return Config{ShardTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second,
		WriteAttemptTimeout: 500 * time.Millisecond, CreateWait: 15 * time.Second}
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Meta == nil {
		return errors.New("coordinator: Meta is required")
	}
	if c.NATS == nil {
		return errors.New("coordinator: NATS is required")
	}
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ShardTimeout <= 0 {
		c.ShardTimeout = d.ShardTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.WriteAttemptTimeout <= 0 {
		c.WriteAttemptTimeout = d.WriteAttemptTimeout
	}
	if c.CreateWait <= 0 {
		c.CreateWait = d.CreateWait
	}
	return nil
}

// Coordinator is the HTTP front of a cluster.
type Coordinator struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	auth    *authenticator // nil unless Config.Auth

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.RWMutex
	cache  map[string]meta.Collection
	filled bool // the collection cache has been filled once
	// seen holds, per raft group, the highest log index this coordinator
	// has acknowledged. Eventual reads wait for it, so that every read
	// through a coordinator sees the writes it acknowledged.
	seen map[string]uint64
}

// New returns a coordinator and starts its watch of the collections.
func New(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registerer), cache: map[string]meta.Collection{}, seen: map[string]uint64{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		_ = cfg.Meta.WatchCollections(ctx, c.setCollections)
	}()
	if cfg.Auth {
		c.auth = newAuthenticator(cfg.Meta, c.log, cfg.Registerer)
	}
	c.routes()
	return c, nil
}

// Close stops the coordinator's background work.
func (c *Coordinator) Close() error {
	c.cancel()
	<-c.done
	if c.auth != nil {
		c.auth.close()
	}
	return nil
}

// Handler returns the HTTP handler of the API, behind API key
// authentication when Config.Auth is on.
func (c *Coordinator) Handler() http.Handler {
	if c.auth != nil {
		return c.auth.wrap(c.mux)
	}
	return c.mux
}

func (c *Coordinator) setCollections(cols []meta.Collection) {
	m := make(map[string]meta.Collection, len(cols))
	for _, col := range cols {
		m[col.Spec.Name] = col
	}
	c.mu.Lock()
	c.cache = m
	c.filled = true
	c.mu.Unlock()
}

// collection returns a collection, from the cache when it holds it and from
// etcd otherwise (a collection created through another coordinator a moment
// ago).
func (c *Coordinator) collection(ctx context.Context, name string) (meta.Collection, error) {
	c.mu.RLock()
	col, ok := c.cache[name]
	c.mu.RUnlock()
	if ok {
		return col, nil
	}
	return c.cfg.Meta.GetCollection(ctx, name)
}

func (c *Coordinator) routes() {
	m := http.NewServeMux()
	registerUI(m) // the web console at /ui (ui.go)
	m.HandleFunc("GET /v1/health", c.handleHealth)
	m.HandleFunc("GET /v1/cluster", c.handleCluster)
	m.HandleFunc("POST /v1/collections", c.handleCreate)
	m.HandleFunc("GET /v1/collections", c.handleList)
	m.HandleFunc("GET /v1/collections/{name}", c.handleDescribe)
	m.HandleFunc("DELETE /v1/collections/{name}", c.handleDrop)
	m.HandleFunc("POST /v1/collections/{name}/documents", c.handleUpsert)
	m.HandleFunc("GET /v1/collections/{name}/documents/{id}", c.handleGet)
	m.HandleFunc("DELETE /v1/collections/{name}/documents/{id}", c.handleDelete)
	m.HandleFunc("POST /v1/collections/{name}/search", c.handleSearch)
	m.HandleFunc("POST /v1/collections/{name}/seal", c.handleControl("seal"))
	m.HandleFunc("POST /v1/collections/{name}/compact", c.handleControl("compact"))
	m.HandleFunc("POST /v1/keys", c.handleCreateKey)
	m.HandleFunc("GET /v1/keys", c.handleListKeys)
	m.HandleFunc("DELETE /v1/keys/{name}", c.handleDeleteKey)
	if c.cfg.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(c.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	c.mux = m
}

// observe records that the write at index on shard s of col was
// acknowledged.
func (c *Coordinator) observe(col meta.Collection, s int, index uint64) {
	g := col.Group(s)
	c.mu.Lock()
	if index > c.seen[g] {
		c.seen[g] = index
	}
	c.mu.Unlock()
}

// sessionIndex returns the highest acknowledged index of shard s of col.
func (c *Coordinator) sessionIndex(col meta.Collection, s int) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.seen[col.Group(s)]
}
