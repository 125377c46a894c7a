package clustertest_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/embedded"
)

// mpCluster is a multi-process cluster whose node processes can be killed,
// paused and restarted on their data: etcd and NATS embedded in the test,
// three `shoal node` processes and one `shoal coordinator`.
type mpCluster struct {
	t     *testing.T
	bin   string
	ext   []string
	addr  func(off int) string
	data  []string
	nodes []*proc
	do    doFunc
}

func startMPCluster(t *testing.T) *mpCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process cluster skipped under -short")
	}
	c := &mpCluster{t: t, bin: buildShoal(t)}
	base := clustertest.FreeBase(t, 3)
	c.addr = func(off int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)) }
	etcd, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: t.TempDir(), ClientAddr: c.addr(1), PeerAddr: c.addr(2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	ns, err := embedded.StartNATS("127.0.0.1", base+3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	c.ext = []string{"--etcd", etcd.Endpoint(), "--nats", ns.ClientURL(), "--log-level", "warn"}
	root := t.TempDir()
	for i := range 3 {
		c.data = append(c.data, filepath.Join(root, fmt.Sprintf("n%d", i+1)))
		c.nodes = append(c.nodes, nil)
		c.startNode(i)
	}
	startProc(t, c.bin, append([]string{"coordinator", "--http", c.addr(0)}, c.ext...)...)
	c.do = clustertest.HTTP{URL: "http://" + c.addr(0), Client: &http.Client{Timeout: 30 * time.Second}}.Do
	c.waitNodes(3, 60*time.Second)
	return c
}

func (c *mpCluster) startNode(i int) {
	c.nodes[i] = startProc(c.t, c.bin, append([]string{"node", "--id", fmt.Sprintf("n%d", i+1), "--data", c.data[i], "--raft", c.addr(10 + i)}, c.ext...)...)
}

func (c *mpCluster) kill(i int) {
	c.t.Helper()
	if err := c.nodes[i].cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	_ = c.nodes[i].cmd.Wait()
}

func (c *mpCluster) signal(i int, sig syscall.Signal) {
	c.t.Helper()
	if err := c.nodes[i].cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// waitNodes waits until exactly n nodes are registered.
func (c *mpCluster) waitNodes(n int, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var cl api.ClusterStatus
		if st, _ := c.do("GET", "/v1/cluster", nil, &cl); st == 200 && len(cl.Nodes) == n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster did not reach %d registered nodes in %v", n, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leaderOf waits for the leader of a shard and returns its node index.
func (c *mpCluster) leaderOf(col string, shard int) int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var cl api.ClusterStatus
		if st, _ := c.do("GET", "/v1/cluster", nil, &cl); st == 200 {
			for _, sh := range cl.Shards {
				if sh.Collection != col || sh.Shard != shard {
					continue
				}
				for _, r := range sh.Replicas {
					if r.Role == "leader" {
						n, _ := strconv.Atoi(r.Node[1:])
						return n - 1
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("no leader for %s/%d", col, shard)
	return -1
}

// upsert writes docs, retrying for up to d, and returns how long it took.
func (c *mpCluster) upsert(col string, docs []api.Document, d time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		st, raw := c.do("POST", "/v1/collections/"+col+"/documents", api.UpsertRequest{Documents: docs}, nil)
		if st == 200 {
			return time.Since(start)
		}
		if time.Since(start) > d {
			c.t.Fatalf("upsert into %s: %d %s after %v", col, st, raw, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMultiProcessFaults runs, on one multi-process cluster: a paused shard
// leader (writes keep succeeding, each within 5 s); strong reads, then SIGKILL
// and restart of every node (reads answer within 15 s, with no write); and a
// restart of one node while another is dead for good (writes succeed as soon
// as the two live nodes form a quorum).
func TestMultiProcessFaults(t *testing.T) {
	c := startMPCluster(t)
	if st, raw := c.do("POST", "/v1/collections", api.CollectionSpec{Name: "f", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}}, nil); st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	r := rand.New(rand.NewPCG(21, 21))
	stored := map[string]*api.Document{}
	var mu sync.Mutex
	put := func(docs []api.Document) {
		mu.Lock()
		defer mu.Unlock()
		for i := range docs {
			stored[docs[i].ID] = &docs[i]
		}
	}
	for from := 0; from < 2000; from += 250 {
		var docs []api.Document
		for i := from; i < from+250; i++ {
			docs = append(docs, api.Document{ID: docID(i), Sparse: randSparse(r, 1000, 12)})
		}
		c.upsert("f", docs, time.Minute)
		put(docs)
	}

	t.Run("paused leader", func(t *testing.T) {
		li := c.leaderOf("f", 0)
		c.signal(li, syscall.SIGSTOP)
		resumed := false
		defer func() {
			if !resumed {
				c.signal(li, syscall.SIGCONT)
			}
		}()
		pausedAt := time.Now()
		// /v1/health names the shard while no leader answers
		degraded := make(chan []api.ShardHealth, 1)
		go func() {
			defer close(degraded)
			hc := clustertest.HTTP{URL: "http://" + c.addr(0)}
			for time.Since(pausedAt) < 5*time.Second {
				var h api.Health
				if st, raw := hc.Do("GET", "/v1/health", nil, nil); st == 503 && json.Unmarshal(raw, &h) == nil && h.Status == "degraded" {
					degraded <- h.Shards
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		var slowest time.Duration
		var failures []string
		n := 0
		for w := range 2 {
			wg.Go(func() {
				for i := 0; time.Since(pausedAt) < 15*time.Second; i++ {
					doc := api.Document{ID: fmt.Sprintf("paused-%d-%d", w, i), Sparse: randSparse(rand.New(rand.NewPCG(uint64(w), uint64(i))), 1000, 12)}
					start := time.Now()
					st, raw := c.do("POST", "/v1/collections/f/documents", api.UpsertRequest{Documents: []api.Document{doc}}, nil)
					d := time.Since(start)
					mu.Lock()
					n++
					slowest = max(slowest, d)
					if st != 200 || d > 5*time.Second {
						failures = append(failures, fmt.Sprintf("%s: %d after %v: %s", doc.ID, st, d, raw))
					}
					if st == 200 {
						stored[doc.ID] = &doc
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		c.signal(li, syscall.SIGCONT)
		resumed = true
		mu.Lock()
		bad := <-degraded
		t.Logf("leader n%d paused 15 s: %d writes, slowest %v, health degraded %v", li+1, n, slowest, bad)
		mu.Unlock()
		if !slices.ContainsFunc(bad, func(h api.ShardHealth) bool { return h.Collection == "f" && h.Shard == 0 }) {
			t.Errorf("health while the leader of f/0 was paused: degraded shards %v, want f/0 among them", bad)
		}
		if len(failures) > 0 {
			t.Fatalf("%d writes failed or took more than 5 s while the leader was paused:\n%v", len(failures), failures)
		}
		// after the resume too
		c.upsert("f", []api.Document{{ID: "after-pause", Sparse: randSparse(r, 1000, 12)}}, 10*time.Second)
	})

	t.Run("restart every node after strong reads", func(t *testing.T) {
		for i := range 50 {
			q := randSparse(r, 1000, 20)
			var sr api.SearchResponse
			if st, raw := c.do("POST", "/v1/collections/f/search", api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: "strong"}}, &sr); st != 200 {
				t.Fatalf("strong search %d: %d %s", i, st, raw)
			}
		}
		for i := range c.nodes {
			c.kill(i)
		}
		start := time.Now()
		for i := range c.nodes {
			c.startNode(i)
		}
		// with no write: an eventual get and search of every shard, and a
		// strong search, each answered within 15 s of the restart
		q := randSparse(r, 1000, 20)
		for _, read := range []struct {
			name string
			do   func() (int, []byte)
		}{
			{"get", func() (int, []byte) { return c.do("GET", "/v1/collections/f/documents/"+docID(1), nil, nil) }},
			{"get", func() (int, []byte) { return c.do("GET", "/v1/collections/f/documents/"+docID(2), nil, nil) }},
			{"search", func() (int, []byte) {
				return c.do("POST", "/v1/collections/f/search", api.SearchRequest{K: 10, Sparse: q}, nil)
			}},
			{"strong search", func() (int, []byte) {
				return c.do("POST", "/v1/collections/f/search", api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: "strong"}}, nil)
			}},
		} {
			for {
				st, raw := read.do()
				if st == 200 {
					break
				}
				if time.Since(start) > 15*time.Second {
					t.Fatalf("%s not answered 15 s after the restart: %d %s", read.name, st, raw)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("reads answered %v after the restart, with no write", time.Since(start))
		// every replica's applied index reaches its last index (counting the
		// barriers and no-ops), still with no write
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var cl api.ClusterStatus
			c.do("GET", "/v1/cluster", nil, &cl)
			behind := ""
			for _, sh := range cl.Shards {
				for _, rp := range sh.Replicas {
					if rp.Error != "" || rp.AppliedIndex < rp.LastIndex {
						behind += fmt.Sprintf(" %s/%d on %s: applied %d of %d %s", sh.Collection, sh.Shard, rp.Node, rp.AppliedIndex, rp.LastIndex, rp.Error)
					}
				}
			}
			if behind == "" && len(cl.Shards) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replicas behind their last index:%s", behind)
			}
		}
		mu.Lock()
		want := len(stored)
		mu.Unlock()
		var sr api.SearchResponse
		if st, raw := c.do("POST", "/v1/collections/f/search", api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: "strong"}}, &sr); st != 200 {
			t.Fatalf("strong search: %d %s", st, raw)
		}
		mu.Lock()
		sameHits(t, "after the restart", sr.Hits, exactSparse(stored, q, 10))
		mu.Unlock()
		t.Logf("%d documents stored", want)
	})

	t.Run("rejoin while a peer is dead", func(t *testing.T) {
		c.waitNodes(3, 60*time.Second)
		c.kill(2)
		c.waitNodes(2, 60*time.Second) // n3's registration is gone
		c.kill(1)
		start := time.Now()
		c.startNode(1)
		var docs []api.Document
		for i := range 20 {
			docs = append(docs, api.Document{ID: fmt.Sprintf("rejoin-%d", i), Sparse: randSparse(r, 1000, 12)})
		}
		c.upsert("f", docs, 30*time.Second)
		put(docs)
		t.Logf("writes to both shards succeeded %v after the restart of n2, n3 dead", time.Since(start))
		for _, d := range docs[:4] {
			if st, raw := c.do("GET", "/v1/collections/f/documents/"+d.ID+"?consistency=strong", nil, nil); st != 200 {
				t.Fatalf("strong get %s: %d %s", d.ID, st, raw)
			}
		}
	})
}
