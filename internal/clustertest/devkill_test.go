package clustertest_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/dataset"
)

// TestDevSIGKILL runs the `shoal dev` binary, loads 3,000 documents (real
// SciFact BM25 vectors when ../shared/data is there, synthetic ones
// otherwise) through the HTTP API into 2 shards with rf 3, checks 50 queries
// against the exact top-10, seals the buffers into indexed segments, deletes
// some documents, SIGKILLs the process, starts it again on the same data and
// checks every document and every result again, then compacts and checks
// once more. Index searches are checked by recall against exact.
func TestDevSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("dev cluster skipped under -short")
	}
	bin := buildShoal(t)
	data := filepath.Join(t.TempDir(), "data")
	base := clustertest.FreeBase(t, 3)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(base))
	url := "http://" + addr
	client := &http.Client{Timeout: 60 * time.Second}
	do := clustertest.HTTP{URL: url, Client: client}.Do
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "dev", "--data", data, "--http", addr, "--log-level", "warn")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			if t.Failed() {
				t.Logf("shoal dev output:\n%s", out.String())
			}
		})
		deadline := time.Now().Add(60 * time.Second)
		for {
			if st, _ := do("GET", "/v1/health", nil, nil); st == 200 {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("shoal dev did not become healthy")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	docs, queries := devKillData(t)
	cmd := start()
	// BM25 vectors need fuller Seismic postings and summaries (docs/segments.md)
	spec := api.CollectionSpec{Name: "scifact", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 30522, Index: &api.SparseIndex{AutoKeep: 1, Alpha: 0.8}}}
	if st, raw := do("POST", "/v1/collections", spec, nil); st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	stored := map[string]*api.Document{}
	for from := 0; from < len(docs); from += 250 {
		batch := docs[from:min(from+250, len(docs))]
		if st, raw := do("POST", "/v1/collections/scifact/documents", api.UpsertRequest{Documents: batch}, nil); st != 200 {
			t.Fatalf("upsert: %d %s", st, raw)
		}
		for i := range batch {
			stored[batch[i].ID] = &batch[i]
		}
	}
	deleted := map[string]bool{}
	check := func(what string) {
		t.Helper()
		var rec float64
		for _, q := range queries {
			want := exactSparse(stored, q, 10)
			var sr api.SearchResponse
			if st, raw := do("POST", "/v1/collections/scifact/search", api.SearchRequest{K: 10, Sparse: q, Params: &api.SearchParams{Exact: true}}, &sr); st != 200 {
				t.Fatalf("%s: search: %d %s", what, st, raw)
			}
			sameHits(t, what, sr.Hits, want)
			// through the indexes of the sealed segments
			if st, raw := do("POST", "/v1/collections/scifact/search", api.SearchRequest{K: 10, Sparse: q, Params: &api.SearchParams{QueryCut: 64, HeapFactor: 0.5}}, &sr); st != 200 {
				t.Fatalf("%s: search: %d %s", what, st, raw)
			}
			rec += recallOf(t, what, sr.Hits, want, deleted)
		}
		rec /= float64(len(queries))
		t.Logf("%s: recall@10 through the indexes %.3f", what, rec)
		if rec < 0.9 {
			t.Fatalf("%s: recall@10 through the indexes %.3f", what, rec)
		}
	}
	// every replica of both shards serves an indexed segment
	waitReady := func(what string) { waitSegmentsReady(t, do, "scifact", what, 6) }
	check("before SIGKILL")
	if st, raw := do("POST", "/v1/collections/scifact/seal", nil, nil); st != 200 {
		t.Fatalf("seal: %d %s", st, raw)
	}
	waitReady("after the seal")
	for i := 0; i < len(docs); i += 40 {
		id := docs[i].ID
		if st, raw := do("DELETE", "/v1/collections/scifact/documents/"+id, nil, nil); st != 200 {
			t.Fatalf("delete %s: %d %s", id, st, raw)
		}
		delete(stored, id)
		deleted[id] = true
	}
	check("sealed, with deletes")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	start()
	waitReady("after restart")
	check("after SIGKILL and restart")
	if st, raw := do("POST", "/v1/collections/scifact/compact", nil, nil); st != 200 {
		t.Fatalf("compact: %d %s", st, raw)
	}
	waitReady("after the compaction")
	check("compacted")
	for id, d := range stored {
		var got api.Document
		if st, raw := do("GET", "/v1/collections/scifact/documents/"+id, nil, &got); st != 200 {
			t.Fatalf("get %s after restart: %d %s", id, st, raw)
		}
		if len(got.Sparse.Indices) != len(d.Sparse.Indices) || got.Sparse.Values[0] != d.Sparse.Values[0] {
			t.Fatalf("document %s differs after restart", id)
		}
	}
}

