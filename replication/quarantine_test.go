package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// writeStore writes a raft.db with n entries and the stable keys, closed,
// and returns its path.
func writeStore(t testing.TB, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "raft.db")
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := 1; i <= n; i++ {
		logs = append(logs, &raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry-%d-%s", i, strings.Repeat("x", i%300))})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkAndOpen runs what Host.openLogStore runs on a file: the structural
// check, then, if it passes, bbolt with panics recovered and the read-back.
// It must never crash the process.
func checkAndOpen(t *testing.T, h *Host, path string) error {
	t.Helper()
	if err := checkBolt(path); err != nil {
		return err
	}
	s, err := h.openBolt(path)
	if err != nil {
		return err
	}
	defer s.Close()
	return verifyStore(path, s)
}

func TestCheckBoltAcceptsGoodStores(t *testing.T) {
	for _, n := range []int{0, 1, 50, 3000} {
		path := writeStore(t, t.TempDir(), n)
		if err := checkBolt(path); err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
	}
}

// TestCheckBoltFlippedBytes flips bytes all over a store (meta pages, page
// headers, element tables, keys, values) and checks that every damaged file
// is either refused with ErrCorruptStore or opens and reads back cleanly:
// the process never crashes.
func TestCheckBoltFlippedBytes(t *testing.T) {
	dir := t.TempDir()
	path := writeStore(t, dir, 400)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{cfg: Config{NoSync: true}}
	refused := 0
	step := max(1, len(good)/500)
	for off := 0; off < len(good); off += step {
		bad := append([]byte(nil), good...)
		bad[off] ^= 0xff
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkAndOpen(t, h, path); err != nil {
			if !errors.Is(err, ErrCorruptStore) {
				t.Fatalf("byte %d: %v, want ErrCorruptStore", off, err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("byte %d: error %q does not name the file", off, err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no damaged file was refused")
	}
	t.Logf("%d of %d damaged files refused", refused, (len(good)+step-1)/step)
}

func FuzzCheckBolt(f *testing.F) {
	good, err := os.ReadFile(writeStore(f, f.TempDir(), 30))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:4096])
	f.Add([]byte{})
	dir := f.TempDir()
	h := &Host{cfg: Config{NoSync: true}}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "raft.db")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Whatever passes the check must open and read back without
		// crashing the process.
		if err := checkAndOpen(t, h, path); err != nil && !errors.Is(err, ErrCorruptStore) {
			t.Fatalf("error %v is not ErrCorruptStore", err)
		}
	})
}

// scribble overwrites the start of every page after the meta pages, as a
// torn write or a bad disk would.
func scribble(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	for off := 2 * ps; off+64 <= len(b); off += ps {
		for i := range 64 {
			b[off+i] = byte(0xa5 + i)
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptRaftStoreQuarantinesGroup damages one group's raft.db on one
// node of a three-node cluster, restarts the node, and checks that the node
// stays up, its other group opens from its own state, the damaged store is
// moved aside and reported, and the group re-syncs from its peers.
func TestCorruptRaftStoreQuarantinesGroup(t *testing.T) {
	skipShort(t)
	groups := []string{"q.a", "q.b"}
	var mu sync.Mutex
	var reported []string
	c := newCluster(t, 3, groups, func(cfg *Config) {
		cfg.TrailingLogs = 5
		cfg.OnCorrupt = func(kind, path string, err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, kind+" "+path)
		}
	})
	last := map[string]uint64{}
	var want [][]byte
	for _, g := range groups {
		for i := range 40 {
			cmd := fmt.Appendf(nil, "%s-%d", g, i)
			idx, ok := c.propose(g, cmd)
			if !ok {
				t.Fatal("proposal not acknowledged")
			}
			last[g] = idx
			if g == "q.a" {
				want = append(want, cmd)
			}
		}
		c.converge(g, last[g])
	}
	// The leader compacts its log, so the damaged replica must come back
	// through a snapshot.
	if err := c.nodes[c.leader("q.a")].h.Group("q.a").TakeSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	victim := (c.leader("q.a") + 1) % 3
	c.stop(victim)
	path := filepath.Join(c.nodes[victim].cfg.Dir, "q.a", "raft.db")
	scribble(t, path)

	c.restart(victim, groups)
	nd := c.nodes[victim]
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("quarantined files %v, want one %s.corrupt-*", moved, path)
	}
	if nd.h.CorruptStores() != 1 {
		t.Errorf("CorruptStores %d, want 1", nd.h.CorruptStores())
	}
	mu.Lock()
	got := fmt.Sprint(reported)
	mu.Unlock()
	if got != fmt.Sprint([]string{CorruptRaftStore + " " + path}) {
		t.Errorf("reported %s, want [%s %s]", got, CorruptRaftStore, path)
	}
	// The healthy group kept its own state.
	if n := len(nd.sms["q.b"].snapshotCmds()); n == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := nd.h.Group("q.b").WaitApplied(ctx, last["q.b"]); err != nil {
			t.Fatal(err)
		}
	}
	// New writes reach the quarantined replica, which catches up.
	for i := range 5 {
		cmd := fmt.Appendf(nil, "q.a-after-%d", i)
		idx, ok := c.propose("q.a", cmd)
		if !ok {
			t.Fatal("proposal not acknowledged")
		}
		want, last["q.a"] = append(want, cmd), idx
	}
	cmds := c.converge("q.a", last["q.a"])
	if err := containsInOrder(cmds, want); err != nil || len(cmds) != len(want) {
		t.Fatalf("after re-sync: %d commands (%v), want %d", len(cmds), err, len(want))
	}
	c.converge("q.b", last["q.b"])
}

// TestCorruptSnapshotsQuarantineGroup damages the stored snapshots of one
// group on one node (all of them, or only the newest of two, which raft
// would skip for an older one whose log tail is compacted away): the
// snapshots and the log are moved aside and the group re-syncs from its
// peers.
func TestCorruptSnapshotsQuarantineGroup(t *testing.T) {
	skipShort(t)
	for _, which := range []string{"all", "newest"} {
		t.Run(which, func(t *testing.T) { testCorruptSnapshots(t, which) })
	}
}

func testCorruptSnapshots(t *testing.T, which string) {
	c := newCluster(t, 3, []string{"s.a"}, func(cfg *Config) { cfg.TrailingLogs = 5 })
	var want [][]byte
	var last uint64
	write := func(n int) {
		for range n {
			cmd := fmt.Appendf(nil, "s-%d", len(want))
			idx, ok := c.propose("s.a", cmd)
			if !ok {
				t.Fatal("proposal not acknowledged")
			}
			want, last = append(want, cmd), idx
		}
		c.converge("s.a", last)
	}
	write(30)
	victim := (c.leader("s.a") + 1) % 3
	if err := c.nodes[victim].h.Group("s.a").TakeSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(20)
	if err := c.nodes[victim].h.Group("s.a").TakeSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.stop(victim)
	states, _ := filepath.Glob(filepath.Join(c.nodes[victim].cfg.Dir, "s.a", "snapshots", "*", "state.bin"))
	if len(states) != 2 {
		t.Fatalf("snapshots on disk: %v, want 2", states)
	}
	if which == "newest" {
		states = states[1:] // names sort by term, index, time
	}
	for _, p := range states {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x55
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.restart(victim, []string{"s.a"})
	nd := c.nodes[victim]
	dir := filepath.Join(nd.cfg.Dir, "s.a")
	for _, name := range []string{"snapshots", "raft.db"} {
		if moved, _ := filepath.Glob(filepath.Join(dir, name+".corrupt-*")); len(moved) != 1 {
			t.Errorf("quarantined %s: %v, want one", name, moved)
		}
	}
	if nd.h.CorruptStores() != 2 {
		t.Errorf("CorruptStores %d, want 2", nd.h.CorruptStores())
	}
	write(5)
	cmds := c.converge("s.a", last)
	if err := containsInOrder(cmds, want); err != nil || len(cmds) != len(want) {
		t.Fatalf("after re-sync: %d commands (%v), want %d", len(cmds), err, len(want))
	}
}
