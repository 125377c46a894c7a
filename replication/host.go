package replication

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-search/shoal/replication/raftmux"
)

// Host is one node's raft endpoint: one TCP listener (raftmux) shared by all
// the node's groups. All methods are safe for concurrent use.
//
// Locks: mu, addrMu and evMu are never held together, nor across a call into
// raft or a Group; a Group's appliedMu is taken alone too.
type Host struct {
	cfg Config
	mux *raftmux.Mux
	log *slog.Logger
	met *metrics
	// corrupt counts quarantined raft files (see quarantine.go).
	corrupt atomic.Int64
	// diskFailing counts the groups whose log store cannot append; while
	// it is above zero no group of this host campaigns (diskguard.go).
	diskFailing atomic.Int32

	// addrs maps node ids to their latest known raftmux addresses; it takes
	// precedence over the addresses stored in the groups' configurations.
	addrMu sync.RWMutex
	addrs  map[string]string

	mu     sync.Mutex
	groups map[string]*Group // nil value: the group is being opened or closed
	closed bool

	// Leadership events wait in evq until the dispatch goroutine hands them
	// to Config.OnLeaderChange, one at a time, in order.
	evMu     sync.Mutex
	evq      []leaderEvent
	evSignal chan struct{} // capacity 1: "evq may be non-empty"
	evStop   chan struct{}
	evDone   chan struct{}
}

type leaderEvent struct {
	group  string
	leader bool
}

// emit queues a leadership event; it never blocks.
func (h *Host) emit(group string, leader bool) {
	if h.cfg.OnLeaderChange == nil {
		return
	}
	h.evMu.Lock()
	h.evq = append(h.evq, leaderEvent{group, leader})
	h.evMu.Unlock()
	select {
	case h.evSignal <- struct{}{}:
	default:
	}
}

// dispatch delivers leadership events until Close, then delivers what is
// left and returns.
func (h *Host) dispatch() {
	defer close(h.evDone)
	for {
		h.evMu.Lock()
		q := h.evq
		h.evq = nil
		h.evMu.Unlock()
		for _, e := range q {
			h.cfg.OnLeaderChange(e.group, e.leader)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-h.evSignal:
		case <-h.evStop:
			h.evMu.Lock()
			q := h.evq
			h.evq = nil
			h.evMu.Unlock()
			for _, e := range q {
				h.cfg.OnLeaderChange(e.group, e.leader)
			}
			return
		}
	}
}

