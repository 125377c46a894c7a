// Package node runs one storage node: it registers the node in etcd under a
// lease, watches the collections' placement, and opens or closes a raft
// replica (a shard engine behind a raft group) for every shard placed on it,
// serving each over NATS through shardsvc.
//
//	n, _ := node.Start(ctx, node.Config{ID: "n1", DataDir: dir, RaftAddr: "127.0.0.1:7711", Meta: st, NATS: nc})
//	defer n.Close()
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/meta"
	"github.com/shoal-search/shoal/replication"
	"github.com/shoal-search/shoal/shard"
	"github.com/shoal-search/shoal/shard/seismic"
	"github.com/shoal-search/shoal/shard/shardsvc"
)

// Config configures a Node.
type Config struct {
	// ID names the node; it must stay the same across restarts. Required.
	ID string
	// DataDir holds the node's raft logs and snapshots. Required.
	DataDir string
	// RaftAddr is the address the node's raft listener binds and
	// advertises. Keep it stable across restarts: raft configurations name
	// it. Required.
	RaftAddr string
	// Meta is the metadata store. Required.
	Meta *meta.Store
	// NATS is the connection to coordinators. Required.
	NATS *nats.Conn
	// Logger receives logs; default discard.
	Logger *slog.Logger
	// Registerer receives metrics; default none.
	Registerer prometheus.Registerer
	// LeaseTTL is the node's registration lease; default 10s. The etcd
	// client renews it every third of that on its own goroutine, so a node
	// that a bulk load starves of CPU for a few seconds keeps it.
	LeaseTTL time.Duration
	// Raft overrides raft timing; zero fields keep replication's defaults.
	Raft replication.Config
	// Shard configures the shard engines (seal size, index parameters); the
	// zero value means shard.DefaultConfig(). Every node of a cluster must
	// use the same one.
	Shard *shard.Config
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("node: ID is required")
	case c.DataDir == "":
		return errors.New("node: DataDir is required")
	case c.RaftAddr == "":
		return errors.New("node: RaftAddr is required")
	case c.Meta == nil:
		return errors.New("node: Meta is required")
	case c.NATS == nil:
		return errors.New("node: NATS is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	return nil
}

// Node is a running storage node.
type Node struct {
	cfg  Config
	log  *slog.Logger
	host *replication.Host
	svc  *shardsvc.Service
	reg  *meta.Registration

	cancel  context.CancelFunc
	done    chan struct{}
	corrupt *corruptFiles

	mu       sync.Mutex // guards replicas; held while opening and closing groups
	replicas map[string]*replica
}

type replica struct {
	collection string
	shard      int
	eng        *shard.Shard
	group      *replication.Group
}

// Start opens the node's raft host, registers the node and begins
// reconciling its replicas with the placement in etcd.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.ID), replicas: map[string]*replica{}, done: make(chan struct{})}
	rc := cfg.Raft
	rc.NodeID = cfg.ID
	rc.Dir = filepath.Join(cfg.DataDir, "raft")
	rc.BindAddr = cfg.RaftAddr
	rc.AdvertiseAddr = cfg.RaftAddr
	rc.Logger = n.log
	rc.Registerer = cfg.Registerer
	rc.OnLeaderChange = n.onLeaderChange
	corrupt, err := newCorruptFiles(cfg.ID, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}
	n.corrupt = corrupt
	rc.OnCorrupt = corrupt.report
	if err := os.MkdirAll(rc.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	host, err := replication.New(rc)
	if err != nil {
		return nil, fmt.Errorf("node: raft host: %w", err)
	}
	n.host = host
	svc, err := shardsvc.New(shardsvc.Config{NodeID: cfg.ID, Conn: cfg.NATS, Logger: n.log})
	if err != nil {
		_ = host.Close()
		return nil, err
	}
	n.svc = svc
	reg, err := cfg.Meta.Register(ctx, meta.Node{ID: cfg.ID, RaftAddr: host.Addr()}, cfg.LeaseTTL, n.log)
	if err != nil {
		_ = svc.Close()
		_ = host.Close()
		return nil, err
	}
	n.reg = reg
	wctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.run(wctx)
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr returns the node's raft address.
func (n *Node) RaftAddr() string { return n.host.Addr() }

// Close stops serving, closes every raft group (keeping their data) and
// withdraws the node's registration.
func (n *Node) Close() error {
	n.cancel()
	<-n.done
	n.reg.Close()
	errs := []error{n.svc.Close()}
	n.mu.Lock()
	engines := make([]*shard.Shard, 0, len(n.replicas))
	for g, r := range n.replicas {
		engines = append(engines, r.eng)
		delete(n.replicas, g)
	}
	n.mu.Unlock()
	errs = append(errs, n.host.Close())
	for _, eng := range engines {
		errs = append(errs, eng.Close())
	}
	return errors.Join(errs...)
}

// run reconciles on every placement change and once a second, which also
// retries replicas whose peers were not registered yet and re-syncs leader
// subscriptions.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	updates := make(chan []meta.Collection, 1)
	go func() {
		_ = n.cfg.Meta.WatchCollections(ctx, func(cols []meta.Collection) {
			select {
			case <-updates:
			default:
			}
			updates <- cols
		})
	}()
	var cols []meta.Collection
	have := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case cols = <-updates:
			have = true
		case <-tick.C:
		}
		if have {
			n.reconcile(ctx, cols)
		}
	}
}

