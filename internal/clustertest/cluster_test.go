package clustertest_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
)

func createCollection(t *testing.T, c *clustertest.Cluster, spec api.CollectionSpec) api.Collection {
	t.Helper()
	var col api.Collection
	c.MustDo(t, "POST", "/v1/collections", spec, &col)
	for _, p := range col.Placement {
		if p.Leader == "" {
			t.Fatalf("shard %d has no leader after create", p.Shard)
		}
	}
	return col
}

func upsert(t *testing.T, c *clustertest.Cluster, name string, docs []api.Document) api.WriteResponse {
	t.Helper()
	var wr api.WriteResponse
	c.MustDo(t, "POST", "/v1/collections/"+name+"/documents", api.UpsertRequest{Documents: docs}, &wr)
	return wr
}

func search(t *testing.T, c *clustertest.Cluster, name string, req api.SearchRequest) api.SearchResponse {
	t.Helper()
	var sr api.SearchResponse
	c.MustDo(t, "POST", "/v1/collections/"+name+"/search", req, &sr)
	return sr
}

// TestEndToEnd walks the whole API once: every modality, filters, fusion,
// get, delete, tokens and strong reads.
func TestEndToEnd(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "e2e", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 100}, Dense: &api.DenseField{Dim: 3, Metric: "cosine"},
		Multivector: &api.MultivectorField{Dim: 2}, Attributes: map[string]string{"lang": "keyword", "year": "int"}})
	docs := []api.Document{
		{ID: "a", Sparse: &api.SparseVector{Indices: []uint32{1, 5}, Values: []float32{1, 2}}, Dense: []float32{1, 0, 0},
			Multivector: [][]float32{{1, 0}, {0, 1}}, Attributes: map[string]any{"lang": "en", "year": 2020}},
		{ID: "b", Sparse: &api.SparseVector{Indices: []uint32{5}, Values: []float32{3}}, Dense: []float32{0, 1, 0},
			Multivector: [][]float32{{0.5, 0.5}}, Attributes: map[string]any{"lang": "de", "year": 2021}},
		{ID: "c", Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{5}}, Dense: []float32{0.9, 0.1, 0},
			Attributes: map[string]any{"lang": "en", "year": 2022}},
	}
	wr := upsert(t, c, "e2e", docs)
	if wr.Upserted != 3 || wr.Token == "" {
		t.Fatalf("got %+v, want 3 upserted and a token", wr)
	}
	tok := &api.Consistency{Token: wr.Token}
	sr := search(t, c, "e2e", api.SearchRequest{K: 2, Sparse: &api.SparseVector{Indices: []uint32{5}, Values: []float32{1}}, Consistency: tok})
	if len(sr.Hits) != 2 || sr.Hits[0].ID != "b" || sr.Hits[1].ID != "a" || sr.Coverage.Answered != 2 {
		t.Fatalf("sparse: got %+v", sr)
	}
	sr = search(t, c, "e2e", api.SearchRequest{K: 1, Dense: []float32{1, 0, 0}, Consistency: tok})
	if len(sr.Hits) != 1 || sr.Hits[0].ID != "a" {
		t.Fatalf("dense: got %+v", sr)
	}
	sr = search(t, c, "e2e", api.SearchRequest{K: 3, Multivector: [][]float32{{0, 1}}, Consistency: tok})
	if len(sr.Hits) != 2 || sr.Hits[0].ID != "a" || sr.Hits[0].Score != 1 {
		t.Fatalf("multivector: got %+v", sr)
	}
	sr = search(t, c, "e2e", api.SearchRequest{K: 3, Sparse: &api.SparseVector{Indices: []uint32{1, 5}, Values: []float32{1, 1}},
		Filter: map[string]any{"lang": "en", "year": map[string]any{"gte": 2021}}, Consistency: tok})
	if len(sr.Hits) != 1 || sr.Hits[0].ID != "c" {
		t.Fatalf("filter: got %+v", sr)
	}
	sr = search(t, c, "e2e", api.SearchRequest{K: 3, Sparse: &api.SparseVector{Indices: []uint32{5}, Values: []float32{1}},
		Dense: []float32{1, 0, 0}, Consistency: tok})
	if len(sr.Hits) != 3 || sr.Hits[0].ID != "a" {
		t.Fatalf("rrf fusion: got %+v", sr)
	}
	var got api.Document
	c.MustDo(t, "GET", "/v1/collections/e2e/documents/a?consistency=strong", nil, &got)
	if got.ID != "a" || len(got.Multivector) != 2 || got.Attributes["lang"] != "en" || got.Attributes["year"] != float64(2020) {
		t.Fatalf("get: got %+v", got)
	}
	var del api.WriteResponse
	c.MustDo(t, "DELETE", "/v1/collections/e2e/documents/a", nil, &del)
	if del.Deleted != 1 {
		t.Fatalf("delete: got %+v", del)
	}
	if status, _ := c.Do("GET", "/v1/collections/e2e/documents/a?token="+del.Token, nil, nil); status != http.StatusNotFound {
		t.Fatalf("get after delete: status %d, want 404", status)
	}
	sr = search(t, c, "e2e", api.SearchRequest{K: 3, Sparse: &api.SparseVector{Indices: []uint32{1, 5}, Values: []float32{1, 1}}, Consistency: &api.Consistency{Level: "strong"}})
	for _, h := range sr.Hits {
		if h.ID == "a" {
			t.Fatalf("deleted document in strong search: %+v", sr)
		}
	}
	var cl api.ClusterStatus
	c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
	if len(cl.Nodes) != 3 || len(cl.Shards) != 2 {
		t.Fatalf("cluster: got %+v", cl)
	}
	var list api.CollectionList
	c.MustDo(t, "GET", "/v1/collections", nil, &list)
	if len(list.Collections) != 1 || list.Collections[0].Name != "e2e" {
		t.Fatalf("list: got %+v", list)
	}
	if status, _ := c.Do("POST", "/v1/collections", api.CollectionSpec{Name: "e2e", Sparse: &api.SparseField{MaxTerm: 5}}, nil); status != http.StatusConflict {
		t.Fatalf("duplicate create: status %d, want 409", status)
	}
	c.MustDo(t, "DELETE", "/v1/collections/e2e", nil, nil)
	if status, _ := c.Do("GET", "/v1/collections/e2e", nil, nil); status != http.StatusNotFound {
		t.Fatalf("describe after drop: status %d, want 404", status)
	}
	if status, _ := c.Do("GET", "/metrics", nil, nil); status != http.StatusOK {
		t.Fatalf("metrics: status %d", status)
	}
}

