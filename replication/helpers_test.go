package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logWriter sends log lines to t.Log until the test ends.
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &logWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	level := slog.LevelWarn
	if os.Getenv("REPLICATION_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// listSM is a StateMachine that records every command in order.
type listSM struct {
	mu       sync.Mutex
	cmds     [][]byte
	last     uint64
	restores int
}

func (s *listSM) Apply(index uint64, cmd []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.last {
		return nil, fmt.Errorf("index %d applied after %d", index, s.last)
	}
	s.last = index
	if string(cmd) == "fail" {
		return nil, errors.New("listSM: refused")
	}
	s.cmds = append(s.cmds, bytes.Clone(cmd))
	return fmt.Appendf(nil, "ok %d", len(s.cmds)), nil
}

func (s *listSM) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listSnap{cmds: slices.Clone(s.cmds), last: s.last}, nil
}

func (s *listSM) Restore(r io.Reader, lastIndex uint64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return errors.New("listSM: short snapshot")
	}
	last := binary.BigEndian.Uint64(b)
	b = b[8:]
	var cmds [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errors.New("listSM: corrupt snapshot")
		}
		cmds = append(cmds, bytes.Clone(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds, s.last = cmds, max(last, lastIndex)
	s.restores++
	return nil
}

func (s *listSM) snapshotCmds() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds)
}

func (s *listSM) restoreCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

type listSnap struct {
	cmds [][]byte
	last uint64
}

func (s listSnap) WriteTo(w io.Writer) (int64, error) {
	b := binary.BigEndian.AppendUint64(nil, s.last)
	for _, c := range s.cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (listSnap) Release() {}

// node is one Host of a test cluster with what is needed to restart it.
type node struct {
	cfg  Config
	h    *Host
	sms  map[string]*listSM
	addr string
}

type cluster struct {
	t     *testing.T
	nodes []*node
	moved map[string]string // nodes restarted on a new port
}

func testConfig(t *testing.T, id, dir string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.Dir = dir
	cfg.Logger = testLogger(t)
	cfg.NoSync = true
	return cfg
}

// newCluster starts n hosts and opens groups on each with all hosts as peers.
func newCluster(t *testing.T, n int, groups []string, tune func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	root := t.TempDir()
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("n%d", i), filepath.Join(root, fmt.Sprintf("n%d", i)))
		if tune != nil {
			tune(&cfg)
		}
		c.nodes = append(c.nodes, &node{cfg: cfg})
		c.start(i)
	}
	t.Cleanup(c.closeAll)
	var peers []Peer
	for _, nd := range c.nodes {
		peers = append(peers, Peer{ID: nd.cfg.NodeID, Addr: nd.addr})
	}
	for _, nd := range c.nodes {
		for _, g := range groups {
			nd.sms[g] = &listSM{}
			if _, err := nd.h.Open(g, nd.sms[g], peers); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// start starts node i's Host (on its previous address if it had one).
func (c *cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	cfg := nd.cfg
	if nd.addr != "" {
		cfg.BindAddr = nd.addr
	}
	h, err := New(cfg)
	if err != nil && nd.addr != "" {
		// Another process took the old port: move, and tell the others.
		c.t.Logf("%s: %v; restarting on a new port", cfg.NodeID, err)
		cfg.BindAddr = ""
		h, err = New(cfg)
		if err == nil {
			if c.moved == nil {
				c.moved = make(map[string]string)
			}
			c.moved[cfg.NodeID] = h.Addr()
			for _, o := range c.nodes {
				if o.h != nil {
					o.h.SetPeerAddr(cfg.NodeID, h.Addr())
				}
			}
		}
	}
	if err != nil {
		c.t.Fatal(err)
	}
	for id, addr := range c.moved {
		h.SetPeerAddr(id, addr)
	}
	nd.h, nd.addr, nd.sms = h, h.Addr(), make(map[string]*listSM)
}

// restart re-opens node i's Host and groups from disk.
func (c *cluster) restart(i int, groups []string) {
	c.t.Helper()
	c.start(i)
	nd := c.nodes[i]
	for _, g := range groups {
		nd.sms[g] = &listSM{}
		if _, err := nd.h.Open(g, nd.sms[g], nil); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) stop(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	if nd.h == nil {
		return
	}
	if err := nd.h.Close(); err != nil {
		c.t.Errorf("close %s: %v", nd.cfg.NodeID, err)
	}
	nd.h = nil
}

func (c *cluster) closeAll() {
	for i := range c.nodes {
		c.stop(i)
	}
}

// leader waits for a live node to lead group and returns its index.
func (c *cluster) leader(group string) int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, nd := range c.nodes {
			if nd.h == nil {
				continue
			}
			if g := nd.h.Group(group); g != nil && g.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no leader for %s within 20s", group)
	return -1
}

// propose proposes cmd on whichever node leads group, retrying on
// not-leader errors for up to 20s. acked is false if it never succeeded.
func (c *cluster) propose(group string, cmd []byte) (index uint64, acked bool) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			h := nd.h
			if h == nil {
				continue
			}
			g := h.Group(group)
			if g == nil || !g.IsLeader() {
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

// converge waits until every live replica of group has applied index and
// holds the same commands, and returns them.
func (c *cluster) converge(group string, index uint64) [][]byte {
	c.t.Helper()
	var want [][]byte
	for _, nd := range c.nodes {
		if nd.h == nil {
			continue
		}
		g := nd.h.Group(group)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := g.WaitApplied(ctx, index)
		cancel()
		if err != nil {
			c.t.Fatalf("%s on %s: %v (applied %d)", group, nd.cfg.NodeID, err, g.AppliedIndex())
		}
		got := nd.sms[group].snapshotCmds()
		if want == nil {
			want = got
			continue
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			c.t.Fatalf("%s on %s: %d commands differ from the first replica's %d", group, nd.cfg.NodeID, len(got), len(want))
		}
	}
	return want
}

// containsInOrder reports whether every acked command appears in cmds in the
// same relative order.
func containsInOrder(cmds [][]byte, acked [][]byte) error {
	j := 0
	for _, c := range cmds {
		if j < len(acked) && bytes.Equal(c, acked[j]) {
			j++
		}
	}
	if j < len(acked) {
		return fmt.Errorf("acknowledged command %q (#%d of %d) missing", acked[j], j, len(acked))
	}
	return nil
}

// singleConfig is testConfig with short raft timeouts, for one-replica groups:
// they elect themselves sooner and cannot lose a quorum on a slow machine.
func singleConfig(t *testing.T, id, dir string) Config {
	cfg := testConfig(t, id, dir)
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	return cfg
}
