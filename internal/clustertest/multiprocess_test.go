package clustertest_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/embedded"
)

// multiProcessSegments runs the segment life cycle through the processes: a
// collection with a keyword attribute takes 2,400 documents, is sealed into
// indexed segments (built and activated on every replica), loses 200
// documents, and is compacted. After each step searches through the indexes,
// with and without a filter, are checked against exact search (recall) and
// never return a deleted document. The returned func checks again.
func multiProcessSegments(t *testing.T, do doFunc, r *rand.Rand) func(what string) {
	t.Helper()
	if st, raw := do("POST", "/v1/collections", api.CollectionSpec{Name: "mpseg", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 1000}, Attributes: map[string]string{"grp": "keyword"}}, nil); st != 201 {
		t.Fatalf("create mpseg: %d %s", st, raw)
	}
	groups := []string{"a", "b", "c", "d"}
	for from := 0; from < 2400; from += 400 {
		var docs []api.Document
		for i := from; i < from+400; i++ {
			docs = append(docs, api.Document{ID: docID(i), Sparse: randSparse(r, 1000, 12), Attributes: map[string]any{"grp": groups[i%4]}})
		}
		if st, raw := do("POST", "/v1/collections/mpseg/documents", api.UpsertRequest{Documents: docs}, nil); st != 200 {
			t.Fatalf("upsert mpseg: %d %s", st, raw)
		}
	}
	waitReady := func(what string) { waitSegmentsReady(t, do, "mpseg", what, 1) }
	deleted := map[string]bool{}
	check := func(what string) {
		t.Helper()
		var rec float64
		n := 0
		for qi := 0; qi < 20; qi++ {
			q := randSparse(r, 1000, 20)
			var filter map[string]any
			if qi%2 == 1 {
				filter = map[string]any{"grp": groups[qi%4]}
			}
			var exact, got api.SearchResponse
			if st, raw := do("POST", "/v1/collections/mpseg/search", api.SearchRequest{K: 10, Sparse: q, Filter: filter, Params: &api.SearchParams{Exact: true}}, &exact); st != 200 {
				t.Fatalf("%s: exact search: %d %s", what, st, raw)
			}
			if st, raw := do("POST", "/v1/collections/mpseg/search", api.SearchRequest{K: 10, Sparse: q, Filter: filter, Params: &api.SearchParams{QueryCut: 20, HeapFactor: 0.5}}, &got); st != 200 {
				t.Fatalf("%s: search: %d %s", what, st, raw)
			}
			if len(exact.Hits) > 0 {
				rec += recallOf(t, what, got.Hits, exact.Hits, deleted)
				n++
			}
		}
		if rec/float64(n) < 0.9 {
			t.Fatalf("%s: recall@10 against exact %.3f", what, rec/float64(n))
		}
		t.Logf("%s: recall@10 against exact %.3f", what, rec/float64(n))
	}
	if st, raw := do("POST", "/v1/collections/mpseg/seal", nil, nil); st != 200 {
		t.Fatalf("seal: %d %s", st, raw)
	}
	waitReady("after the seal")
	check("sealed segments")
	for i := 0; i < 2400; i += 12 {
		if st, raw := do("DELETE", "/v1/collections/mpseg/documents/"+docID(i), nil, nil); st != 200 {
			t.Fatalf("delete: %d %s", st, raw)
		}
		deleted[docID(i)] = true
	}
	check("after deletes")
	if st, raw := do("POST", "/v1/collections/mpseg/compact", nil, nil); st != 200 {
		t.Fatalf("compact: %d %s", st, raw)
	}
	waitReady("after the compaction")
	check("compacted")
	var col api.Collection
	do("GET", "/v1/collections/mpseg", nil, &col)
	for _, p := range col.Placement {
		for _, sg := range p.Segments {
			if sg.State != "buffer" && sg.Deleted != 0 {
				t.Fatalf("after compaction: segment %+v still holds deleted rows", sg)
			}
		}
	}
	return check
}

// buildShoal builds the shoal binary into a temporary directory.
func buildShoal(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "shoal")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/shoal")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.out.String())
		}
	})
	return p
}

// TestMultiProcess runs etcd and NATS embedded in the test, three `shoal
// node` processes and one `shoal coordinator` process, loads documents, then
// SIGKILLs a node and checks that writes and searches go on.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster skipped under -short")
	}
	bin := buildShoal(t)
	base := clustertest.FreeBase(t, 3)
	addr := func(off int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)) }
	etcd, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: t.TempDir(), ClientAddr: addr(1), PeerAddr: addr(2)})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	ns, err := embedded.StartNATS("127.0.0.1", base+3)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	ext := []string{"--etcd", etcd.Endpoint(), "--nats", ns.ClientURL(), "--log-level", "warn"}
	nodes := make([]*proc, 3)
	for i := range nodes {
		nodes[i] = startProc(t, bin, append([]string{"node", "--id", fmt.Sprintf("n%d", i+1), "--data", t.TempDir(), "--raft", addr(10 + i)}, ext...)...)
	}
	startProc(t, bin, append([]string{"coordinator", "--http", addr(0)}, ext...)...)
	url := "http://" + addr(0)
	do := clustertest.HTTP{URL: url}.Do
	// wait for the coordinator and the three node registrations
	deadline := time.Now().Add(60 * time.Second)
	for {
		var cl api.ClusterStatus
		if st, _ := do("GET", "/v1/cluster", nil, &cl); st == 200 && len(cl.Nodes) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("multi-process cluster did not come up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, raw := do("POST", "/v1/collections", api.CollectionSpec{Name: "mp", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}}, nil); st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	r := rand.New(rand.NewPCG(11, 11))
	stored := map[string]*api.Document{}
	load := func(from, to int) {
		var docs []api.Document
		for i := from; i < to; i++ {
			docs = append(docs, api.Document{ID: docID(i), Sparse: randSparse(r, 1000, 12)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for {
			st, raw := do("POST", "/v1/collections/mp/documents", api.UpsertRequest{Documents: docs}, nil)
			if st == 200 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("upsert [%d,%d): %d %s", from, to, st, raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for i := range docs {
			stored[docs[i].ID] = &docs[i]
		}
	}
	check := func(what string) {
		for qi := 0; qi < 10; qi++ {
			q := randSparse(r, 1000, 20)
			var sr api.SearchResponse
			st, raw := do("POST", "/v1/collections/mp/search", api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: "strong"}}, &sr)
			if st != 200 {
				t.Fatalf("%s: search: %d %s", what, st, raw)
			}
			sameHits(t, what, sr.Hits, exactSparse(stored, q, 10))
		}
	}
	load(0, 400)
	check("before the kill")
	segCheck := multiProcessSegments(t, do, r)
	if err := nodes[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = nodes[0].cmd.Wait()
	load(400, 800)
	check("after SIGKILL of n1")
	segCheck("after SIGKILL of n1")
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}
