package replication

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// A group's applied index counts every log entry: commands, the markers this
// package writes (Barrier, and the entry a new leader writes), configuration
// changes, and the entries raft writes that never reach a raft.FSM (the no-op
// a new leader appends, barriers written by raft.Barrier).
//
// The fsm moves the applied index on every entry it sees. The entries it never
// sees are covered by advance, an incremental scan over the committed log: a
// cursor (floor) that only moves forward and reads each such entry once. It
// stops at the first command the fsm has not applied yet and resumes when the
// fsm applies it. Waiters are woken by these changes; nobody polls.
//
// Every leader writes a marker as soon as it is elected, after its no-op; so
// the committed log always ends, in the end, with an entry the fsm sees, and a
// replica that catches up to any committed index is woken by the fsm.

// markerExt tags a log entry written by this package (raft.Log.Extensions):
// the fsm counts it as applied and never hands it to the StateMachine.
var markerExt = []byte("shoal/replication/marker/v1")

func isMarker(l *raft.Log) bool { return bytes.Equal(l.Extensions, markerExt) }

// setApplied records that the fsm applied the entry at index and wakes the
// waiters.
func (g *Group) setApplied(index uint64) {
	g.appliedMu.Lock()
	if index > g.applied {
		g.applied = index
	}
	g.raiseFloorLocked(index)
	g.appliedMu.Unlock()
}

// resetApplied sets the applied index after a snapshot restore.
func (g *Group) resetApplied(index uint64) {
	g.appliedMu.Lock()
	g.applied = index
	g.blocked = 0
	g.floor = index
	g.notifyLocked()
	g.appliedMu.Unlock()
}

// raiseFloorLocked moves the floor to index if that is higher and wakes the
// waiters. appliedMu is held.
func (g *Group) raiseFloorLocked(index uint64) {
	if index <= g.floor {
		return
	}
	g.floor = index
	if g.blocked <= index {
		g.blocked = 0
	}
	g.notifyLocked()
}

// notifyLocked wakes the waiters and closes caughtUp once the floor reaches
// openIndex. appliedMu is held.
func (g *Group) notifyLocked() {
	if g.appliedCh != nil {
		close(g.appliedCh)
		g.appliedCh = nil
	}
	if g.caughtUp != nil && g.floor >= g.openIndex {
		select {
		case <-g.caughtUp:
		default:
			close(g.caughtUp)
		}
	}
}

// fsmApplied returns the index of the last entry the fsm applied (command,
// marker, membership change or restored snapshot).
func (g *Group) fsmApplied() uint64 {
	g.appliedMu.Lock()
	defer g.appliedMu.Unlock()
	return g.applied
}

// advance moves the floor over committed entries the fsm never sees: it reads
// the entries after the floor up to raft's applied index and stops at the
// first command or configuration change the fsm has not applied yet. Entries
// compacted away are covered by the snapshot the StateMachine holds.
func (g *Group) advance() {
	if g.r == nil || g.logs == nil {
		return
	}
	g.scanMu.Lock()
	defer g.scanMu.Unlock()
	// Raft counts an entry as applied once it is handed to the fsm goroutine,
	// so commands up to r may still be queued: they stop the scan.
	r := g.r.AppliedIndex()
	g.appliedMu.Lock()
	floor, blocked := g.floor, g.blocked
	g.appliedMu.Unlock()
	if floor >= r || blocked > floor {
		return
	}
	first, err := g.logs.FirstIndex()
	if err != nil {
		return
	}
	var l raft.Log
	next, stop := floor, uint64(0)
	switch {
	case first == 0: // an empty log: everything up to r is in the snapshot
		next = r
	case first > floor+1: // compacted: within the snapshot
		next = min(first-1, r)
	}
	for i := next + 1; i <= r; i++ {
		if err := g.logs.GetLog(i, &l); err != nil {
			break
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			// the fsm sees it (markers included) and may not have yet
			stop = i
			break
		}
		next = i
	}
	g.appliedMu.Lock()
	g.raiseFloorLocked(next)
	if stop > g.floor {
		g.blocked = stop
	}
	g.appliedMu.Unlock()
}