// New starts listening on cfg.BindAddr and returns the Host.
func New(cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	mux, err := raftmux.Listen(cfg.BindAddr, raftmux.Config{
		AdvertiseAddr:    cfg.AdvertiseAddr,
		HandshakeTimeout: cfg.HandshakeTimeout,
		Logger:           cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	h := &Host{
		cfg:      cfg,
		mux:      mux,
		log:      cfg.Logger.With("node", cfg.NodeID),
		addrs:    make(map[string]string),
		groups:   make(map[string]*Group),
		evSignal: make(chan struct{}, 1),
		evStop:   make(chan struct{}),
		evDone:   make(chan struct{}),
	}
	h.addrs[cfg.NodeID] = h.Addr()
	if cfg.Registerer != nil {
		h.met = newMetrics(h)
		if err := cfg.Registerer.Register(h.met); err != nil {
			mux.Close()
			return nil, fmt.Errorf("replication: register metrics: %w", err)
		}
	}
	go h.dispatch()
	return h, nil
}

// Addr returns the advertised address of the node's raft listener: what
// other nodes put in Peer.Addr.
func (h *Host) Addr() string { return h.mux.Addr().String() }

// NodeID returns the node id from Config.
func (h *Host) NodeID() string { return h.cfg.NodeID }

// SetPeerAddr records that node id now listens on addr. Every group of this
// Host dials id there, whatever address its stored configuration has, so a
// node that restarts on a new address stays reachable. Open records the
// addresses of its peers the same way.
func (h *Host) SetPeerAddr(id, addr string) {
	h.addrMu.Lock()
	h.addrs[id] = addr
	h.addrMu.Unlock()
}

// learnAddr records addr for id unless the book already has an address for
// it: addresses from configurations never override SetPeerAddr's.
func (h *Host) learnAddr(id, addr string) {
	h.addrMu.Lock()
	if _, ok := h.addrs[id]; !ok && addr != "" {
		h.addrs[id] = addr
	}
	h.addrMu.Unlock()
}

// ServerAddr implements raft.ServerAddressProvider over the address book.
func (h *Host) serverAddr(id raft.ServerID) (raft.ServerAddress, error) {
	h.addrMu.RLock()
	a, ok := h.addrs[string(id)]
	h.addrMu.RUnlock()
	if !ok {
		return "", fmt.Errorf("replication: no address for node %s", id)
	}
	return raft.ServerAddress(a), nil
}

type addrProvider struct{ h *Host }

func (p addrProvider) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	return p.h.serverAddr(id)
}

// ValidGroupID reports an error if group cannot name a group: it must be 1 to
// 255 bytes of ASCII letters, digits, '.', '_' or '-', and not start with '.'.
func ValidGroupID(group string) error {
	if err := raftmux.ValidGroup(group); err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadGroup, group, err)
	}
	if group[0] == '.' {
		return fmt.Errorf("%w %q: starts with '.'", ErrBadGroup, group)
	}
	for i := 0; i < len(group); i++ {
		c := group[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w %q: byte %q at %d", ErrBadGroup, group, c, i)
		}
	}
	return nil
}

// Open starts (or re-opens from Dir) this node's replica of group at once. On a fresh
// directory with no raft state and a non-empty peers it bootstraps the group
// with peers, which must include this node; every replica calls Open with the
// same peers, so the bootstrap configuration is identical everywhere. With
// empty peers a fresh replica bootstraps nothing and waits to be added by the
// leader (Group.AddVoter): use that for a replica joining a group that already
// runs (re-replication, moves), never a bootstrap with a new peer list. On existing state, peers only refresh the address
// book (see SetPeerAddr); the membership comes from the stored state, a peer
// may have an empty Addr, and peers whose address is not known yet are dialled
// at the address in the stored configuration until SetPeerAddr names another:
// a restarted replica never waits for its peers. A fresh replica with a peer
// lacking an address fails with ErrPeerUnknown.
func (h *Host) Open(group string, sm StateMachine, peers []Peer) (*Group, error) {
	if err := ValidGroupID(group); err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, errors.New("replication: nil StateMachine")
	}
	if len(peers) > 0 && !slices.ContainsFunc(peers, func(p Peer) bool { return p.ID == h.cfg.NodeID }) {
		return nil, fmt.Errorf("replication: open %s: peers do not include this node %s", group, h.cfg.NodeID)
	}
	for _, p := range peers {
		if p.ID == "" {
			return nil, fmt.Errorf("replication: open %s: peer %+v lacks an id", group, p)
		}
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := h.groups[group]; ok {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrGroupOpen, group)
	}
	h.groups[group] = nil // reserve
	h.mu.Unlock()

	for _, p := range peers {
		if p.Addr != "" {
			h.SetPeerAddr(p.ID, p.Addr)
		}
	}
	g, err := h.open(group, sm, peers)
	if errors.Is(err, errSnapshotsUnusable) {
		// The log cannot rebuild the state without its snapshot: move both
		// aside and re-sync from the peers (see quarantine.go).
		dir := filepath.Join(h.cfg.Dir, group)
		if qerr := h.quarantine(group, CorruptSnapshots, err, filepath.Join(dir, "snapshots"), filepath.Join(dir, "raft.db")); qerr != nil {
			err = errors.Join(err, qerr)
		} else {
			g, err = h.open(group, sm, nil)
		}
	}

	h.mu.Lock()
	if err != nil {
		delete(h.groups, group)
		h.mu.Unlock()
		return nil, fmt.Errorf("replication: open %s: %w", group, err)
	}
	if h.closed {
		h.mu.Unlock()
		cerr := g.close()
		h.mu.Lock()
		delete(h.groups, group)
		h.mu.Unlock()
		return nil, errors.Join(ErrClosed, cerr)
	}
	h.groups[group] = g
	h.mu.Unlock()
	return g, nil
}

