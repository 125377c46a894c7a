package shardsvc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNotLeader is returned by Reader.Wait for a strong read on a follower.
var ErrNotLeader = errors.New("shardsvc: not the leader")

// Level is the consistency a read asks for.
type Level uint8

const (
	// Eventual reads answer from any replica that has caught up to the state
	// it held before it was (re)opened, so a restart never moves a replica's
	// answers back in time.
	Eventual Level = iota
	// Session reads also wait for Consistency.MinIndex: the log index of a
	// write the reader saw acknowledged (read-your-writes).
	Session
	// Strong reads answer only on the leader, after a read barrier: they see
	// every write acknowledged before they started.
	Strong
)

// String returns the level's name.
func (l Level) String() string {
	switch l {
	case Eventual:
		return "eventual"
	case Session:
		return "session"
	case Strong:
		return "strong"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Consistency is what a read asks for.
type Consistency struct {
	// Level is the consistency level.
	Level Level
	// MinIndex is the log index a Session read must see; ignored otherwise.
	MinIndex uint64
}

// Reader makes one replica's reads as consistent as they ask. It knows no
// transport: the NATS handlers call it, and so can tests. It is safe for
// concurrent use.
type Reader struct {
	// Rep is the replica.
	Rep Replica
	// Wait bounds how long a read waits when its context has no deadline.
	// Default 5s.
	Wait time.Duration
}

// minIndex is the log index a read of consistency c must wait for on this
// replica: the replica's read floor and, for session reads, the token.
func (r Reader) minIndex(c Consistency) uint64 {
	m := r.Rep.ReadFloor()
	if c.Level == Session {
		m = max(m, c.MinIndex)
	}
	return m
}

// Behind reports whether this replica has not yet applied what a read of
// consistency c must see. A follower that is behind may pass the read to its
// leader, which has applied every index it acknowledged, instead of waiting.
func (r Reader) Behind(c Consistency) bool {
	if c.Level == Strong {
		return false
	}
	m := r.minIndex(c)
	return m > 0 && r.Rep.AppliedIndex() < m
}

// Ready returns once this replica may answer a read of consistency c: at
// once when it has applied what the read must see, after the replica signals
// it has applied it, or (strong) after a read barrier on the leader. It
// returns ErrNotLeader for a strong read on a follower, and the context's
// error when ctx (or Wait, if ctx has no deadline) ends first.
func (r Reader) Ready(ctx context.Context, c Consistency) error {
	m := r.minIndex(c)
	if c.Level != Strong && (m == 0 || r.Rep.AppliedIndex() >= m) {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		w := r.Wait
		if w <= 0 {
			w = 5 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w)
		defer cancel()
	}
	if c.Level == Strong {
		if !r.Rep.IsLeader() {
			return ErrNotLeader
		}
		if err := r.Rep.Barrier(ctx); err != nil {
			return fmt.Errorf("shardsvc: read barrier: %w", err)
		}
	}
	if m > 0 {
		if err := r.Rep.WaitApplied(ctx, m); err != nil {
			return fmt.Errorf("shardsvc: wait for index %d: %w", m, err)
		}
	}
	return nil
}

// Writer proposes writes through one replica, which must lead its group. It
// knows no transport. It is safe for concurrent use.
type Writer struct {
	// Rep is the replica.
	Rep Replica
	// Timeout bounds a proposal when its context has no deadline. Default 10s.
	Timeout time.Duration
}

// Write proposes cmd and returns its log index and the engine's answer once
// it is committed and applied on this replica. When it returns a deadline
// error the command may still commit: its outcome is unknown.
func (w Writer) Write(ctx context.Context, cmd []byte) (uint64, []byte, error) {
	if !w.Rep.IsLeader() {
		return 0, nil, ErrNotLeader
	}
	if _, ok := ctx.Deadline(); !ok {
		t := w.Timeout
		if t <= 0 {
			t = 10 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return w.Rep.Propose(ctx, cmd)
}
