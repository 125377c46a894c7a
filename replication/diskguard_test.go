package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fullDisk wraps a raft store and, while full is set, fails appends and
// stable-store writes with ENOSPC, as a full file system would.
type fullDisk struct {
	logStableStore
	full *atomic.Bool
}

func (f fullDisk) StoreLog(l *raft.Log) error { return f.StoreLogs([]*raft.Log{l}) }

func (f fullDisk) StoreLogs(logs []*raft.Log) error {
	if f.full.Load() {
		return fmt.Errorf("write raft.db: %w", syscall.ENOSPC)
	}
	return f.logStableStore.StoreLogs(logs)
}

func (f fullDisk) Set(k, v []byte) error {
	if f.full.Load() && string(k) == string(probeKey) {
		return fmt.Errorf("write raft.db: %w", syscall.ENOSPC)
	}
	return f.logStableStore.Set(k, v)
}

// TestDiskFullLeaderStepsDownAndDoesNotCampaign fills the disk of a group's
// leader: it steps down, another replica leads and commits, and the full
// replica never leads again, not even when the new leader dies and it is the
// replica with the longest log; once its disk has room it is healthy again.
func TestDiskFullLeaderStepsDownAndDoesNotCampaign(t *testing.T) {
	skipShort(t)
	const group = "disk.s0"
	full := map[string]*atomic.Bool{}
	var mu sync.Mutex
	becameLeader := map[string]int{}
	c := newCluster(t, 3, []string{group}, func(cfg *Config) {
		id := cfg.NodeID
		full[id] = new(atomic.Bool)
		cfg.DiskProbeInterval = 100 * time.Millisecond
		cfg.wrapStore = func(_ string, s logStableStore) logStableStore { return fullDisk{s, full[id]} }
		cfg.OnLeaderChange = func(_ string, leader bool) {
			if leader {
				mu.Lock()
				becameLeader[id]++
				mu.Unlock()
			}
		}
	})
	if _, ok := c.propose(group, []byte("before")); !ok {
		t.Fatal("first write not acknowledged")
	}
	victim := c.leader(group)
	vid := c.nodes[victim].cfg.NodeID
	vg := c.nodes[victim].h.Group(group)
	full[vid].Store(true)
	mu.Lock()
	clear(becameLeader)
	mu.Unlock()

	// The full leader fails the write and steps down.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, _, err := vg.Propose(ctx, []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("a write on a leader with a full disk was acknowledged")
	}
	if !errors.Is(vg.DiskErr(), syscall.ENOSPC) {
		t.Fatalf("DiskErr: got %v, want ENOSPC", vg.DiskErr())
	}
	// Writes go on through another leader.
	for i := range 20 {
		if _, ok := c.propose(group, fmt.Appendf(nil, "w%d", i)); !ok {
			t.Fatalf("write %d not acknowledged after the leader's disk filled", i)
		}
	}
	if l := c.leader(group); l == victim {
		t.Fatal("the full replica leads")
	}

	// Kill the new leader: of the two left, only the healthy one may win
	// (with the full one's vote). It cannot commit until the full replica
	// has room again: two of three replicas cannot store.
	second := c.leader(group)
	c.stop(second)
	third := c.leader(group)
	if third == victim {
		t.Fatal("the full replica won the election")
	}
	// It stays a follower for a while (several election timeouts).
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if vg.IsLeader() {
			t.Fatal("the full replica leads")
		}
	}
	mu.Lock()
	if n := becameLeader[vid]; n != 0 {
		t.Fatalf("the full replica became leader %d times", n)
	}
	mu.Unlock()

	// Room again: the probe (or the next append) clears it, and it catches up.
	full[vid].Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for vg.DiskErr() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy 10s after the disk had room: %v", vg.DiskErr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	idx2, ok := c.propose(group, []byte("healed"))
	if !ok {
		t.Fatal("write after healing not acknowledged")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := vg.WaitApplied(wctx, idx2); err != nil {
		t.Fatalf("the healed replica did not catch up: %v", err)
	}
}

func TestDiskGuardProbeHeals(t *testing.T) {
	var full atomic.Bool
	inner := &memStore{InmemStore: raft.NewInmemStore()}
	d := newDiskGuard(fullDisk{inner, &full}, "g", 10*time.Millisecond)
	defer d.close()
	full.Store(true)
	if err := d.StoreLogs([]*raft.Log{{Index: 1, Data: make([]byte, 100)}}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("StoreLogs: got %v, want ENOSPC", err)
	}
	if !errors.Is(d.err(), syscall.ENOSPC) {
		t.Fatalf("err: got %v", d.err())
	}
	tr := gatedTransport{guard: d}
	if err := tr.RequestPreVote("x", "y", &raft.RequestPreVoteRequest{}, &raft.RequestPreVoteResponse{}); !errors.Is(err, ErrNotCampaigning) {
		t.Fatalf("RequestPreVote while full: got %v", err)
	}
	if err := tr.RequestVote("x", "y", &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{}); !errors.Is(err, ErrNotCampaigning) {
		t.Fatalf("RequestVote while full: got %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if d.err() == nil {
		t.Fatal("healed while the disk is still full")
	}
	full.Store(false)
	for deadline := time.Now().Add(5 * time.Second); d.err() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not heal the guard")
		}
	}
	if v, _ := inner.Get(probeKey); len(v) != 0 {
		t.Fatalf("the probe left %d bytes behind", len(v))
	}
}

// memStore is raft's in-memory store as a logStableStore.
type memStore struct{ *raft.InmemStore }