// TestBadInput sends malformed and invalid requests: each gets a 4xx naming
// the field, and nothing stored changes.
func TestBadInput(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "bad", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 100}, Dense: &api.DenseField{Dim: 3}, Multivector: &api.MultivectorField{Dim: 2},
		Attributes: map[string]string{"lang": "keyword", "year": "int"}})
	good := []api.Document{{ID: "keep", Sparse: &api.SparseVector{Indices: []uint32{1}, Values: []float32{1}}, Dense: []float32{1, 2, 3}}}
	wr := upsert(t, c, "bad", good)

	big := make([]api.Document, api.MaxBatch+1)
	for i := range big {
		big[i] = api.Document{ID: docID(i), Dense: []float32{1, 2, 3}}
	}
	bigBody, _ := json.Marshal(api.UpsertRequest{Documents: big})
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"malformed json", "POST", "/v1/collections/bad/documents", `{"documents": [`, 400, ""},
		{"trailing data", "POST", "/v1/collections/bad/documents", `{"documents": []} {}`, 400, ""},
		{"empty batch", "POST", "/v1/collections/bad/documents", `{"documents": []}`, 400, "documents"},
		{"unknown field", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","dense":[1,2,3],"color":1}]}`, 400, "documents[0].color"},
		{"wrong dim", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"keep","dense":[1,2]}]}`, 400, "documents[0].dense"},
		{"nan", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","dense":[1,2,"NaN"]}]}`, 400, "documents[0].dense"},
		{"overflow", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","dense":[1,2,1e39]}]}`, 400, "documents[0].dense"},
		{"unsorted", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"keep","sparse":{"indices":[5,3],"values":[1,1]}}]}`, 400, "documents[0].sparse.indices[1]"},
		{"duplicate term", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","sparse":{"indices":[3,3],"values":[1,1]}}]}`, 400, "documents[0].sparse.indices[1]"},
		{"term range", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","sparse":{"indices":[100],"values":[1]}}]}`, 400, "documents[0].sparse.indices[0]"},
		{"negative term", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","sparse":{"indices":[-1],"values":[1]}}]}`, 400, "documents[0].sparse.indices"},
		{"values length", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","sparse":{"indices":[1,2],"values":[1]}}]}`, 400, "documents[0].sparse"},
		{"multi dim", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","multivector":[[1,2],[1]]}]}`, 400, "documents[0].multivector[1]"},
		{"unknown attr", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","dense":[1,2,3],"attributes":{"color":"red"}}]}`, 400, "documents[0].attributes.color"},
		{"attr type", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x","dense":[1,2,3],"attributes":{"year":"old"}}]}`, 400, "documents[0].attributes.year"},
		{"no vector", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x"}]}`, 400, "documents[0]"},
		{"empty id", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"","dense":[1,2,3]}]}`, 400, "documents[0].id"},
		{"second doc bad", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"new","dense":[1,2,3]},{"id":"keep","dense":[1]}]}`, 400, "documents[1].dense"},
		{"duplicate id", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"new","dense":[1,2,3]},{"id":"new","dense":[1,2,3]}]}`, 400, "documents[1].id"},
		{"id invalid utf-8", "POST", "/v1/collections/bad/documents", "{\"documents\": [{\"id\":\"keep\",\"dense\":[1,2,3]},{\"id\":\"x\xff\",\"dense\":[1,2,3]}]}", 400, "documents[1].id"},
		{"id lone surrogate", "POST", "/v1/collections/bad/documents", `{"documents": [{"id":"x\udc00","dense":[1,2,3]}]}`, 400, "documents[0].id"},
		{"get id invalid utf-8", "GET", "/v1/collections/bad/documents/x%FF", "", 400, "id"},
		{"delete id invalid utf-8", "DELETE", "/v1/collections/bad/documents/x%C3", "", 400, "id"},
		{"oversized batch", "POST", "/v1/collections/bad/documents", string(bigBody), 413, "documents"},
		{"unknown collection", "POST", "/v1/collections/nope/documents", `{"documents": [{"id":"x","dense":[1,2,3]}]}`, 404, ""},
		{"k zero", "POST", "/v1/collections/bad/search", `{"k":-1,"dense":[1,2,3]}`, 400, "k"},
		{"k huge", "POST", "/v1/collections/bad/search", `{"k":100000,"dense":[1,2,3]}`, 400, "k"},
		{"no query", "POST", "/v1/collections/bad/search", `{"k":3}`, 400, "sparse"},
		{"query dim", "POST", "/v1/collections/bad/search", `{"dense":[1,2]}`, 400, "dense"},
		{"query term", "POST", "/v1/collections/bad/search", `{"sparse":{"indices":[200],"values":[1]}}`, 400, "sparse.indices[0]"},
		{"filter field", "POST", "/v1/collections/bad/search", `{"dense":[1,2,3],"filter":{"color":"red"}}`, 400, "filter.color"},
		{"filter range", "POST", "/v1/collections/bad/search", `{"dense":[1,2,3],"filter":{"year":{"gt":1}}}`, 400, "filter.year.gt"},
		{"consistency", "POST", "/v1/collections/bad/search", `{"dense":[1,2,3],"consistency":"sometimes"}`, 400, "consistency"},
		{"bad token", "POST", "/v1/collections/bad/search", `{"dense":[1,2,3],"consistency":{"token":"v1.zzz"}}`, 400, "consistency.token"},
		{"fusion", "POST", "/v1/collections/bad/search", `{"dense":[1,2,3],"fusion":"max"}`, 400, "fusion"},
		{"create no vector", "POST", "/v1/collections", `{"name":"x"}`, 400, "sparse"},
		{"create name", "POST", "/v1/collections", `{"name":"a b","dense":{"dim":3}}`, 400, "name"},
		{"create dim", "POST", "/v1/collections", `{"name":"x","dense":{"dim":0}}`, 400, "dense.dim"},
		{"create metric", "POST", "/v1/collections", `{"name":"x","dense":{"dim":3,"metric":"manhattan"}}`, 400, "dense.metric"},
		{"create rf", "POST", "/v1/collections", `{"name":"x","dense":{"dim":3},"replication":5}`, 400, "replication"},
		{"create shards", "POST", "/v1/collections", `{"name":"x","dense":{"dim":3},"shards":100000}`, 400, "shards"},
		{"create attr", "POST", "/v1/collections", `{"name":"x","dense":{"dim":3},"attributes":{"a":"blob"}}`, 400, "attributes.a"},
	}
	for _, tc := range cases {
		status, raw := c.Do(tc.method, tc.path, tc.body, nil)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.status, raw)
			continue
		}
		var er api.ErrorResponse
		if err := json.Unmarshal(raw, &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
			t.Errorf("%s: error body %s", tc.name, raw)
			continue
		}
		if tc.field != "" && er.Error.Field != tc.field {
			t.Errorf("%s: field %q, want %q (%s)", tc.name, er.Error.Field, tc.field, er.Error.Message)
		}
	}
	// nothing changed: "keep" is intact and "new"/"x" do not exist
	var got api.Document
	c.MustDo(t, "GET", "/v1/collections/bad/documents/keep?token="+wr.Token, nil, &got)
	if len(got.Dense) != 3 || got.Dense[0] != 1 || got.Sparse == nil || got.Sparse.Indices[0] != 1 {
		t.Fatalf("keep changed: %+v", got)
	}
	for _, id := range []string{"new", "x"} {
		if status, _ := c.Do("GET", "/v1/collections/bad/documents/"+id+"?consistency=strong", nil, nil); status != http.StatusNotFound {
			t.Fatalf("%s exists after rejected writes (status %d)", id, status)
		}
	}
	var cols api.CollectionList
	c.MustDo(t, "GET", "/v1/collections", nil, &cols)
	if len(cols.Collections) != 1 {
		t.Fatalf("rejected creates left collections: %+v", cols)
	}
}

// TestLeaderKillDuringWrites loads a few thousand documents into 2 shards
// with rf 3, stops the leader of shard 0 half way, and checks that every
// acknowledged document is readable and searches equal an exact reference.
func TestLeaderKillDuringWrites(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	col := createCollection(t, c, api.CollectionSpec{Name: "rep", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 2000}, Dense: &api.DenseField{Dim: 8, Metric: "ip"}})
	r := rand.New(rand.NewPCG(7, 7))
	const n, batch = 3000, 100
	all := make([]api.Document, n)
	for i := range all {
		all[i] = api.Document{ID: docID(i), Sparse: randSparse(r, 2000, 10+r.IntN(30)), Dense: randDense(r, 8)}
	}
	var mu sync.Mutex
	acked := map[string]*api.Document{}
	var killed bool
	for start := 0; start < n; start += batch {
		if start >= n/2 && !killed {
			leader := col.Placement[0].Leader
			var cl api.ClusterStatus
			c.MustDo(t, "GET", "/v1/cluster", nil, &cl)
			for _, rs := range cl.Shards[0].Replicas {
				if rs.Role == "leader" {
					leader = rs.Node
				}
			}
			idx := int(leader[1] - '1')
			t.Logf("stopping %s, leader of shard 0, after %d documents", leader, start)
			if err := c.StopNode(idx); err != nil {
				t.Fatalf("stop node: %v", err)
			}
			killed = true
		}
		docs := all[start:min(start+batch, n)]
		// A batch that fails is sent again until it is acknowledged:
		// upserts are idempotent.
		deadline := time.Now().Add(60 * time.Second)
		for {
			status, raw := c.Do("POST", "/v1/collections/rep/documents", api.UpsertRequest{Documents: docs}, nil)
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("batch at %d never acknowledged: %d %s", start, status, raw)
			}
			t.Logf("batch at %d: status %d %s; retrying", start, status, strings.TrimSpace(string(raw)))
			time.Sleep(200 * time.Millisecond)
		}
		mu.Lock()
		for i := range docs {
			acked[docs[i].ID] = &docs[i]
		}
		mu.Unlock()
	}
	if len(acked) != n {
		t.Fatalf("acked %d, want %d", len(acked), n)
	}
	// every acknowledged document is readable through the surviving replicas
	for id, d := range acked {
		var got api.Document
		c.MustDo(t, "GET", "/v1/collections/rep/documents/"+id+"?consistency=strong", nil, &got)
		if len(got.Dense) != 8 || got.Dense[3] != d.Dense[3] || len(got.Sparse.Indices) != len(d.Sparse.Indices) {
			t.Fatalf("document %s differs after failover", id)
		}
	}
	for qi := 0; qi < 30; qi++ {
		q := randSparse(r, 2000, 20)
		sr := search(t, c, "rep", api.SearchRequest{K: 10, Sparse: q, Consistency: &api.Consistency{Level: "strong"}})
		sameHits(t, "sparse query", sr.Hits, exactSparse(acked, q, 10))
	}
	// the stopped node comes back and catches up
	if err := c.StartNode(t.Context(), int(col.Placement[0].Leader[1]-'1')); err != nil {
		t.Fatalf("restart node: %v", err)
	}
	c.WaitHealthy(t, 30*time.Second)
}

// TestRestart stops the whole cluster and brings it back on the same data.
func TestRestart(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "rs", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 500}})
	r := rand.New(rand.NewPCG(9, 9))
	docs := map[string]*api.Document{}
	var batch []api.Document
	for i := 0; i < 500; i++ {
		batch = append(batch, api.Document{ID: docID(i), Sparse: randSparse(r, 500, 15)})
	}
	upsert(t, c, "rs", batch)
	c.MustDo(t, "DELETE", "/v1/collections/rs/documents/"+docID(7), nil, nil)
	for i := range batch {
		if batch[i].ID != docID(7) {
			docs[batch[i].ID] = &batch[i]
		}
	}
	queries := make([]*api.SparseVector, 10)
	for i := range queries {
		queries[i] = randSparse(r, 500, 20)
	}
	c.Restart(t)
	// Eventual reads right after the restart: every replica waits until it
	// has caught up with the state it had before, whichever answers.
	for round := 0; round < 3; round++ {
		for _, q := range queries {
			sr := search(t, c, "rs", api.SearchRequest{K: 10, Sparse: q})
			sameHits(t, "after restart", sr.Hits, exactSparse(docs, q, 10))
		}
	}
	if status, _ := c.Do("GET", "/v1/collections/rs/documents/"+docID(7)+"?consistency=strong", nil, nil); status != http.StatusNotFound {
		t.Fatalf("deleted document back after restart (status %d)", status)
	}
}
