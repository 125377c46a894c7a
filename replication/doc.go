// Package replication runs raft groups (hashicorp/raft) that replicate opaque
// commands into a StateMachine. It knows nothing of shards: a caller wraps its
// engine in a StateMachine and opens one Group per replicated unit.
//
// A Host is one node: one TCP listener (package raftmux) shared by all of the
// node's groups, and a directory Config.Dir holding, per group g, Dir/<g>/
// with raft.db (raft-boltdb log and stable store) and snapshots/ (file
// snapshots, Config.SnapshotRetain kept).
//
// Every replica opens a group with the same peers; a fresh replica bootstraps
// from them, a replica with state on disk re-opens it (the snapshot is
// restored into the StateMachine, then the log replays from the leader's
// commit index). A replica opened with no peers waits to be added with
// AddVoter and catches up by snapshot install and log.
//
// Writes go through Group.Propose on the leader, which returns once the
// command is committed and applied there. Followers answer read-your-writes
// reads after Group.WaitApplied(index); strong reads run on the leader after
// Group.Barrier. Group.AppliedIndex counts every log entry (commands, markers,
// configuration changes, raft's no-ops and barriers), WaitApplied and Applied
// are woken by the replica's progress rather than polling, and a re-opened
// replica closes Group.CaughtUp once it has applied what it held before
// (Group.OpenIndex).
//
//	h, err := replication.New(replication.Config{NodeID: "n1", Dir: dir})
//	if err != nil { ... }
//	defer h.Close()
//	g, err := h.Open("coll.shard-0", sm, []replication.Peer{{ID: "n1", Addr: h.Addr()}})
//	if err != nil { ... }
//	index, resp, err := g.Propose(ctx, cmd)
//	if errors.Is(err, replication.ErrNotLeader) {
//		var nl *replication.NotLeaderError
//		errors.As(err, &nl) // nl.Leader is the leader hint
//	}
//
// Snapshots written by this package start with a 16-byte header (magic
// "SHSN", version 1, three zero bytes, big-endian last index) followed by the
// bytes of Snapshot.WriteTo. See docs/replication.md.
package replication
