package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/shoal-search/shoal/replication/raftmux"
)

// Group is this node's replica of one raft group. All methods are safe for
// concurrent use.
type Group struct {
	id    string
	h     *Host
	dir   string
	log   *slog.Logger
	r     *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	logs  raft.LogStore // the cache in front of store
	layer *raftmux.Layer
	trans *raft.NetworkTransport
	guard *diskGuard // between logs and store: watches appends (diskguard.go)

	notes chan bool     // raft's NotifyCh
	stop  chan struct{} // closed by close: stops watchLeadership
	wg    sync.WaitGroup

	leader atomic.Bool // as last reported by raft's NotifyCh

	// The applied index and read floor; see applied.go.
	appliedMu sync.Mutex
	applied   uint64        // last entry the fsm saw: command, marker, configuration, restore
	floor     uint64        // every entry up to floor is reflected in the StateMachine
	blocked   uint64        // a command above floor found by scan and not applied yet; 0: none known
	appliedCh chan struct{} // when not nil, closed at the next change of floor
	openIndex uint64        // the last log index when the group was opened (lowered by truncation)
	caughtUp  chan struct{} // closed once floor >= openIndex
	closed    bool
	closeOnce sync.Once
	closeErr  error
	scanMu    sync.Mutex // serialises scans of the log in advance

	proposals, proposeErrors, restores atomic.Uint64

	// The latest membership seen (from raft or committed configuration
	// entries), so that Status never blocks on raft's main loop.
	membersMu         sync.Mutex
	voters, nonvoters []Peer
}

// ID returns the group id.
func (g *Group) ID() string { return g.id }

// Dir returns the directory holding the group's raft data.
func (g *Group) Dir() string { return g.dir }

// IsLeader reports whether this replica is the group's leader right now.
func (g *Group) IsLeader() bool { return g.r.State() == raft.Leader }

// Leader returns the current leader as far as this replica knows; zero if
// unknown.
func (g *Group) Leader() Peer {
	addr, id := g.r.LeaderWithID()
	return Peer{ID: string(id), Addr: string(addr)}
}

func (g *Group) notLeader(lost bool) error {
	return &NotLeaderError{Group: g.id, Leader: g.Leader(), Lost: lost}
}

// bound returns ctx limited to Config.ApplyTimeout if it has no deadline,
// and how long a raft call made under it may take.
func (g *Group) bound(ctx context.Context) (context.Context, context.CancelFunc, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, 0, err
	}
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, g.h.cfg.ApplyTimeout)
	}
	dl, _ := ctx.Deadline()
	d := time.Until(dl)
	if d <= 0 {
		cancel()
		return ctx, func() {}, 0, context.DeadlineExceeded
	}
	return ctx, cancel, d, nil
}

// wait waits for f under ctx. If ctx ends first the operation continues in
// raft; its outcome is unknown to the caller.
func (g *Group) wait(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return g.raftErr(f.Error())
	}
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }() // raft resolves every future, at the latest on shutdown
	select {
	case err := <-errc:
		return g.raftErr(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// raftErr translates raft's errors into this package's.
func (g *Group) raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return g.notLeader(false)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrAbortedByRestore):
		return g.notLeader(true)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("replication: %s: %w: %w", g.id, err, context.DeadlineExceeded)
	default:
		return fmt.Errorf("replication: %s: %w", g.id, err)
	}
}

func (g *Group) isClosed() bool {
	g.appliedMu.Lock()
	defer g.appliedMu.Unlock()
	return g.closed
}