func (h *Host) open(group string, sm StateMachine, peers []Peer) (g *Group, err error) {
	dir := filepath.Join(h.cfg.Dir, group)
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g = &Group{
		id:       group,
		h:        h,
		dir:      dir,
		log:      h.log.With("group", group),
		stop:     make(chan struct{}),
		notes:    make(chan bool, 16),
		caughtUp: make(chan struct{}),
	}
	var cleanup []func()
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(cleanup) {
				f()
			}
		}
	}()

	store, quarantined, err := h.openLogStore(group, dir)
	if err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	g.store = store
	if quarantined {
		peers = nil // the group exists: wait for its leader, never bootstrap
	}
	cleanup = append(cleanup, func() { store.Close() }) // not g: a failed open returns g nil
	var inner logStableStore = g.store
	if h.cfg.wrapStore != nil {
		inner = h.cfg.wrapStore(group, inner)
	}
	guard := newDiskGuard(inner, group, h.cfg.DiskProbeInterval)
	guard.hostFailing = &h.diskFailing
	g.guard = guard
	guard.g = g
	cleanup = append(cleanup, guard.close)
	var logs raft.LogStore
	logs, err = raft.NewLogCache(h.cfg.LogCacheSize, g.guard)
	if err != nil {
		return nil, err
	}
	g.logs = trackedLogs{LogStore: logs, g: g}
	logs = g.logs
	hl := newHCLogger(g.log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, h.cfg.SnapshotRetain, hl.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}

	g.layer, err = h.mux.Layer(group)
	if err != nil {
		return nil, err
	}
	layer := g.layer
	cleanup = append(cleanup, func() { layer.Close() })
	g.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: addrProvider{h},
		Logger:                hl.Named("transport"),
		Stream:                streamLayer{g.layer},
		MaxPool:               h.cfg.MaxPool,
		Timeout:               h.cfg.TransportTimeout,
	})
	trans := g.trans
	cleanup = append(cleanup, func() { trans.Close() })

	g.fsm = &fsm{sm: sm, g: g}
	rc := h.cfg.raftConfig()
	rc.Logger = hl
	rc.NotifyCh = g.notes

	if err := checkNewestSnapshot(snaps); err != nil {
		return nil, err
	}
	existing, err := raft.HasExistingState(logs, g.store, snaps)
	if err != nil {
		return nil, err
	}
	if !existing && len(peers) > 0 {
		for _, p := range peers {
			if p.Addr == "" {
				if created {
					// leave no directory behind: HasState stays false
					cleanup = append([]func(){func() { os.RemoveAll(dir) }}, cleanup...) // last
				}
				return nil, fmt.Errorf("%w: %s (bootstrap needs every address)", ErrPeerUnknown, p.ID)
			}
		}
		conf := raft.Configuration{}
		for _, p := range peers {
			conf.Servers = append(conf.Servers, raft.Server{
				Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr),
			})
		}
		if err := raft.BootstrapCluster(rc, logs, g.store, snaps, gatedTransport{g.trans, g.guard}, conf); err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}

	// The read floor of a re-opened replica: what it held before. Set before
	// raft starts, so that no entry it applies is missed.
	last, err := logs.LastIndex()
	if err != nil {
		return nil, err
	}
	if sl, err := snaps.List(); err == nil && len(sl) > 0 {
		last = max(last, sl[0].Index)
	}
	g.appliedMu.Lock()
	g.openIndex = last
	g.notifyLocked()
	g.appliedMu.Unlock()

	g.r, err = raft.NewRaft(rc, g.fsm, logs, g.store, snaps, gatedTransport{g.trans, g.guard})
	if err != nil {
		if strings.Contains(err.Error(), "failed to load any existing snapshots") {
			return nil, fmt.Errorf("%w: %w", errSnapshotsUnusable, err)
		}
		return nil, err
	}
	if f := g.r.GetConfiguration(); f.Error() == nil {
		g.setMembers(f.Configuration())
		for _, srv := range f.Configuration().Servers {
			h.learnAddr(string(srv.ID), string(srv.Address))
		}
	}
	g.wg.Add(1)
	go g.watchLeadership()
	g.log.Debug("replication: group open", "existing", existing, "applied", g.AppliedIndex())
	return g, nil
}

