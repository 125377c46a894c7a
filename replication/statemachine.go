package replication

import "io"

// StateMachine receives committed commands. Apply, Snapshot and Restore are
// never called concurrently with each other; Apply is called in log order.
// Apply must be deterministic: every replica applies the same commands in the
// same order and must reach the same state.
type StateMachine interface {
	// Apply applies the command committed at index; the returned bytes (or
	// error) reach the proposer. An error does not stop replication: it is the
	// command's result, and every replica must return the same one.
	Apply(index uint64, cmd []byte) ([]byte, error)
	// Snapshot captures the state as of the last applied command. It must be
	// quick; the returned Snapshot is written out concurrently with later
	// Apply calls.
	Snapshot() (Snapshot, error)
	// Restore replaces the whole state with one written by Snapshot.WriteTo;
	// lastIndex is the log index it covers.
	Restore(r io.Reader, lastIndex uint64) error
}

// Snapshot is a point-in-time copy of a StateMachine's state.
type Snapshot interface {
	// WriteTo writes the state to w and returns the bytes written. It runs
	// concurrently with Apply. (The signature is io.WriterTo's, which go vet
	// requires of any method named WriteTo.)
	WriteTo(w io.Writer) (int64, error)
	// Release is called once the snapshot has been written or abandoned.
	Release()
}