// Propose replicates cmd and waits until it is committed and applied on this
// replica, which must be the leader. It returns the command's log index and
// what StateMachine.Apply returned for it. It honours ctx's deadline, or
// Config.ApplyTimeout if ctx has none. When it returns a context error or
// ErrLeadershipLost the command may still be committed later.
func (g *Group) Propose(ctx context.Context, cmd []byte) (index uint64, resp []byte, err error) {
	if g.isClosed() {
		return 0, nil, ErrClosed
	}
	g.proposals.Add(1)
	defer func() {
		if err != nil {
			g.proposeErrors.Add(1)
		}
	}()
	if g.r.State() != raft.Leader {
		return 0, nil, g.notLeader(false)
	}
	ctx, cancel, d, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return 0, nil, err
	}
	f := g.r.Apply(cmd, d)
	if err := g.wait(ctx, f); err != nil {
		return 0, nil, err
	}
	res, ok := f.Response().(applyResult)
	if !ok {
		return f.Index(), nil, fmt.Errorf("replication: %s: unexpected apply response %T", g.id, f.Response())
	}
	return f.Index(), res.resp, res.err
}

// Barrier is a read barrier on the leader: it returns once this replica has
// confirmed it is still the leader (a marker entry committed by a quorum in
// its term) and has applied every entry committed before the call. Reads of
// the StateMachine that start after Barrier returns see every write
// acknowledged before Barrier was called. The marker reaches every replica's
// fsm (unlike raft's own barrier entries), so it also moves their applied
// index and wakes their waiters.
func (g *Group) Barrier(ctx context.Context) error {
	if g.isClosed() {
		return ErrClosed
	}
	if g.r.State() != raft.Leader {
		return g.notLeader(false)
	}
	return g.writeMarker(ctx)
}

// Status is a replica's view of its group.
type Status struct {
	// Group is the group id.
	Group string
	// Role is "leader", "follower", "candidate" or "shutdown".
	Role string
	// Term is the current raft term.
	Term uint64
	// LastIndex is the last index in the log or the last snapshot.
	LastIndex uint64
	// CommitIndex is the last index known committed.
	CommitIndex uint64
	// AppliedIndex is the last index applied to the StateMachine.
	AppliedIndex uint64
	// Leader is the leader as far as this replica knows; zero if unknown.
	Leader Peer
	// Peers are the voters of the latest configuration known to this replica.
	Peers []Peer
	// Nonvoters are the non-voting members of the latest configuration.
	Nonvoters []Peer
}

// Status returns this replica's view of the group.
func (g *Group) Status() Status {
	s := Status{
		Group:        g.id,
		Role:         strings.ToLower(g.r.State().String()),
		Term:         g.r.CurrentTerm(),
		LastIndex:    g.r.LastIndex(),
		CommitIndex:  g.r.CommitIndex(),
		AppliedIndex: g.AppliedIndex(),
		Leader:       g.Leader(),
	}
	if g.isClosed() {
		s.Role = "shutdown"
		return s
	}
	g.refreshMembers(statusConfigWait)
	g.membersMu.Lock()
	s.Peers = slices.Clone(g.voters)
	s.Nonvoters = slices.Clone(g.nonvoters)
	g.membersMu.Unlock()
	return s
}

// statusConfigWait bounds how long Status waits for raft's configuration
// before it answers from the cache: raft serves that request from its main
// loop, which a follower blocks while it installs a snapshot.
const statusConfigWait = 100 * time.Millisecond

// refreshMembers asks raft for its latest configuration and caches it, waiting
// at most d. A late answer still updates the cache.
func (g *Group) refreshMembers(d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if f := g.r.GetConfiguration(); f.Error() == nil {
			g.setMembers(f.Configuration())
		}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// setMembers caches the voters and non-voters of c.
func (g *Group) setMembers(c raft.Configuration) {
	var voters, nonvoters []Peer
	for _, srv := range c.Servers {
		p := Peer{ID: string(srv.ID), Addr: string(srv.Address)}
		switch srv.Suffrage {
		case raft.Voter:
			voters = append(voters, p)
		case raft.Nonvoter:
			nonvoters = append(nonvoters, p)
		}
	}
	g.membersMu.Lock()
	g.voters, g.nonvoters = voters, nonvoters
	g.membersMu.Unlock()
}

// AddVoter adds p as a voter (leader only). The new replica must have called
// Open for the group with no peers; it catches up by snapshot and log.
func (g *Group) AddVoter(ctx context.Context, p Peer) error {
	if p.ID == "" || p.Addr == "" {
		return fmt.Errorf("replication: add voter %+v: id and address are required", p)
	}
	if g.isClosed() {
		return ErrClosed
	}
	if g.r.State() != raft.Leader {
		return g.notLeader(false)
	}
	g.h.SetPeerAddr(p.ID, p.Addr)
	ctx, cancel, d, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return g.wait(ctx, g.r.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.Addr), 0, d))
}

