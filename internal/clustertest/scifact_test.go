package clustertest_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shoal-search/shoal/api"
	"github.com/shoal-search/shoal/internal/clustertest"
	"github.com/shoal-search/shoal/internal/dataset"
	"github.com/shoal-search/shoal/internal/eval"
	"github.com/shoal-search/shoal/shard"
)

// sharedData returns ../shared/data relative to the repository root, or
// skips the test when it is absent.
func sharedData(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found at %s: %v", dir, err)
	}
	return dir
}

// TestSciFactSearchEquality loads 2,000 real SciFact BM25 documents into 2
// shards with rf 3 and checks 50 real queries against the exact top-10.
func TestSciFactSearchEquality(t *testing.T) {
	data := sharedData(t)
	docs, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "scifact", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 30522}})
	const n = 2000
	stored := map[string]*api.Document{}
	var batch []api.Document
	var tok string
	flush := func() {
		if len(batch) > 0 {
			tok = upsert(t, c, "scifact", batch).Token
			batch = nil
		}
	}
	for i := 0; i < n; i++ {
		idx, vals := docs.Row(i)
		d := api.Document{ID: docs.IDs[i], Sparse: &api.SparseVector{Indices: append([]uint32(nil), idx...), Values: append([]float32(nil), vals...)}}
		batch = append(batch, d)
		stored[d.ID] = &d
		if len(batch) == 500 {
			flush()
		}
	}
	flush()
	_ = tok
	for qi := 0; qi < 50; qi++ {
		idx, vals := queries.Row(qi)
		q := &api.SparseVector{Indices: idx, Values: vals}
		// Default (eventual) consistency: through one coordinator it still sees
		// every write that coordinator acknowledged.
		sr := search(t, c, "scifact", api.SearchRequest{K: 10, Sparse: q})
		sameHits(t, "scifact query "+queries.IDs[qi], sr.Hits, exactSparse(stored, q, 10))
	}
}

// TestSciFactSegmentsNDCG loads all 5,183 SciFact BM25 documents into a
// cluster that seals every 1,000 documents, so that almost all of them are
// served by Seismic segments built with the collection's index parameters,
// and checks nDCG@10 against the qrels: within 0.005 of exact search.
func TestSciFactSegmentsNDCG(t *testing.T) {
	data := sharedData(t)
	docs, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	qrels, err := eval.ReadQrels(filepath.Join(data, "scifact", "qrels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := shard.DefaultConfig()
	cfg.SealDocs = 1000
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Shard: &cfg})
	createCollection(t, c, api.CollectionSpec{Name: "sf", Shards: 2, Replication: 3,
		Sparse: &api.SparseField{MaxTerm: 30522, Index: &api.SparseIndex{AutoKeep: 1, Alpha: 0.8}}})
	var batch []api.Document
	for i := 0; i < docs.Len(); i++ {
		idx, vals := docs.Row(i)
		batch = append(batch, api.Document{ID: docs.IDs[i], Sparse: &api.SparseVector{Indices: idx, Values: vals}})
		if len(batch) == 500 || i == docs.Len()-1 {
			upsert(t, c, "sf", batch)
			batch = nil
		}
	}
	c.MustDo(t, "POST", "/v1/collections/sf/seal", nil, nil)
	waitSegmentsBuilt(t, c)
	run := func(params *api.SearchParams) map[string][]eval.Scored {
		runs := map[string][]eval.Scored{}
		for qi := 0; qi < queries.Len(); qi++ {
			idx, vals := queries.Row(qi)
			sr := search(t, c, "sf", api.SearchRequest{K: 10, Sparse: &api.SparseVector{Indices: idx, Values: vals}, Params: params})
			for _, h := range sr.Hits {
				runs[queries.IDs[qi]] = append(runs[queries.IDs[qi]], eval.Scored{ID: h.ID, Score: h.Score})
			}
		}
		return runs
	}
	exact := eval.MeanNDCG(qrels, run(&api.SearchParams{Exact: true}), 10)
	seg := eval.MeanNDCG(qrels, run(&api.SearchParams{QueryCut: 64, HeapFactor: 0.5}), 10)
	t.Logf("SciFact BM25 nDCG@10: exact %.4f, segments %.4f", exact, seg)
	if exact < 0.665 || exact > 0.677 {
		t.Fatalf("exact nDCG@10 %.4f, want 0.671", exact)
	}
	if seg < exact-0.005 {
		t.Fatalf("segment nDCG@10 %.4f is more than 0.005 below exact %.4f", seg, exact)
	}
}

// TestSciFactDefaultsNDCG is what a new user gets: a collection created with
// default settings (no index parameters, no query knobs), loaded with all
// 5,183 SciFact BM25 documents and sealed. Each segment derives its build
// from its data and calibrates itself; searches ask for the default target
// recall. nDCG@10 must reach 0.666 (exact: 0.6712), and the collection info
// shows each segment's calibration.
func TestSciFactDefaultsNDCG(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	data := sharedData(t)
	docs, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "docs.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := dataset.ReadSparseJSONL(filepath.Join(data, "scifact", "sparse-bm25", "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	qrels, err := eval.ReadQrels(filepath.Join(data, "scifact", "qrels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	createCollection(t, c, api.CollectionSpec{Name: "sfd", Shards: 2, Replication: 3, Sparse: &api.SparseField{MaxTerm: 30522}})
	var batch []api.Document
	for i := 0; i < docs.Len(); i++ {
		idx, vals := docs.Row(i)
		batch = append(batch, api.Document{ID: docs.IDs[i], Sparse: &api.SparseVector{Indices: idx, Values: vals}})
		if len(batch) == 500 || i == docs.Len()-1 {
			upsert(t, c, "sfd", batch)
			batch = nil
		}
	}
	c.MustDo(t, "POST", "/v1/collections/sfd/seal", nil, nil)
	waitSegmentsBuilt(t, c)
	var col api.Collection
	c.MustDo(t, "GET", "/v1/collections/sfd", nil, &col)
	calibrated := 0
	for _, p := range col.Placement {
		for _, sg := range p.Segments {
			if sg.State != "ready" {
				continue
			}
			if sg.Sparse == nil || !sg.Sparse.Calibrated {
				t.Fatalf("shard %d segment %d: no calibration in the collection info: %+v", p.Shard, sg.ID, sg)
			}
			t.Logf("shard %d segment %d (%d docs): %+v", p.Shard, sg.ID, sg.Docs, *sg.Sparse)
			calibrated++
		}
	}
	if calibrated == 0 {
		t.Fatalf("no ready segment after the seal: %+v", col.Placement)
	}
	run := func(params *api.SearchParams) map[string][]eval.Scored {
		runs := map[string][]eval.Scored{}
		for qi := 0; qi < queries.Len(); qi++ {
			idx, vals := queries.Row(qi)
			sr := search(t, c, "sfd", api.SearchRequest{K: 10, Sparse: &api.SparseVector{Indices: idx, Values: vals}, Params: params})
			for _, h := range sr.Hits {
				runs[queries.IDs[qi]] = append(runs[queries.IDs[qi]], eval.Scored{ID: h.ID, Score: h.Score})
			}
		}
		return runs
	}
	exact := eval.MeanNDCG(qrels, run(&api.SearchParams{Exact: true}), 10)
	def := eval.MeanNDCG(qrels, run(nil), 10)
	t.Logf("SciFact BM25 nDCG@10 with defaults after seal: %.4f (exact %.4f)", def, exact)
	if def < 0.666 {
		t.Fatalf("nDCG@10 with defaults %.4f < 0.666 (exact %.4f)", def, exact)
	}
}
