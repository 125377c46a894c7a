package replication

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func openSingle(t *testing.T, cfg Config, group string, sm StateMachine) (*Host, *Group) {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := h.Open(group, sm, []Peer{{ID: cfg.NodeID, Addr: h.Addr()}})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	waitLeader(t, g)
	return h, g
}

func waitLeader(t *testing.T, g *Group) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if g.IsLeader() {
			return
		}
	}
	t.Fatalf("%s: no leadership within 20s", g.ID())
}

func TestSingleNodeProposeApply(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	sm := &listSM{}
	h, g := openSingle(t, cfg, "g", sm)
	defer h.Close()

	ctx := context.Background()
	var last uint64
	for i := range 20 {
		idx, resp, err := g.Propose(ctx, fmt.Appendf(nil, "c%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if idx <= last {
			t.Fatalf("index %d after %d", idx, last)
		}
		last = idx
		if want := fmt.Sprintf("ok %d", i+1); string(resp) != want {
			t.Fatalf("resp: got %q, want %q", resp, want)
		}
	}
	if got := g.AppliedIndex(); got < last {
		t.Fatalf("applied %d < proposed %d", got, last)
	}
	// An Apply error reaches the proposer with its index.
	idx, _, err := g.Propose(ctx, []byte("fail"))
	if err == nil || !strings.Contains(err.Error(), "refused") || idx <= last {
		t.Fatalf("got idx=%d err=%v, want the state machine's error after index %d", idx, err, last)
	}
	if err := g.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	st := g.Status()
	if st.Role != "leader" || st.Leader.ID != "n0" || len(st.Peers) != 1 || st.AppliedIndex < idx || st.CommitIndex < idx || st.Term == 0 {
		t.Fatalf("status: %+v", st)
	}
	if got := h.Groups(); len(got) != 1 || got[0] != "g" {
		t.Fatalf("groups: %v", got)
	}
}

func TestCloseReopenSameProcess(t *testing.T) {
	before := goleak.IgnoreCurrent()
	dir := t.TempDir()
	cfg := singleConfig(t, "n0", dir)
	sm := &listSM{}
	h, g := openSingle(t, cfg, "g", sm)
	ctx := context.Background()
	for i := range 10 {
		if _, _, err := g.Propose(ctx, fmt.Appendf(nil, "a%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.TakeSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := g.Propose(ctx, fmt.Appendf(nil, "b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	applied := g.AppliedIndex()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Propose(ctx, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after close: got %v, want ErrClosed", err)
	}
	if err := g.WaitApplied(ctx, applied+100); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitApplied after close: got %v, want ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	goleak.VerifyNone(t, before) // every goroutine of the Host is gone

	// Re-open on the same Dir and address: the bolt lock is free, state returns
	// from the snapshot plus the log.
	for round := range 2 {
		cfg.BindAddr = h.Addr()
		sm2 := &listSM{}
		h2, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := h2.Open("g", sm2, nil)
		if err != nil {
			h2.Close()
			t.Fatal(err)
		}
		if sm2.restoreCount() != 1 {
			t.Errorf("round %d: restores %d, want 1", round, sm2.restoreCount())
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = g2.WaitApplied(wctx, applied)
		cancel()
		if err != nil {
			h2.Close()
			t.Fatal(err)
		}
		if got := len(sm2.snapshotCmds()); got != 15 {
			t.Errorf("round %d: %d commands after reopen, want 15", round, got)
		}
		if err := h2.Close(); err != nil {
			t.Fatal(err)
		}
		goleak.VerifyNone(t, before)
		h = h2
	}
}

func TestCloseGroupReopen(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	h, g := openSingle(t, cfg, "g", &listSM{})
	defer h.Close()
	if _, _, err := g.Propose(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := h.CloseGroup("g", false); err != nil {
		t.Fatal(err)
	}
	if h.Group("g") != nil {
		t.Fatal("group still listed after CloseGroup")
	}
	if err := h.CloseGroup("g", false); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("got %v, want ErrUnknownGroup", err)
	}
	sm := &listSM{}
	g2, err := h.Open("g", sm, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, g2)
	if err := g2.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(sm.snapshotCmds()); got != 1 {
		t.Fatalf("%d commands after reopen, want 1", got)
	}
	if _, err := h.Open("g", sm, nil); !errors.Is(err, ErrGroupOpen) {
		t.Fatalf("second Open: got %v, want ErrGroupOpen", err)
	}
	// removeData deletes the directory: a later Open starts empty.
	if err := h.CloseGroup("g", true); err != nil {
		t.Fatal(err)
	}
	sm3 := &listSM{}
	g3, err := h.Open("g", sm3, []Peer{{ID: "n0", Addr: h.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, g3)
	if err := g3.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(sm3.snapshotCmds()); got != 0 {
		t.Fatalf("%d commands after removeData, want 0", got)
	}
}

func TestOpenRejects(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "a b", ".hidden", strings.Repeat("x", 256)} {
		if _, err := h.Open(bad, &listSM{}, nil); !errors.Is(err, ErrBadGroup) {
			t.Errorf("group %q: got %v, want ErrBadGroup", bad, err)
		}
	}
	if _, err := h.Open("g", &listSM{}, []Peer{{ID: "other", Addr: "127.0.0.1:1"}}); err == nil {
		t.Error("peers without this node accepted")
	}
	if _, err := h.Open("g", nil, nil); err == nil {
		t.Error("nil StateMachine accepted")
	}
	h.Close()
	if _, err := h.Open("g", &listSM{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: got %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.NodeID, ok.Dir = "n", "/tmp/x"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{NodeID: "n", Dir: "d"}).Validate(); err != nil {
		t.Fatalf("zero values must mean defaults: %v", err)
	}
	for name, c := range map[string]Config{
		"no node id":      {Dir: "d"},
		"no dir":          {NodeID: "n"},
		"negative":        {NodeID: "n", Dir: "d", HeartbeatTimeout: -1},
		"lease too long":  {NodeID: "n", Dir: "d", HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: time.Second},
		"negative counts": {NodeID: "n", Dir: "d", MaxPool: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOnLeaderChangeAndMetrics(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	var mu sync.Mutex
	var events []string
	cfg.OnLeaderChange = func(group string, isLeader bool) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%s=%v", group, isLeader))
		mu.Unlock()
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	h, g := openSingle(t, cfg, "g", &listSM{})
	if _, _, err := g.Propose(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			found[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	if found["shoal_replication_is_leader"] != 1 || found["shoal_replication_applied_index"] < 2 || found["shoal_replication_proposals_total"] != 1 {
		t.Errorf("metrics: %v", found)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "g=true,g=false" {
		t.Fatalf("events: %v, want g=true then g=false", events)
	}
	// The collector was unregistered: a new Host registers again.
	h2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h2.Close()
}

func TestConcurrentProposeWait(t *testing.T) {
	cfg := singleConfig(t, "n0", filepath.Join(t.TempDir(), "n0"))
	sm := &listSM{}
	h, g := openSingle(t, cfg, "g", sm)
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				idx, _, err := g.Propose(ctx, fmt.Appendf(nil, "w%d-%d", w, i))
				if err != nil {
					errc <- err
					return
				}
				if err := g.WaitApplied(ctx, idx); err != nil {
					errc <- err
					return
				}
				_ = g.Status()
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := g.TakeSnapshot(ctx); err != nil {
				errc <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if got := len(sm.snapshotCmds()); got != 100 {
		t.Fatalf("%d commands, want 100", got)
	}
}

// TestCloseGroupUnderCallbackLock checks that CloseGroup does not wait for
// OnLeaderChange, so a caller may hold the lock its callback takes.
func TestCloseGroupUnderCallbackLock(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	var mu sync.Mutex
	var events []string
	cfg.OnLeaderChange = func(group string, isLeader bool) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%s=%v", group, isLeader))
		mu.Unlock()
	}
	h, _ := openSingle(t, cfg, "g", &listSM{})
	defer h.Close()
	done := make(chan error, 1)
	mu.Lock()
	go func() { done <- h.CloseGroup("g", false) }()
	select {
	case err := <-done:
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		mu.Unlock()
		t.Fatal("CloseGroup blocked on the OnLeaderChange callback")
	}
	// Re-open: its events come after the old instance's final loss.
	g, err := h.Open("g", &listSM{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, g)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(events, ","); got != "g=true,g=false,g=true,g=false" {
		t.Fatalf("events: %s", got)
	}
}

// TestConcurrentHostOps opens, uses and closes groups from several goroutines
// while Status, Groups and metrics are read, then closes the Host under them.
func TestConcurrentHostOps(t *testing.T) {
	cfg := singleConfig(t, "n0", t.TempDir())
	cfg.Registerer = prometheus.NewRegistry()
	cfg.OnLeaderChange = func(string, bool) {}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			id := fmt.Sprintf("g%d", w)
			for round := range 2 {
				g, err := h.Open(id, &listSM{}, []Peer{{ID: "n0", Addr: h.Addr()}})
				if err != nil {
					t.Errorf("open %s round %d: %v", id, round, err)
					return
				}
				for !g.IsLeader() && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				if _, _, err := g.Propose(ctx, []byte("x")); err != nil {
					t.Errorf("propose %s: %v", id, err)
				}
				if err := h.CloseGroup(id, round == 1); err != nil {
					t.Errorf("close %s: %v", id, err)
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, id := range h.Groups() {
				if g := h.Group(id); g != nil {
					_ = g.Status()
					_ = g.AppliedIndex()
				}
			}
			if _, err := cfg.Registerer.(*prometheus.Registry).Gather(); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	// Close races with a last Open.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if g, err := h.Open("late", &listSM{}, []Peer{{ID: "n0", Addr: h.Addr()}}); err == nil {
			_ = g.Status()
		} else if !errors.Is(err, ErrClosed) {
			t.Errorf("late open: %v", err)
		}
	}()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := h.Groups(); len(got) != 0 {
		t.Fatalf("groups after Close: %v", got)
	}
}

func TestWaitAppliedFastPathAllocs(t *testing.T) {
	g := &Group{}
	g.setApplied(10)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if err := g.WaitApplied(ctx, 10); err != nil {
			t.Fatal(err)
		}
		_ = g.AppliedIndex()
	})
	if allocs != 0 {
		t.Fatalf("got %v allocs per WaitApplied on an applied index, want 0", allocs)
	}
}

// TestMetricsTwoHostsOneRegistry checks that the nodes of one process (shoal
// dev) can share a registry: the node label keeps their series apart.
func TestMetricsTwoHostsOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, id := range []string{"n0", "n1"} {
		cfg := singleConfig(t, id, t.TempDir())
		cfg.Registerer = reg
		h, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if _, err := h.Open("g", &listSM{}, []Peer{{ID: id, Addr: h.Addr()}}); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "shoal_replication_applied_index" && len(mf.GetMetric()) != 2 {
			t.Fatalf("got %d applied_index series, want 2", len(mf.GetMetric()))
		}
	}
}