// AddNonvoter adds p as a non-voting member (leader only): it receives the
// log but does not count for quorums. Promote it later with AddVoter, once it
// has caught up, to grow a group without weakening its availability.
func (g *Group) AddNonvoter(ctx context.Context, p Peer) error {
	if p.ID == "" || p.Addr == "" {
		return fmt.Errorf("replication: add nonvoter %+v: id and address are required", p)
	}
	if g.isClosed() {
		return ErrClosed
	}
	if g.r.State() != raft.Leader {
		return g.notLeader(false)
	}
	g.h.SetPeerAddr(p.ID, p.Addr)
	ctx, cancel, d, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return g.wait(ctx, g.r.AddNonvoter(raft.ServerID(p.ID), raft.ServerAddress(p.Addr), 0, d))
}

// TransferLeadership asks this replica, which must lead, to hand leadership
// to the most up-to-date voter, and waits until it has or the attempt failed.
func (g *Group) TransferLeadership(ctx context.Context) error {
	if g.isClosed() {
		return ErrClosed
	}
	if g.r.State() != raft.Leader {
		return g.notLeader(false)
	}
	ctx, cancel, _, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return g.wait(ctx, g.r.LeadershipTransfer())
}

// RemoveServer removes node id from the group (leader only). A leader that
// removes itself steps down once the change commits.
func (g *Group) RemoveServer(ctx context.Context, id string) error {
	if g.isClosed() {
		return ErrClosed
	}
	if g.r.State() != raft.Leader {
		return g.notLeader(false)
	}
	ctx, cancel, d, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return g.wait(ctx, g.r.RemoveServer(raft.ServerID(id), 0, d))
}

// TakeSnapshot snapshots the StateMachine now and compacts the log down to
// Config.TrailingLogs entries. Nothing new since the last snapshot is not an
// error. Unlike the other calls it has no default timeout: a large state may
// take long to write; bound it with ctx.
func (g *Group) TakeSnapshot(ctx context.Context) error {
	if g.isClosed() {
		return ErrClosed
	}
	err := g.wait(ctx, g.r.Snapshot())
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// watchLeadership turns raft's leadership notifications into Host events
// until close, which adds a final loss if the replica was leading. It never
// blocks on the callback.
func (g *Group) watchLeadership() {
	defer g.wg.Done()
	report := func(v bool) {
		if g.leader.Load() == v {
			return
		}
		g.leader.Store(v)
		g.log.Info("replication: leadership changed", "leader", v)
		if v {
			g.markLeadership()
		}
		g.h.emit(g.id, v)
	}
	for {
		select {
		case v := <-g.notes:
			report(v)
		case <-g.stop:
			report(false)
			return
		}
	}
}

// close shuts raft down, then its transport, then its stores. It is
// idempotent.
func (g *Group) close() error {
	g.closeOnce.Do(func() {
		g.appliedMu.Lock()
		g.closed = true
		if g.appliedCh != nil {
			close(g.appliedCh)
			g.appliedCh = nil
		}
		g.appliedMu.Unlock()

		var errs []error
		if err := g.r.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		g.trans.CloseStreams()
		errs = append(errs, g.trans.Close(), g.layer.Close())
		close(g.stop)
		g.wg.Wait()
		g.guard.close()
		if err := g.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log store: %w", err))
		}
		if err := errors.Join(errs...); err != nil {
			g.closeErr = fmt.Errorf("replication: close %s: %w", g.id, err)
		}
		g.log.Debug("replication: group closed")
	})
	return g.closeErr
}
