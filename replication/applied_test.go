package replication

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWaitAppliedIsSignalled checks that WaitApplied is woken by the fsm's
// progress, without a raft group and so without anything to poll.
func TestWaitAppliedIsSignalled(t *testing.T) {
	g := &Group{caughtUp: make(chan struct{})}
	g.openIndex = 7
	done := make(chan error, 1)
	go func() { done <- g.WaitApplied(context.Background(), 7) }()
	ch := g.Applied(5)
	g.setApplied(5)
	<-ch
	select {
	case err := <-done:
		t.Fatalf("WaitApplied(7) returned %v at applied 5", err)
	case <-time.After(20 * time.Millisecond):
	}
	if g.IsCaughtUp() {
		t.Fatal("caught up at 5, open index 7")
	}
	g.setApplied(7)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-g.CaughtUp()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.WaitApplied(ctx, 8); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied(8): got %v, want DeadlineExceeded", err)
	}
}

// TestTruncationLowersOpenIndex checks that a replica whose uncommitted tail
// is replaced does not wait for an index it will never apply.
func TestTruncationLowersOpenIndex(t *testing.T) {
	g := &Group{caughtUp: make(chan struct{})}
	g.openIndex = 20
	g.setApplied(15)
	g.truncated(1, 10) // a compaction below: no change
	if g.OpenIndex() != 20 || g.IsCaughtUp() {
		t.Fatalf("open index %d after compaction, want 20", g.OpenIndex())
	}
	g.truncated(16, 20)
	if g.OpenIndex() != 15 || !g.IsCaughtUp() {
		t.Fatalf("open index %d caught %v after truncation, want 15 and caught up", g.OpenIndex(), g.IsCaughtUp())
	}
}

// TestRestartAfterManyBarriers writes one command and then more than a
// hundred barriers of both kinds (raft's own, which the fsm never sees, and
// this package's markers), stops every replica and starts them again: each
// must reach the last index it held, with no new command, and WaitApplied
// and CaughtUp must be signalled.
func TestRestartAfterManyBarriers(t *testing.T) {
	skipShort(t)
	groups := []string{"g"}
	c := newCluster(t, 3, groups, nil)
	li := c.leader("g")
	leader := c.nodes[li].h.Group("g")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, _, err := leader.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		var err error
		if i%2 == 0 {
			err = leader.r.Barrier(5 * time.Second).Error() // never reaches the fsm
		} else {
			err = leader.Barrier(ctx)
		}
		if err != nil {
			t.Fatalf("barrier %d: %v", i, err)
		}
	}
	for i := range 100 { // in a row: the scan has no bound
		if err := leader.r.Barrier(5 * time.Second).Error(); err != nil {
			t.Fatalf("raft barrier %d: %v", i, err)
		}
	}
	last := leader.Status().LastIndex
	if got := leader.AppliedIndex(); got != last {
		t.Fatalf("leader applied %d, want the last index %d (a raft barrier)", got, last)
	}
	// Followers learn of raft's barrier with no fsm call to wake them; a
	// marker after it does.
	if err := leader.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	last = leader.Status().LastIndex
	c.converge("g", last)
	c.closeAll()
	for i := range c.nodes {
		c.restart(i, groups)
	}
	for _, nd := range c.nodes {
		g := nd.h.Group("g")
		if g.OpenIndex() < last {
			t.Fatalf("%s: open index %d, want >= %d", nd.cfg.NodeID, g.OpenIndex(), last)
		}
		select {
		case <-g.CaughtUp():
		case <-ctx.Done():
			t.Fatalf("%s: not caught up to %d (applied %d)", nd.cfg.NodeID, g.OpenIndex(), g.AppliedIndex())
		}
		if err := g.WaitApplied(ctx, last); err != nil {
			t.Fatal(err)
		}
		if got := len(nd.sms["g"].snapshotCmds()); got != 1 {
			t.Fatalf("%s: %d commands after restart, want 1", nd.cfg.NodeID, got)
		}
	}
	// The leader's marker is the last entry; every replica applies it.
	li = c.leader("g")
	end := c.nodes[li].h.Group("g").Status().LastIndex
	for _, nd := range c.nodes {
		g := nd.h.Group("g")
		if err := g.WaitApplied(ctx, end); err != nil {
			t.Fatalf("%s: %v", nd.cfg.NodeID, err)
		}
		if got := g.AppliedIndex(); got < end {
			t.Fatalf("%s: applied %d, want the last index %d", nd.cfg.NodeID, got, end)
		}
	}
}

// TestFollowerRestartAfterBarriers restarts one follower, the leader staying
// in place, after the log ends in barriers: it catches up with no write.
func TestFollowerRestartAfterBarriers(t *testing.T) {
	skipShort(t)
	groups := []string{"g"}
	c := newCluster(t, 3, groups, nil)
	li := c.leader("g")
	leader := c.nodes[li].h.Group("g")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, _, err := leader.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 110 {
		if err := leader.Barrier(ctx); err != nil {
			t.Fatalf("barrier %d: %v", i, err)
		}
	}
	last := leader.Status().LastIndex
	fi := (li + 1) % 3
	c.converge("g", last)
	c.stop(fi)
	c.restart(fi, groups)
	g := c.nodes[fi].h.Group("g")
	select {
	case <-g.CaughtUp():
	case <-ctx.Done():
		t.Fatalf("follower not caught up to %d (applied %d)", g.OpenIndex(), g.AppliedIndex())
	}
	if got := g.AppliedIndex(); got < last {
		t.Fatalf("follower applied %d, want %d", got, last)
	}
}

// TestOpenWithUnknownPeers checks that a replica with raft state on disk
// opens at once although a peer has no known address, and that a fresh one,
// which must bootstrap, refuses.
func TestOpenWithUnknownPeers(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	h, g := openSingle(t, cfg, "g", &listSM{})
	idx, _, err := g.Propose(context.Background(), []byte("a"))
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	if _, err := h.Open("fresh", &listSM{}, []Peer{{ID: "n0", Addr: h.Addr()}, {ID: "n9"}}); !errors.Is(err, ErrPeerUnknown) {
		h.Close()
		t.Fatalf("fresh open with an unknown peer: got %v, want ErrPeerUnknown", err)
	}
	if h.HasState("fresh") || !h.HasState("g") {
		h.Close()
		t.Fatalf("HasState: fresh %v, g %v; want false, true", h.HasState("fresh"), h.HasState("g"))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.BindAddr = h.Addr()
	h2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	start := time.Now()
	g2, err := h2.Open("g", &listSM{}, []Peer{{ID: "n0", Addr: h2.Addr()}, {ID: "n9"}})
	if err != nil {
		t.Fatalf("re-open with an unknown peer: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("re-open took %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g2.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
}
