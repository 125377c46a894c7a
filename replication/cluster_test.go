package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test: skipped with -short")
	}
}

func TestClusterProposeApply(t *testing.T) {
	skipShort(t)
	groups := []string{"c.s0", "c.s1", "c.s2"}
	c := newCluster(t, 3, groups, nil)
	for _, g := range groups {
		var last uint64
		for i := range 20 {
			idx, ok := c.propose(g, fmt.Appendf(nil, "%s-%d", g, i))
			if !ok {
				t.Fatalf("%s: proposal %d never acknowledged", g, i)
			}
			last = idx
		}
		cmds := c.converge(g, last)
		if len(cmds) != 20 {
			t.Fatalf("%s: %d commands, want 20", g, len(cmds))
		}
	}
	// Every node serves all groups over its one listener.
	for _, nd := range c.nodes {
		if got := len(nd.h.Groups()); got != len(groups) {
			t.Fatalf("%s has %d groups, want %d", nd.cfg.NodeID, got, len(groups))
		}
	}
}

func TestFollowerCallsAndReadBarriers(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, []string{"g"}, nil)
	li := c.leader("g")
	leader := c.nodes[li].h.Group("g")
	follower := c.nodes[(li+1)%3].h.Group("g")
	ctx := context.Background()

	idx, _, err := leader.Propose(ctx, []byte("w1"))
	if err != nil {
		t.Fatal(err)
	}
	// Read-your-writes on a follower: wait for the proposer's index.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = follower.WaitApplied(wctx, idx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if cmds := c.nodes[(li+1)%3].sms["g"].snapshotCmds(); len(cmds) != 1 || string(cmds[0]) != "w1" {
		t.Fatalf("follower state after WaitApplied: %q", cmds)
	}
	// An index nobody wrote yet times out with the context's error.
	wctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	err = follower.WaitApplied(wctx, idx+1000)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied on a future index: got %v, want DeadlineExceeded", err)
	}
	// Leader-only calls on a follower name the leader.
	_, _, err = follower.Propose(ctx, []byte("x"))
	var nl *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nl) || nl.Leader.ID != c.nodes[li].cfg.NodeID || nl.Leader.Addr != c.nodes[li].addr {
		t.Fatalf("Propose on follower: got %v, want ErrNotLeader naming %s", err, c.nodes[li].cfg.NodeID)
	}
	if err := follower.Barrier(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Barrier on follower: got %v, want ErrNotLeader", err)
	}
	if err := follower.AddVoter(ctx, Peer{ID: "x", Addr: "127.0.0.1:1"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on follower: got %v", err)
	}
	// Barrier on the leader: afterwards its state has every acknowledged write.
	if err := leader.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := leader.AppliedIndex(); got < idx {
		t.Fatalf("applied %d after Barrier, want >= %d", got, idx)
	}
	st := follower.Status()
	if st.Role != "follower" || st.Leader.ID != c.nodes[li].cfg.NodeID || len(st.Peers) != 3 {
		t.Fatalf("follower status: %+v", st)
	}
	// An expired context fails fast.
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, _, err := leader.Propose(dctx, []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Propose with expired ctx: got %v", err)
	}
}

// TestLeaderFailover kills (closes) the host leading a group while every
// group takes writes, then checks that a new leader takes over, that no
// acknowledged command is lost, and that all replicas converge, including the
// killed one once it restarts from disk. It does so twice, for two groups.
func TestLeaderFailover(t *testing.T) {
	skipShort(t)
	groups := []string{"f.s0", "f.s1", "f.s2"}
	c := newCluster(t, 3, groups, func(cfg *Config) { cfg.SnapshotThreshold = 64; cfg.TrailingLogs = 32 })
	var mu sync.Mutex
	acked := map[string][][]byte{}
	lastIdx := map[string]uint64{}
	const perGroup = 90
	// Round r kills the leader of groups[r] mid-stream, checks the survivors,
	// then restarts it from disk and checks it caught up.
	for round := range 2 {
		victim := c.leader(groups[round])
		killAt := make(chan struct{})
		var killOnce sync.Once
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Go(func() {
				for i := range perGroup {
					cmd := fmt.Appendf(nil, "%s-r%d-%03d", g, round, i)
					idx, ok := c.proposeLive(g, cmd, &mu)
					mu.Lock()
					if ok {
						acked[g] = append(acked[g], cmd)
						lastIdx[g] = max(lastIdx[g], idx)
					}
					mu.Unlock()
					if g == groups[round] && i == perGroup/3 {
						killOnce.Do(func() { close(killAt) })
					}
				}
			})
		}
		<-killAt
		mu.Lock()
		h := c.nodes[victim].h
		c.nodes[victim].h = nil // proposers skip it from now on
		mu.Unlock()
		if err := h.Close(); err != nil {
			t.Errorf("round %d: close victim: %v", round, err)
		}
		wg.Wait()

		for _, g := range groups {
			if n := len(acked[g]); n < (round+1)*perGroup*9/10 {
				t.Errorf("round %d: %s: only %d of %d proposals acknowledged", round, g, n, (round+1)*perGroup)
			}
			if nl := c.leader(g); nl == victim {
				t.Fatalf("round %d: %s: closed node still leads", round, g)
			}
			cmds := c.converge(g, lastIdx[g])
			if err := containsInOrder(cmds, acked[g]); err != nil {
				t.Fatalf("round %d: %s on survivors: %v", round, g, err)
			}
		}

		// The victim restarts from its directory and catches up.
		c.restart(victim, groups)
		for _, g := range groups {
			// A write in the new term makes the restarted node learn the commit index.
			cmd := fmt.Appendf(nil, "%s-r%d-after", g, round)
			idx, ok := c.propose(g, cmd)
			if !ok {
				t.Fatalf("round %d: %s: write after restart not acknowledged", round, g)
			}
			acked[g] = append(acked[g], cmd)
			lastIdx[g] = idx
			cmds := c.converge(g, idx)
			if err := containsInOrder(cmds, acked[g]); err != nil {
				t.Fatalf("round %d: %s after restart: %v", round, g, err)
			}
		}
	}
}