func (n *Node) reconcile(ctx context.Context, cols []meta.Collection) {
	want := map[string]struct{}{}
	// Peers registered since a replica opened are reached at their
	// registered address; until then raft dials the address in the stored
	// configuration.
	nodes := n.nodeAddrs(ctx)
	for id, addr := range nodes {
		if id != n.cfg.ID && addr != "" {
			n.host.SetPeerAddr(id, addr)
		}
	}
	for _, col := range cols {
		for s, replicas := range col.Placement {
			if !contains(replicas, n.cfg.ID) {
				continue
			}
			g := col.Group(s)
			want[g] = struct{}{}
			n.mu.Lock()
			_, open := n.replicas[g]
			n.mu.Unlock()
			if open {
				continue
			}
			if err := n.open(col, s, nodes); err != nil {
				n.log.Warn("open replica", "group", g, "err", err)
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for g, r := range n.replicas {
		if _, ok := want[g]; ok {
			n.svc.SetLeader(r.collection, r.shard, r.group.IsLeader())
			continue
		}
		n.svc.Detach(r.collection, r.shard)
		if err := n.host.CloseGroup(g, true); err != nil {
			n.log.Warn("close replica", "group", g, "err", err)
		}
		_ = r.eng.Close()
		if err := os.RemoveAll(n.segmentDir(g)); err != nil {
			n.log.Warn("remove segment files", "group", g, "err", err)
		}
		delete(n.replicas, g)
		n.log.Info("replica removed", "group", g)
	}
}

// segmentDir is where group g keeps its segment index files.
func (n *Node) segmentDir(g string) string {
	return filepath.Join(n.cfg.DataDir, "segments", g)
}

func (n *Node) nodeAddrs(ctx context.Context) map[string]string {
	out := map[string]string{}
	nodes, err := n.cfg.Meta.Nodes(ctx)
	if err != nil {
		return out
	}
	for _, nd := range nodes {
		out[nd.ID] = nd.RaftAddr
	}
	return out
}

func (n *Node) open(col meta.Collection, s int, addrs map[string]string) error {
	g := col.Group(s)
	// A peer not registered yet has no address: a replica with raft state
	// on disk opens anyway and reaches it later (replication.Host.Open); a
	// fresh one cannot bootstrap and is retried on the next reconcile.
	peers := make([]replication.Peer, 0, len(col.Placement[s]))
	for _, id := range col.Placement[s] {
		addr := addrs[id]
		if addr == "" && !n.host.HasState(g) {
			return fmt.Errorf("peer %s is not registered yet", id)
		}
		peers = append(peers, replication.Peer{ID: id, Addr: addr})
	}
	schema, err := SchemaOf(col.Spec)
	if err != nil {
		return err
	}
	scfg := shard.DefaultConfig()
	if n.cfg.Shard != nil {
		scfg = *n.cfg.Shard
	}
	if sp := col.Spec.Sparse; sp != nil && sp.Index != nil {
		applySparseIndex(&scfg, sp.Index)
	}
	scfg.Logger = n.log.With("group", g)
	scfg.Dir = n.segmentDir(g)
	scfg.OnCorrupt = n.corrupt.report
	// replicas switch to a segment's indexes at the same log index
	scfg.ActivateByCommand = true
	eng, err := shard.Open(schema, scfg)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// segments replayed from the log build only once the replica has caught
	// up to where it was: a later compaction may drop them
	eng.HoldBuilds()
	group, err := n.host.Open(g, fsm{eng}, peers)
	if err != nil {
		_ = eng.Close()
		return err
	}
	r := &replica{collection: col.Spec.Name, shard: s, eng: eng, group: group}
	ra := replicaAdapter{g: group}
	go releaseBuildsWhenCaught(eng, group)
	if err := n.svc.Attach(r.collection, s, eng, ra); err != nil {
		_ = n.host.CloseGroup(g, false)
		_ = eng.Close()
		return err
	}
	n.replicas[g] = r
	n.svc.SetLeader(r.collection, s, group.IsLeader())
	n.log.Info("replica opened", "group", g)
	return nil
}

func (n *Node) onLeaderChange(group string, isLeader bool) {
	n.mu.Lock()
	r, ok := n.replicas[group]
	n.mu.Unlock()
	if ok {
		n.svc.SetLeader(r.collection, r.shard, isLeader)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// SchemaOf converts a collection spec to the engine's schema.
func SchemaOf(spec api.CollectionSpec) (shard.Schema, error) {
	var s shard.Schema
	var err error
	if spec.Sparse != nil {
		s.SparseMaxTerm = spec.Sparse.MaxTerm
	}
	if d := spec.Dense; d != nil {
		s.DenseDim = d.Dim
		metric := d.Metric
		if metric == "" {
			metric = api.MetricCosine
		}
		if s.DenseMetric, err = shard.ParseMetric(metric); err != nil {
			return s, err
		}
		s.DenseCodec = d.Codec
	}
	if m := spec.Multivector; m != nil {
		s.MultiDim = m.Dim
		metric := m.Metric
		if metric == "" {
			metric = api.MetricIP
		}
		if s.MultiMetric, err = shard.ParseMetric(metric); err != nil {
			return s, err
		}
	}
	if len(spec.Attributes) > 0 {
		s.Attributes = map[string]shard.AttrKind{}
		for name, kind := range spec.Attributes {
			switch kind {
			case api.AttrKeyword:
				s.Attributes[name] = shard.AttrKeyword
			case api.AttrInt:
				s.Attributes[name] = shard.AttrInt
			case api.AttrFloat:
				s.Attributes[name] = shard.AttrFloat
			default:
				return s, fmt.Errorf("attribute %s: unknown kind %q", name, kind)
			}
		}
	}
	return s, nil
}

// fsm adapts a shard engine to replication.StateMachine.
type fsm struct{ eng *shard.Shard }

var _ replication.StateMachine = fsm{}

func (f fsm) Apply(index uint64, cmd []byte) ([]byte, error) { return f.eng.Apply(index, cmd) }

func (f fsm) Snapshot() (replication.Snapshot, error) { return snapshot{f.eng.Snapshot()}, nil }

func (f fsm) Restore(r io.Reader, _ uint64) error { return f.eng.Restore(r) }

type snapshot struct{ *shard.Snapshot }

// Release closes the segment index files the snapshot holds open.
func (s snapshot) Release() { s.Snapshot.Close() }

// releaseBuildsWhenCaught releases the engine's held builds once the
// replica has caught up to where it was when opened, when it closes, or after
// a minute whatever happened.
func releaseBuildsWhenCaught(eng *shard.Shard, g *replication.Group) {
	defer eng.ReleaseBuilds()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-g.CaughtUp():
	case <-g.Done():
	case <-t.C:
	}
}

// replicaAdapter adapts a raft group to shardsvc.Replica.
type replicaAdapter struct{ g *replication.Group }

// ReadFloor is the index every read waits for until the replica has caught up
// to what it held when it was opened (replication.Group.OpenIndex), then 0.
func (a replicaAdapter) ReadFloor() uint64 {
	if a.g.IsCaughtUp() {
		return 0
	}
	return a.g.OpenIndex()
}

var _ shardsvc.Replica = replicaAdapter{}

func (a replicaAdapter) Propose(ctx context.Context, cmd []byte) (uint64, []byte, error) {
	return a.g.Propose(ctx, cmd)
}

func (a replicaAdapter) IsLeader() bool { return a.g.IsLeader() }

func (a replicaAdapter) AppliedIndex() uint64 { return a.g.AppliedIndex() }

func (a replicaAdapter) WaitApplied(ctx context.Context, index uint64) error {
	return a.g.WaitApplied(ctx, index)
}

func (a replicaAdapter) Barrier(ctx context.Context) error { return a.g.Barrier(ctx) }

func (a replicaAdapter) Status() shardsvc.RaftStatus {
	st := a.g.Status()
	return shardsvc.RaftStatus{Role: st.Role, Term: st.Term, LastIndex: st.LastIndex, AppliedIndex: st.AppliedIndex, Leader: st.Leader.ID}
}

// applySparseIndex maps a collection's sparse index settings onto the shard
// configuration: build parameters (which every replica must share) and
// search defaults.
func applySparseIndex(scfg *shard.Config, ix *api.SparseIndex) {
	if ix.AutoKeep > 0 {
		// A fixed share of postings: the global pruning rule.
		scfg.Seismic.Pruning = seismic.PruneGlobal
		scfg.Seismic.AutoKeep = ix.AutoKeep
	}
	if ix.Alpha > 0 {
		scfg.Seismic.Alpha = ix.Alpha
	}
	if ix.Kind == api.SparseKindExact {
		scfg.Sparse.Kind = shard.SparseExact
	}
	if ix.TargetRecall > 0 {
		scfg.Sparse.TargetRecall = ix.TargetRecall
	}
	if ix.QueryCut > 0 {
		scfg.Sparse.QueryCut = ix.QueryCut
	}
	if ix.HeapFactor > 0 {
		scfg.Sparse.HeapFactor = ix.HeapFactor
	}
}