// HasState reports whether group has a directory under Dir, that is whether
// this node may hold raft state for it: Open of such a group never waits for
// its peers' addresses. A false answer means Open would bootstrap.
func (h *Host) HasState(group string) bool {
	if ValidGroupID(group) != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(h.cfg.Dir, group, "raft.db"))
	return err == nil
}

// Group returns the open group, or nil if it is not open.
func (h *Host) Group(group string) *Group {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.groups[group]
}

// Groups returns the ids of the open groups, sorted.
func (h *Host) Groups() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.groups))
	for id, g := range h.groups {
		if g != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// CloseGroup stops this node's replica of group and, if removeData, deletes
// its directory. It does not wait for OnLeaderChange callbacks, so it may be
// called while holding a lock that the callback takes; the group's final
// leadership loss (if it was leading) is delivered after it returns, still in
// order with every other event of the Host. The group's membership is unchanged: remove the node with
// RemoveServer first when it leaves for good.
func (h *Host) CloseGroup(group string, removeData bool) error {
	h.mu.Lock()
	g := h.groups[group]
	if g == nil {
		h.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownGroup, group)
	}
	h.groups[group] = nil // closing
	h.mu.Unlock()

	err := g.close()
	if removeData {
		if rerr := os.RemoveAll(g.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replication: remove %s: %w", g.dir, rerr))
		}
	}
	h.mu.Lock()
	delete(h.groups, group)
	h.mu.Unlock()
	return err
}

// Close stops every group and the listener and returns their errors joined.
// It delivers the pending OnLeaderChange events (including the final losses
// of the groups it closes) before returning, so it must not be called while
// holding a lock that the callback takes. The data stays on disk; a new Host
// on the same Dir re-opens it.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var gs []*Group
	for id, g := range h.groups {
		if g != nil {
			gs = append(gs, g)
			h.groups[id] = nil
		}
	}
	h.mu.Unlock()

	errs := make([]error, len(gs)+2)
	var wg sync.WaitGroup
	for i, g := range gs {
		wg.Go(func() { errs[i] = g.close() })
	}
	wg.Wait()
	h.mu.Lock()
	for _, g := range gs {
		delete(h.groups, g.id)
	}
	h.mu.Unlock()
	// Opens and CloseGroups already under way finish on their own (an Open
	// that sees the Host closed closes its group); wait for them, bounded.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h.mu.Lock()
		n := len(h.groups)
		h.mu.Unlock()
		if n == 0 {
			break
		}
	}
	errs[len(gs)] = h.mux.Close()
	close(h.evStop)
	<-h.evDone
	if h.met != nil && !h.cfg.Registerer.Unregister(h.met) {
		errs[len(gs)+1] = errors.New("replication: metrics were not registered")
	}
	return errors.Join(errs...)
}

// streamLayer adapts a raftmux.Layer to raft.StreamLayer.
type streamLayer struct{ *raftmux.Layer }

var _ raft.StreamLayer = streamLayer{}

// Dial connects to the group's replica on the node at address.
func (s streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.Layer.Dial(string(address), timeout)
}