// proposeLive is propose for concurrent use with a node being closed: it
// reads the node list under mu.
func (c *cluster) proposeLive(group string, cmd []byte, mu *sync.Mutex) (uint64, bool) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		var gs []*Group
		for _, nd := range c.nodes {
			if nd.h != nil {
				if g := nd.h.Group(group); g != nil {
					gs = append(gs, g)
				}
			}
		}
		mu.Unlock()
		for _, g := range gs {
			if !g.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			idx, _, err := g.Propose(ctx, cmd)
			cancel()
			if err == nil {
				return idx, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}

// TestRestartFromDisk closes every host and re-opens them on the same
// directories: state comes back from the snapshot plus the log.
func TestRestartFromDisk(t *testing.T) {
	skipShort(t)
	groups := []string{"r.s0", "r.s1"}
	c := newCluster(t, 3, groups, nil)
	want := map[string][][]byte{}
	last := map[string]uint64{}
	for _, g := range groups {
		for i := range 30 {
			cmd := fmt.Appendf(nil, "%s-a%d", g, i)
			idx, ok := c.propose(g, cmd)
			if !ok {
				t.Fatal("proposal not acknowledged")
			}
			want[g], last[g] = append(want[g], cmd), idx
		}
		c.converge(g, last[g])
		for _, nd := range c.nodes {
			if err := nd.h.Group(g).TakeSnapshot(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			cmd := fmt.Appendf(nil, "%s-b%d", g, i)
			idx, ok := c.propose(g, cmd)
			if !ok {
				t.Fatal("proposal not acknowledged")
			}
			want[g], last[g] = append(want[g], cmd), idx
		}
		c.converge(g, last[g])
	}
	c.closeAll()
	for i := range c.nodes {
		c.restart(i, groups)
	}
	for _, g := range groups {
		for _, nd := range c.nodes {
			if nd.sms[g].restoreCount() != 1 {
				t.Errorf("%s on %s: %d restores at open, want 1", g, nd.cfg.NodeID, nd.sms[g].restoreCount())
			}
		}
		cmds := c.converge(g, last[g])
		if err := containsInOrder(cmds, want[g]); err != nil || len(cmds) != len(want[g]) {
			t.Fatalf("%s after restart: %d commands (%v), want %d", g, len(cmds), err, len(want[g]))
		}
	}
}

// TestSnapshotInstall adds a fresh node to a group whose log was compacted:
// it must catch up by snapshot install, then by log.
func TestSnapshotInstall(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, []string{"g"}, func(cfg *Config) { cfg.TrailingLogs = 5 })
	var last uint64
	var want [][]byte
	for i := range 60 {
		cmd := fmt.Appendf(nil, "s%d", i)
		idx, ok := c.propose("g", cmd)
		if !ok {
			t.Fatal("proposal not acknowledged")
		}
		want, last = append(want, cmd), idx
	}
	li := c.leader("g")
	leader := c.nodes[li].h.Group("g")
	if err := leader.TakeSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A fourth node joins with no peers and waits to be added.
	cfg := testConfig(t, "n3", t.TempDir())
	c.nodes = append(c.nodes, &node{cfg: cfg})
	c.start(3)
	nd := c.nodes[3]
	nd.sms["g"] = &listSM{}
	if _, err := nd.h.Open("g", nd.sms["g"], nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := leader.AddVoter(ctx, Peer{ID: "n3", Addr: nd.addr}); err != nil {
		t.Fatal(err)
	}
	cmds := c.converge("g", last)
	if len(cmds) != len(want) {
		t.Fatalf("%d commands, want %d", len(cmds), len(want))
	}
	if nd.sms["g"].restoreCount() < 1 {
		t.Fatal("the new node caught up without a snapshot install")
	}
	// It then follows the log.
	idx, ok := c.propose("g", []byte("after"))
	if !ok {
		t.Fatal("proposal not acknowledged")
	}
	c.converge("g", idx)
	if st := c.nodes[3].h.Group("g").Status(); len(st.Peers) != 4 {
		t.Fatalf("peers after AddVoter: %+v", st.Peers)
	}

	// Leadership moves on request.
	old := c.leader("g")
	if err := c.nodes[old].h.Group("g").TransferLeadership(ctx); err != nil {
		t.Fatal(err)
	}
	if nl := c.leader("g"); nl == old {
		t.Fatalf("leadership stayed on %s", c.nodes[old].cfg.NodeID)
	}

	// RemoveServer takes it out again.
	li = c.leader("g")
	if err := c.nodes[li].h.Group("g").RemoveServer(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if st := c.nodes[li].h.Group("g").Status(); len(st.Peers) != 3 {
		t.Fatalf("peers after RemoveServer: %+v", st.Peers)
	}

	// A non-voter receives the log without counting for quorums.
	if err := c.nodes[li].h.Group("g").AddNonvoter(ctx, Peer{ID: "n3", Addr: nd.addr}); err != nil {
		t.Fatal(err)
	}
	st := c.nodes[li].h.Group("g").Status()
	if len(st.Peers) != 3 || len(st.Nonvoters) != 1 || st.Nonvoters[0].ID != "n3" {
		t.Fatalf("after AddNonvoter: peers %+v, nonvoters %+v", st.Peers, st.Nonvoters)
	}
	idx, ok = c.propose("g", []byte("to-nonvoter"))
	if !ok {
		t.Fatal("proposal not acknowledged")
	}
	c.converge("g", idx)
}

// TestAddressChange restarts a node on a new port: once the others learn the
// new address (SetPeerAddr), it rejoins and catches up.
func TestAddressChange(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, []string{"g"}, nil)
	idx, ok := c.propose("g", []byte("before"))
	if !ok {
		t.Fatal("proposal not acknowledged")
	}
	c.converge("g", idx)
	// Stop a follower and bring it back on a fresh port.
	victim := (c.leader("g") + 1) % 3
	c.stop(victim)
	c.nodes[victim].addr = ""
	c.restart(victim, []string{"g"})
	newAddr := c.nodes[victim].addr
	for i, nd := range c.nodes {
		if i != victim {
			nd.h.SetPeerAddr(c.nodes[victim].cfg.NodeID, newAddr)
		}
	}
	// The restarted node reaches the others at the addresses in its stored
	// configuration: they did not move.
	idx, ok = c.propose("g", []byte("after"))
	if !ok {
		t.Fatal("proposal not acknowledged")
	}
	cmds := c.converge("g", idx)
	if len(cmds) != 2 {
		t.Fatalf("%d commands, want 2", len(cmds))
	}
}

// TestLargeSnapshotInstall streams a multi-megabyte snapshot through the mux
// to a new voter.
func TestLargeSnapshotInstall(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, []string{"g"}, func(cfg *Config) { cfg.TrailingLogs = 2 })
	var last uint64
	for i := range 64 {
		cmd := bytes.Repeat([]byte{byte(i)}, 64<<10)
		idx, ok := c.propose("g", cmd)
		if !ok {
			t.Fatal("proposal not acknowledged")
		}
		last = idx
	}
	leader := c.nodes[c.leader("g")].h.Group("g")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := leader.TakeSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "n3", t.TempDir())
	c.nodes = append(c.nodes, &node{cfg: cfg})
	c.start(3)
	nd := c.nodes[3]
	nd.sms["g"] = &listSM{}
	if _, err := nd.h.Open("g", nd.sms["g"], nil); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddVoter(ctx, Peer{ID: "n3", Addr: nd.addr}); err != nil {
		t.Fatal(err)
	}
	cmds := c.converge("g", last)
	if len(cmds) != 64 || nd.sms["g"].restoreCount() != 1 {
		t.Fatalf("got %d commands and %d restores, want 64 and 1", len(cmds), nd.sms["g"].restoreCount())
	}
}

// TestAppliedIndexCoversNoops checks that AppliedIndex and WaitApplied reach
// an index held by entries the StateMachine never sees (the leader's no-op, a
// barrier) on every replica.
func TestAppliedIndexCoversNoops(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, []string{"g"}, nil)
	leader := c.nodes[c.leader("g")].h.Group("g")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := leader.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := leader.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	last := leader.Status().LastIndex // the barrier entry
	for _, nd := range c.nodes {
		g := nd.h.Group("g")
		if err := g.WaitApplied(ctx, last); err != nil {
			t.Fatalf("%s: WaitApplied(%d): %v (applied %d)", nd.cfg.NodeID, last, err, g.AppliedIndex())
		}
		if got := g.AppliedIndex(); got < last {
			t.Fatalf("%s: applied %d, want >= %d", nd.cfg.NodeID, got, last)
		}
	}
}
