package replication

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is returned by leader-only calls on a follower. The error
	// is a *NotLeaderError carrying the leader hint when one is known.
	ErrNotLeader = errors.New("replication: not leader")
	// ErrLeadershipLost is returned (as a *NotLeaderError that also matches
	// ErrNotLeader) when leadership was lost while a proposal was in flight:
	// the command may or may not have been committed.
	ErrLeadershipLost = errors.New("replication: leadership lost, outcome unknown")
	// ErrClosed is returned once the Host or Group is closed.
	ErrClosed = errors.New("replication: closed")
	// ErrUnknownGroup is returned for a group that is not open on this Host.
	ErrUnknownGroup = errors.New("replication: unknown group")
	// ErrGroupOpen is returned by Open for a group that is already open.
	ErrGroupOpen = errors.New("replication: group already open")
	// ErrBadGroup is returned for a group id that is not a safe directory name.
	ErrBadGroup = errors.New("replication: bad group id")
	// ErrPeerUnknown is returned by Open for a fresh replica (no raft state on
	// disk) when a peer it must bootstrap with has no address yet.
	ErrPeerUnknown = errors.New("replication: peer address unknown")
	// ErrBadSnapshot is returned when a snapshot stream has a bad header.
	ErrBadSnapshot = errors.New("replication: bad snapshot")
)

// NotLeaderError says that this replica is not the group's leader and, when
// known, who is. errors.Is(err, ErrNotLeader) holds for it; so does
// errors.Is(err, ErrLeadershipLost) when Lost is set.
type NotLeaderError struct {
	// Group is the group the call was for.
	Group string
	// Leader is the current leader as far as this replica knows; zero if unknown.
	Leader Peer
	// Lost is set when leadership was lost while the call was in flight, so its
	// outcome is unknown.
	Lost bool
}

// Error describes the error with the leader hint.
func (e *NotLeaderError) Error() string {
	msg := ErrNotLeader.Error()
	if e.Lost {
		msg = ErrLeadershipLost.Error()
	}
	if e.Leader.ID == "" {
		return fmt.Sprintf("%s (group %s, leader unknown)", msg, e.Group)
	}
	return fmt.Sprintf("%s (group %s, leader %s at %s)", msg, e.Group, e.Leader.ID, e.Leader.Addr)
}

// Is matches ErrNotLeader, and ErrLeadershipLost when Lost is set.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (e.Lost && target == ErrLeadershipLost)
}
