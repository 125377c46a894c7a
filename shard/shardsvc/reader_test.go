package shardsvc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memReplica is an in-memory Replica: an applied index that tests move, with
// the same signalling contract as replication.Group.
type memReplica struct {
	mu       sync.Mutex
	applied  uint64
	floor    uint64
	leader   bool
	changed  chan struct{}
	barriers int
	proposed [][]byte
}

func newMemReplica() *memReplica { return &memReplica{changed: make(chan struct{})} }

func (r *memReplica) apply(index uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = max(r.applied, index)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *memReplica) Propose(ctx context.Context, cmd []byte) (uint64, []byte, error) {
	r.mu.Lock()
	r.proposed = append(r.proposed, cmd)
	idx := r.applied + 1
	r.mu.Unlock()
	r.apply(idx)
	return idx, []byte("ok"), ctx.Err()
}

func (r *memReplica) IsLeader() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.leader }

func (r *memReplica) AppliedIndex() uint64 { r.mu.Lock(); defer r.mu.Unlock(); return r.applied }

func (r *memReplica) WaitApplied(ctx context.Context, index uint64) error {
	for {
		r.mu.Lock()
		if r.applied >= index {
			r.mu.Unlock()
			return nil
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *memReplica) Barrier(ctx context.Context) error {
	r.mu.Lock()
	r.barriers++
	r.mu.Unlock()
	return ctx.Err()
}

func (r *memReplica) Status() RaftStatus { return RaftStatus{AppliedIndex: r.AppliedIndex()} }

func (r *memReplica) ReadFloor() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied >= r.floor {
		return 0
	}
	return r.floor
}

func TestReaderLevels(t *testing.T) {
	rep := newMemReplica()
	rep.applied = 10
	rd := Reader{Rep: rep, Wait: 50 * time.Millisecond}
	ctx := context.Background()
	for _, tc := range []struct {
		c      Consistency
		behind bool
		err    error
	}{
		{Consistency{Level: Eventual}, false, nil},
		{Consistency{Level: Session, MinIndex: 10}, false, nil},
		{Consistency{Level: Session, MinIndex: 11}, true, context.DeadlineExceeded},
		{Consistency{Level: Eventual, MinIndex: 11}, false, nil}, // MinIndex is only for sessions
		{Consistency{Level: Strong}, false, ErrNotLeader},
	} {
		if got := rd.Behind(tc.c); got != tc.behind {
			t.Errorf("%v/%d: Behind %v, want %v", tc.c.Level, tc.c.MinIndex, got, tc.behind)
		}
		if err := rd.Ready(ctx, tc.c); !errors.Is(err, tc.err) && (err != nil || tc.err != nil) {
			t.Errorf("%v/%d: Ready: got %v, want %v", tc.c.Level, tc.c.MinIndex, err, tc.err)
		}
	}
	rep.leader = true
	if err := rd.Ready(ctx, Consistency{Level: Strong}); err != nil || rep.barriers != 1 {
		t.Fatalf("strong read on the leader: %v, %d barriers; want nil, 1", err, rep.barriers)
	}
}

// TestReaderWaitsForFloor checks that a restarted replica holds every read
// until it reaches the index it held before, and that the replica's signal,
// not a poll, releases them.
func TestReaderWaitsForFloor(t *testing.T) {
	rep := newMemReplica()
	rep.applied, rep.floor = 3, 63
	rd := Reader{Rep: rep, Wait: 5 * time.Second}
	if !rd.Behind(Consistency{Level: Eventual}) {
		t.Fatal("a replica below its floor is not behind")
	}
	done := make(chan error, 2)
	go func() { done <- rd.Ready(context.Background(), Consistency{Level: Eventual}) }()
	go func() { done <- rd.Ready(context.Background(), Consistency{Level: Session, MinIndex: 70}) }()
	time.Sleep(10 * time.Millisecond)
	rep.apply(63)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("eventual read not released at the floor")
	}
	select {
	case err := <-done:
		t.Fatalf("session read for 70 released at 63: %v", err)
	case <-time.After(10 * time.Millisecond):
	}
	rep.apply(70)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rd.Behind(Consistency{Level: Eventual}) {
		t.Fatal("behind after catching up")
	}
}

// TestReaderDeadline checks that a read stops waiting at its own deadline,
// which the transport takes from the wire, before the Reader's default.
func TestReaderDeadline(t *testing.T) {
	rep := newMemReplica()
	rd := Reader{Rep: rep, Wait: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := rd.Ready(ctx, Consistency{Level: Session, MinIndex: 5})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %v past a 30ms deadline", d)
	}
}

func TestWriter(t *testing.T) {
	rep := newMemReplica()
	w := Writer{Rep: rep}
	if _, _, err := w.Write(context.Background(), []byte("a")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write on a follower: got %v, want ErrNotLeader", err)
	}
	rep.leader = true
	idx, resp, err := w.Write(context.Background(), []byte("a"))
	if err != nil || idx != 1 || string(resp) != "ok" {
		t.Fatalf("got %d %q %v, want 1 ok nil", idx, resp, err)
	}
}
