package replication

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Peer is one replica of a group: the node id and that node's raftmux
// listener address.
type Peer struct {
	// ID is the node id (Config.NodeID of its Host).
	ID string
	// Addr is the node's raftmux listener address (Host.Addr).
	Addr string
}

// Config configures a Host. Zero durations and counts take the defaults
// below, so a Config with only NodeID and Dir set is valid.
type Config struct {
	// NodeID names this node in every group's configuration. Required.
	NodeID string
	// Dir holds every group's raft data: group g keeps it under Dir/<g>/.
	// Required.
	Dir string
	// BindAddr is the TCP address of the node's single raft listener.
	// Default "127.0.0.1:0" (a free port).
	BindAddr string
	// AdvertiseAddr is the address peers dial; a zero port is replaced by the
	// bound port. Default: the bound address.
	AdvertiseAddr string
	// Logger receives raft's and this package's logs. Default: discard.
	Logger *slog.Logger
	// Registerer, if set, gets the per-group gauges and counters described in
	// docs/replication.md; they are unregistered on Close.
	Registerer prometheus.Registerer

	// HeartbeatTimeout is how long a follower waits without contact from the
	// leader before it starts an election. Default 500ms.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before a new
	// election. Default 500ms. Must be >= HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a
	// quorum. Default 250ms. Must be <= HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest a follower waits to learn a new commit
	// index when there is no traffic. Default 20ms.
	CommitTimeout time.Duration
	// ApplyTimeout bounds Propose, Barrier and membership changes called with
	// a context that has no deadline. Default 10s.
	ApplyTimeout time.Duration
	// TransportTimeout is the I/O deadline of one raft RPC (larger snapshots
	// scale it). Default 10s.
	TransportTimeout time.Duration
	// HandshakeTimeout bounds the raftmux handshake of a connection. Default 5s.
	HandshakeTimeout time.Duration
	// MaxPool is how many idle connections a group keeps per peer. Default 3.
	MaxPool int

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one. Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks SnapshotThreshold (randomised
	// between 1x and 2x). Default 2m.
	SnapshotInterval time.Duration
	// TrailingLogs is how many log entries are kept after a snapshot so that
	// slightly lagging followers catch up from the log instead of a snapshot.
	// Default 10240.
	TrailingLogs uint64
	// SnapshotRetain is how many snapshots each group keeps on disk. Default 2.
	SnapshotRetain int
	// LogCacheSize is how many recent log entries each group caches in memory.
	// An entry can be a whole upsert batch (a megabyte for 1,000 SPLADE
	// documents), so the cache is kept small. Default 64.
	LogCacheSize int
	// NoSync skips fsync of the log store. Unsafe: only for tests. Default false.
	NoSync bool
	// DiskProbeInterval is how often a replica whose log store failed an
	// append (a full disk) tries a write of the same size; until one
	// succeeds it does not campaign. Default 1s.
	DiskProbeInterval time.Duration

	// wrapStore, if set, wraps every group's raft store (tests inject
	// faults with it).
	wrapStore func(group string, s logStableStore) logStableStore

	// OnLeaderChange, if set, is called whenever this node gains or loses
	// leadership of group, from one goroutine of the Host, in order across
	// all its groups. Closing a group while leader reports a final loss. The
	// callback must not block for long and must not call Host.Close; it may
	// take locks that are held around Open and CloseGroup.
	OnLeaderChange func(group string, isLeader bool)
	// OnCorrupt, if set, is called for every raft file that Open
	// quarantines: kind is CorruptRaftStore (raft.db failed its checks) or
	// CorruptSnapshots (no stored snapshot could be loaded), path names the
	// file or directory before it was moved aside. The Host has logged it;
	// wire it to a metric. Called from Open's goroutine.
	OnCorrupt func(kind, path string, err error)
}

// DefaultConfig returns a Config with every default filled in; NodeID and Dir
// are left empty and must be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:           "127.0.0.1:0",
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		TransportTimeout:   10 * time.Second,
		HandshakeTimeout:   5 * time.Second,
		MaxPool:            3,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		LogCacheSize:       64,
		DiskProbeInterval:  time.Second,
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDur(&c.ElectionTimeout, d.ElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDur(&c.CommitTimeout, d.CommitTimeout)
	setDur(&c.ApplyTimeout, d.ApplyTimeout)
	setDur(&c.TransportTimeout, d.TransportTimeout)
	setDur(&c.HandshakeTimeout, d.HandshakeTimeout)
	setDur(&c.SnapshotInterval, d.SnapshotInterval)
	setDur(&c.DiskProbeInterval, d.DiskProbeInterval)
	if c.MaxPool == 0 {
		c.MaxPool = d.MaxPool
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = d.SnapshotRetain
	}
	if c.LogCacheSize == 0 {
		c.LogCacheSize = d.LogCacheSize
	}
	return c
}

// Validate reports missing required fields and settings raft would reject.
// Zero values count as their defaults.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("replication: NodeID is required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("replication: Dir is required"))
	}
	for name, d := range map[string]time.Duration{
		"HeartbeatTimeout": c.HeartbeatTimeout, "ElectionTimeout": c.ElectionTimeout,
		"LeaderLeaseTimeout": c.LeaderLeaseTimeout, "CommitTimeout": c.CommitTimeout,
		"ApplyTimeout": c.ApplyTimeout, "TransportTimeout": c.TransportTimeout,
		"HandshakeTimeout": c.HandshakeTimeout, "SnapshotInterval": c.SnapshotInterval,
		"DiskProbeInterval": c.DiskProbeInterval,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("replication: %s %v is negative", name, d))
		}
	}
	if c.MaxPool < 0 || c.SnapshotRetain < 0 || c.LogCacheSize < 0 {
		errs = append(errs, errors.New("replication: MaxPool, SnapshotRetain and LogCacheSize must not be negative"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	f := c.withDefaults()
	if err := raft.ValidateConfig(f.raftConfig()); err != nil {
		return fmt.Errorf("replication: %w", err)
	}
	return nil
}

// raftConfig returns raft's configuration for one group of this node; the
// caller sets Logger and NotifyCh. c has its defaults filled in.
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	if rc.LocalID == "" {
		rc.LocalID = "validate"
	}
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.BatchApplyCh = true
	return rc
}
