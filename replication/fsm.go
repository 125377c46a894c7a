package replication

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// SnapshotMagic opens every snapshot this package writes.
const SnapshotMagic = "SHSN"

// SnapshotVersion is the snapshot header version written by this package.
const SnapshotVersion = 1

// snapshotHeaderLen is magic(4) + version(1) + reserved(3) + lastIndex(8).
const snapshotHeaderLen = 16

// AppendSnapshotHeader appends the header that precedes a StateMachine's
// snapshot bytes: magic, version, three zero bytes, and the big-endian log
// index the snapshot covers.
func AppendSnapshotHeader(dst []byte, lastIndex uint64) []byte {
	dst = append(dst, SnapshotMagic...)
	dst = append(dst, SnapshotVersion, 0, 0, 0)
	return binary.BigEndian.AppendUint64(dst, lastIndex)
}

// ReadSnapshotHeader reads the header written by AppendSnapshotHeader and
// returns the log index it records.
func ReadSnapshotHeader(r io.Reader) (uint64, error) {
	var h [snapshotHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("%w: read header: %w", ErrBadSnapshot, err)
	}
	if string(h[:4]) != SnapshotMagic {
		return 0, fmt.Errorf("%w: magic %q", ErrBadSnapshot, h[:4])
	}
	if h[4] != SnapshotVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, h[4], SnapshotVersion)
	}
	if h[5] != 0 || h[6] != 0 || h[7] != 0 {
		return 0, fmt.Errorf("%w: reserved bytes are not zero", ErrBadSnapshot)
	}
	return binary.BigEndian.Uint64(h[8:]), nil
}

// applyResult is what fsm.Apply hands back to the proposer's future.
type applyResult struct {
	resp []byte
	err  error
}

// fsm adapts a StateMachine to raft.FSM. raft calls it from one goroutine.
type fsm struct {
	sm StateMachine
	g  *Group
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
	_ raft.FSMSnapshot        = (*fsmSnapshot)(nil)
)

// Apply applies a committed command.
func (f *fsm) Apply(l *raft.Log) any {
	if isMarker(l) {
		f.g.setApplied(l.Index)
		return applyResult{}
	}
	resp, err := f.sm.Apply(l.Index, l.Data)
	f.g.setApplied(l.Index)
	return applyResult{resp: resp, err: err}
}

// StoreConfiguration is called for committed membership changes; it learns
// the members' addresses and advances the applied index so that AppliedIndex
// follows raft's.
func (f *fsm) StoreConfiguration(index uint64, c raft.Configuration) {
	for _, srv := range c.Servers {
		f.g.h.learnAddr(string(srv.ID), string(srv.Address))
	}
	f.g.setMembers(c)
	f.g.setApplied(index)
}

// Snapshot captures the state machine as of the last applied entry.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.sm.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{s: s, index: f.g.fsmApplied()}, nil
}

// Restore replaces the state machine's state with a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	br := bufio.NewReaderSize(rc, 64<<10)
	idx, err := ReadSnapshotHeader(br)
	if err != nil {
		return err
	}
	if err := f.sm.Restore(br, idx); err != nil {
		return fmt.Errorf("replication: restore at index %d: %w", idx, err)
	}
	f.g.resetApplied(idx)
	f.g.restores.Add(1)
	return nil
}

// fsmSnapshot writes a Snapshot behind its header.
type fsmSnapshot struct {
	s     Snapshot
	index uint64
}

// Persist writes the snapshot to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	bw := bufio.NewWriterSize(sink, 64<<10)
	_, err := bw.Write(AppendSnapshotHeader(nil, s.index))
	if err == nil {
		_, err = s.s.WriteTo(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("replication: persist snapshot at index %d: %w", s.index, err)
	}
	return sink.Close()
}

// Release releases the StateMachine's snapshot.
func (s *fsmSnapshot) Release() { s.s.Release() }