func devKillData(t *testing.T) ([]api.Document, []*api.SparseVector) {
	const n, nq = 3000, 50 // 1,500 documents a shard: segments large enough to index
	var docs []api.Document
	var queries []*api.SparseVector
	dir := filepath.Join("..", "..", "..", "shared", "data", "scifact", "sparse-bm25")
	if _, err := os.Stat(dir); err == nil {
		d, err := dataset.ReadSparseJSONL(filepath.Join(dir, "docs.jsonl.gz"))
		if err != nil {
			t.Fatal(err)
		}
		q, err := dataset.ReadSparseJSONL(filepath.Join(dir, "queries.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			idx, vals := d.Row(i)
			docs = append(docs, api.Document{ID: d.IDs[i], Sparse: &api.SparseVector{Indices: idx, Values: vals}})
		}
		for i := 0; i < nq; i++ {
			idx, vals := q.Row(i)
			queries = append(queries, &api.SparseVector{Indices: idx, Values: vals})
		}
		return docs, queries
	}
	t.Log("../shared/data absent: using synthetic documents")
	r := rand.New(rand.NewPCG(13, 13))
	for i := 0; i < n; i++ {
		docs = append(docs, api.Document{ID: docID(i), Sparse: randSparse(r, 30522, 100)})
	}
	for i := 0; i < nq; i++ {
		queries = append(queries, randSparse(r, 30522, 20))
	}
	return docs, queries
}

// TestDevRestartAfterStrongReads is issue 13's first sequence on `shoal dev`:
// 2 shards with rf 3, 2,000 documents, 50 strong searches, SIGKILL, restart;
// then, with no write, a get and searches (eventual and strong) must answer
// within 15 s of the restart, and every replica's applied index must reach
// its last index.
func TestDevRestartAfterStrongReads(t *testing.T) {
	if testing.Short() {
		t.Skip("dev cluster skipped under -short")
	}
	bin := buildShoal(t)
	data := filepath.Join(t.TempDir(), "data")
	base := clustertest.FreeBase(t, 3)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(base))
	do := clustertest.HTTP{URL: "http://" + addr, Client: &http.Client{Timeout: 30 * time.Second}}.Do
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "dev", "--data", data, "--http", addr, "--log-level", "warn")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			if t.Failed() {
				t.Logf("shoal dev output:\n%s", out.String())
			}
		})
		return cmd
	}
	cmd := start()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, _ := do("GET", "/v1/health", nil, nil); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shoal dev did not become healthy")
		}
	}
	if st, raw := do("POST", "/v1/collections", api.CollectionSpec{Name: "c", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 1000}}, nil); st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for from := 0; from < 2000; from += 500 {
		var docs []api.Document
		for i := from; i < from+500; i++ {
			docs = append(docs, api.Document{ID: docID(i), Sparse: randSparse(r, 1000, 12)})
		}
		if st, raw := do("POST", "/v1/collections/c/documents", api.UpsertRequest{Documents: docs}, nil); st != 200 {
			t.Fatalf("upsert: %d %s", st, raw)
		}
	}
	strong := &api.Consistency{Level: "strong"}
	for i := range 50 {
		if st, raw := do("POST", "/v1/collections/c/search", api.SearchRequest{K: 10, Sparse: randSparse(r, 1000, 20), Consistency: strong}, nil); st != 200 {
			t.Fatalf("strong search %d: %d %s", i, st, raw)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	restarted := time.Now()
	start()
	q := randSparse(r, 1000, 20)
	reads := []struct {
		name string
		do   func() (int, []byte)
	}{
		{"get", func() (int, []byte) { return do("GET", "/v1/collections/c/documents/"+docID(7), nil, nil) }},
		{"get", func() (int, []byte) { return do("GET", "/v1/collections/c/documents/"+docID(8), nil, nil) }},
		{"search", func() (int, []byte) {
			return do("POST", "/v1/collections/c/search", api.SearchRequest{K: 10, Sparse: q}, nil)
		}},
		{"strong search", func() (int, []byte) {
			return do("POST", "/v1/collections/c/search", api.SearchRequest{K: 10, Sparse: q, Consistency: strong}, nil)
		}},
	}
	for _, rd := range reads {
		for {
			st, raw := rd.do()
			if st == 200 {
				break
			}
			if time.Since(restarted) > 15*time.Second {
				t.Fatalf("%s not answered 15 s after the restart: %d %s", rd.name, st, raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("reads answered %v after the restart, with no write", time.Since(restarted))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var cl api.ClusterStatus
		do("GET", "/v1/cluster", nil, &cl)
		behind := ""
		for _, sh := range cl.Shards {
			for _, rp := range sh.Replicas {
				if rp.AppliedIndex < rp.LastIndex {
					behind += fmt.Sprintf(" %d/%s applied %d of %d", sh.Shard, rp.Node, rp.AppliedIndex, rp.LastIndex)
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
}
