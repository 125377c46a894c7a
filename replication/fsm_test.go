package replication

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures")

// TestSnapshotFixtureV1 checks that a version-1 snapshot stream (header plus
// the listSM payload) still restores.
func TestSnapshotFixtureV1(t *testing.T) {
	path := filepath.Join("testdata", "snapshot_v1.bin")
	var want bytes.Buffer
	want.Write(AppendSnapshotHeader(nil, 42))
	if _, err := (listSnap{cmds: [][]byte{[]byte("alpha"), []byte("beta")}, last: 42}).WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", want.Bytes(), b)
	}
	sm := &listSM{}
	g := &Group{}
	f := &fsm{sm: sm, g: g}
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if got := g.AppliedIndex(); got != 42 {
		t.Fatalf("applied index: got %d, want 42", got)
	}
	if cmds := sm.snapshotCmds(); len(cmds) != 2 || string(cmds[1]) != "beta" {
		t.Fatalf("restored %q", cmds)
	}
}

func TestSnapshotHeaderRejects(t *testing.T) {
	good := AppendSnapshotHeader(nil, 7)
	for name, b := range map[string][]byte{
		"short":    good[:10],
		"magic":    append([]byte("XXXX"), good[4:]...),
		"version":  append(append([]byte(SnapshotMagic), 2), good[5:]...),
		"reserved": append(append([]byte(SnapshotMagic), SnapshotVersion, 1), good[6:]...),
	} {
		if _, err := ReadSnapshotHeader(bytes.NewReader(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: got %v, want ErrBadSnapshot", name, err)
		}
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	canceled, closed bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

type failSnap struct{}

func (failSnap) WriteTo(io.Writer) (int64, error) { return 0, errors.New("disk full") }
func (failSnap) Release()                         {}

func TestPersistCancelsOnError(t *testing.T) {
	s := &memSink{}
	if err := (&fsmSnapshot{s: failSnap{}, index: 3}).Persist(s); err == nil || !s.canceled || s.closed {
		t.Fatalf("got err=%v canceled=%v closed=%v, want an error and a canceled sink", err, s.canceled, s.closed)
	}
	s = &memSink{}
	if err := (&fsmSnapshot{s: listSnap{last: 3}, index: 3}).Persist(s); err != nil || !s.closed {
		t.Fatalf("got err=%v closed=%v", err, s.closed)
	}
	if idx, err := ReadSnapshotHeader(&s.Buffer); err != nil || idx != 3 {
		t.Fatalf("header: %d %v", idx, err)
	}
}

func FuzzSnapshotHeader(f *testing.F) {
	f.Add(AppendSnapshotHeader(nil, 0))
	f.Add(AppendSnapshotHeader(nil, 1<<63))
	f.Add([]byte("SHSN\x01\x00\x00"))
	f.Add([]byte("SHSN\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ReadSnapshotHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		if enc := AppendSnapshotHeader(nil, idx); !bytes.Equal(enc, b[:snapshotHeaderLen]) {
			t.Fatalf("round trip: got %x, want %x", enc, b[:snapshotHeaderLen])
		}
	})
}
