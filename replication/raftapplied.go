package replication

// RaftAppliedIndex returns the last log index whose effects the StateMachine
// holds, counting entries that never reach it (the no-op written at each
// election, barriers). It equals AppliedIndex, which covers those entries; it
// does not return raft's own applied index, because raft counts an entry as
// applied once it is queued for the StateMachine, which during a replay can be
// thousands of entries before the StateMachine has applied it.
func (g *Group) RaftAppliedIndex() uint64 { return g.AppliedIndex() }