// AppliedIndex returns the last log index whose effects the StateMachine on
// this replica holds, counting every entry: commands, markers, membership
// changes and the entries that never reach the StateMachine (no-ops,
// barriers). It never runs ahead of the StateMachine the way raft's own
// applied index does (raft counts an entry once it is queued for the fsm).
func (g *Group) AppliedIndex() uint64 {
	g.advance()
	g.appliedMu.Lock()
	defer g.appliedMu.Unlock()
	return g.floor
}

// Applied returns a channel that is closed once AppliedIndex() >= index or
// the group closes. It is the signal form of WaitApplied.
func (g *Group) Applied(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_ = g.WaitApplied(context.Background(), index)
		close(ch)
	}()
	return ch
}

// WaitApplied returns once AppliedIndex() >= index, or with the context's
// error, or ErrClosed when the group closes first. It waits on the fsm's
// signals, without polling.
func (g *Group) WaitApplied(ctx context.Context, index uint64) error {
	for {
		g.appliedMu.Lock()
		if g.floor >= index {
			g.appliedMu.Unlock()
			return nil
		}
		g.appliedMu.Unlock()
		g.advance()
		g.appliedMu.Lock()
		if g.floor >= index {
			g.appliedMu.Unlock()
			return nil
		}
		if g.closed {
			g.appliedMu.Unlock()
			return ErrClosed
		}
		if g.appliedCh == nil {
			g.appliedCh = make(chan struct{})
		}
		ch := g.appliedCh
		g.appliedMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("replication: wait for index %d in %s: %w", index, g.id, ctx.Err())
		}
	}
}

// OpenIndex returns the read floor of a re-opened replica: the last log index
// it held when it was opened, lowered when raft later discards that tail as
// uncommitted. Until the replica has applied it (CaughtUp), it holds a state
// older than the one it had before the restart.
func (g *Group) OpenIndex() uint64 {
	g.appliedMu.Lock()
	defer g.appliedMu.Unlock()
	return g.openIndex
}

// CaughtUp returns a channel that is closed once the replica has applied
// OpenIndex: from then on it is at least as recent as before it was opened.
func (g *Group) CaughtUp() <-chan struct{} { return g.caughtUp }

// Done returns a channel that is closed when the group closes.
func (g *Group) Done() <-chan struct{} { return g.stop }

// IsCaughtUp reports whether CaughtUp is closed.
func (g *Group) IsCaughtUp() bool {
	select {
	case <-g.caughtUp:
		return true
	default:
		return false
	}
}

// truncated is told that raft deleted the log entries [lo, hi]: a conflicting
// uncommitted tail replaced by the leader's, or a prefix compacted into a
// snapshot. Either way the replica never applied more than lo-1 of what it held
// at open before that range, so the open index moves down when it lies inside.
func (g *Group) truncated(lo, hi uint64) {
	g.appliedMu.Lock()
	defer g.appliedMu.Unlock()
	if lo <= g.openIndex && g.openIndex <= hi && lo > 0 {
		g.openIndex = lo - 1
		g.notifyLocked()
	}
}

// trackedLogs is the log store raft uses: it tells the group about deletions.
type trackedLogs struct {
	raft.LogStore
	g *Group
}

// DeleteRange deletes [lo, hi] and tells the group.
func (t trackedLogs) DeleteRange(lo, hi uint64) error {
	if err := t.LogStore.DeleteRange(lo, hi); err != nil {
		return err
	}
	t.g.truncated(lo, hi)
	return nil
}

// writeMarker commits a marker entry in the leader's term and waits until
// this replica applied it. A new leader calls it so that every replica's fsm
// sees an entry after the leader's no-op.
func (g *Group) writeMarker(ctx context.Context) error {
	ctx, cancel, d, err := g.bound(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	return g.wait(ctx, g.r.ApplyLog(raft.Log{Extensions: markerExt}, d))
}

// markLeadership queues the marker of a new leader and does not wait for it:
// it commits with the leader's next round, or is dropped with its term.
// (Waiting on a future raft may drop at shutdown would leave a goroutine
// behind.)
func (g *Group) markLeadership() {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.r.ApplyLog(raft.Log{Extensions: markerExt}, g.h.cfg.ApplyTimeout)
	}()
}
