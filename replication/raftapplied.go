package replication

// RaftAppliedIndex returns the last log index raft has applied, counting
// entries that never reach the StateMachine (no-ops written at each election).
// Unlike AppliedIndex it reaches the last committed index even when that
// entry is a no-op.
func (g *Group) RaftAppliedIndex() uint64 { return g.r.AppliedIndex() }
